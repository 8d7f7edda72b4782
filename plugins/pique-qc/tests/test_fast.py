"""`fast` black_frames, frozen_frames and scene_cuts read small pictures and find what the full filters find.

The clips are 640x360, so `fast` pictures (within 320x320) are a quarter of each frame's pixels.
"""

from __future__ import annotations

import pytest
from pique_engine import synth

from qc_kit import encode, metrics, noise
from test_cuts_and_sharpness import CUT_FRAMES, f1, shots
from test_stretches import assert_edges

FPS = 30
FRAME = 1 / FPS
W, H = 640, 360
STRETCHES = [(0.0, 0.5), (1.5, 1.6), (3.0, 4.0)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast")
    black, frozen = noise(W, H), noise(W, H)
    for start, end in STRETCHES:
        black, frozen = synth.black_stretch(black, start, end), synth.frozen_stretch(frozen, start, end)
    return {
        "black": encode(folder / "black.mp4", black, width=W, height=H, seconds=4),
        "frozen": encode(folder / "frozen.mp4", frozen, width=W, height=H, seconds=4, crf=0),  # lossless: stills stay still
        "cuts": encode(folder / "cuts.mp4", shots(W, H), width=W, height=H, seconds=12),
    }


def test_fast_black_frames_finds_the_same_stretches(clips):
    full = metrics("black_frames", clips["black"])
    fast = metrics("black_frames", clips["black"], {"fast": True})
    assert_edges(full["segments"], STRETCHES, FRAME + 0.001)
    assert fast["segments"] == full["segments"]


def test_fast_frozen_frames_finds_the_same_stretches(clips):
    full = metrics("frozen_frames", clips["frozen"], {"min_duration_sec": 0.1})
    fast = metrics("frozen_frames", clips["frozen"], {"min_duration_sec": 0.1, "fast": True})
    assert_edges(full["segments"], STRETCHES, FRAME + 0.001)
    assert fast["segments"] == full["segments"]


def test_fast_scene_cuts_finds_the_same_cuts(clips):
    full = metrics("scene_cuts", clips["cuts"])
    fast = metrics("scene_cuts", clips["cuts"], {"fast": True})
    assert f1(fast["cuts"], [f / FPS for f in CUT_FRAMES], FRAME + 0.001) >= 0.95
    assert fast["cuts"] == full["cuts"]
