"""Judges: named lists of criteria, each asking one detector to check one thing.

A judge file is JSON:

    {"judge_id": "judge_abc123", "name": "Reels",
     "criteria": [{"criterion_id": "specs", "detector": "video_specs", "weight": 1.0,
                   "params": {"aspect_ratio": "9:16", "min_fps": 29}}]}

`bind_judge` checks every criterion against the installed detectors once, when the judge is
loaded, so a typo in a param is an error naming the judge, the criterion and the field,
not a failed evaluation later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .detector import Detector
from .errors import JudgeError
from .media.info import CONTENT_TYPES, ContentType
from .registry import DetectorRegistry


class Criterion(BaseModel):
    """One line of a judge: which detector, how much it weighs, with what params."""

    model_config = ConfigDict(extra="forbid")

    criterion_id: str = Field(min_length=1, max_length=200)
    detector: str = Field(min_length=1)
    weight: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    params: dict[str, Any] = Field(default_factory=dict)


class Judge(BaseModel):
    """A judge as stored and as written in a judge file."""

    model_config = ConfigDict(extra="forbid")

    judge_id: str = Field(min_length=1, max_length=200)
    name: str = ""
    criteria: list[Criterion] = Field(min_length=1)


@dataclass(frozen=True)
class BoundCriterion:
    """A criterion joined to its installed detector and validated params."""

    criterion: Criterion
    detector: Detector
    params: BaseModel


@dataclass(frozen=True)
class BoundJudge:
    """A judge whose every criterion names an installed detector with valid params."""

    judge: Judge
    criteria: tuple[BoundCriterion, ...]

    @property
    def judge_id(self) -> str:
        return self.judge.judge_id

    def criteria_for(self, content_type: ContentType) -> list[BoundCriterion]:
        """The criteria whose detector handles this content type; the others do not apply."""
        return [c for c in self.criteria if content_type in c.detector.content_types]


def parse_judge(data: Any, *, source: str = "judge") -> Judge:
    """Validate the shape of a judge (ids, weights, criteria present)."""
    try:
        judge = Judge.model_validate(data)
    except ValidationError as exc:
        raise JudgeError(f"{source} is not a valid judge: {_errors(exc)}") from None
    seen: set[str] = set()
    for c in judge.criteria:
        if c.criterion_id in seen:
            raise JudgeError(f"judge {judge.judge_id!r}: criterion id {c.criterion_id!r} is used twice; ids must be unique")
        seen.add(c.criterion_id)
    if not any(c.weight > 0 for c in judge.criteria):
        raise JudgeError(f"judge {judge.judge_id!r}: every criterion has weight 0; give at least one a positive weight")
    return judge


def bind_judge(judge: Judge, registry: DetectorRegistry) -> BoundJudge:
    """Join each criterion to its detector and validate its params."""
    bound = []
    for c in judge.criteria:
        where = f"judge {judge.judge_id!r}, criterion {c.criterion_id!r}"
        detector = registry.get(c.detector)
        if detector is None:
            installed = ", ".join(registry.names()) or "none"
            raise JudgeError(
                f"{where} asks for detector {c.detector!r}, which is not installed "
                f"(installed: {installed}); install the plugin that provides it or fix the name"
            )
        try:
            params = detector.params.model_validate(c.params)
        except ValidationError as exc:
            raise JudgeError(f"{where} ({c.detector}): invalid params: {_errors(exc, prefix='params')}") from None
        bound.append(BoundCriterion(criterion=c, detector=detector, params=params))
    return BoundJudge(judge=judge, criteria=tuple(bound))


def read_judge_file(path: str | Path) -> Any:
    """The JSON of a judge file, not yet validated."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JudgeError(f"cannot read judge file {str(path)!r}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JudgeError(f"judge file {str(path)!r} is not valid JSON: {exc}") from None


def load_judge_file(path: str | Path, registry: DetectorRegistry) -> BoundJudge:
    """Read, validate and bind a judge file."""
    return bind_judge(parse_judge(read_judge_file(path), source=f"judge file {str(path)!r}"), registry)


def judge_problems(judge: Judge, registry: DetectorRegistry) -> list[str]:
    """Everything wrong with binding `judge` to the installed detectors, not just the first thing."""
    problems = []
    for c in judge.criteria:
        try:
            bind_judge(judge.model_copy(update={"criteria": [c]}), registry)
        except JudgeError as exc:
            problems.append(str(exc))
    return problems


def content_types_covered(bound: BoundJudge) -> dict[ContentType, list[str]]:
    """For each content type, the criteria that apply to it (empty: the judge cannot evaluate it)."""
    return {t: [c.criterion.criterion_id for c in bound.criteria_for(t)] for t in CONTENT_TYPES}


def _errors(exc: ValidationError, *, prefix: str = "") -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(err["loc"]))
        parts.append(f"{loc or 'value'}: {err['msg']}")
    return "; ".join(parts)
