"""The webhook payloads of the contract, and their exact bytes.

`CompletedPayload` and `FailedPayload` serialise to the bytes the worker signs and sends and
the CLI prints: field order as in the contract, compact JSON, UTF-8.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z and microseconds, as the contract shows."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_serializer("timestamp", check_fields=False)
    def _ts(self, v: datetime) -> str:
        return iso_z(v)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class CriterionResult(BaseModel):
    """One entry of `results[]`."""

    model_config = ConfigDict(extra="forbid")

    criterion_id: str
    detector_name: str
    pass_check: bool
    score: float
    rationale: str
    metrics: dict[str, Any]


class CompletedPayload(_Payload):
    """The completed-evaluation webhook body."""

    evaluation_id: str
    job_id: str
    content_id: str
    judge_id: str
    status: Literal["completed"] = "completed"
    overall_score: float
    timestamp: datetime = Field(default_factory=utc_now)
    results: list[CriterionResult]


class FailedPayload(_Payload):
    """The `evaluation.failed` webhook body."""

    event: Literal["evaluation.failed"] = "evaluation.failed"
    job_id: str
    status: Literal["failed"] = "failed"
    timestamp: datetime = Field(default_factory=utc_now)
    error: str
    judge_id: str


Payload = CompletedPayload | FailedPayload
