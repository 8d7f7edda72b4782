"""`pique-engine worker`: GCS upload notifications in, evaluations and signed webhooks out.

One message's journey (`Worker.handle`):

1. Parse the notification. Anything that is not an ``OBJECT_FINALIZE`` of
   ``{org_id}/pending/{job_id}/{filename}`` in our bucket is acknowledged and logged.
2. Claim the job in the store, a compare-and-set bound to (bucket, object, generation): a
   duplicate delivery or an overwrite is acknowledged without evaluating.
3. Evaluate in a sandboxed child process (time and memory limits; a crash fails the job, not
   the worker), reading the object through ranged requests.
4. Store the result and its outbox row in one transaction, then acknowledge. While the
   database is unreachable the message is held and the store retried (`STORE_RETRY`); an
   upload that cannot be read releases the job and goes back after a pause (`STORAGE_RETRY`);
   the attempt that reaches the limit fails the job with an ``evaluation.failed`` webhook.

Webhooks are sent by an `OutboxDispatcher` thread from the outbox, so a restart loses nothing.
A `Sweeper` thread settles jobs whose notification never came (see `pique_engine.worker.sweep`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..webhooks.dispatcher import OutboxDispatcher
from ..errors import DetectorError, JudgeError, PiqueError, StoreError
from .metrics import HealthServer, WorkerMetrics
from .notifications import NotificationError, parse_notification
from ..payloads import FailedPayload
from ..media.probe import ProbeLimits
from ..webhooks.retry import RetryPolicy
from .sandbox import Limits, run_isolated, warm_up
from ..settings import Settings
from ..store import Store, is_transient
from ..store.jobs import ClaimOutcome
from .sweep import Sweeper, folder_locator, gcs_locator
from .child import UploadRequest, evaluate_upload

log = logging.getLogger(__name__)

ACK, NACK = "ack", "nack"

# While the database is unreachable a message is held and the store retried on this schedule
# (about 13 minutes in all) rather than nacked at once: every nack spends one of the message's
# Pub/Sub delivery attempts, and past the dead-letter limit its upload is never evaluated.
STORE_RETRY = RetryPolicy(delays=(0.5, 1, 2, 4, 8, 15, 15, 30, 30, *[60.0] * 11))
# After an upload could not be read, wait this long (by the job's attempt) before handing the
# message back: the emulator, and a subscription without a retry policy, redeliver a nacked
# message at once, and a storage blip would use up the job's attempts in a second.
STORAGE_RETRY = RetryPolicy(delays=(5, 10, 20, 40))


class Worker:
    """Consumes one Pub/Sub subscription with bounded concurrency; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        dispatcher: OutboxDispatcher,
        *,
        metrics: WorkerMetrics | None = None,
        local_root: str | None = None,
    ) -> None:
        """`local_root` reads uploads from a folder instead of GCS (`pique-engine dev`)."""
        if not settings.bucket:
            raise PiqueError("the worker needs PIQUE_BUCKET, the bucket uploads land in")
        self.settings = settings
        self.local_root = local_root
        self.store = store
        self.dispatcher = dispatcher
        self.metrics = metrics or WorkerMetrics()
        self.limits = Limits(timeout_sec=settings.evaluation_timeout_sec, memory_bytes=settings.evaluation_memory_mb << 20)
        self.probe_limits = ProbeLimits(settings.max_image_pixels, settings.max_video_pixels, settings.max_duration_sec)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._handled = threading.Condition()
        locate = folder_locator(Path(local_root)) if local_root else gcs_locator(settings.bucket, settings.google_cloud_project)
        self.sweeper = Sweeper(self, locate, after=timedelta(seconds=settings.sweep_after_sec), interval=settings.sweep_interval_sec)

    # -- one message -------------------------------------------------------------------------

    def handle(self, attributes: dict[str, str], data: bytes, delivery_attempt: int | None = None, *, swept: bool = False) -> str:
        """Decide one message's fate: returns ACK or NACK. Never raises.

        An unexpected exception nacks (after releasing the job): a callback that raises would
        leave the message leased, and its flow-control slot taken, for up to an hour.
        `swept` marks a notification the sweep made up for one that never came: it is not
        counted as a message, and a job another worker holds is left to that worker.
        """
        claimed: dict[str, str | None] = {}
        source = {"source": "sweep"} if swept else {}
        try:
            return self._handle(attributes, data, delivery_attempt, claimed, source)
        except Exception as exc:
            job_id = claimed.get("job_id")
            extra = {"job_id": job_id, **source} if job_id else source
            log.exception("unexpected error handling a message", extra=extra)
            if job_id:
                self._release(job_id, claimed.get("lease_token"))
            return self._done(NACK, "error", f"unexpected error, left for redelivery: {type(exc).__name__}: {exc}", extra)

    def _handle(self, attributes: dict[str, str], data: bytes, delivery_attempt: int | None, claimed: dict, source: dict) -> str:
        try:
            n = parse_notification(attributes, data)
        except NotificationError as exc:
            return self._done(ACK, "unreadable", f"not a GCS notification, dropped: {exc}", source)
        if not n.is_finalize:
            return self._done(ACK, "ignored", f"ignored {n.event_type} for {n.dedupe_key}", source)
        if n.bucket != self.settings.bucket or n.upload is None:
            return self._done(ACK, "ignored", f"ignored {n.dedupe_key}: not a pending upload in gs://{self.settings.bucket}", source)
        job_id = n.upload.job_id
        extra = {"job_id": job_id, **source}
        try:
            claim = self._with_store(lambda: self._claim(n, patient=not source), "claiming the job", extra)
        except StoreError as exc:
            return self._done(NACK, "store_unavailable", f"could not claim: {exc}", extra)
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            return self._done(NACK, "in_progress", "another worker holds this job; redeliver later", extra)
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
        started = time.monotonic()
        self.metrics.in_flight.inc()
        try:
            outcome = run_isolated(evaluate_upload, request, limits=self.limits, what="the evaluation", log_fields=extra)
        except DetectorError as exc:
            return self._fail(job, claim.lease_token, str(exc), extra)
        finally:
            self.metrics.in_flight.dec()
        if outcome.transient_error:
            last_chance = job.attempts >= self.settings.max_delivery_attempts or (delivery_attempt or 0) >= self.settings.max_delivery_attempts
            if last_chance:
                return self._fail(job, claim.lease_token, f"the upload could not be read after {job.attempts} attempts: {outcome.transient_error}", extra)
            self._release(job.job_id, claim.lease_token)
            self._hold(STORAGE_RETRY.next_delay(min(job.attempts, len(STORAGE_RETRY.delays))), "the upload could not be read", extra)
            return self._done(NACK, "storage_unavailable", outcome.transient_error, extra)

        ev = outcome.evaluation
        payload = ev.payload
        body = payload.to_bytes()
        try:
            if ev.completed:
                self._with_store(lambda: self.store.complete_job(job.job_id, body, evaluation_id=payload.evaluation_id,
                                                                 content_id=payload.content_id, lease_token=claim.lease_token),
                                 "storing the result", extra)
            else:
                self._with_store(lambda: self.store.fail_job(job.job_id, body, payload.error, lease_token=claim.lease_token),
                                 "storing the result", extra)
        except StoreError as exc:
            self._release(job.job_id, claim.lease_token)
            return self._done(NACK, "store_unavailable", f"could not store the result: {exc}", extra)
        self.metrics.evaluation_seconds.observe(time.monotonic() - started)
        for criterion, ms in ev.detector_ms.items():
            self.metrics.detector_seconds.labels(_detector_of(payload, criterion)).observe(ms / 1000)
        status = "completed" if ev.completed else "failed"
        self.metrics.evaluations.labels(status).inc()
        self.dispatcher.wake.set()
        return self._done(ACK, status, f"evaluation {status} in {time.monotonic() - started:.2f}s", extra)

    def _claim(self, n, *, patient: bool = True):
        """Claim the job; if another worker holds it and `patient`, wait for its lease to end and try again.

        Waiting here rather than nacking keeps the message (its lease extended by the client)
        instead of spending its delivery attempts while a dead worker's lease runs out; a live
        holder finishes first and the retry sees a duplicate.
        """
        lease = self._lease()
        deadline = time.monotonic() + lease.total_seconds() + 30
        while True:
            claim = self.store.claim_job(n.upload.job_id, n.bucket, n.object_name, n.generation, lease=lease)
            if claim.outcome is not ClaimOutcome.IN_PROGRESS or not patient or self.stopping.is_set() or time.monotonic() > deadline:
                return claim
            expires = claim.job.lease_expires_at
            wait = (expires - datetime.now(UTC)).total_seconds() if expires else 1.0
            log.info("job held by another worker; waiting %.0f s for its lease", max(wait, 0), extra={"job_id": claim.job.job_id})
            self.stopping.wait(min(max(wait, 0.0) + 0.5, 5.0))

    def _request(self, job, n) -> UploadRequest:
        # JudgeNotFound: the caller fails the job
        judge = self._with_store(lambda: self.store.get_judge(job.org_id, job.judge_id), "loading the judge", {"job_id": job.job_id})
        return UploadRequest(
            job_id=job.job_id,
            bucket=n.bucket,
            object_name=n.object_name,
            generation=n.generation,
            size=n.size,
            content_type=job.content_type,
            declared_size=job.file_size_bytes,
            judge=judge.model_dump(),
            project=self.settings.google_cloud_project,
            plugin_selection=self.settings.plugin_selection(),
            limits=self.probe_limits,
            local_root=self.local_root,
        )

    def _lease(self) -> timedelta:
        # Longer than the evaluation limit plus time to store its result, so a live worker is
        # never overtaken; a dead one's job is reclaimed by the redelivered message.
        return timedelta(seconds=self.settings.evaluation_timeout_sec + 15)

    def _fail(self, job, lease_token: str | None, error: str, extra: dict) -> str:
        body = FailedPayload(job_id=job.job_id, error=error, judge_id=job.judge_id).to_bytes()
        try:
            self._with_store(lambda: self.store.fail_job(job.job_id, body, error, lease_token=lease_token), "storing the failure", extra)
        except StoreError as exc:
            if lease_token:
                self._release(job.job_id, lease_token)
            return self._done(NACK, "store_unavailable", f"could not store the failure: {exc}", extra)
        self.metrics.evaluations.labels("failed").inc()
        self.dispatcher.wake.set()
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

    def _release(self, job_id: str, lease_token: str | None) -> None:
        if not lease_token:
            return
        try:
            self.store.release_job(job_id, lease_token)
        except StoreError:
            log.warning("could not release the job; its lease will run out instead", extra={"job_id": job_id})

    def _done(self, verdict: str, outcome: str, message: str, extra: dict | None = None) -> str:
        level = logging.WARNING if verdict == NACK else logging.INFO
        log.log(level, "%s (%s)", message, verdict, extra={**(extra or {}), "outcome": outcome})
        if extra and extra.get("source") == "sweep":
            return verdict  # not a message: the sweep counts its own
        self.metrics.messages.labels(outcome).inc()
        with self._handled:
            self.counts[outcome] += 1
            self.counts["messages"] += 1
            self._handled.notify_all()
        return verdict

    # -- the loop ----------------------------------------------------------------------------

    def run(self, *, max_messages: int | None = None) -> Counter[str]:
        """Pull until SIGTERM/SIGINT (or `max_messages` handled); returns the counters."""
        from google.cloud import pubsub_v1
        from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

        if not self.settings.subscription:
            raise PiqueError("the worker needs PIQUE_SUBSCRIPTION (projects/P/subscriptions/S)")
        warm_up()
        concurrency = self.settings.concurrency
        stop_dispatch = threading.Event()
        dispatcher = threading.Thread(target=self.dispatcher.run, args=(stop_dispatch,), name="pique-outbox", daemon=True)
        dispatcher.start()
        sweeper = threading.Thread(target=self.sweeper.run, args=(self.stopping,), name="pique-sweep", daemon=True)
        if max_messages is None:  # a burst handles its messages and leaves the sweeping to the fleet
            sweeper.start()
        health = None
        if self.settings.metrics_port is not None:
            health = HealthServer("0.0.0.0", self.settings.metrics_port, self.metrics, self.ready.is_set).start()
            log.info("health and metrics on port %d", health.port)

        def callback(message) -> None:
            if self.stopping.is_set():
                message.nack()  # draining: hand it to another replica now
                return
            verdict = self.handle(dict(message.attributes), message.data, message.delivery_attempt)
            message.ack() if verdict == ACK else message.nack()

        subscriber = pubsub_v1.SubscriberClient()
        future = subscriber.subscribe(
            self.settings.subscription,
            callback,
            flow_control=pubsub_v1.types.FlowControl(
                max_messages=concurrency,
                min_duration_per_lease_extension=self.settings.ack_extension_sec,
                max_duration_per_lease_extension=self.settings.ack_extension_sec,
            ),
            scheduler=ThreadScheduler(ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pique-eval")),
            await_callbacks_on_shutdown=True,
        )
        self.ready.set()
        log.info("worker pulling %s with concurrency %d", self.settings.subscription, concurrency)
        self._install_signals()
        try:
            with self._handled:
                while not self.stopping.is_set() and not future.done():
                    if max_messages is not None and self.counts["messages"] >= max_messages:
                        break
                    self._handled.wait(0.5)
        finally:
            self.ready.clear()
            self.stopping.set()
            future.cancel()  # stop pulling; in-flight callbacks finish (await_callbacks_on_shutdown)
            try:
                future.result(timeout=self.settings.evaluation_timeout_sec + 30)
            except Exception:  # cancellation surfaces here; anything else was logged by the client
                pass
            subscriber.close()
            if sweeper.is_alive():  # let an evaluation the sweep started finish and store its result
                sweeper.join(timeout=self.settings.evaluation_timeout_sec + 30)
            if max_messages is not None:
                self.dispatcher.deliver_due()  # burst mode: send what is due before exiting
            stop_dispatch.set()
            self.dispatcher.wake.set()
            dispatcher.join(timeout=15)
            if health:
                health.stop()
        log.info("worker stopped: %s", ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "no messages")
        return self.counts

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum, _frame) -> None:
            if self.stopping.is_set():
                log.warning("second %s: exiting now", signal.Signals(signum).name)
                os._exit(130)
            log.info("%s: draining (no new messages; in-flight evaluations finish); send again to exit now", signal.Signals(signum).name)
            self.stopping.set()
            with self._handled:
                self._handled.notify_all()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


def _detector_of(payload, criterion_id: str) -> str:
    for r in getattr(payload, "results", ()):
        if r.criterion_id == criterion_id:
            return r.detector_name
    return "unknown"
