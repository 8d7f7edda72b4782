"""Media and runners for the pique-safety tests: everything is generated, nothing downloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFont

from pique_engine.testing import run_detector

FONTS = "/usr/share/fonts/truetype/dejavu"


def run_content(module, path: Path, params: dict | None = None):
    """Run the detector `module` registers as an evaluation would: through one decode pass."""
    return run_detector(module.__name__.rsplit(".", 1)[1], path, params, timeout_sec=900.0)


def require_espeak() -> str:
    """The espeak-ng binary; skips locally and fails in CI when it is missing."""
    found = shutil.which("espeak-ng")
    if found is None:
        message = "espeak-ng is not installed (apt-get install espeak-ng); speech tests need it to make speech"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(Path(FONTS) / name), size)


def moving_background(width: int, height: int, t: float) -> np.ndarray:
    """A colour gradient that drifts sideways, with a bright band sweeping down the frame."""
    x = np.linspace(0, 1, width)[None, :] + 0.15 * t
    y = np.linspace(0, 1, height)[:, None]
    rgb = np.stack([70 + 50 * np.sin(2 * np.pi * x) + 0 * y, 90 + 40 * np.cos(2 * np.pi * (x + y)), 120 + 30 * y + 0 * x], axis=2)
    band = (np.arange(height)[:, None] - (t * 60) % height)
    rgb[(np.abs(band) < 12).repeat(width, axis=1)] += 40
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_rgb_video(path: Path, frames, *, width: int, height: int, fps: int, seconds: float) -> Path:
    """Encode RGB pictures `frames(t) -> HxWx3` as H.264 (yuv420p)."""
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(int(round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(frames(i / fps), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    return path


def speech(text: str, rate: int = 16_000, *, voice: str = "en") -> np.ndarray:
    """`text` spoken by espeak-ng, float32 mono at `rate`, trimmed to its first and last sound."""
    binary = require_espeak()
    wav = subprocess.run([binary, "-v", voice, "--stdout", text], check=True, capture_output=True).stdout
    import io

    import soundfile

    samples, native = soundfile.read(io.BytesIO(wav), dtype="float32")
    n = int(len(samples) * rate / native)
    resampled = np.interp(np.arange(n) * native / rate, np.arange(len(samples)), samples).astype(np.float32)
    loud = np.flatnonzero(np.abs(resampled) > 0.01)
    return resampled[loud[0] : loud[-1] + 1]
