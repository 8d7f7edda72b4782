"""scene_cuts against known hard cuts and the system scdet; sharpness across a blur ladder."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import ndimage, stats

from qc_kit import encode, ffmpeg_log, floats, metrics, noise, run

FPS = 30
CUT_FRAMES = [45, 80, 150, 171, 240, 300]  # the first frame of each new shot


def shots(width: int, height: int):
    """Each shot a different smooth texture with a slow drift; a hard cut between shots."""
    rng = np.random.default_rng(7)
    levels = [50, 180, 90, 210, 60, 150, 110]  # each shot's brightness, so every cut changes the picture
    textures = [np.clip(level + 12 * ndimage.gaussian_filter(rng.standard_normal((height * 2, width * 2)), 2) * 4, 16, 235)
                .astype(np.uint8) for level in levels]

    def picture(index: int, _t: float) -> np.ndarray:
        shot = sum(index >= f for f in CUT_FRAMES)
        return textures[shot][index % height : index % height + height, :width]

    return picture


@pytest.fixture(scope="module")
def cuts_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("cuts") / "cuts.mp4"
    return encode(path, shots(160, 90), width=160, height=90, seconds=12)


def f1(found: list[float], truth: list[float], tolerance: float) -> float:
    matched = sum(any(abs(f - t) <= tolerance for f in found) for t in truth)
    precision = matched / len(found) if found else 0.0
    recall = matched / len(truth)
    return 2 * precision * recall / (precision + recall) if matched else 0.0


def test_scene_cuts_f1_within_one_frame_and_same_cuts_as_scdet(cuts_clip):
    m = metrics("scene_cuts", cuts_clip)
    truth = [f / FPS for f in CUT_FRAMES]
    assert f1(m["cuts"], truth, 1 / FPS + 0.001) >= 0.95, m["cuts"]
    assert m["cuts"] == pytest.approx(floats(r"lavfi\.scd\.time: ([\d.]+)", ffmpeg_log(cuts_clip, vf="scdet=threshold=10")), abs=0.001)
    assert m["cuts_per_minute"] == pytest.approx(len(CUT_FRAMES) * 60 / 12, abs=0.01)
    assert m["shortest_shot_sec"] == pytest.approx(21 / FPS, abs=0.001)
    assert m["longest_shot_sec"] == pytest.approx(70 / FPS, abs=0.001)


def test_too_few_cuts_per_minute_fails(cuts_clip):
    assert run("scene_cuts", cuts_clip, {"min_cuts_per_minute": 6}).pass_check
    result = run("scene_cuts", cuts_clip, {"min_cuts_per_minute": 60})
    assert not result.pass_check and "cuts per minute 30" in result.rationale


SIGMAS = [0, 0.8, 1.5, 2.5, 4, 6]


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """One clip per Gaussian blur sigma of the same detailed picture."""
    rng = np.random.default_rng(3)
    base = ndimage.zoom(rng.uniform(20, 235, (45, 80)), 4, order=0)  # blocks with hard edges
    folder = tmp_path_factory.mktemp("blur")
    clips = []
    for sigma in SIGMAS:
        y = (ndimage.gaussian_filter(base, sigma) if sigma else base).astype(np.uint8)
        clips.append(encode(folder / f"blur_{sigma}.mp4", lambda i, t, y=y: y, width=320, height=180, seconds=1))
    return clips


def test_sharpness_ranks_a_blur_ladder_as_blurdetect_does(ladder):
    ours = [metrics("sharpness", clip)["median"] for clip in ladder]
    theirs = [float(re.findall(r"blur mean: ([\d.]+)", ffmpeg_log(clip, vf="blurdetect"))[-1]) for clip in ladder]
    assert stats.spearmanr(ours, [-s for s in SIGMAS]).statistic >= 0.9, ours
    assert stats.spearmanr(ours, [-b for b in theirs]).statistic >= 0.9, (ours, theirs)
    fast = [metrics("sharpness", clip, {"fast": True})["median"] for clip in ladder]
    assert stats.spearmanr(fast, ours).statistic >= 0.9


def test_a_blurry_clip_fails_min_median_and_reports_its_blurry_stretch(ladder):
    blurry = run("sharpness", ladder[-1], {"min_median": 0.2})
    assert not blurry.pass_check
    assert blurry.metrics["sharpness"]["blurry_segments"] == [[0.0, 1.0]]
    assert blurry.metrics["sharpness"]["blurry_ratio"] == 1.0
    assert run("sharpness", ladder[0], {"min_median": 0.2}).pass_check
