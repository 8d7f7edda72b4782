"""Media and runners for the pique-safety tests: everything is generated, nothing downloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pique_engine.media.consumers import Collect
from pique_engine.media.decode_pass import run_pass
from pique_engine.media.probe import probe

FONTS = "/usr/share/fonts/truetype/dejavu"


class PassMedia:
    """What a content detector reads: the probe and the streams it asked for, collected."""

    def __init__(self, info, streams: dict[str, list]) -> None:
        self.info = info
        self._streams = streams

    def stream(self, name: str):
        return iter(self._streams[name])

    def items(self):
        merged = [(item.time, name, item) for name, items in self._streams.items() for item in items]
        for _t, name, item in sorted(merged, key=lambda x: x[0]):
            yield name, item


def run_content(module, path: Path, params: dict | None = None):
    """Probe `path`, run one pass for `module.requests`, and call `module.evaluate` on the result."""
    info = probe(path)
    model = {"nsfw": "NsfwParams", "onscreen_text": "OnscreenTextParams", "speech": "SpeechParams"}
    params_model = getattr(module, model[module.__name__.rsplit(".", 1)[1]])
    p = params_model.model_validate(params or {})
    requests = module.requests(p, info)
    collected = {name: Collect() for name in requests}
    stats = run_pass(path, [(requests[name], collected[name]) for name in requests], info=info)
    assert not stats.failures, stats.failures
    return module.evaluate(PassMedia(info, {n: c.items for n, c in collected.items()}), p)


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
