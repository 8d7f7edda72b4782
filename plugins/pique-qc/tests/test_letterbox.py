"""letterbox: cropdetect's algorithm in numpy, within 2 px of the system ffmpeg's cropdetect."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from qc_kit import encode, ffmpeg_log, metrics, noise, run

W, H = 320, 240


def barred(top: int, bottom: int, left: int, right: int, *, black: int = 16):
    """Noise inside bars of `black` luma (16: limited range; 0: full range)."""
    inner = noise(W, H, low=60, high=200)

    def picture(index: int, t: float) -> np.ndarray:
        y = inner(index, t)
        y[:top], y[H - bottom :], y[:, :left], y[:, W - right :] = black, black, black, black
        return y

    return picture


def ffmpeg_crop(path, limit: float = 24) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the last cropdetect line."""
    log = ffmpeg_log(path, vf=f"cropdetect=limit={limit:g}:round=2:reset=0")
    w, h, x, y = map(int, re.findall(r"crop=(\d+):(\d+):(\d+):(\d+)", log)[-1])
    return x, y, w, h


CASES = {  # name: (bars top, bottom, left, right, pix_fmt, rotation)
    "letterbox": (30, 30, 0, 0, "yuv420p", 0),
    "pillarbox": (0, 0, 40, 40, "yuv420p", 0),
    "uneven_10bit": (20, 36, 10, 0, "yuv420p10le", 0),
    "full_range": (24, 24, 0, 0, "yuvj420p", 0),
    "phone_rotated": (0, 0, 50, 50, "yuv420p", 90),
}


@pytest.mark.parametrize("case", list(CASES))
def test_active_area_within_2_px_of_cropdetect(media_dir, case):
    top, bottom, left, right, pix_fmt, rotation = CASES[case]
    black = 0 if pix_fmt == "yuvj420p" else 16
    path = encode(media_dir / f"{case}.mp4", barred(top, bottom, left, right, black=black), width=W, height=H,
                  seconds=1, pix_fmt=pix_fmt, rotation=rotation)
    # On 10 bits cropdetect's limit 24 is below limited-range black (64): ask for 10% instead.
    limit = 0.1 if pix_fmt.endswith("10le") else 24
    m = metrics("letterbox", path, {"limit": limit})
    expected = ffmpeg_crop(path, limit)
    assert m["active_area"] == pytest.approx(list(expected), abs=2), (m, expected)
    # the truth, in displayed pixels: a phone video's bars left and right of the stored picture
    # are above and below it on screen
    if rotation == 90:
        top, bottom, left, right = left, right, bottom, top
    width, height = (H, W) if rotation in (90, 270) else (W, H)
    assert m["bars"] == pytest.approx({"top": top, "bottom": bottom, "left": left, "right": right}, abs=2)
    active = (width - left - right) * (height - top - bottom)
    assert m["bar_ratio"] == pytest.approx(1 - active / (width * height), abs=0.02)


def test_fast_reads_samples_and_finds_the_same_bars(media_dir):
    path = encode(media_dir / "bars.mp4", barred(30, 30, 0, 0), width=W, height=H, seconds=3)
    assert metrics("letterbox", path, {"fast": True})["active_area"] == metrics("letterbox", path)["active_area"]


def test_images_are_measured_and_bars_over_the_limit_fail(media_dir):
    picture = barred(60, 60, 0, 0, black=0)(0, 0.0)
    path = media_dir / "poster.png"
    Image.fromarray(picture).save(path)
    m = metrics("letterbox", path)
    assert m["active_area"] == [0, 60, W, H - 120]
    assert m["active_aspect_ratio"] == pytest.approx(W / (H - 120), abs=1e-3)
    assert not run("letterbox", path, {"max_bar_ratio": 0.05}).pass_check
    assert run("letterbox", path, {"max_bar_ratio": 0.6}).pass_check


def test_limit_24_on_10_bit_video_reads_its_black_as_content_as_cropdetect_does(media_dir):
    path = encode(media_dir / "deep.mp4", barred(30, 30, 0, 0), width=W, height=H, seconds=1, pix_fmt="yuv420p10le")
    assert metrics("letterbox", path)["active_area"] == list(ffmpeg_crop(path)) == [0, 0, W, H]
