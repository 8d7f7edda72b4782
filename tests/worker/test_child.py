"""`evaluate_upload`, the evaluation a sandbox child runs for one upload, called in-process
against storage in a folder (and a storage that fails) so each outcome is exact."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile

import pytest

from pique_engine import AudioBlocks, Checks, Detector, VideoFrames, hookimpl, synth
from pique_engine.errors import StorageError
from pique_engine.plugins import load_plugins
from pique_engine.storage.gcs import GcsStorage
from pique_engine.storage.local import LocalStorage
from pique_engine.worker import child
from pique_engine.worker.child import FetchedContent, UploadRequest, evaluate_upload

from ..conftest import FIXTURES
from ..stack import local_stack, stack_env, unique_name  # noqa: F401
from ..worker_harness import REELS

CLIP = FIXTURES / "media" / "phone_rotated_90.mp4"
NAME = "org_1/pending/job_1/clip.mp4"


@pytest.fixture
def storage(tmp_path):
    s = LocalStorage(tmp_path)
    s.path(NAME).parent.mkdir(parents=True)
    shutil.copy(CLIP, s.path(NAME))
    return s


def request(storage, **changes) -> UploadRequest:
    found = storage.locate(NAME)
    fields = dict(job_id="job_1", storage=storage, object_name=NAME, generation=found.generation, size=found.size,
                  content_type="video", declared_size=found.size, judge=REELS, plugin_selection=[])  # fmt: skip
    return UploadRequest(**{**fields, **changes})


def run(req: UploadRequest):
    return evaluate_upload(req, progress=lambda label: None)


def test_the_notified_generation_is_evaluated_and_completes(storage):
    outcome = run(request(storage))
    assert outcome.transient_error is None and outcome.evaluation.completed
    assert outcome.evaluation.payload.job_id == "job_1"


def test_an_upload_of_another_size_than_declared_fails_without_reading_it(storage):
    outcome = run(request(storage, declared_size=100))
    assert outcome.evaluation.payload.error == (
        f"the upload is {CLIP.stat().st_size:,} bytes but 100 were declared; create a new job with the file's real size"
    )


def test_a_generation_that_is_no_longer_there_fails_as_gone_instead_of_reading_another(storage):
    outcome = run(request(storage, generation=storage.locate(NAME).generation - 1))
    assert outcome.gone
    assert outcome.evaluation.payload.error.endswith("no longer exists (overwritten or deleted); upload each file to its own job")


def test_a_judge_naming_a_detector_this_worker_lacks_fails_the_evaluation(storage):
    judge = {"judge_id": "j", "criteria": [{"criterion_id": "c", "detector": "not_installed"}]}
    outcome = run(request(storage, judge=judge))
    assert "not_installed" in outcome.evaluation.payload.error


class Unreachable(LocalStorage):
    def open_head(self, object_name, generation, size=None):
        raise StorageError("reading gs://b/o failed: connection refused. This is usually transient; retry later.")


def test_storage_that_cannot_be_read_is_a_transient_error_worth_a_retry(storage):
    outcome = run(request(Unreachable(storage.root)))
    assert outcome.evaluation is None
    assert outcome.transient_error.startswith("reading gs://b/o failed: connection refused")


def test_a_request_for_gcs_pickles_into_the_child_without_its_client():
    gcs = GcsStorage("uploads", "proj")
    gcs._handle = object()  # stands for a client made in the parent: it must not cross
    copy = pickle.loads(pickle.dumps(gcs))
    assert (copy.bucket, copy.project, copy._handle) == ("uploads", "proj", None)


def _fake_fetch(folder, data: bytes):
    def fetch():
        tmp = tempfile.NamedTemporaryFile(prefix="pique-", dir=folder)
        tmp.write(data)
        tmp.flush()
        tmp.seek(0)
        return tmp

    return fetch


def test_fetched_content_has_no_name_left_and_readers_keep_their_own_position(tmp_path):
    content = FetchedContent(_fake_fetch(tmp_path, b"0123456789" * 1000))
    a, b = content.open(), content.open()
    assert list(tmp_path.iterdir()) == []  # the bytes live on only through the descriptor
    assert a.read(4) == b"0123"
    b.seek(5)
    assert (b.read(3), a.read(2)) == (b"567", b"45")
    a.seek(-2, os.SEEK_END)
    assert a.read() == b"89"
    fd = content._fd
    content.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def _frames_and_audio(media, params):
    frames = blocks = 0
    for name, _ in media.items():
        frames += name == "v"
        blocks += name == "a"
    return Checks().result(name="counted", metrics={"frames": frames, "blocks": blocks}, summary="counted")


class Counted:
    __name__ = "counted_plugin"

    @hookimpl
    def register_detectors(self, register):
        register(Detector(name="counted", content_types={"video"}, evaluate=_frames_and_audio,
                          requests=lambda p, info: {"v": VideoFrames(fps=2, max_width=64),
                                                    "a": AudioBlocks(block_frames=48000)}))


COUNTED_JUDGE = {"judge_id": "j", "criteria": [{"criterion_id": "c", "detector": "counted"},
                                               {"criterion_id": "specs", "detector": "video_specs"}]}


@pytest.fixture
def counted(monkeypatch):
    monkeypatch.setattr(child, "cached_plugins", lambda selection: load_plugins([], extra=[Counted()]))


def test_content_criteria_read_a_local_upload_and_leave_the_upload_in_place(storage, counted):
    outcome = run(request(storage, judge=COUNTED_JUDGE))
    counted_result = outcome.evaluation.payload.results[0]
    assert counted_result.metrics["counted"]["frames"] == 4  # 2 s at 2 frames per second
    assert storage.path(NAME).read_bytes() == CLIP.read_bytes()


@pytest.mark.integration
def test_content_criteria_read_the_object_from_gcs_and_leave_no_file(stack_env, tmp_path, counted, monkeypatch):
    from pique_engine.storage.gcs import storage_client

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = synth.write_video(tmp_path / "clip.mp4", width=160, height=90, fps=25, seconds=2.0, audio_rate=48000)
    blob = storage_client(stack_env.project).bucket(stack_env.bucket).blob(unique_name("clip.mp4"))
    blob.upload_from_filename(str(path), content_type="video/mp4", if_generation_match=0)
    blob.reload()
    gcs = GcsStorage(stack_env.bucket, stack_env.project)
    req = UploadRequest(job_id="job_gcs", storage=gcs, object_name=blob.name, generation=blob.generation, size=blob.size,
                        content_type="video", declared_size=blob.size, judge=COUNTED_JUDGE)
    outcome = run(req)
    counted_result, specs = outcome.evaluation.payload.results
    # 2 s at 2 frames per second; 2 s of audio plus the AAC encoder's padding: two full blocks and a short one
    assert counted_result.metrics["counted"] == {"frames": 4, "blocks": 3}
    assert specs.pass_check
    assert list((tmp_path / "tmp").iterdir()) == []  # the download's name was removed once fetched
