"""Hostile and broken media through the `Evaluator`, in the sandbox, within small limits.

Every case of `hostile_media.corpus` must end as a failed evaluation or a failing criterion
with the expected words, inside the time and memory limits; nothing inside an upload is ever
fetched (a loopback server the playlists point at must see no request). A sample goes through
the real worker in `test_worker_faults.py`. The evaluations run in the sandbox's child
processes, so those tests are marked `integration`; the corpus's own checks are not.
"""

from __future__ import annotations

import io
import time

import pytest

from pique_engine.detector import Media
from pique_engine.errors import PiqueError
from pique_engine.media.probe import probe
from pique_engine.worker.sandbox import Limits, run_isolated

from .. import hostile_media as hm
from .. import sandbox_targets as t

LIMITS = Limits(timeout_sec=10, memory_bytes=1 << 30)


@pytest.fixture(scope="module")
def loopback():
    server = hm.Loopback()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cases(loopback) -> dict[str, hm.Hostile]:
    return {c.name: c for c in hm.corpus(loopback.url)}


def evaluate(tmp_path, data: bytes, filename: str, judge: dict, content_type: str | None) -> dict:
    path = tmp_path / filename
    path.write_bytes(data)
    return run_isolated(t.evaluate_path, str(path), judge, content_type, limits=LIMITS)


def failure_of(payload: dict) -> str | None:
    """The error of a failed payload, or the rationales of its failing criteria; None if all passed."""
    if payload["status"] == "failed":
        return payload["error"]
    failing = [r["rationale"] for r in payload["results"] if not r["pass_check"]]
    return "; ".join(failing) or None


@pytest.mark.integration
@pytest.mark.parametrize("name", [c.name for c in hm.corpus()])
def test_hostile_upload_ends_failed_or_failing_with_a_clear_message_within_limits(name, cases, loopback, tmp_path):
    case = cases[name]
    started = time.monotonic()
    payload = evaluate(tmp_path, case.data, case.filename, hm.HOSTILE_JUDGE, case.content_type)
    elapsed = time.monotonic() - started
    if case.outcome == "failed":
        assert payload["status"] == "failed", payload
        assert case.message in payload["error"]
    else:
        assert payload["status"] == "completed"
        assert case.message in failure_of(payload)
    assert elapsed < LIMITS.timeout_sec
    assert loopback.requests == []


@pytest.mark.integration
def test_the_intact_fixtures_pass_the_hostile_judge(tmp_path):
    """So that a failing criterion in the corpus means the damage was seen."""
    for name, ctype in [("tone_44100_mono.wav", "audio"), ("phone_rotated_90.mp4", "video"), ("square_512.png", "image")]:
        payload = evaluate(tmp_path, hm.fixture(name), name, hm.HOSTILE_JUDGE, ctype)
        assert failure_of(payload) is None, (name, payload)


def test_the_corpus_covers_what_the_issue_lists():
    names = " ".join(c.name for c in hm.corpus())
    for kind in ("zero_bytes", "truncated_10%", "truncated_50%", "truncated_90%", "random_bytes", "declared_as",
                 "hls", "ffconcat", "image_claiming_png", "image_claiming_gif", "image_claiming_jpeg", "gif_5000_frames",
                 "wav_claiming", "mp4_100k_nested", "points_backwards", "size_0", "largesize_2_64"):
        assert kind in names, kind


@pytest.mark.integration
def test_an_mp4_whose_data_references_point_elsewhere_is_read_from_itself_only(loopback, tmp_path):
    """MOV data references (`dref` url entries) are never opened, not even when decoding audio."""
    from pique_engine.media.decode import audio_blocks

    data = hm.mp4_with_external_drefs(f"{loopback.url}/samples.mp4")
    info = probe(io.BytesIO(data))
    assert (info.video.width, info.video.height, info.audio.sample_rate) == (320, 240, 44100)
    media = Media(info=info, name="clip.mp4", opener=lambda: io.BytesIO(data))
    try:
        frames = sum(len(block) for block in audio_blocks(media))
    except PiqueError:
        frames = 0
    assert frames > 0  # the samples in this file's own mdat
    payload = evaluate(tmp_path, data, "clip.mp4", hm.HOSTILE_JUDGE, "video")
    assert payload["status"] == "completed"
    time.sleep(0.2)
    assert loopback.requests == []


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(hm.HEADER_SURVIVES))
def test_a_truncated_file_whose_header_survives_is_reported_as_truncated(name, tmp_path):
    """Cut at 50%, the header still describes the whole file; the evaluation must not pass."""
    ctype = hm.HEADER_SURVIVES[name]
    lenient = {"judge_id": "lenient", "criteria": [{"criterion_id": ctype, "detector": {
        "video": "video_specs", "image": "image_dimensions", "audio": "audio_sample_rate"}[ctype]}]}
    assert failure_of(evaluate(tmp_path, hm.fixture(name), name, lenient, ctype)) is None  # intact: passes
    payload = evaluate(tmp_path, hm.truncated(name, 0.5), name, lenient, ctype)
    assert failure_of(payload) is not None


def test_an_oversized_trak_box_does_not_lose_the_rotation():
    """FFmpeg clamps a trak that runs past its moov; the rotation walk must read it the same way."""
    d = hm.fixture("phone_rotated_90.mp4")
    damaged = hm.patch(d, hm.offset_of(d, b"moov", b"trak"), ">I", 0xFFFFFFF0)
    info = probe(io.BytesIO(damaged))
    assert (info.video.width, info.video.height) == (360, 640)
