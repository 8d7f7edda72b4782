"""Sampled video frames plus the first frame of each shot, when scdet runs in the same pass."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from pique_engine import synth
from pique_engine.media.consumers import Collect
from pique_engine.media.content import VideoFilter, VideoFrames
from pique_engine.media.decode_pass import run_pass

W, H, FPS = 96, 64, 30
CUTS = (1.3, 2.7)  # frames 39 and 81
SCDET = VideoFilter(chain="scdet=threshold=10")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """4 s at 30 fps: three shots (a ramp, a diagonal shade, a checkerboard), each drifting a pixel a frame."""
    x, y = np.arange(2 * W)[None, :], np.arange(H)[:, None]
    looks = [40 + x + 0 * y, 220 - y - x // 4, 120 + 60 * ((x // 12 + y // 12) % 2)]
    looks = [look.astype(np.uint8) for look in looks]

    def picture(index: int, t: float) -> np.ndarray:
        shot = sum(index >= round(cut * FPS) for cut in CUTS)
        return np.ascontiguousarray(looks[shot][:, index % W : index % W + W])

    path = tmp_path_factory.mktemp("shots") / "shots.mp4"
    return synth.write_video(path, width=W, height=H, fps=FPS, seconds=4, audio_rate=None, picture=picture)


def _pass(path, *requests):
    outs = [Collect() for _ in requests]
    stats = run_pass(path, list(zip(requests, outs)))
    assert stats.failures == {}
    return [o.items for o in outs]


def _times(frames) -> list[float]:
    return [round(f.time, 3) for f in frames]


def test_sampled_frames_come_with_the_first_frame_of_each_shot_scdet_finds(shots):
    events, frames = _pass(shots, SCDET, VideoFrames(fps=0.5, shot_starts=True))
    found = [float(e.metadata["lavfi.scd.time"]) for e in events if "lavfi.scd.time" in e.metadata]
    assert found == pytest.approx(CUTS, abs=1 / FPS)
    assert _times(frames) == [0.0, 1.3, 2.0, 2.7]
    assert [f.shot_start for f in frames] == [False, True, False, True]


def test_without_a_scene_cut_filter_only_the_samples_come(shots):
    [frames] = _pass(shots, VideoFrames(fps=0.5, shot_starts=True))
    assert _times(frames) == [0.0, 2.0]
    assert not any(f.shot_start for f in frames)


def test_a_request_without_shot_starts_keeps_its_samples_beside_scdet(shots):
    _, frames = _pass(shots, SCDET, VideoFrames(fps=0.5))
    assert _times(frames) == [0.0, 2.0]


def test_a_cut_on_a_sample_mark_is_one_frame_and_the_marks_do_not_move(shots):
    _, frames = _pass(shots, SCDET, VideoFrames(fps=1 / 1.3, shot_starts=True))
    assert _times(frames) == [0.0, 1.3, 2.6, 2.7, 3.9]  # marks every 1.3 s; the cut at 2.7 is an extra
    assert [f.shot_start for f in frames] == [False, True, False, True, False]


def test_every_frame_requests_are_unchanged_and_marked_where_shots_start(shots):
    _, plain, marked = _pass(shots, SCDET, VideoFrames(), VideoFrames(shot_starts=True))
    assert _times(plain) == _times(marked) == [round(i / FPS, 3) for i in range(4 * FPS)]
    assert [f.time for f in marked if f.shot_start] == pytest.approx(CUTS)


def test_shot_starts_cannot_be_added_to_keyframes_only():
    with pytest.raises(pydantic.ValidationError, match="ask for fps with shot_starts"):
        VideoFrames(keyframes_only=True, shot_starts=True)
