"""Test helpers: one detector run through the engine's test kit, generated clips, the system ffmpeg."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pique_engine.testing import run_detector


def run(name: str, path: str | Path, params: dict | None = None, *, content_type: str | None = None):
    """The `DetectorResult` of detector `name` on `path`, through the engine's decode pass."""
    return run_detector(name, path, params, content_type=content_type)


def metrics(name: str, path: str | Path, params: dict | None = None) -> dict:
    return run(name, path, params).metrics[name]


# -- media and the system ffmpeg ---------------------------------------------------------------

FFMPEG = shutil.which("ffmpeg")


def need_ffmpeg() -> str:
    """The system ffmpeg's path; skips the test without one (fails in CI, where it must be installed)."""
    try:
        from tests.conftest import require_service  # the engine's checkout: skip locally, fail in CI
    except ImportError:  # the pack on its own
        def require_service(available: bool, why: str) -> None:
            if not available:
                pytest.skip(why)
    require_service(FFMPEG is not None, "the system ffmpeg is not installed (apt-get install ffmpeg) to compare against")
    return FFMPEG  # type: ignore[return-value]


def ffmpeg_log(path: Path, *, vf: str | None = None, af: str | None = None) -> str:
    """What `ffmpeg -i path -vf ... -af ... -f null -` prints (its filters log to stderr)."""
    cmd = [need_ffmpeg(), "-hide_banner", "-nostats", "-i", str(path)]
    cmd += ["-vf", vf] if vf else ["-vn"]
    cmd += ["-af", af] if af else ["-an"]
    done = subprocess.run([*cmd, "-f", "null", "-"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def floats(pattern: str, text: str) -> list[float]:
    return [float(x) for x in re.findall(pattern, text)]


def noise(width: int, height: int, *, low: int = 40, high: int = 220, seed: int = 0) -> Callable[[int, float], np.ndarray]:
    """A picture of fresh noise every frame: nothing in it is ever still."""

    def picture(index: int, _t: float) -> np.ndarray:
        return np.random.default_rng(seed * 100_003 + index).integers(low, high, (height, width), dtype=np.uint8)

    return picture


def encode(path: Path, picture: Callable[[int, float], np.ndarray], *, width: int, height: int, fps: int = 30,
           seconds: float = 3.0, pix_fmt: str = "yuv420p", rotation: int = 0, crf: int = 18) -> Path:
    """An H.264 MP4 of `picture` (8-bit luma values) stored as `pix_fmt`: yuv420p, yuvj420p
    (full range) or yuv420p10le (luma values times 4); `rotation` as `synth.write_video` takes it; `crf` 0 is lossless."""
    import av

    deep = pix_fmt.endswith("10le")
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        vs.options = {"preset": "ultrafast", "crf": str(crf)}
        if rotation:
            vs.set_display_rotation(-rotation)
        for i in range(int(round(seconds * fps))):
            y = picture(i, i / fps).astype(np.uint16 if deep else np.uint8) * (4 if deep else 1)
            chroma = np.full((height // 2, width), 512 if deep else 128, y.dtype)
            frame = av.VideoFrame.from_ndarray(np.concatenate([y, chroma]), format=pix_fmt)
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    return path
