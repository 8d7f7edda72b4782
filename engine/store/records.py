"""What the store hands out: frozen records, detached from any database session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in ``awaiting_upload → processing → completed | failed`` (or ``expired``)."""

    AWAITING_UPLOAD = "awaiting_upload"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


class DeliveryStatus(StrEnum):
    """A webhook delivery: waiting to be (re)sent, or done one way or another."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # retries exhausted
    STOPPED = "stopped"  # the receiver asked us to stop (410 Gone)


@dataclass(frozen=True, slots=True)
class Org:
    """An organisation, with its webhook URL and signing secrets."""

    id: str
    name: str
    webhook_url: str | None
    webhook_secret: str = field(repr=False)
    previous_webhook_secret: str | None = field(repr=False)
    previous_secret_expires_at: datetime | None
    created_at: datetime

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets to sign with at `now`: the current one, plus the previous during a rotation."""
        if self.previous_webhook_secret and self.previous_secret_expires_at and now < self.previous_secret_expires_at:
            return (self.webhook_secret, self.previous_webhook_secret)
        return (self.webhook_secret,)


@dataclass(frozen=True, slots=True)
class NewOrg:
    """A just-created organisation with its first API key and webhook secret, shown this once."""

    org: Org
    api_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: its lookup prefix and hash, never the key itself."""

    id: str
    org_id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A just-created API key; `plaintext` is never stored and cannot be shown again."""

    key: ApiKey
    plaintext: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Job:
    """An evaluation job."""

    job_id: str
    org_id: str
    judge_id: str
    content_type: str
    filename: str
    object_name: str
    file_size_bytes: int
    title: str | None
    description: str | None
    webhook_url: str | None
    status: JobStatus
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    attempts: int
    upload_bucket: str | None
    upload_object: str | None
    upload_generation: int | None
    lease_expires_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Result:
    """The stored outcome of a job: the exact payload bytes its webhook carries."""

    job_id: str
    status: JobStatus
    evaluation_id: str | None
    content_id: str | None
    payload: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook in the outbox: the exact body for one job, sent until it succeeds or gives up."""

    id: int
    job_id: str
    org_id: str
    event_id: str
    url: str
    body: bytes = field(repr=False)
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at sending a delivery."""

    delivery_id: int
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int | None
