"""Running every content criterion of an evaluation on one decode pass.

Each content criterion names its streams (`Detector.requests`); the pass decodes the file once
and feeds them all. Each criterion's `evaluate(media, params)` runs on a thread of its own,
reading `media.items()` or `media.stream(name)` from a small bounded queue, so memory stays
flat and a slow detector slows the pass only until its time budget runs out: then it is
abandoned (no longer fed) and the others finish.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel

from .blas_threads import limit_blas_threads
from .detector import Detector
from .detector_run import Outcome, outcome_of, timeout_message
from .errors import MediaError
from .media.info import Media, MediaInfo

if TYPE_CHECKING:
    from .media.content import Item, Request
    from .media.probe import ProbeLimits

_END = object()
_POLL_SEC = 0.05


class ContentMedia:
    """The media as a content detector sees it: the probe's `info` plus its requested streams."""

    def __init__(self, media: Media, feed: _Feed) -> None:
        self.info = media.info
        self.name = media.name
        self._media = media
        self._feed = feed

    def open(self) -> IO[bytes]:
        """A fresh seekable file object of the whole content (prefer the requested streams)."""
        return self._media.open()

    def items(self) -> Iterator[tuple[str, Item]]:
        """Every requested stream's items as `(name, item)`, in decode order, until the pass ends."""
        while (batch := self._feed.queue.get()) is not _END:
            yield from batch  # type: ignore[misc]

    def stream(self, name: str) -> Iterator[Item]:
        """The items of one requested stream (items of the criterion's other streams are skipped)."""
        if name not in self._feed.names:
            raise KeyError(f"no stream {name!r} was requested; requested: {', '.join(sorted(self._feed.names))}")
        return (item for n, item in self.items() if n == name)


class _Feed:
    """One criterion's queue and thread; the pass puts items in, the detector takes them out.

    Items travel in batches of `batch`: waking the detector's thread once per item cost more
    CPU than many detectors' own work on it. At most `depth` batches wait in the queue, so
    memory stays bounded: `depth + 2` batches per criterion, counting the one being filled and
    the one the detector is reading.
    """

    def __init__(self, names: Sequence[str], deadline: float, depth: int = 2, batch: int = 4) -> None:
        self.names = frozenset(names)
        self.queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.batch = batch
        self.pending: list[tuple[str, Item]] = []
        self.deadline = deadline
        self.open_streams = len(names)
        self.abandoned = False
        self.thread: threading.Thread | None = None
        self.outcome: Outcome | BaseException | None = None

    def put(self, entry: tuple[str, Item]) -> bool:
        """Queue `entry`; False when the detector has finished or is past its deadline."""
        self.pending.append(entry)
        return self._flush() if len(self.pending) >= self.batch else self.running

    def _flush(self) -> bool:
        batch, self.pending = self.pending, []
        return self._put(batch)

    @property
    def running(self) -> bool:
        return not self.abandoned and self.thread is not None and self.thread.is_alive()

    def _put(self, batch: object) -> bool:
        while self.running:
            try:
                self.queue.put(batch, timeout=_POLL_SEC)
                return True
            except queue.Full:
                if time.monotonic() > self.deadline:
                    self.abandoned = True
        return False

    def close_one(self) -> None:
        self.open_streams -= 1
        if self.open_streams == 0:
            if self.pending:
                self._flush()
            self._put(_END)


class _Named:
    """The pass's consumer for one named stream of one criterion."""

    def __init__(self, target: _Feed, name: str) -> None:
        self.target = target
        self.name = name

    def feed(self, item: Item) -> bool:
        return not self.target.put((self.name, item))

    def close(self) -> None:
        self.target.close_one()


def _requests(detector: Detector, params: BaseModel, info: MediaInfo) -> dict[str, Request]:
    from .media.content import AudioBlocks, AudioFilter, ImagePixels, VideoFilter, VideoFrames

    asked = detector.requests(params, info)  # type: ignore[misc]
    if not isinstance(asked, Mapping) or not asked:
        raise TypeError(f"requests() returned {type(asked).__name__}; return a non-empty {{name: request}} mapping")
    kinds = (VideoFrames, AudioBlocks, ImagePixels, VideoFilter, AudioFilter)
    for name, request in asked.items():
        if not isinstance(name, str) or not isinstance(request, kinds):
            raise TypeError(f"requests() entry {name!r}: {type(request).__name__} is not a VideoFrames, AudioBlocks, "
                            "ImagePixels, VideoFilter or AudioFilter")
    return dict(asked)


def run_content(
    criteria: Sequence[tuple[str, Detector, BaseModel]],
    media: Media,
    *,
    budget: Callable[[], float],
    limits: ProbeLimits,
    progress: Callable[[float], None] | None = None,
    on_outcome: Callable[[str, Outcome], None],
) -> None:
    """Feed every `(criterion_id, detector, params)` from one pass over `media`.

    `budget()` is the time each detector may take from the pass's start; `on_outcome(id, outcome)`
    is called for each criterion as soon as its outcome is known. `MemoryError` propagates.
    """
    from .media.decode_pass import run_pass

    limit_blas_threads()
    subscriptions: list[tuple[Request, _Named]] = []
    feeds: dict[str, tuple[Detector, float, _Feed]] = {}
    for criterion_id, detector, params in criteria:
        try:
            asked = _requests(detector, params, media.info)
        except Exception as exc:
            on_outcome(criterion_id, Outcome(error=f"detector {detector.name!r} failed in requests(): {exc}", exception=exc))
            continue
        seconds = budget()
        feed = _Feed(list(asked), deadline=time.monotonic() + seconds)
        feed.thread = _start(detector, params, ContentMedia(media, feed), feed)
        feeds[criterion_id] = (detector, seconds, feed)
        subscriptions += [(request, _Named(feed, name)) for name, request in asked.items()]
    if not feeds:
        return
    pass_error: str | None = None
    try:
        with media.open() as f:
            run_pass(f, subscriptions, info=media.info, limits=limits, progress=progress)
    except MediaError as exc:  # the file cannot be decoded past its header: every content criterion fails
        pass_error = f"the decode pass failed: {exc}"
    _collect(feeds, pass_error, on_outcome)


def _start(detector: Detector, params: BaseModel, media: ContentMedia, feed: _Feed) -> threading.Thread:
    def target() -> None:
        try:
            feed.outcome = outcome_of(detector, lambda: detector.evaluate(media, params), media.name)
        except BaseException as exc:  # MemoryError: re-raised on the evaluating thread
            feed.outcome = exc

    thread = threading.Thread(target=target, name=f"detector-{detector.name}", daemon=True)
    thread.start()
    return thread


def _collect(feeds: Mapping[str, tuple[Detector, float, Any]], pass_error: str | None,
             on_outcome: Callable[[str, Outcome], None]) -> None:
    for criterion_id, (detector, seconds, feed) in feeds.items():
        feed.thread.join(max(0.0, feed.deadline - time.monotonic()))
        if feed.thread.is_alive() or feed.abandoned:
            on_outcome(criterion_id, Outcome(error=timeout_message(detector, seconds)))
            continue
        if isinstance(feed.outcome, BaseException):
            raise feed.outcome
        if pass_error is not None:
            on_outcome(criterion_id, Outcome(error=f"detector {detector.name!r} got no complete content: {pass_error}"))
            continue
        on_outcome(criterion_id, feed.outcome)
