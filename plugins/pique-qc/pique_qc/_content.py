"""What every detector of the pack shares: declaring a content detector, and time ranges.

A detector is a `requests(params, info)` function naming the streams it needs and an
`evaluate(media, params)` that reads them (`media.items()`, `media.stream(name)`). An engine
whose `Detector` takes `requests` feeds every criterion from its one shared decode pass; on an
engine that does not yet, `content_detector` runs one pass per criterion itself
(`PassMedia`), with the same bounded, streaming reads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any

from pique_engine import Detector
from pique_engine.media.decode_pass import run_pass

_END = object()
Ranges = list[list[float]]


def content_detector(*, name: str, content_types: set[str], evaluate: Callable, params: type,
                     requests: Callable, description: str) -> Detector:
    """A `Detector` fed by the engine's shared pass, or by a pass of its own on older engines."""
    if "requests" in {f.name for f in fields(Detector)}:
        return Detector(name=name, content_types=content_types, evaluate=evaluate, params=params,
                        requests=requests, description=description)

    def standalone(media, p):
        with media.open() as f:
            return PassMedia.evaluate(f, media.info, requests(p, media.info), lambda m: evaluate(m, p))

    return Detector(name=name, content_types=content_types, evaluate=standalone, params=params,
                    reads="content", description=description)


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


def ms(seconds: float) -> float:
    return round(float(seconds), 3)


def total(ranges: Ranges) -> float:
    return ms(sum(end - start for start, end in ranges))


def ranges_from_events(events: list[tuple[float, str]], end_of_stream: float, min_duration: float = 0.0) -> Ranges:
    """Pair "start"/"end" marks (time, kind) into [[start, end], ...]; an open range ends with the stream."""
    out: Ranges = []
    start: float | None = None
    for t, kind in events:
        if kind == "start" and start is None:
            start = t
        elif kind == "end" and start is not None:
            if t - start >= min_duration:
                out.append([ms(start), ms(t)])
            start = None
    if start is not None and end_of_stream - start >= min_duration:
        out.append([ms(start), ms(max(start, end_of_stream))])
    return out


def duration(info, kind: str = "video") -> float:
    """The stream's duration in seconds (the container's when the stream does not say)."""
    stream = getattr(info, kind, None)
    return float((stream and stream.duration_sec) or info.duration_sec or 0.0)


def leading(ranges: Ranges) -> float:
    return ranges[0][1] - ranges[0][0] if ranges and ranges[0][0] <= 0.0005 else 0.0


def trailing(ranges: Ranges, end: float) -> float:
    return ms(ranges[-1][1] - ranges[-1][0]) if ranges and ranges[-1][1] >= end - 0.0005 else 0.0
