"""The worker's core: one parsed upload notification in, one stored result out.

One notification's journey (`Worker.handle`):

1. Anything that is not an ``OBJECT_FINALIZE`` of ``{org_id}/pending/{job_id}/{filename}`` in
   our bucket is acknowledged and logged.
2. Claim the job in the store, a compare-and-set bound to (bucket, object, generation): a
   duplicate delivery is acknowledged without evaluating, and so is a later generation of the
   object (an upload URL uploads once; the job keeps the result of the generation it was
   notified of).
3. Evaluate in a sandboxed child process (time and memory limits; a crash fails the job, not
   the worker), reading that generation through the `Storage`. While it runs, the job's lease
   is renewed (`renew_leases`), so a lease can be short and a dead worker's job is soon reclaimed.
4. Store the result and its outbox row in one transaction, then acknowledge. While the
   database is unreachable the notification is held and the store retried (`STORE_RETRY`); an
   upload that cannot be read releases the job and goes back after a pause (`STORAGE_RETRY`);
   the attempt that reaches the limit fails the job with an ``evaluation.failed`` webhook.

Where notifications come from (Pub/Sub, an in-process queue, the sweep) is not its business:
see `pique_engine.worker.subscriber`, `pique_engine.worker.runner` and `pique_engine.worker.sweep`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from ..errors import DetectorError, JudgeError, StoreError
from ..media.probe import ProbeLimits
from ..payloads import FailedPayload
from ..settings import Settings
from ..storage.base import Storage
from ..store import Store, is_transient
from ..store.jobs import ClaimOutcome
from ..webhooks.retry import RetryPolicy
from .child import UploadRequest, evaluate_upload
from .metrics import WorkerMetrics
from .notifications import Notification
from .sandbox import Limits, run_isolated
from .verdict import ACK, NACK, Verdict

log = logging.getLogger(__name__)

__all__ = ["ACK", "NACK", "STORAGE_RETRY", "STORE_RETRY", "Verdict", "Worker"]

# While the database is unreachable a message is held and the store retried on this schedule
# (about 13 minutes in all) rather than nacked at once: every nack spends one of the message's
# Pub/Sub delivery attempts, and past the dead-letter limit its upload is never evaluated.
STORE_RETRY = RetryPolicy(delays=(0.5, 1, 2, 4, 8, 15, 15, 30, 30, *[60.0] * 11))
# After an upload could not be read, wait this long (by the job's attempt) before handing the
# message back: the emulator, and a subscription without a retry policy, redeliver a nacked
# message at once, and a storage blip would use up the job's attempts in a second.
STORAGE_RETRY = RetryPolicy(delays=(5, 10, 20, 40))


class Worker:
    """Decides each notification's fate with bounded concurrency; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        storage: Storage,
        *,
        metrics: WorkerMetrics | None = None,
        results: threading.Event | None = None,
    ) -> None:
        """`results` is set whenever a result is stored (the outbox dispatcher's wake-up)."""
        self.settings = settings
        self.store = store
        self.storage = storage
        self.metrics = metrics or WorkerMetrics()
        self.results = results or threading.Event()
        self.limits = Limits(timeout_sec=settings.evaluation_timeout_sec, memory_bytes=settings.evaluation_memory_mb << 20)
        self.probe_limits = ProbeLimits(settings.max_image_pixels, settings.max_video_pixels, settings.max_duration_sec)
        self.lease = timedelta(seconds=settings.job_lease_sec)
        self.counts: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.handled = threading.Condition()  # notified after every counted message, and on stop
        # Pub/Sub callbacks and sweep threads share these: never more evaluations than PIQUE_CONCURRENCY.
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._held: dict[str, str] = {}  # job id -> lease token, renewed while evaluating
        self._held_lock = threading.Lock()

    def stop(self) -> None:
        """Stop taking notifications; waits (for a lease, for the database) end at once."""
        self.stopping.set()
        with self.handled:
            self.handled.notify_all()

    # -- one notification --------------------------------------------------------------------

    def handle(self, n: Notification, delivery_attempt: int | None = None, *, swept: bool = False) -> Verdict:
        """Decide one notification's fate: returns ACK or NACK. Never raises.

        An unexpected exception nacks (after releasing the job): a callback that raises would
        leave the message leased, and its flow-control slot taken, for up to an hour.
        `swept` marks a notification the sweep made up for one that never came: it is not
        counted as a message, and a job another worker holds is left to that worker.
        """
        claimed: dict[str, str | None] = {}
        source = {"source": "sweep"} if swept else {}
        try:
            return self._handle(n, delivery_attempt, claimed, source)
        except Exception as exc:
            job_id = claimed.get("job_id")
            extra = {"job_id": job_id, **source} if job_id else source
            log.exception("unexpected error handling a message", extra=extra)
            if job_id:
                self._release(job_id, claimed.get("lease_token"))
            return self._done(NACK, "error", f"unexpected error, left for redelivery: {type(exc).__name__}: {exc}", extra)

    def unreadable(self, error: str) -> Verdict:
        """Count and acknowledge a message that is not a GCS notification: it will never parse."""
        return self._done(ACK, "unreadable", f"not a GCS notification, dropped: {error}")

    def _handle(self, n: Notification, delivery_attempt: int | None, claimed: dict, source: dict) -> Verdict:
        if not n.is_finalize:
            return self._done(ACK, "ignored", f"ignored {n.event_type} for {n.dedupe_key}", source)
        if n.bucket != self.storage.bucket or n.upload is None:
            return self._done(ACK, "ignored", f"ignored {n.dedupe_key}: not a pending upload in {self.storage.bucket}", source)
        extra = {"job_id": n.upload.job_id, **source}
        try:
            claim = self._with_store(lambda: self._claim(n, patient=not source), "claiming the job", extra)
        except StoreError as exc:
            return self._done(NACK, "store_unavailable", f"could not claim: {exc}", extra)
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            return self._done(NACK, "in_progress", "another worker holds this job; redeliver later", extra)
        if claim.outcome is ClaimOutcome.SUPERSEDED and claim.job.upload_generation is not None:
            bound = claim.job.upload_generation
            return self._done(ACK, "superseded", f"ignored {n.dedupe_key}: the job is {claim.job.status.value} on generation "
                              f"{bound}, which its upload URL created (an upload URL uploads once)", extra)  # fmt: skip
        if not claim.should_evaluate:
            return self._done(ACK, claim.outcome.value, f"not evaluated: {claim.outcome.value}", extra)
        job = claim.job
        claimed.update(job_id=job.job_id, lease_token=claim.lease_token)
        if job.object_name != n.object_name:
            return self._fail(job, claim.lease_token, "the uploaded object name does not match the job's upload URL", extra)
        if job.attempts > self.settings.max_delivery_attempts:
            return self._fail(job, claim.lease_token, f"the upload could not be evaluated after {job.attempts - 1} attempts", extra)
        try:
            request = self._request(job, n)
        except JudgeError as exc:
            return self._fail(job, claim.lease_token, str(exc), extra)
        except StoreError as exc:
            self._release(job.job_id, claim.lease_token)
            return self._done(NACK, "store_unavailable", f"could not load the judge: {exc}", extra)
        return self._evaluate(job, claim.lease_token, request, delivery_attempt, extra)

    def _evaluate(self, job, lease_token: str, request: UploadRequest, delivery_attempt: int | None, extra: dict) -> Verdict:
        started = time.monotonic()
        with self._slots, self._holding(job.job_id, lease_token):
            self.metrics.in_flight.inc()
            try:
                outcome = run_isolated(evaluate_upload, request, limits=self.limits, what="the evaluation", log_fields=extra)
            except DetectorError as exc:
                return self._fail(job, lease_token, str(exc), extra)
            finally:
                self.metrics.in_flight.dec()
        if outcome.transient_error:
            last_chance = max(job.attempts, delivery_attempt or 0) >= self.settings.max_delivery_attempts
            if last_chance:
                return self._fail(job, lease_token, f"the upload could not be read after {job.attempts} attempts: {outcome.transient_error}", extra)
            self._release(job.job_id, lease_token)
            self._hold(STORAGE_RETRY.next_delay(min(job.attempts, len(STORAGE_RETRY.delays))), "the upload could not be read", extra)
            return self._done(NACK, "storage_unavailable", outcome.transient_error, extra)
        ev = outcome.evaluation
        payload = ev.payload
        body = payload.to_bytes()
        try:
            if ev.completed:
                self._with_store(lambda: self.store.complete_job(job.job_id, body, evaluation_id=payload.evaluation_id,
                                                                 content_id=payload.content_id, lease_token=lease_token),
                                 "storing the result", extra)  # fmt: skip
            else:
                self._with_store(lambda: self.store.fail_job(job.job_id, body, payload.error, lease_token=lease_token), "storing the result", extra)
        except StoreError as exc:
            self._release(job.job_id, lease_token)
            return self._done(NACK, "store_unavailable", f"could not store the result: {exc}", extra)
        self.metrics.evaluation_seconds.observe(time.monotonic() - started)
        for criterion, ms in ev.detector_ms.items():
            self.metrics.detector_seconds.labels(_detector_of(payload, criterion)).observe(ms / 1000)
        status = "completed" if ev.completed else "failed"
        self.metrics.evaluations.labels(status).inc()
        self.results.set()
        return self._done(ACK, status, f"evaluation {status} in {time.monotonic() - started:.2f}s", extra)

    def _claim(self, n: Notification, *, patient: bool = True):
        """Claim the job; if another worker holds it and `patient`, wait for its lease to end and try again.

        Waiting here rather than nacking keeps the message (its lease extended by the client)
        instead of spending its delivery attempts while a dead worker's lease runs out; a live
        holder finishes first and the retry sees a duplicate.
        """
        deadline = time.monotonic() + self.lease.total_seconds() + 30
        while True:
            claim = self.store.claim_job(n.upload.job_id, n.bucket, n.object_name, n.generation, lease=self.lease)
            if claim.outcome is not ClaimOutcome.IN_PROGRESS or not patient or self.stopping.is_set() or time.monotonic() > deadline:
                return claim
            expires = claim.job.lease_expires_at
            wait = (expires - datetime.now(UTC)).total_seconds() if expires else 1.0
            log.info("job held by another worker; waiting %.0f s for its lease", max(wait, 0), extra={"job_id": claim.job.job_id})
            self.stopping.wait(min(max(wait, 0.0) + 0.5, 5.0))

    def _request(self, job, n: Notification) -> UploadRequest:
        # JudgeNotFound: the caller fails the job
        judge = self._with_store(lambda: self.store.get_judge(job.org_id, job.judge_id), "loading the judge", {"job_id": job.job_id})
        return UploadRequest(
            job_id=job.job_id,
            storage=self.storage,
            object_name=n.object_name,
            generation=n.generation,
            size=n.size,
            content_type=job.content_type,
            declared_size=job.file_size_bytes,
            judge=judge.model_dump(),
            plugin_selection=self.settings.plugin_selection(),
            limits=self.probe_limits,
        )

    # -- leases ------------------------------------------------------------------------------

    @contextmanager
    def _holding(self, job_id: str, lease_token: str):
        with self._held_lock:
            self._held[job_id] = lease_token
        try:
            yield
        finally:
            with self._held_lock:
                self._held.pop(job_id, None)

    def renew_leases(self) -> int:
        """Extend the lease of every job being evaluated here; returns how many are still ours."""
        with self._held_lock:
            held = dict(self._held)
        return self.store.renew_leases(held, self.lease) if held else 0

    def _release(self, job_id: str, lease_token: str | None) -> None:
        if not lease_token:
            return
        try:
            self.store.release_job(job_id, lease_token)
        except StoreError:
            log.warning("could not release the job; its lease will run out instead", extra={"job_id": job_id})

    # -- endings -----------------------------------------------------------------------------

    def _fail(self, job, lease_token: str | None, error: str, extra: dict) -> Verdict:
        body = FailedPayload(job_id=job.job_id, error=error, judge_id=job.judge_id).to_bytes()
        try:
            self._with_store(lambda: self.store.fail_job(job.job_id, body, error, lease_token=lease_token), "storing the failure", extra)
        except StoreError as exc:
            if lease_token:
                self._release(job.job_id, lease_token)
            return self._done(NACK, "store_unavailable", f"could not store the failure: {exc}", extra)
        self.metrics.evaluations.labels("failed").inc()
        self.results.set()
        return self._done(ACK, "failed", f"evaluation failed: {error}", extra)

    def _with_store(self, operation, what: str, extra: dict | None):
        """`operation()`, retried on `STORE_RETRY` while the database is unreachable.

        Raises the last `StoreError` when it is not an outage, when the schedule is spent, or
        when the worker is draining (the caller then nacks).
        """
        failures = 0
        while True:
            try:
                return operation()
            except StoreError as exc:
                failures += 1
                delay = STORE_RETRY.next_delay(failures) if is_transient(exc) and not self.stopping.is_set() else None
                if delay is None:
                    raise
                log.warning("database unavailable while %s (try %d), retrying in %.1f s: %s", what, failures, delay, exc, extra=extra)
                if self.stopping.wait(delay):
                    raise

    def _hold(self, delay: float | None, why: str, extra: dict) -> None:
        """Keep the message (the client extends its lease) for `delay` seconds before it goes back."""
        if delay:
            log.info("%s; handing the message back in %.0f s", why, delay, extra=extra)
            self.stopping.wait(delay)

    def _done(self, verdict: Verdict, outcome: str, message: str, extra: dict | None = None) -> Verdict:
        level = logging.WARNING if verdict == NACK else logging.INFO
        log.log(level, "%s (%s)", message, verdict, extra={**(extra or {}), "outcome": outcome})
        if extra and extra.get("source") == "sweep":
            return verdict  # not a message: the sweep counts its own
        self.metrics.messages.labels(outcome).inc()
        with self.handled:
            self.counts[outcome] += 1
            self.counts["messages"] += 1
            self.handled.notify_all()
        return verdict


def _detector_of(payload, criterion_id: str) -> str:
    for r in getattr(payload, "results", ()):
        if r.criterion_id == criterion_id:
            return r.detector_name
    return "unknown"
