"""The scoring pipeline: probe once, run each applicable criterion's detector, build the payload.

It knows detectors' results, not queues, storage or HTTP: the CLI, the worker and the API all
hand it a `MediaSource` and a bound judge and get back the payload to print or send.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic_core import PydanticSerializationError

from .content_run import run_content
from .detector import Media
from .detector_run import Deadline, Outcome, call_with_budget, detector_output_to_log, guarded_media
from .errors import ContentMismatch, MediaError, ProbeError
from .judge import BoundCriterion, BoundJudge
from .media.info import ContentType, MediaInfo
from .payloads import CompletedPayload, CriterionResult, FailedPayload, Payload
from .plugins import Plugins
from .media.probe import ProbeLimits, probe_file

log = logging.getLogger(__name__)

DEFAULT_DETECTOR_TIMEOUT_SEC = 120.0
PROGRESS_STEP_PERCENT = 5  # the pass reports at most every 5 % of the duration


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
    """Evaluates media against bound judges with the loaded plugins.

    Each detector gets `detector_timeout_sec` (PIQUE_DETECTOR_TIMEOUT_SEC) of its own, within
    `evaluation_timeout_sec` for the whole evaluation when one is given.
    """

    def __init__(self, plugins: Plugins, limits: ProbeLimits | None = None, *,
                 detector_timeout_sec: float = DEFAULT_DETECTOR_TIMEOUT_SEC,
                 evaluation_timeout_sec: float | None = None) -> None:
        self.plugins = plugins
        self.limits = limits or ProbeLimits()
        self.detector_timeout_sec = detector_timeout_sec
        self.evaluation_timeout_sec = evaluation_timeout_sec

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
        on_result: Callable[[CriterionResult], None] | None = None,
        skip: Mapping[str, str] | None = None,
        only: set[str] | None = None,
    ) -> Evaluation:
        """Evaluate one file.

        Bad media and failing detectors become a failed payload or failing criteria; only
        errors worth retrying (`StorageError`: the bytes could not be fetched) propagate.
        `progress(label)` is told what runs next, so a limit hit in a sandbox names it.
        `on_result(result)` is called as each criterion finishes; `skip` maps criterion ids to
        the error to report instead of running them; `only` runs just those criteria.
        """
        report = progress or (lambda label: None)
        deadline = Deadline(self.evaluation_timeout_sec)
        report("the media probe")
        started = time.perf_counter()
        try:
            info, criteria = self._probe(source, judge, content_type)
        except MediaError as exc:
            probe_ms = (time.perf_counter() - started) * 1000
            log.info("evaluation failed for job %s: %s", job_id, exc)
            failed = FailedPayload(job_id=job_id, error=str(exc), judge_id=judge.judge_id)
            return Evaluation(payload=failed, info=None, probe_ms=probe_ms)
        probe_ms = (time.perf_counter() - started) * 1000

        if only is not None:
            criteria = [c for c in criteria if c.criterion.criterion_id in only]
        run = _Run(Media(info=info, name=source.name, opener=source.open_content), on_result)
        with detector_output_to_log(job_id):
            run.run(criteria, skip or {}, report, lambda: deadline.budget(self.detector_timeout_sec), self.limits)
        results = [run.results[c.criterion.criterion_id] for c in criteria]
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
        return Evaluation(payload=payload, info=info, probe_ms=probe_ms, detector_ms=run.timings)


    def _probe(self, source: MediaSource, judge: BoundJudge,
               content_type: ContentType | None) -> tuple[MediaInfo, list[BoundCriterion]]:
        """The file's probe and the criteria that apply to it; `MediaError` when none can."""
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
        return info, criteria


class _Run:
    """The criteria of one evaluation: header-only ones one by one, content ones on one pass."""

    def __init__(self, media: Media, on_result: Callable[[CriterionResult], None] | None) -> None:
        self.media = media
        self.on_result = on_result
        self.results: dict[str, CriterionResult] = {}
        self.timings: dict[str, float] = {}
        self.bound: dict[str, BoundCriterion] = {}

    def finish(self, criterion_id: str, outcome: Outcome, started: float) -> None:
        self.timings[criterion_id] = (time.perf_counter() - started) * 1000
        result = criterion_result(self.bound[criterion_id], outcome)
        self.results[criterion_id] = result
        if self.on_result is not None:
            self.on_result(result)

    def run(self, criteria: list[BoundCriterion], skip: Mapping[str, str], report: Callable[[str], None],
            budget: Callable[[], float], limits: ProbeLimits) -> None:
        self.bound = {c.criterion.criterion_id: c for c in criteria}
        content = []
        for bound in criteria:
            cid, det = bound.criterion.criterion_id, bound.detector
            if cid in skip:
                self.finish(cid, Outcome(error=skip[cid]), time.perf_counter())
            elif det.requests is not None:
                content.append(bound)
            else:
                report(f"detector {det.name!r} (criterion {cid!r})")
                t0 = time.perf_counter()
                media = guarded_media(self.media, det)
                seconds = budget()
                self.finish(cid, call_with_budget(det, lambda: det.evaluate(media, bound.params), seconds), t0)
        if content:
            self._content(content, report, budget, limits)

    def _content(self, content: list[BoundCriterion], report: Callable[[str], None], budget: Callable[[], float],
                 limits: ProbeLimits) -> None:
        names = ", ".join(repr(c.detector.name) for c in content)
        report(f"content pass: detectors {names}")
        t0 = time.perf_counter()

        def fraction(done: float) -> None:
            percent = int(done * 100)
            if percent >= reported[0] + PROGRESS_STEP_PERCENT or (percent == 100 and reported[0] < 100):
                reported[0] = percent
                report(f"content pass {percent}%: detectors {names}")

        reported = [0]
        run_content(
            [(c.criterion.criterion_id, c.detector, c.params) for c in content],
            self.media, budget=budget, limits=limits, progress=fraction,
            on_outcome=lambda cid, outcome: self.finish(cid, outcome, t0),
        )


def criterion_result(bound: BoundCriterion, outcome: Outcome) -> CriterionResult:
    """The payload entry for one criterion: its detector's result, or a failure naming it."""
    det = bound.detector
    if outcome.result is None:
        return _failed_criterion(bound, outcome.error or f"detector {det.name!r} returned no result")
    result = outcome.result
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


def run_criterion(bound: BoundCriterion, media: Media, *, timeout_sec: float = DEFAULT_DETECTOR_TIMEOUT_SEC) -> CriterionResult:
    """Run one header-only criterion on its own, as an evaluation would (the fuzz harness does)."""
    det = bound.detector
    guarded = guarded_media(media, det)
    return criterion_result(bound, call_with_budget(det, lambda: det.evaluate(guarded, bound.params), timeout_sec))


def _failed_criterion(bound: BoundCriterion, error: str) -> CriterionResult:
    return CriterionResult(
        criterion_id=bound.criterion.criterion_id,
        detector_name=bound.detector.name,
        pass_check=False,
        score=0.0,
        rationale=error,
        metrics={bound.detector.name: {"error": error}},
    )
