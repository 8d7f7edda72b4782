"""Evaluating one uploaded object generation; runs inside a sandbox child process.

The probe reads the object's head through the `Storage` (ranged requests on GCS); only a
detector that declared ``reads="content"`` makes the whole object stream to a file, once (never
a whole copy in memory). The file's name is removed as soon as it has been fetched: the bytes
live on only through an open descriptor, so they vanish with the process however it ends.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

from ..errors import JudgeError, ObjectGone, StorageError
from ..evaluation import DEFAULT_DETECTOR_TIMEOUT_SEC, Evaluation, Evaluator, MediaSource
from ..judge import bind_judge, parse_judge
from ..media.probe import ProbeLimits
from ..payloads import FailedPayload
from ..storage.base import Storage

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class UploadRequest:
    """Everything a child needs to evaluate one upload: plain data, so it pickles."""

    job_id: str
    storage: Storage
    object_name: str
    generation: int
    size: int | None
    content_type: str
    declared_size: int
    judge: dict[str, Any]
    plugin_selection: list[str] | None = None
    limits: ProbeLimits = field(default_factory=ProbeLimits)
    evaluation_id: str | None = None
    content_id: str | None = None
    detector_timeout_sec: float = DEFAULT_DETECTOR_TIMEOUT_SEC


@dataclass(frozen=True)
class UploadOutcome:
    """The evaluation, or the transient storage error that stopped it (worth a retry)."""

    evaluation: Evaluation | None = None
    transient_error: str | None = None
    gone: bool = False


@lru_cache(maxsize=4)
def cached_plugins(selection: tuple[str, ...] | None):
    """The plugins for a selection, loaded once per process (and once in the forkserver)."""
    from ..plugins import load_plugins

    return load_plugins(None if selection is None else list(selection))


def evaluate_upload(request: UploadRequest, *, progress) -> UploadOutcome:
    """Evaluate one upload; meant for `sandbox.run_isolated`."""
    if request.size is not None and request.size != request.declared_size:
        error = (
            f"the upload is {request.size:,} bytes but {request.declared_size:,} were declared; "
            "create a new job with the file's real size"
        )
        return UploadOutcome(evaluation=_failed(request, error))

    plugins = cached_plugins(None if request.plugin_selection is None else tuple(request.plugin_selection))
    try:
        judge = bind_judge(parse_judge(request.judge), plugins.detectors)
    except JudgeError as exc:  # e.g. a detector this worker does not have installed
        return UploadOutcome(evaluation=_failed(request, str(exc)))
    content = FetchedContent(lambda: request.storage.open_content(request.object_name, request.generation))
    try:
        evaluator = Evaluator(plugins, request.limits, detector_timeout_sec=request.detector_timeout_sec)
        evaluation = evaluator.evaluate(
            _source(request, content),
            judge,
            job_id=request.job_id,
            content_type=request.content_type,
            evaluation_id=request.evaluation_id,
            content_id=request.content_id,
            progress=progress,
        )
    except ObjectGone as exc:
        return UploadOutcome(evaluation=_failed(request, f"{exc}; upload each file to its own job"), gone=True)
    except StorageError as exc:
        return UploadOutcome(transient_error=str(exc))
    finally:
        content.close()
    return UploadOutcome(evaluation=evaluation)


def _source(request: UploadRequest, content: FetchedContent) -> MediaSource:
    """The upload as a `MediaSource`: ranged reads of its head, or the fetched content."""
    storage, name, generation = request.storage, request.object_name, request.generation

    def open_header() -> IO[bytes]:
        return storage.open_head(name, generation, request.size)

    return MediaSource(name=name.rsplit("/", 1)[-1], open_header=open_header, open_content=content.open)


class FetchedContent:
    """The whole object, fetched on the first `open()` and kept through a descriptor alone.

    Closing the fetched (temporary) file removes its name at once; a second descriptor keeps
    the bytes readable until `close()` or the end of the process. Each `open()` returns an
    independent reader with its own position over the same bytes.
    """

    def __init__(self, fetch: Callable[[], IO[bytes]]) -> None:
        self._fetch = fetch
        self._fd: int | None = None

    def open(self) -> IO[bytes]:
        if self._fd is None:
            with self._fetch() as fetched:
                self._fd = os.dup(fetched.fileno())
        return io.BufferedReader(_PositionalReader(self._fd), buffer_size=1 << 16)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _PositionalReader(io.RawIOBase):
    """A seekable reader over a shared descriptor, with a position of its own (`os.pread`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: os.fstat(self._fd).st_size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        data = os.pread(self._fd, len(buffer), self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _failed(request: UploadRequest, error: str) -> Evaluation:
    payload = FailedPayload(job_id=request.job_id, error=error, judge_id=str(request.judge.get("judge_id", "")))
    return Evaluation(payload=payload, info=None, probe_ms=0.0)


def evaluate_file(
    path: str,
    judge: dict[str, Any],
    *,
    job_id: str,
    content_type: str | None,
    plugin_selection: list[str] | None,
    probe_limits: ProbeLimits,
    progress,
    detector_timeout_sec: float = DEFAULT_DETECTOR_TIMEOUT_SEC,
) -> Evaluation:
    """Evaluate one local file; `pique-engine evaluate` runs this in the sandbox."""
    plugins = cached_plugins(None if plugin_selection is None else tuple(plugin_selection))
    bound = bind_judge(parse_judge(judge), plugins.detectors)
    return Evaluator(plugins, probe_limits, detector_timeout_sec=detector_timeout_sec).evaluate(
        MediaSource.from_path(path), bound, job_id=job_id, content_type=content_type, progress=progress
    )
