"""Calling third-party detector code safely within one process.

A detector's result is validated again after it returns (whatever way it was built), each call
has its own time budget, header-only detectors may not read the content, and whatever a detector
prints goes to the log instead of the command's output.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from pydantic import ValidationError

from .detector import Detector, DetectorResult
from .errors import DetectorError
from .media.info import Media

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one criterion's detector call came to: a valid result, or the reason it failed."""

    result: DetectorResult | None = None
    error: str | None = None
    exception: BaseException | None = None  # kept so `run_detector` can show the traceback


def timeout_message(detector: Detector, seconds: float) -> str:
    return (
        f"detector {detector.name!r} exceeded its time limit of {seconds:g} s and was abandoned "
        "(PIQUE_DETECTOR_TIMEOUT_SEC, or the evaluation's own limit)"
    )


def validated(detector: Detector, result: object) -> DetectorResult:
    """`result` checked field by field, even if it was built with `model_construct`."""
    if not isinstance(result, DetectorResult):
        raise DetectorError(f"detector {detector.name!r} returned {type(result).__name__}, expected DetectorResult")
    try:
        return DetectorResult.model_validate(dict(vars(result)))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors(include_url=False))
        raise DetectorError(f"detector {detector.name!r} returned an invalid DetectorResult: {problems}") from None


def outcome_of(detector: Detector, call: Callable[[], object]) -> Outcome:
    """Run `call` and turn what happens into an `Outcome`; `MemoryError` propagates (the sandbox reports it)."""
    try:
        return Outcome(result=validated(detector, call()))
    except MemoryError:
        raise
    except DetectorError as exc:
        return Outcome(error=str(exc), exception=exc)
    except Exception as exc:  # third-party code: report it, keep the other criteria
        log.warning("detector %r raised %s: %s", detector.name, type(exc).__name__, exc, exc_info=exc)
        return Outcome(error=f"detector {detector.name!r} failed: {type(exc).__name__}: {exc}", exception=exc)


def call_with_budget(detector: Detector, call: Callable[[], object], seconds: float) -> Outcome:
    """Run `call` on its own thread; past `seconds` it is abandoned and the criterion fails."""
    box: list[Outcome | BaseException] = []

    def target() -> None:
        try:
            box.append(outcome_of(detector, call))
        except BaseException as exc:  # MemoryError: re-raised on the calling thread
            box.append(exc)

    thread = threading.Thread(target=target, name=f"detector-{detector.name}", daemon=True)
    thread.start()
    thread.join(max(0.0, seconds))
    if thread.is_alive():
        log.warning("detector %r overran its %g s budget; abandoned", detector.name, seconds)
        return Outcome(error=timeout_message(detector, seconds))
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def guarded_media(media: Media, detector: Detector) -> Media:
    """The media as `detector` may see it: header-only detectors cannot open the content."""
    if detector.reads == "content":
        return media

    def refuse() -> IO[bytes]:
        raise DetectorError(
            f"detector {detector.name!r} declares reads='header' but opened the content; "
            "declare reads='content' (or `requests` for decoded frames and samples) in its Detector"
        )

    return Media(info=media.info, name=media.name, opener=refuse)


class _LogStream(io.TextIOBase):
    """A text stream that sends each complete line to the log, tagged with the running jobs."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._log(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            line, self._pending = self._pending, ""
        if line:
            self._log(line)

    def _log(self, line: str) -> None:
        log.info("detector %s (job %s): %s", self.stream, ", ".join(_jobs) or "none", line)


_STDOUT, _STDERR = _LogStream("stdout"), _LogStream("stderr")
_jobs: dict[str, int] = {}  # evaluations running detectors now, in this process
_jobs_lock = threading.Lock()
_saved: tuple[Any, Any] | None = None


@contextlib.contextmanager
def detector_output_to_log(job_id: str) -> Iterator[None]:
    """Send `sys.stdout`/`sys.stderr` writes to the log while detectors run.

    Evaluations running at once in one process share the redirection: the first installs it,
    the last restores the streams. Writes to file descriptors 1 and 2 from C code are not
    seen here; the sandbox child redirects those.
    """
    global _saved
    with _jobs_lock:
        if not _jobs:
            _saved = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = _STDOUT, _STDERR
        _jobs[job_id] = _jobs.get(job_id, 0) + 1
    try:
        yield
    finally:
        _STDOUT.flush()
        _STDERR.flush()
        with _jobs_lock:
            _jobs[job_id] -= 1
            if not _jobs[job_id]:
                del _jobs[job_id]
            if not _jobs and _saved is not None:
                sys.stdout, sys.stderr = _saved
                _saved = None


class Deadline:
    """A point in time on the monotonic clock, shared by the calls of one evaluation."""

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds

    def budget(self, per_detector: float) -> float:
        """The time one detector starting now may take: its own budget, within the evaluation's."""
        if self.at is None:
            return per_detector
        return max(0.0, min(per_detector, self.at - time.monotonic()))
