"""Running one pique-qc detector on a file through a decode pass, for the tests.

`run(name, path, params)` does what the engine's evaluation does for a content criterion:
probe, ask the detector's `requests`, run one `run_pass` feeding bounded queues, and call
`evaluate(media, params)` on a `PassMedia` reading them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

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


