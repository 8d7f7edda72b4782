"""What a detector is, what it returns, and the helper the built-ins use to score checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .media.info import CONTENT_TYPES, ContentType, Media, MediaInfo

if TYPE_CHECKING:
    from .media.content import Request


class NoParams(BaseModel):
    """Params model for detectors that take none."""

    model_config = ConfigDict(extra="forbid")


class DetectorResult(BaseModel):
    """One detector's verdict on one file: the `results[]` entry without its ids."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0.0, le=1.0)
    pass_check: bool
    rationale: str
    metrics: dict[str, Any]

    @field_validator("score")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("score must be a finite number between 0 and 1")
        return v


DetectorFn = Callable[[Media, Any], DetectorResult]
RequestsFn = Callable[[Any, MediaInfo], "Mapping[str, Request]"]


@dataclass(frozen=True)
class Detector:
    """A named check a judge's criterion can ask for.

    `evaluate(media, params)` receives the probed media and an instance of `params`
    (validated when the judge is loaded) and returns a `DetectorResult` whose `metrics`
    are keyed by the detector's name.

    `requests(params, info)`, when given, makes this a content detector: it names the streams
    the criterion needs (`VideoFrames`, `AudioBlocks`, ...), and `evaluate` then runs on its own
    thread reading them through `media.items()` or `media.stream(name)` while one decode pass
    feeds every content criterion of the evaluation. `reads="header"` detectors may not call
    `media.open()`.
    """

    name: str
    content_types: frozenset[ContentType]
    evaluate: DetectorFn
    params: type[BaseModel] = NoParams
    reads: Literal["header", "content"] = "header"
    description: str = ""
    requests: RequestsFn | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_types", frozenset(self.content_types))
        if self.requests is not None:
            if not callable(self.requests):
                raise ValueError(f"detector {self.name!r}: requests must be a function (params, info) -> {{name: request}}")
            object.__setattr__(self, "reads", "content")
        unknown = set(self.content_types) - set(CONTENT_TYPES)
        if unknown or not self.content_types:
            raise ValueError(
                f"detector {self.name!r}: content_types must be a non-empty subset of "
                f"{list(CONTENT_TYPES)}, got {sorted(self.content_types)}"
            )
        if not self.name.isidentifier():
            raise ValueError(f"detector name {self.name!r} must be a Python identifier, e.g. 'audio_loudness'")


@dataclass
class Checks:
    """Collects pass/fail checks; scores them as the share that pass.

    >>> c = Checks()
    >>> c.check("fps", 24, ">= 29", ok=False)
    >>> c.result(name="video_specs", metrics={}, summary="ok").score
    0.0
    """

    failures: list[str] = field(default_factory=list)
    total: int = 0

    def check(self, label: str, measured: object, required: str, *, ok: bool) -> None:
        self.total += 1
        if not ok:
            self.failures.append(f"{label} {_fmt(measured)} (required {required})")

    def within(self, label: str, value: float | None, low: float | None = None, high: float | None = None,
               *, unit: str = "", shown: object = None) -> None:
        """Check `low <= value <= high` for whichever bounds are set; an unknown value fails them.

        `shown` is how the measured value appears in the rationale (default: the value).
        """
        shown = value if shown is None else shown
        if low is not None:
            self.check(label, shown, f">= {low:g}{unit}", ok=value is not None and value >= low)
        if high is not None:
            self.check(label, shown, f"<= {high:g}{unit}", ok=value is not None and value <= high)

    def result(self, *, name: str, metrics: dict[str, Any], summary: str) -> DetectorResult:
        """Score = passed / total (1.0 with no checks); the rationale names every failure."""
        passed = self.total - len(self.failures)
        score = passed / self.total if self.total else 1.0
        if self.failures:
            rationale = f"{len(self.failures)} of {self.total} checks failed: " + "; ".join(self.failures)
        else:
            rationale = summary
        return DetectorResult(
            score=round(score, 4),
            pass_check=not self.failures,
            rationale=rationale,
            metrics={name: metrics},
        )


def check_ranges(params: BaseModel, *names: str) -> None:
    """Refuse params whose `min_<name>` is above their `max_<name>`; for model validators."""
    for name in names:
        low, high = getattr(params, f"min_{name}"), getattr(params, f"max_{name}")
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_{name} ({low}) is greater than max_{name} ({high})")


def _fmt(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Iterable) and not isinstance(value, str):
        return ", ".join(_fmt(v) for v in value)
    return str(value)
