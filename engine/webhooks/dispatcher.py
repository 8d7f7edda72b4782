"""Sending the webhook outbox: every due delivery, signed at send time, retried on schedule.

The outbox rows were written in the same transaction as their job's result, so nothing is
lost when a worker restarts: the next dispatcher (in any replica) picks up what is due.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from .retry import RetryPolicy
from ..store.base import utc_now
from ..store.records import Delivery, DeliveryStatus
from .sender import WebhookSender

log = logging.getLogger(__name__)


class OutboxDispatcher:
    """Delivers due outbox rows; `run` loops until stopped, `deliver_due` does one pass."""

    def __init__(self, store, sender: WebhookSender, *, policy: RetryPolicy | None = None,
                 allow_private: bool = False, metrics=None, batch: int = 20) -> None:
        self.store = store
        self.sender = sender
        self.policy = policy or RetryPolicy()
        self.allow_private = allow_private
        self.metrics = metrics
        self.batch = batch
        self.wake = threading.Event()

    def deliver_due(self, now: datetime | None = None) -> int:
        """Attempt every delivery due now; returns how many were attempted."""
        attempted = 0
        while True:
            due = self.store.due_deliveries(now or utc_now(), self.batch)
            for d in due:
                self._attempt(d)
            attempted += len(due)
            if len(due) < self.batch:
                return attempted

    def _attempt(self, d: Delivery) -> None:
        now = utc_now()
        org = self.store.get_org(d.org_id)
        extra = {"job_id": d.job_id, "event_id": d.event_id, "attempt": d.attempts + 1}
        if org is None:
            self.store.record_delivery_attempt(d.id, error="organisation no longer exists", final_status=DeliveryStatus.FAILED)
            return
        result = self.sender.send(d.url, d.body, org.signing_secrets(now), event_id=d.event_id, allow_private=self.allow_private)
        common = {"status_code": result.status_code, "error": result.error, "duration_ms": int(result.duration_ms)}
        if result.ok:
            outcome = "delivered"
            self.store.record_delivery_attempt(d.id, final_status=DeliveryStatus.DELIVERED, **common)
        elif result.stop:
            outcome = "stopped"
            self.store.record_delivery_attempt(d.id, final_status=DeliveryStatus.STOPPED, **common)
        else:
            delay = self.policy.next_delay(d.attempts + 1, result.retry_after)
            if delay is None:
                outcome = "gave_up"
                self.store.record_delivery_attempt(d.id, final_status=DeliveryStatus.FAILED, **common)
            else:
                outcome = "retry"
                self.store.record_delivery_attempt(d.id, next_attempt_at=now + timedelta(seconds=delay), **common)
                extra["retry_in_sec"] = round(delay, 1)
        if self.metrics:
            self.metrics.webhook_attempts.labels(outcome).inc()
        log.info("webhook %s: %s", outcome, result.error or result.status_code, extra=extra)

    def run(self, stop: threading.Event, *, poll_sec: float = 1.0) -> None:
        """Deliver until `stop` is set; `wake` cuts a wait short when a job has just finished."""
        while not stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # the database may be briefly away; the rows wait for us
                log.exception("webhook dispatch pass failed; retrying")
            self.wake.wait(poll_sec)
            self.wake.clear()
