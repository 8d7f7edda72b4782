"""Sending the webhook outbox: every due delivery, signed at send time, retried on schedule.

The outbox rows were written in the same transaction as their job's result, so nothing is
lost when a worker restarts: the next dispatcher (in any replica) picks up what is due.

Deliveries run concurrently: at most `max_in_flight` per process and `per_org` per
organisation, so a receiver that hangs holds at most `per_org` slots (each for at most the
sender's timeout) and slows only its own organisation. The cap is per organisation rather
than per receiver host because the organisation is the tenant to keep apart: a host cap
would let one organisation take every slot by spreading per-job ``webhook_url``s over many
host names, and would throttle unrelated organisations that share a hosted receiver as if
they were one.

A row is claimed (leased) only when a slot is free to send it; rows claimed beyond an
organisation's cap are handed back at once, so another dispatcher (or this one, when a slot
frees) can take them. The retry delay counts from the end of the attempt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..store.base import utc_now
from ..store.outbox import DEFAULT_SEND_LEASE
from ..store.records import Delivery, DeliveryStatus
from .retry import RetryPolicy
from .sender import DeliveryResult, WebhookSender

if TYPE_CHECKING:
    from ..settings import Settings
    from ..store import Store

__all__ = ["OutboxDispatcher", "send_lease"]

log = logging.getLogger(__name__)


def send_lease(timeout_sec: float, lease: timedelta = DEFAULT_SEND_LEASE) -> timedelta:
    """How long a claimed row stays hidden from other senders: `lease`, and never less than
    twice one attempt's timeout, so a live sender's row is not claimed again mid-send."""
    return max(lease, timedelta(seconds=2 * timeout_sec))


class _Outage:
    """Says once that the database went away and once that it came back, not on every retry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None

    def began(self, exc: StoreError) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        log.error("webhook delivery paused, the outbox is unavailable: %s", exc)

    def ended(self) -> None:
        with self._lock:
            if self._since is None:
                return
            down, self._since = time.monotonic() - self._since, None
        log.warning("webhook delivery resumed: the outbox is reachable again after %.0f s", down)


