"""An evaluation in the sandbox that keeps every criterion's result when one detector crashes.

The child streams each finished criterion to this process. When it dies, or is stopped at a
limit, while `progress` names detector X, X's criterion fails with a rationale naming X and the
limit, and the evaluation runs again in a fresh child with the results in hand and X's failure
skipped. A crash during the shared content pass (several content detectors at once) names no
single culprit: each content criterion still unfinished then runs alone, so only the one that
crashes fails and the innocent ones get their results.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from ..payloads import CriterionResult
from .sandbox import Limits, pool
from .warm_pool import ChildFailed

log = logging.getLogger(__name__)

T = TypeVar("T")

_DETECTOR = re.compile(r"^detector '(?P<detector>[^']*)' \(criterion '(?P<criterion>[^']*)'\)$")
_CONTENT_PASS = re.compile(r"^content pass(?: \d+%)?: detectors (?P<names>.*)$")


def evaluate_isolated(
    target: Callable[..., T],
    *args: Any,
    criteria: Mapping[str, str],
    limits: Limits,
    log_fields: dict[str, str] | None = None,
    **kwargs: Any,
) -> T:
    """`target(*args, progress=, on_result=, skip=, only=, **kwargs)` in the sandbox, across crashes.

    `criteria` maps the judge's criterion ids to their detectors' names (to find the criteria of
    a crashed content pass). Raises `DetectorError` only when what crashed was no detector's
    (the probe, the overall_score hook) or the evaluation's own time limit ran out.
    """
    known: dict[str, str | CriterionResult] = {}
    deadline = time.monotonic() + limits.timeout_sec

    def keep(result: CriterionResult) -> None:
        known.setdefault(result.criterion_id, result)

    def call(only: set[str] | None) -> T:
        remaining = replace(limits, timeout_sec=max(deadline - time.monotonic(), 0.001))
        return pool().run(target, args, {**kwargs, "skip": dict(known), "only": only}, limits=remaining,
                          what="the evaluation", log_fields=log_fields, on_result=keep)  # fmt: skip

    for _ in range(len(criteria) + 2):
        try:
            return call(None)
        except ChildFailed as failure:
            if time.monotonic() >= deadline:
                raise
            suspects = _suspects(failure.label, criteria, known)
            if not suspects:
                raise
            log.warning("%s; re-running the evaluation without it", failure, extra=log_fields or {})
            if len(suspects) == 1:
                known[suspects[0][0]] = _rationale(suspects[0], failure)
                continue
            for suspect in suspects:  # one at a time, so only the culprit fails
                try:
                    call({suspect[0]})
                except ChildFailed as alone:
                    if time.monotonic() >= deadline:
                        raise
                    known[suspect[0]] = _rationale(suspect, alone)
    return call(None)


def _suspects(label: str, criteria: Mapping[str, str], known: Mapping[str, object]) -> list[tuple[str, str]]:
    """The (criterion, detector) pairs that may have caused a failure while `label` ran."""
    if m := _DETECTOR.match(label):
        return [(m["criterion"], m["detector"])] if m["criterion"] not in known else []
    if m := _CONTENT_PASS.match(label):
        names = set(re.findall(r"'([^']*)'", m["names"]))
        return [(cid, det) for cid, det in criteria.items() if det in names and cid not in known]
    return []


def _rationale(suspect: tuple[str, str], failure: ChildFailed) -> str:
    criterion, detector = suspect
    return f"detector {detector!r} (criterion {criterion!r}) {failure.reason}"


def criteria_of(judge: Mapping[str, Any]) -> dict[str, str]:
    """A judge's (as a dict) criterion ids and their detectors' names, for `evaluate_isolated`."""
    return {c["criterion_id"]: c["detector"] for c in judge.get("criteria", [])}
