"""Running one pique-qc detector on a file through a decode pass, for the tests.

`run(name, path, params)` does what the engine's evaluation does for a content criterion:
probe, ask the detector's `requests`, run one `run_pass` feeding bounded queues, and call
`evaluate(media, params)` on a `PassMedia` reading them.
"""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pique_engine.media.decode_pass import run_pass
from pique_engine.media.probe import probe
from pique_engine.testing import installed_plugins


def run(name: str, path: str | Path, params: dict | None = None, *, content_type: str | None = None):
    """The `DetectorResult` of detector `name` on `path` (declared as `content_type`, default its kind)."""
    detector = installed_plugins().detectors.get(name)
    p = detector.params.model_validate(params or {})
    info = probe(path)
    if (content_type or info.kind) not in detector.content_types:
        raise ValueError(f"detector {name!r} does not handle {content_type or info.kind} content")
    with open(path, "rb") as f:
        return PassMedia.evaluate(f, info, detector.requests(p, info), lambda media: detector.evaluate(media, p))


def metrics(name: str, path: str | Path, params: dict | None = None) -> dict:
    return run(name, path, params).metrics[name]


_END = object()


class _Tagged:
    """One request's consumer: puts (name, item) on the queue `PassMedia` reads."""

    def __init__(self, name: str, media: PassMedia) -> None:
        self.name, self.media = name, media

    def feed(self, item) -> bool:
        return self.media.put((self.name, item))

    def close(self) -> None:
        self.media.closed(self.name)


class PassMedia:
    """The streams a detector asked for, read while a decode pass runs on another thread."""

    def __init__(self, info, names: list[str], depth: int = 16) -> None:
        self.info = info
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._open = set(names)
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    @classmethod
    def evaluate(cls, source, info, requests: Mapping[str, Any], fn: Callable[[PassMedia], Any]) -> Any:
        """Run one pass over `source` for `requests`, and `fn(media)` reading it; return what `fn` returns."""
        media = cls(info, list(requests))
        failures: dict[int, BaseException] = {}

        def decode() -> None:
            try:
                failures.update(run_pass(source, [(r, _Tagged(n, media)) for n, r in requests.items()], info=info).failures)
            except BaseException as exc:  # the reader re-raises it
                failures[-1] = exc
            finally:
                media.put(_END, force=True)

        thread = threading.Thread(target=decode, name="pique-qc-pass", daemon=True)
        thread.start()
        try:
            result = fn(media)
        finally:
            media._stopped.set()
            thread.join()
        if failures:
            raise next(iter(failures.values()))
        return result

    def put(self, entry, force: bool = False) -> bool:
        while not self._stopped.is_set() or force:
            try:
                self._queue.put(entry, timeout=0.05)
                return False
            except queue.Full:
                if force and self._stopped.is_set():
                    return True
        return True  # the reader has finished: the pass stops feeding this stream

    def closed(self, name: str) -> None:
        with self._lock:
            self._open.discard(name)

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every requested stream's items, as (request name, item), in decode order."""
        while (entry := self._queue.get()) is not _END:
            yield entry  # type: ignore[misc]

    def stream(self, name: str) -> Iterator[Any]:
        """The items of one requested stream."""
        return (item for n, item in self.items() if n == name)




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
