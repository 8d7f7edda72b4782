"""The webhook outbox: deliveries written with their job's result, sent until done.

`due_deliveries` claims due rows by pushing their `next_attempt_at` forward by a short
lease in the same statement that selects them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
on SQLite the single UPDATE is atomic), so two senders never get the same delivery at once.
A sender that dies mid-send loses nothing: when the lease runs out the row is due again.
`release_deliveries` hands claimed rows back at once, for a sender that claimed more than it
can start (see the dispatcher's per-organisation cap) or that is stopping.
`record_delivery_attempt` logs every try and sets the next one or the final status.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..errors import StoreError
from .base import StoreBase, utc_now
from .models import AttemptRow, DeliveryRow
from .records import Attempt, Delivery, DeliveryStatus

# Longer than one send (10 s timeout) with room to record it; a dead sender's rows return after it.
DEFAULT_SEND_LEASE = timedelta(seconds=60)
_PENDING = DeliveryStatus.PENDING.value


class OutboxMixin(StoreBase):
    def due_deliveries(
        self,
        now: datetime | None = None,
        limit: int = 10,
        *,
        lease: timedelta = DEFAULT_SEND_LEASE,
        exclude_orgs: Collection[str] = (),
    ) -> list[Delivery]:
        """Claim up to `limit` pending deliveries due at `now`, oldest first, for `lease`.

        Rows of the organisations in `exclude_orgs` are left for later (and for other senders).
        """
        now = now or utc_now()
        due = [DeliveryRow.status == _PENDING, DeliveryRow.next_attempt_at <= now]
        if exclude_orgs:
            due.append(DeliveryRow.org_id.not_in(sorted(exclude_orgs)))
        # A CTE, not ``id IN (subquery)``: PostgreSQL may rescan an IN-subquery and, since our own
        # UPDATE has moved the first rows out of the due set, pick more than `limit` rows.
        pick = (
            select(DeliveryRow.id)
            .where(*due)
            .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        with self._write() as s:
            rows = s.scalars(
                update(DeliveryRow)
                .where(DeliveryRow.id == pick.c.id, *due)
                .values(next_attempt_at=now + lease)
                .returning(DeliveryRow)
                .execution_options(synchronize_session=False)
            ).all()
            return sorted((to_delivery(r) for r in rows), key=lambda d: d.id)

    def release_deliveries(self, delivery_ids: Collection[int], due_at: datetime) -> int:
        """Hand claimed, unsent deliveries back, due again at `due_at`; returns how many were pending."""
        if not delivery_ids:
            return 0
        with self._write() as s:
            result = s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(sorted(delivery_ids)), DeliveryRow.status == _PENDING)
                .values(next_attempt_at=due_at)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount

    def record_delivery_attempt(
        self,
        delivery_id: int,
        *,
        status_code: int | None = None,
        error: str | None = None,
        duration_ms: int | None = None,
        next_attempt_at: datetime | None = None,
        final_status: DeliveryStatus | str | None = None,
        now: datetime | None = None,
    ) -> Delivery:
        """Log one try; then either schedule the next (`next_attempt_at`) or end it (`final_status`).

        A delivery that another sender already finished keeps its status; the try is still logged.
        """
        if (next_attempt_at is None) == (final_status is None):
            raise ValueError("pass exactly one of next_attempt_at (retry) or final_status (done)")
        final = DeliveryStatus(final_status) if final_status is not None else None
        if final is DeliveryStatus.PENDING:
            raise ValueError("final_status must be delivered, failed or stopped; use next_attempt_at to retry")
        now = now or utc_now()
        with self._write() as s:
            row = s.get(DeliveryRow, delivery_id, with_for_update=True)
            if row is None:
                raise StoreError(f"webhook delivery {delivery_id} does not exist; nothing recorded")
            row.attempts += 1
            s.add(AttemptRow(delivery_id=delivery_id, attempt=row.attempts, at=now, status_code=status_code,
                             error=error, duration_ms=duration_ms))  # fmt: skip
            if row.status == _PENDING:
                if final is DeliveryStatus.DELIVERED:
                    row.status, row.next_attempt_at, row.delivered_at, row.last_error = final.value, None, now, None
                elif final is not None:
                    row.status, row.next_attempt_at, row.last_error = final.value, None, _describe(status_code, error)
                else:
                    row.next_attempt_at, row.last_error = next_attempt_at, _describe(status_code, error)
            s.flush()
            return to_delivery(row)

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        with self._read() as s:
            row = s.get(DeliveryRow, delivery_id)
            return to_delivery(row) if row else None

    def delivery_for_job(self, job_id: str) -> Delivery | None:
        with self._read() as s:
            row = s.scalar(select(DeliveryRow).where(DeliveryRow.job_id == job_id))
            return to_delivery(row) if row else None

    def delivery_attempts(self, delivery_id: int) -> list[Attempt]:
        with self._read() as s:
            rows = s.scalars(
                select(AttemptRow).where(AttemptRow.delivery_id == delivery_id).order_by(AttemptRow.attempt)
            )
            return [
                Attempt(delivery_id=r.delivery_id, attempt=r.attempt, at=r.at, status_code=r.status_code,
                        error=r.error, duration_ms=r.duration_ms)  # fmt: skip
                for r in rows
            ]


def _describe(status_code: int | None, error: str | None) -> str | None:
    if error:
        return error
    return f"HTTP {status_code}" if status_code is not None else None


def to_delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.id, job_id=row.job_id, org_id=row.org_id, event_id=row.event_id, url=row.url, body=row.body,
        status=DeliveryStatus(row.status), attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        last_error=row.last_error, created_at=row.created_at, delivered_at=row.delivered_at,
    )  # fmt: skip
