"""Filter chains on still images: the upright picture, once, read as the ffmpeg command reads the file."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from pique_engine import synth
from pique_engine.media.consumers import Collect
from pique_engine.media.content import AudioFilter, ImagePixels, VideoFilter
from pique_engine.media.decode_pass import run_pass
from pique_engine.media.filters import FilterChainError
from pique_engine.media.image_filters import stored_yuv
from pique_engine.media.sniff import sniff

from ..conftest import require_service

ROTATE_TO_DISPLAY = 6  # EXIF: turn the stored picture 90 degrees clockwise to show it


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _events(path, chain: str) -> list:
    out = Collect()
    stats = run_pass(path, [(VideoFilter(chain=chain), out)])
    assert stats.failures == {}
    return out.items


def test_a_chain_on_an_image_sees_the_upright_picture_once_at_time_zero(media_dir):
    upright = np.zeros((64, 48), np.uint8)
    upright[4:14, 30:42] = 255  # a white block near the top right, as the image is shown
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # stored on its side
    path = media_dir / "sideways.png"
    stored.save(path, exif=_exif(ROTATE_TO_DISPLAY))
    [event] = _events(path, "bbox")
    box = {k.removeprefix("lavfi.bbox."): int(v) for k, v in event.metadata.items()}
    assert event.time == 0.0
    assert box == {"x1": 30, "x2": 41, "y1": 4, "y2": 13, "w": 12, "h": 10}


def test_pixels_and_chains_on_one_image_are_served_together_and_a_bad_chain_fails_alone(media_dir):
    path = media_dir / "detail.jpg"
    synth.detailed_image(96, 64).save(path, quality=90)
    pixels, blur, bad, audio = Collect(), Collect(), Collect(), Collect()
    stats = run_pass(path, [(ImagePixels(format="gray"), pixels), (VideoFilter(chain="blurdetect"), blur),
                            (VideoFilter(chain="blurdetect=nonsense=1"), bad), (AudioFilter(chain="ebur128"), audio)])
    assert set(stats.failures) == {2} and isinstance(stats.failures[2], FilterChainError)
    assert pixels.items[0].image.shape == (64, 96)
    assert [e.time for e in blur.items] == [0.0] and float(blur.items[0].metadata["lavfi.blur"]) > 1
    assert audio.items == [] and audio.closed


def _save(image: Image.Image, path, kind: str):
    if kind == "gray16.png":
        Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257).save(path)
    elif kind == "lossless.webp":
        image.save(path, lossless=True)
    elif kind == "gif":
        image.convert("P").save(path)
    else:
        image.save(path, quality=90)
    return path


# (how the picture is saved, tolerance on blurdetect's blur against the ffmpeg command's)
AGREEMENT = [
    ("png", 1e-6), ("gray16.png", 1e-6), ("gif", 1e-6), ("lossless.webp", 1e-6),
    # FFmpeg's and libjpeg's IDCTs round some pixels one level apart, which moves a few edges
    # across blurdetect's thresholds: measured within 1.1% up to a 5 px blur (7% at 8 px).
    ("jpg", 0.02),
    ("webp", 0.01),  # a lossy WebP's luma, back from libwebp's RGB: within 0.5%
]


@pytest.mark.parametrize(("kind", "tolerance"), AGREEMENT)
def test_blurdetect_on_an_image_reads_what_the_ffmpeg_command_reads(media_dir, kind, tolerance):
    ffmpeg = shutil.which("ffmpeg")
    require_service(ffmpeg is not None, "ffmpeg is not installed (apt-get install ffmpeg) to compare against")
    for blur in (0, 2, 5):
        path = _save(synth.detailed_image(320, 240, blur=blur), media_dir / f"b{blur}.{kind}", kind)
        [event] = _events(path, "blurdetect")
        run = subprocess.run([ffmpeg, "-hide_banner", "-nostats", "-i", str(path), "-vf", "blurdetect,metadata=mode=print",
                              "-f", "null", "-"], capture_output=True, text=True, timeout=60)
        theirs = float(re.findall(r"lavfi\.blur=([\d.]+)", run.stderr)[-1])
        assert float(event.metadata["lavfi.blur"]) == pytest.approx(theirs, rel=tolerance, abs=1e-6), (blur, run.stderr[-500:])


def test_jpeg_and_lossy_webp_are_filtered_as_the_yuv_ffmpeg_decodes_them_to(media_dir):
    picture = synth.detailed_image(32, 32)
    translucent = picture.copy()
    translucent.putalpha(128)
    saved = {
        "jpg": (picture, {}),
        "png": (picture, {}),
        "webp": (picture, {}),
        "alpha.webp": (translucent, {}),  # VP8X, then ALPH, then the VP8 picture
        "ll.webp": (picture, {"lossless": True}),
        "anim.webp": (picture, {"save_all": True, "append_images": [picture.rotate(90)]}),
    }
    ranges = {}
    for suffix, (image, options) in saved.items():
        path = media_dir / f"p.{suffix}"
        image.save(path, format=suffix.rpartition(".")[2].replace("jpg", "jpeg"), **options)
        with open(path, "rb") as f:
            ranges[suffix] = stored_yuv(f, sniff(f.read(64)))
    assert ranges == {"jpg": "full", "png": None, "webp": "limited", "alpha.webp": "limited", "ll.webp": None,
                      "anim.webp": "limited"}
