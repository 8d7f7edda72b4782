"""Whole-factor area averaging in numpy agrees with swscale's area scaler."""

from __future__ import annotations

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange

from pique_engine.media.box_scale import box_mean, factors


def _frame(w: int, h: int, seed: int, fmt: str = "yuv420p") -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)[:h, :w]
    rgb = np.clip(rgb.astype(int) + rng.integers(-30, 30, rgb.shape), 0, 255).astype(np.uint8)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)


def _luma(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]


def _swscale(frame: av.VideoFrame, w: int, h: int, *, stored: bool) -> np.ndarray:
    ranges = {"src_color_range": ColorRange.JPEG, "dst_color_range": ColorRange.JPEG} if stored else {}
    return frame.reformat(width=w, height=h, format="gray", interpolation="AREA", **ranges).to_ndarray()


@pytest.mark.parametrize(("src", "out"), [((1920, 1080), (320, 180)), ((1080, 1920), (90, 160)), ((1280, 720), (640, 360)),
                                          ((960, 540), (320, 180)), ((640, 480), (640, 240))])
@pytest.mark.parametrize("stored", [True, False], ids=["luma", "gray"])
def test_block_means_match_swscale_area_within_one_level(src, out, stored):
    frame = _frame(*src, seed=sum(src))
    kx, ky = factors(*src, *out)
    ours = box_mean(_luma(frame), kx, ky, full_range=not stored)
    theirs = _swscale(frame, *out, stored=stored)
    assert ours.shape == theirs.shape == (out[1], out[0])
    diff = np.abs(ours.astype(int) - theirs)
    assert diff.max() <= 1
    assert diff.mean() < 0.3


def test_limited_range_black_and_white_become_0_and_255_in_grey():
    plane = np.array([[16, 16, 235, 235], [16, 16, 235, 235]], np.uint8)
    assert box_mean(plane, 2, 2, full_range=True).tolist() == [[0, 255]]
    assert box_mean(plane, 2, 2).tolist() == [[16, 235]]


def test_large_blocks_do_not_overflow():
    plane = np.full((64, 64), 255, np.uint8)  # 32x32 blocks: a sum of 261,120
    assert box_mean(plane, 32, 32).tolist() == [[255, 255], [255, 255]]


@pytest.mark.parametrize(("src", "out"), [((1920, 1080), (1920, 1080)), ((1080, 2400), (320, 711)), ((100, 100), (33, 33))])
def test_only_whole_blocks_of_more_than_one_pixel_qualify(src, out):
    assert factors(*src, *out) is None