class OutboxDispatcher:
    """Delivers due outbox rows; `run` loops until stopped, `deliver_due` does one pass."""

    def __init__(
        self,
        store: Store,
        sender: WebhookSender,
        *,
        policy: RetryPolicy | None = None,
        allow_private: bool = False,
        metrics: Any = None,
        max_in_flight: int = 16,
        per_org: int = 4,
        lease: timedelta = DEFAULT_SEND_LEASE,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if max_in_flight < 1 or per_org < 1:
            raise ValueError(f"webhook concurrency caps must be >= 1, got {max_in_flight} overall and {per_org} per organisation")
        self.store = store
        self.sender = sender
        self.policy = policy or RetryPolicy()
        self.allow_private = allow_private
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.per_org = min(per_org, max_in_flight)
        self.clock = clock
        self.lease = send_lease(sender.timeout_sec, lease)
        self.wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="pique-webhook")
        self._changed = threading.Condition()  # guards the counts below; notified when a send ends
        self._in_flight: Counter[str] = Counter()  # organisation -> sends running
        self._claiming = threading.Lock()  # one claim loop at a time (`run` and a burst's `deliver_due`)
        self._outage = _Outage()

    @classmethod
    def from_settings(cls, store: Store, settings: Settings, *, metrics: Any = None) -> OutboxDispatcher:
        """A dispatcher with the sender, retry schedule, address policy and caps from `settings`."""
        return cls(
            store, WebhookSender.from_settings(settings), policy=RetryPolicy.from_settings(settings),
            allow_private=settings.webhook_allow_private, metrics=metrics,
            max_in_flight=settings.webhook_concurrency, per_org=settings.webhook_concurrency_per_org,
            lease=timedelta(seconds=settings.webhook_send_lease_sec),
        )  # fmt: skip

    @property
    def in_flight(self) -> int:
        """Sends running now."""
        with self._changed:
            return sum(self._in_flight.values())

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, poll_sec: float = 1.0) -> None:
        """Deliver until `stop` is set; `wake` cuts a wait short (a job just finished, a send ended).

        On stop, nothing new starts and the sends in flight finish (each within the sender's
        timeout); a row that never gets recorded is sent again when its claim lapses.
        """
        while not stop.is_set():
            self.wake.clear()
            try:
                self._start_due(None)
            except StoreError as exc:  # the database may be away for a while; the rows wait for us
                self._outage.began(exc)
            except Exception:
                log.exception("webhook dispatch pass failed; trying again in %g s", poll_sec)
            else:
                self._outage.ended()
            self.wake.wait(poll_sec)
        with self._changed:
            self._changed.wait_for(lambda: not self._in_flight, timeout=self.sender.timeout_sec + 30)

    def deliver_due(self, now: datetime | None = None) -> int:
        """Attempt every delivery due at `now` (default: the clock), wait for them, return how many."""
        attempted = 0
        while True:
            started = self._start_due(now)
            attempted += started
            with self._changed:
                if not started and not self._in_flight:
                    return attempted
                if self._in_flight:  # a slot that frees may take the next due delivery
                    self._changed.wait(timeout=1.0)

    # -- claiming within the caps --------------------------------------------------------------

    def _start_due(self, now: datetime | None) -> int:
        """Claim and start as many due deliveries as the caps allow; returns how many started."""
        started = 0
        with self._claiming:
            while True:
                with self._changed:
                    free = self.max_in_flight - sum(self._in_flight.values())
                    busy = {org for org, n in self._in_flight.items() if n >= self.per_org}
                if free <= 0:
                    return started
                when = now or self.clock()
                claimed = self.store.due_deliveries(when, free, lease=self.lease, exclude_orgs=busy)
                spare = [d.id for d in claimed if not self._start(d)]
                if spare:  # over an organisation's cap: due again at once, for whichever slot frees
                    self.store.release_deliveries(spare, when)
                started += len(claimed) - len(spare)
                # Every claimed row started and there were fewer than the free slots: nothing else
                # is due. With spares, their organisation is now excluded; look again for others.
                if len(claimed) < free and not spare:
                    return started

    def _start(self, d: Delivery) -> bool:
        with self._changed:
            if self._in_flight[d.org_id] >= self.per_org or sum(self._in_flight.values()) >= self.max_in_flight:
                return False
            self._in_flight[d.org_id] += 1
        try:
            self._pool.submit(self._attempt_and_release_slot, d)
        except RuntimeError:  # the interpreter is shutting down: give the slot back, leave the claim to lapse
            self._free_slot(d.org_id)
            raise
        return True

    def _free_slot(self, org_id: str) -> None:
        with self._changed:
            self._in_flight[org_id] -= 1
            if self._in_flight[org_id] <= 0:
                del self._in_flight[org_id]
            self._changed.notify_all()
        self.wake.set()  # the loop may start the next due delivery in this slot

    def _attempt_and_release_slot(self, d: Delivery) -> None:
        try:
            self._attempt(d)
        except StoreError as exc:  # unrecorded: the row comes back when its claim lapses
            self._outage.began(exc)
        except Exception:
            log.exception("webhook %s: attempt failed unexpectedly; it is retried when its claim lapses", d.event_id,
                          extra={"job_id": d.job_id, "event_id": d.event_id})  # fmt: skip
        else:
            self._outage.ended()
        finally:
            self._free_slot(d.org_id)

    # -- one attempt -----------------------------------------------------------------------------

    def _attempt(self, d: Delivery) -> None:
        started = self.clock()
        extra: dict[str, Any] = {"job_id": d.job_id, "event_id": d.event_id, "org_id": d.org_id,
                                 "attempt": d.attempts + 1}  # fmt: skip
        org = self.store.get_org(d.org_id)
        if org is None:
            self.store.record_delivery_attempt(d.id, error="organisation no longer exists", final_status=DeliveryStatus.FAILED)
            return
        secrets = org.signing_secrets(started)
        result = self.sender.send(d.url, d.body, secrets, event_id=d.event_id, allow_private=self.allow_private)
        ended = self.clock()  # the retry delay counts from here: an attempt can last the whole timeout
        outcome, final, retry_at = self._decide(d, result, ended)
        if retry_at is not None:
            extra["retry_in_sec"] = round((retry_at - ended).total_seconds(), 1)
        self.store.record_delivery_attempt(
            d.id, status_code=result.status_code, error=result.error, duration_ms=int(result.duration_ms),
            final_status=final, next_attempt_at=retry_at, now=ended,
        )  # fmt: skip
        if self.metrics:
            self.metrics.webhook_attempts.labels(outcome).inc()
        log.info("webhook %s: %s", outcome, result.error or result.status_code, extra=extra)

    def _decide(
        self, d: Delivery, result: DeliveryResult, ended: datetime
    ) -> tuple[str, DeliveryStatus | None, datetime | None]:
        """The outcome's name, and either the final status or when to try next."""
        if result.ok:
            return "delivered", DeliveryStatus.DELIVERED, None
        if result.stop:
            return "stopped", DeliveryStatus.STOPPED, None
        delay = self.policy.next_delay(d.attempts + 1, result.retry_after)
        if delay is None:
            return "gave_up", DeliveryStatus.FAILED, None
        return "retry", None, ended + timedelta(seconds=delay)
