"""Evaluation jobs and their lifecycle: ``awaiting_upload → processing → completed | failed``.

Every transition is one compare-and-set ``UPDATE … WHERE status = …`` whose row count says
whether this caller won, so it stays correct with many workers on PostgreSQL (a loser's
UPDATE waits on the row lock, re-checks the WHERE against the winner's row, and matches
nothing) and on SQLite (write transactions begin IMMEDIATE, so they run one at a time).

Claims and leases
-----------------
`claim_job` binds the job to the upload that triggered it (bucket, object, generation; unique
across jobs) and gives the caller a *lease*: a random token and an expiry (`lease`, default
15 minutes). The lease must outlive the evaluation's time limit plus the time to commit.

- ``awaiting_upload`` → claimed by the first notification; any later one is not evaluated.
  So is ``expired``: the URL expired with no object in sight, but a PUT that began in time
  may still finish, and an upload that did arrive is evaluated.
- ``processing`` with a live lease, same upload → ``IN_PROGRESS``: do not acknowledge the
  message; let Pub/Sub redeliver it later, so that if the holder dies its lease runs out
  and the redelivered message reclaims the job (``RECLAIMED``).
- ``processing`` whose lease has run out, same upload → reclaimed with a new token. A
  worker that gives up on purpose (shutdown, transient error) calls `release_job` so the
  next delivery reclaims at once instead of waiting for the lease.
- A finished job, or one bound to a different generation, is never evaluated again.

Each successful claim adds one to `attempts` in the same UPDATE, so a job that kills its
worker every time is still counted and can be failed once the count passes a limit.
`complete_job`/`fail_job` store the result, finish the job and add its outbox row in one
transaction; given the lease token they also refuse a worker whose lease was taken over,
so exactly one result per job is ever stored or sent. Lease expiry is judged by the
callers' clocks: keep hosts NTP-synchronised, and leases far longer than clock skew.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import JobStateError, JudgeNotFound
from .base import StoreBase, new_id, utc_now
from .models import CONTENT_TYPES, DeliveryRow, JobRow, JudgeRow, OrganisationRow, ResultRow
from .outbox import to_delivery
from .records import Delivery, Job, JobStatus, Result

DEFAULT_UPLOAD_TTL = timedelta(minutes=15)
DEFAULT_JOB_LEASE = timedelta(minutes=15)

_P = JobStatus.PROCESSING.value
_A = JobStatus.AWAITING_UPLOAD.value
_E = JobStatus.EXPIRED.value


class ClaimOutcome(StrEnum):
    """What `claim_job` found, and so what the worker should do with the message."""

    CLAIMED = "claimed"  # was awaiting upload: evaluate it
    RECLAIMED = "reclaimed"  # same upload, the previous lease ran out: evaluate it
    IN_PROGRESS = "in_progress"  # same upload under a live lease elsewhere: redeliver later
    DUPLICATE = "duplicate"  # this upload was already evaluated: acknowledge
    SUPERSEDED = "superseded"  # the job is bound to another upload: acknowledge
    NOT_FOUND = "not_found"  # no such job: acknowledge


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """The outcome of a claim, the job as it now is, and the lease token when this caller won."""

    outcome: ClaimOutcome
    job: Job | None = None
    lease_token: str | None = None

    @property
    def should_evaluate(self) -> bool:
        return self.outcome in (ClaimOutcome.CLAIMED, ClaimOutcome.RECLAIMED)

    @property
    def retry_later(self) -> bool:
        """True when the message must not be acknowledged: another worker may yet fail."""
        return self.outcome is ClaimOutcome.IN_PROGRESS


class JobsMixin(StoreBase):
    def create_job(
        self,
        org_id: str,
        *,
        judge_id: str,
        content_type: str,
        filename: str,
        file_size_bytes: int,
        title: str | None = None,
        description: str | None = None,
        webhook_url: str | None = None,
        upload_ttl: timedelta = DEFAULT_UPLOAD_TTL,
        now: datetime | None = None,
    ) -> Job:
        """A job awaiting its upload at ``{org_id}/pending/{job_id}/{filename}``."""
        if content_type not in CONTENT_TYPES:
            raise ValueError(f"content_type must be one of {', '.join(CONTENT_TYPES)}, not {content_type!r}")
        now = now or utc_now()
        job_id = new_id("job_")
        with self._write() as s:
            if s.get(JudgeRow, (org_id, judge_id)) is None:
                raise JudgeNotFound(f"judge {judge_id!r} not found for organisation {org_id!r}")
            row = JobRow(
                job_id=job_id, org_id=org_id, judge_id=judge_id, content_type=content_type, filename=filename,
                object_name=f"{org_id}/pending/{job_id}/{filename}", file_size_bytes=file_size_bytes,
                title=title, description=description, webhook_url=webhook_url, status=_A,
                created_at=now, expires_at=now + upload_ttl, updated_at=now, attempts=0,
            )  # fmt: skip
            s.add(row)
            s.flush()
            return to_job(row)

    def get_job(self, job_id: str, *, org_id: str | None = None) -> Job | None:
        """The job, or None; with `org_id`, also None when it belongs to another organisation."""
        with self._read() as s:
            row = s.get(JobRow, job_id)
            if row is None or (org_id is not None and row.org_id != org_id):
                return None
            return to_job(row)

    def get_result(self, job_id: str) -> Result | None:
        with self._read() as s:
            row = s.get(ResultRow, job_id)
            if row is None:
                return None
            return Result(job_id=row.job_id, status=JobStatus(row.status), evaluation_id=row.evaluation_id,
                          content_id=row.content_id, payload=row.payload, created_at=row.created_at)  # fmt: skip

    def claim_job(
        self,
        job_id: str,
        bucket: str,
        object_name: str,
        generation: int | str,
        *,
        lease: timedelta = DEFAULT_JOB_LEASE,
        now: datetime | None = None,
    ) -> ClaimResult:
        """Atomically take the job for evaluating this upload; see the module docstring."""
        now = now or utc_now()
        upload = (bucket, object_name, int(generation))
        token = secrets.token_hex(16)
        with self._write() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return ClaimResult(ClaimOutcome.NOT_FOUND)
            if row.status in (_A, _E):
                outcome, seen = ClaimOutcome.CLAIMED, JobRow.status == row.status
            elif row.status == _P and _upload(row) == upload and _lease_over(row, now):
                outcome = ClaimOutcome.RECLAIMED
                seen = and_(JobRow.status == _P, JobRow.lease_token == row.lease_token)
            else:
                return ClaimResult(_refusal(row, upload), to_job(row))
            stmt = (
                update(JobRow)
                .where(JobRow.job_id == job_id, seen)
                .values(
                    status=_P, upload_bucket=bucket, upload_object=object_name, upload_generation=upload[2],
                    lease_token=token, lease_expires_at=now + lease, attempts=JobRow.attempts + 1, updated_at=now,
                )  # fmt: skip
                .execution_options(synchronize_session=False)
            )
            try:
                with s.begin_nested():
                    won = s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
            except IntegrityError:  # this upload is already bound to another job
                return ClaimResult(ClaimOutcome.DUPLICATE, to_job(row))
            row = s.get(JobRow, job_id, populate_existing=True)
            assert row is not None
            if not won:
                return ClaimResult(_refusal(row, upload), to_job(row))
            return ClaimResult(outcome, to_job(row), token)

    def release_job(self, job_id: str, lease_token: str, *, now: datetime | None = None) -> bool:
        """End a lease early so the next delivery of the upload reclaims the job at once."""
        now = now or utc_now()
        with self._write() as s:
            res = s.execute(
                update(JobRow)
                .where(JobRow.job_id == job_id, JobRow.status == _P, JobRow.lease_token == lease_token)
                .values(lease_expires_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return res.rowcount == 1  # type: ignore[attr-defined]

    def record_attempt(self, job_id: str) -> int:
        """Count one more processing attempt that ended before a claim; returns the new count.

        `claim_job` already counts every attempt it grants.
        """
        with self._write() as s:
            count = s.execute(
                update(JobRow)
                .where(JobRow.job_id == job_id)
                .values(attempts=JobRow.attempts + 1)
                .returning(JobRow.attempts)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if count is None:
                raise JobStateError(f"job {job_id!r} does not exist; no attempt recorded")
            return count

    def complete_job(
        self,
        job_id: str,
        payload: bytes,
        *,
        evaluation_id: str,
        content_id: str,
        lease_token: str | None = None,
        now: datetime | None = None,
    ) -> Delivery | None:
        """Store the completed payload, finish the job and queue its webhook, in one transaction.

        Returns the outbox row, or None when neither the job nor the organisation has a
        webhook URL. Raises `JobStateError` unless the job is processing (under `lease_token`).
        """
        return self._finish(job_id, JobStatus.COMPLETED, payload, error=None, evaluation_id=evaluation_id,
                            content_id=content_id, lease_token=lease_token, now=now)  # fmt: skip

    def fail_job(
        self, job_id: str, payload: bytes, error: str, *, lease_token: str | None = None, now: datetime | None = None
    ) -> Delivery | None:
        """Store the failed payload, fail the job and queue its webhook, in one transaction.

        A job may fail from ``processing`` or, without a lease token, from ``awaiting_upload``
        (a message that keeps failing before it can be claimed).
        """
        return self._finish(job_id, JobStatus.FAILED, payload, error=error, evaluation_id=None,
                            content_id=None, lease_token=lease_token, now=now)  # fmt: skip

    def overdue_jobs(
        self,
        older_than: timedelta,
        *,
        lease_grace: timedelta | None = None,
        limit: int = 100,
        exclude: set[str] | frozenset[str] = frozenset(),
        now: datetime | None = None,
    ) -> list[Job]:
        """Jobs no notification has settled: still awaiting an upload `older_than` after their
        URL expired, or processing `lease_grace` (default `older_than`) after their lease ran
        out. Least recently updated first, leaving out the ids in `exclude`."""
        now = now or utc_now()
        grace = older_than if lease_grace is None else lease_grace
        overdue = or_(and_(JobRow.status == _A, JobRow.expires_at <= now - older_than),
                      and_(JobRow.status == _P, JobRow.lease_expires_at <= now - grace))  # fmt: skip
        return self._jobs_where(overdue, limit, exclude)

    def unsettled_jobs(
        self,
        created_before: datetime,
        *,
        limit: int = 100,
        exclude: set[str] | frozenset[str] = frozenset(),
        now: datetime | None = None,
    ) -> list[Job]:
        """Every job created before `created_before` still awaiting its upload (URL expired or
        not), and every job processing under a lease that has run out: what a worker starting
        up looks at. Least recently updated first, leaving out the ids in `exclude`."""
        now = now or utc_now()
        waiting = and_(JobRow.status == _A, JobRow.created_at < created_before)
        return self._jobs_where(or_(waiting, and_(JobRow.status == _P, JobRow.lease_expires_at <= now)), limit, exclude)

    def _jobs_where(self, condition: Any, limit: int, exclude: set[str] | frozenset[str]) -> list[Job]:
        query = select(JobRow).where(condition).order_by(JobRow.updated_at).limit(limit)
        if exclude:
            query = query.where(JobRow.job_id.not_in(sorted(exclude)))
        with self._read() as s:
            return [to_job(r) for r in s.scalars(query).all()]

    def renew_leases(self, leases: dict[str, str], lease: timedelta, *, now: datetime | None = None) -> int:
        """Extend these leases (job id → token) to `lease` from now; returns how many were still held.

        A live worker renews what it holds well before expiry, so a lease can be short and a
        dead worker's jobs are reclaimed soon after it stops renewing."""
        if not leases:
            return 0
        now = now or utc_now()
        held = 0
        with self._write() as s:
            for job_id, token in leases.items():
                res = s.execute(
                    update(JobRow)
                    .where(JobRow.job_id == job_id, JobRow.status == _P, JobRow.lease_token == token)
                    .values(lease_expires_at=now + lease)
                    .execution_options(synchronize_session=False)
                )
                held += res.rowcount  # type: ignore[attr-defined]
        return held

    def expire_job(self, job_id: str, *, now: datetime | None = None) -> bool:
        """Mark a job still awaiting its upload as expired; False when it has moved on."""
        now = now or utc_now()
        with self._write() as s:
            res = s.execute(
                update(JobRow)
                .where(JobRow.job_id == job_id, JobRow.status == _A)
                .values(status=_E, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return res.rowcount == 1  # type: ignore[attr-defined]

    def _finish(
        self,
        job_id: str,
        status: JobStatus,
        payload: bytes,
        *,
        error: str | None,
        evaluation_id: str | None,
        content_id: str | None,
        lease_token: str | None,
        now: datetime | None,
    ) -> Delivery | None:
        if not isinstance(payload, bytes):
            raise TypeError("payload must be the exact bytes of the webhook body")
        now = now or utc_now()
        if lease_token is not None:
            seen: Any = and_(JobRow.status == _P, JobRow.lease_token == lease_token)
        elif status is JobStatus.FAILED:
            seen = JobRow.status.in_((_A, _P))
        else:
            seen = JobRow.status == _P
        with self._write() as s:
            res = s.execute(
                update(JobRow)
                .where(JobRow.job_id == job_id, seen)
                .values(status=status.value, error=error, lease_token=None, lease_expires_at=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise JobStateError(_why_not(s, job_id, status, lease_token))
            job = s.get(JobRow, job_id, populate_existing=True)
            assert job is not None
            s.add(ResultRow(job_id=job_id, status=status.value, evaluation_id=evaluation_id,
                            content_id=content_id, payload=payload, created_at=now))  # fmt: skip
            org_url = select(OrganisationRow.webhook_url).where(OrganisationRow.id == job.org_id)
            url = job.webhook_url or s.scalar(org_url)
            if not url:
                return None
            delivery = DeliveryRow(
                job_id=job_id, org_id=job.org_id, event_id=new_id("evt_", 24), url=url, body=payload,
                status="pending", attempts=0, next_attempt_at=now, last_error=None, created_at=now, delivered_at=None,
            )  # fmt: skip
            s.add(delivery)
            s.flush()
            return to_delivery(delivery)


def _upload(row: JobRow) -> tuple[str | None, str | None, int | None]:
    return (row.upload_bucket, row.upload_object, row.upload_generation)


def _lease_over(row: JobRow, now: datetime) -> bool:
    return row.lease_expires_at is None or row.lease_expires_at <= now


def _refusal(row: JobRow, upload: tuple[str, str, int]) -> ClaimOutcome:
    if _upload(row) != upload:
        return ClaimOutcome.SUPERSEDED
    return ClaimOutcome.IN_PROGRESS if row.status == _P else ClaimOutcome.DUPLICATE


def _why_not(s: Session, job_id: str, status: JobStatus, lease_token: str | None) -> str:
    row = s.get(JobRow, job_id, populate_existing=True)
    if row is None:
        return f"job {job_id!r} does not exist; no result stored"
    if row.status == _P and lease_token is not None:
        return f"job {job_id!r} is now leased to another worker; this {status.value} result was not stored"
    return f"job {job_id!r} is {row.status}, so it cannot become {status.value}; this result was not stored"


def to_job(row: JobRow) -> Job:
    return Job(
        job_id=row.job_id, org_id=row.org_id, judge_id=row.judge_id, content_type=row.content_type,
        filename=row.filename, object_name=row.object_name, file_size_bytes=row.file_size_bytes,
        title=row.title, description=row.description, webhook_url=row.webhook_url, status=JobStatus(row.status),
        created_at=row.created_at, expires_at=row.expires_at, updated_at=row.updated_at, attempts=row.attempts,
        upload_bucket=row.upload_bucket, upload_object=row.upload_object, upload_generation=row.upload_generation,
        lease_expires_at=row.lease_expires_at, error=row.error,
    )  # fmt: skip
