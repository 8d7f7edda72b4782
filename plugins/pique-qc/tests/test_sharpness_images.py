"""sharpness on still images: blurdetect on the upright picture, as `ffmpeg -i image -vf blurdetect` runs it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps
from scipy import stats

from pique_engine import synth

from qc_kit import encode, ffmpeg_log, floats, metrics, run

RADII = [0, 1, 2, 3, 5, 8]  # Gaussian blur radii, px
# JPEG decoders round a few pixels one level apart; on a heavily blurred picture few edges are
# left and those levels move more of them across blurdetect's thresholds.
JPEG_CLOSE_UP_TO = 5
ROTATE_TO_DISPLAY = 6  # EXIF: turn the stored picture 90 degrees clockwise to show it


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """Per radius: the picture as PNG, as JPEG, and as a JPEG stored on its side with EXIF orientation 6."""
    folder = tmp_path_factory.mktemp("image_blur")
    exif = Image.Exif()
    exif[0x0112] = ROTATE_TO_DISPLAY
    files = {"png": [], "jpg": [], "sideways.jpg": []}
    for radius in RADII:
        picture = synth.detailed_image(320, 240, blur=radius)
        for kind in files:
            path = folder / f"r{radius}.{kind}"
            stored = picture.transpose(Image.Transpose.ROTATE_90) if kind.startswith("sideways") else picture
            stored.save(path, quality=90, **({"exif": exif.tobytes()} if kind.startswith("sideways") else {}))
            files[kind].append(path)
    return files


def blurdetect(path) -> float:
    """The system ffmpeg's blurdetect blur for an image."""
    [blur] = floats(r"lavfi\.blur=([\d.]+)", ffmpeg_log(path, vf="blurdetect,metadata=mode=print"))
    return blur


def sharpness(paths) -> list[float]:
    return [metrics("sharpness", path)["median"] for path in paths]


def test_png_sharpness_is_one_over_blurdetects_blur_and_ranks_the_blur_ladder(ladder):
    ours = sharpness(ladder["png"])
    theirs = [blurdetect(path) for path in ladder["png"]]
    assert ours == pytest.approx([1 / b for b in theirs], abs=1e-4)
    assert stats.spearmanr(ours, [-r for r in RADII]).statistic >= 0.9, ours


def test_jpeg_sharpness_ranks_the_ladder_as_blurdetect_does_and_is_close_to_it(ladder):
    ours = sharpness(ladder["jpg"])
    theirs = [1 / blurdetect(path) for path in ladder["jpg"]]
    assert stats.spearmanr(ours, theirs).statistic >= 0.9, (ours, theirs)
    assert stats.spearmanr(ours, [-r for r in RADII]).statistic >= 0.9, ours
    close = [i for i, r in enumerate(RADII) if r <= JPEG_CLOSE_UP_TO]
    assert [ours[i] for i in close] == pytest.approx([theirs[i] for i in close], rel=0.02)


def test_an_exif_rotated_jpeg_is_measured_upright(ladder, tmp_path):
    sideways = sharpness(ladder["sideways.jpg"])
    # Exactly what blurdetect gives on the upright luma, saved losslessly.
    for path, ours in zip(ladder["sideways.jpg"], sideways):
        upright = tmp_path / f"{path.stem}.upright.png"
        ImageOps.exif_transpose(Image.open(path)).convert("L").save(upright)
        assert ours == pytest.approx(1 / blurdetect(upright), abs=1e-4)
    # The ffmpeg command applies the orientation too; the upright-stored JPEG is another
    # encode of the same picture, so both agree as closely as two JPEG decodes do.
    theirs = [1 / blurdetect(path) for path in ladder["sideways.jpg"]]
    upright_jpeg = sharpness(ladder["jpg"])
    assert stats.spearmanr(sideways, theirs).statistic >= 0.9, (sideways, theirs)
    assert stats.spearmanr(sideways, upright_jpeg).statistic >= 0.9, (sideways, upright_jpeg)
    close = [i for i, r in enumerate(RADII) if r <= JPEG_CLOSE_UP_TO]
    assert [sideways[i] for i in close] == pytest.approx([theirs[i] for i in close], rel=0.02)
    assert [sideways[i] for i in close] == pytest.approx([upright_jpeg[i] for i in close], rel=0.02)


def test_an_image_is_one_measurement_without_stretches(ladder):
    sharp = run("sharpness", ladder["png"][0], {"min_median": 0.2, "max_blurry_ratio": 0})
    assert sharp.pass_check, sharp.rationale
    m = sharp.metrics["sharpness"]
    assert m["p10"] == m["median"] > 0.2 and m["blurry_ratio"] == 0.0 and m["blurry_segments"] == []
    blurry = run("sharpness", ladder["png"][-1], {"min_median": 0.2})
    m = blurry.metrics["sharpness"]
    assert not blurry.pass_check and "median sharpness" in blurry.rationale
    assert m["blurry_ratio"] == 1.0 and m["blurry_segments"] == []  # an image has no timeline
    assert metrics("sharpness", ladder["png"][-1], {"fast": True}) == m  # nothing to sample in one picture


def test_a_picture_without_edges_has_no_sharpness_and_is_not_blurry(tmp_path):
    flat = tmp_path / "flat.png"
    Image.new("RGB", (64, 48), (90, 120, 150)).save(flat)
    black = encode(tmp_path / "black.mp4", lambda i, t: np.full((48, 64), 16, np.uint8), width=64, height=48, seconds=1)
    for path in (flat, black):
        result = run("sharpness", path)
        m = result.metrics["sharpness"]
        assert (m["median"], m["p10"], m["blurry_ratio"], m["blurry_segments"]) == (None, None, 0.0, [])
        assert result.rationale == "no edges to measure sharpness on"
