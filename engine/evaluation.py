"""The scoring pipeline: probe once, run each applicable criterion's detector, build the payload.

It knows detectors' results, not queues, storage or HTTP: the CLI, the worker and the API all
hand it a `MediaSource` and a bound judge and get back the payload to print or send.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic_core import PydanticSerializationError

from .detector import DetectorResult, Media
from .errors import ContentMismatch, MediaError, PiqueError, ProbeError
from .judge import BoundCriterion, BoundJudge
from .media.info import ContentType, MediaInfo
from .payloads import CompletedPayload, CriterionResult, FailedPayload, Payload
from .plugins import Plugins
from .media.probe import ProbeLimits, probe_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaSource:
    """Where a file's bytes come from.

    `open_header` gives a seekable file object for the probe, which reads only headers (the
    worker passes ranged reads of a GCS object); `open_content` gives one for detectors that
    read every sample (the worker streams the object to a temporary file first).
    """

    name: str
    open_header: Callable[[], IO[bytes]]
    open_content: Callable[[], IO[bytes]]

    @classmethod
    def from_path(cls, path: str | Path) -> MediaSource:
        path = Path(path)

        def opener() -> IO[bytes]:
            try:
                return open(path, "rb")
            except OSError as exc:
                raise ProbeError(f"cannot open {str(path)!r}: {exc.strerror}") from None

        return cls(name=path.name, open_header=opener, open_content=opener)


@dataclass
class Evaluation:
    """The outcome of one evaluation: the payload, and what it cost."""

    payload: Payload
    info: MediaInfo | None
    probe_ms: float
    detector_ms: dict[str, float] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return isinstance(self.payload, CompletedPayload)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def check_content_type(info: MediaInfo, declared: ContentType) -> None:
    """Raise `ContentMismatch` when the file cannot be evaluated as the declared type.

    A video's audio track may be evaluated as audio; otherwise the file must be what it
    says it is.
    """
    ok = {
        "video": info.video is not None,
        "image": info.image is not None,
        "audio": info.audio is not None and info.image is None,
    }[declared]
    if not ok:
        raise ContentMismatch(
            f"the upload was declared as {declared} but the file is {info.describe()}; "
            f"declare content_type {info.kind!r} or upload a {declared} file"
        )


class Evaluator:
    """Evaluates media against bound judges with the loaded plugins."""

    def __init__(self, plugins: Plugins, limits: ProbeLimits | None = None) -> None:
        self.plugins = plugins
        self.limits = limits or ProbeLimits()

    def evaluate(
        self,
        source: MediaSource,
        judge: BoundJudge,
        *,
        job_id: str,
        content_type: ContentType | None = None,
        evaluation_id: str | None = None,
        content_id: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Evaluation:
        """Evaluate one file.

        Bad media and failing detectors become a failed payload or failing criteria; only
        errors worth retrying (`StorageError`: the bytes could not be fetched) propagate.
        `progress(label)` is told what runs next, so a limit hit in a sandbox names it.
        """
        report = progress or (lambda label: None)
        report("the media probe")
        started = time.perf_counter()
        try:
            with source.open_header() as f:
                info = probe_file(f, self.limits)
            declared = content_type or info.kind
            check_content_type(info, declared)
            criteria = judge.criteria_for(declared)
            if not criteria:
                handled = sorted({t for c in judge.criteria for t in c.detector.content_types})
                raise MediaError(
                    f"judge {judge.judge_id!r} has no criterion for {declared} content "
                    f"(its detectors handle: {', '.join(handled)})"
                )
        except MediaError as exc:
            probe_ms = (time.perf_counter() - started) * 1000
            log.info("evaluation failed for job %s: %s", job_id, exc)
            failed = FailedPayload(job_id=job_id, error=str(exc), judge_id=judge.judge_id)
            return Evaluation(payload=failed, info=None, probe_ms=probe_ms)
        probe_ms = (time.perf_counter() - started) * 1000

        media = Media(info=info, name=source.name, opener=source.open_content)
        results: list[CriterionResult] = []
        timings: dict[str, float] = {}
        for bound in criteria:
            report(f"detector {bound.detector.name!r} (criterion {bound.criterion.criterion_id!r})")
            t0 = time.perf_counter()
            results.append(run_criterion(bound, media))
            timings[bound.criterion.criterion_id] = (time.perf_counter() - t0) * 1000
        report("the overall_score hook")
        score = self.plugins.overall_score(judge.judge, results)
        payload = CompletedPayload(
            evaluation_id=evaluation_id or str(uuid.uuid4()),
            job_id=job_id,
            content_id=content_id or str(uuid.uuid4()),
            judge_id=judge.judge_id,
            overall_score=score,
            results=results,
        )
        return Evaluation(payload=payload, info=info, probe_ms=probe_ms, detector_ms=timings)


def run_criterion(bound: BoundCriterion, media: Media) -> CriterionResult:
    """Run one detector; an exception or an invalid result fails this criterion only.

    `MemoryError` is not caught: in a sandbox it means the evaluation hit its memory limit,
    which the sandbox reports with the limit and the detector's name.
    """
    det = bound.detector
    try:
        result = det.evaluate(media, bound.params)
        if not isinstance(result, DetectorResult):
            raise TypeError(f"returned {type(result).__name__}, expected DetectorResult")
    except MemoryError:
        raise
    except PiqueError as exc:
        return _failed_criterion(bound, str(exc))
    except Exception as exc:  # third-party code: report it, keep the other criteria
        log.exception("detector %r raised on %s", det.name, media.name)
        return _failed_criterion(bound, f"detector {det.name!r} failed: {type(exc).__name__}: {exc}")
    criterion = CriterionResult(
        criterion_id=bound.criterion.criterion_id,
        detector_name=det.name,
        pass_check=result.pass_check,
        score=result.score,
        rationale=result.rationale,
        metrics=result.metrics,
    )
    try:  # the payload is serialised later, far from here; a bad value must fail this criterion only
        criterion.model_dump_json()
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        return _failed_criterion(bound, f"detector {det.name!r} returned metrics that cannot be sent as JSON: {exc}")
    return criterion


def _failed_criterion(bound: BoundCriterion, error: str) -> CriterionResult:
    return CriterionResult(
        criterion_id=bound.criterion.criterion_id,
        detector_name=bound.detector.name,
        pass_check=False,
        score=0.0,
        rationale=error,
        metrics={bound.detector.name: {"error": error}},
    )
