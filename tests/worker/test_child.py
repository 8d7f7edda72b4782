"""How a worker child gets an object's content: streamed to a file that leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from pique_engine import AudioBlocks, Checks, Detector, VideoFrames, synth
from pique_engine.worker import child
from pique_engine.worker.child import DownloadedContent, UploadRequest, evaluate_upload

from ..stack import local_stack, stack_env, unique_name  # noqa: F401


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.setattr(child, "SCRATCH", tmp_path / "scratch")
    return tmp_path / "scratch"


def _fake_download(data: bytes):
    def download(folder: str):
        tmp = tempfile.NamedTemporaryFile(prefix="pique-", dir=folder)
        tmp.write(data)
        tmp.flush()
        tmp.seek(0)
        return tmp

    return download


def test_the_downloaded_file_has_no_name_left_and_readers_keep_their_own_position(scratch):
    content = DownloadedContent(_fake_download(b"0123456789" * 1000))
    a, b = content.open(), content.open()
    assert list((scratch / str(os.getpid())).iterdir()) == []  # the bytes live on only through the descriptor
    assert a.read(4) == b"0123"
    b.seek(5)
    assert (b.read(3), a.read(2)) == (b"567", b"45")
    a.seek(-2, os.SEEK_END)
    assert a.read() == b"89"
    fd = content._fd
    content.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_folder_left_by_a_child_killed_mid_download_is_removed_by_the_next(scratch):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    left = scratch / dead.stdout.strip()
    left.mkdir(parents=True)
    (left / "pique-partial").write_bytes(b"half an upload")
    content = DownloadedContent(_fake_download(b"x"))
    content.open().close()
    content.close()
    assert not left.exists()
    assert (scratch / str(os.getpid())).exists()  # this process's own folder stays while it runs


def _frames_and_audio(media, params):
    frames = blocks = 0
    for name, _ in media.items():
        frames += name == "v"
        blocks += name == "a"
    return Checks().result(name="counted", metrics={"frames": frames, "blocks": blocks}, summary="counted")


COUNTED = Detector(name="counted", content_types={"video"}, evaluate=_frames_and_audio,
                   requests=lambda p, info: {"v": VideoFrames(fps=2, max_width=64), "a": AudioBlocks(block_frames=48000)})


@pytest.mark.integration
def test_content_criteria_read_the_object_from_storage_and_leave_no_file(stack_env, tmp_path, scratch, monkeypatch):
    from pique_engine.storage.gcs import storage_client

    class Plugin:
        __name__ = "counted_plugin"

        from pique_engine import hookimpl

        @hookimpl
        def register_detectors(self, register):
            register(COUNTED)

    from pique_engine.plugins import load_plugins

    monkeypatch.setattr(child, "cached_plugins", lambda selection: load_plugins([], extra=[Plugin()]))
    path = synth.write_video(tmp_path / "clip.mp4", width=160, height=90, fps=25, seconds=2.0, audio_rate=48000)
    blob = storage_client(stack_env.project).bucket(stack_env.bucket).blob(unique_name("clip.mp4"))
    blob.upload_from_filename(str(path), content_type="video/mp4", if_generation_match=0)
    blob.reload()
    request = UploadRequest(
        job_id="job_child", bucket=stack_env.bucket, object_name=blob.name, generation=blob.generation,
        size=blob.size, content_type="video", declared_size=blob.size, project=stack_env.project,
        judge={"judge_id": "j", "criteria": [{"criterion_id": "c", "detector": "counted"},
                                             {"criterion_id": "specs", "detector": "video_specs"}]},
    )
    outcome = evaluate_upload(request, progress=lambda label: None)
    counted, specs = outcome.evaluation.payload.results
    # 2 s at 2 frames per second; 2 s of audio plus the AAC encoder's padding: two full blocks and a short one
    assert counted.metrics["counted"] == {"frames": 4, "blocks": 3}
    assert specs.pass_check
    assert [p for p in scratch.rglob("*") if p.is_file()] == []
