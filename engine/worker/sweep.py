"""The sweep: settling jobs that no notification settled.

Every upload is announced by an ``OBJECT_FINALIZE`` notification, delivered at least once,
but a notification can still go missing: a bucket whose notification config was off for a
while, messages dead-lettered or past the subscription's retention while every worker was
down, or an emulator that strands a dead subscriber's messages. So each worker:

- one `interval` after start (`recover`), looks at every unsettled job at once: a job made before the worker
  started and awaiting its upload whose object is in storage is evaluated (its notification
  went to a worker that died, or nowhere), and a job whose lease ran out (its worker died and
  stopped renewing it) is evaluated again from the upload it was bound to;
- then, every `interval` (`sweep`), looks at jobs overdue for longer than `after`:
  ``awaiting_upload`` with its URL expired (evaluated if the object is there, ``expired``
  if not; an upload that lands later is still evaluated when its notification comes), and
  ``processing`` with its lease run out (as at start, without waiting `after`).

Both hand the core the notification GCS would have sent, several jobs at once (`concurrency`),
and the claim keeps each job to one stored result and one webhook however many replicas sweep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from ..errors import StorageError
from ..storage.base import Storage
from ..store import Job, JobStatus, Store
from ..store.base import utc_now
from .metrics import WorkerMetrics
from .notifications import Notification
from .verdict import ACK, Verdict

log = logging.getLogger(__name__)

Handle = Callable[[Notification], Verdict]


class Sweeper:
    """Settles overdue jobs for one worker; see the module docstring."""

    # A job a sweep could not settle (storage away, held elsewhere, a foreign bucket) rests for
    # this many intervals, so that it does not hold the head of every later batch.
    REST_INTERVALS = 10

    def __init__(
        self,
        store: Store,
        storage: Storage,
        handle: Handle,
        *,
        stop: threading.Event,
        metrics: WorkerMetrics,
        after: timedelta,
        interval: float,
        concurrency: int = 1,
        batch: int = 100,
    ) -> None:
        self.store = store
        self.storage = storage
        self.handle = handle
        self.stop = stop
        self.metrics = metrics
        self.after = after
        self.interval = interval
        self.concurrency = concurrency
        self.batch = batch
        self._resting: dict[str, float] = {}  # job id -> monotonic time it may be swept again
        # Uploads of jobs made from now on are announced to this worker: recovery leaves them be.
        self.started_at = utc_now()

    def run(self) -> None:
        """Recover, then sweep, every `interval` until `stop` is set.

        The first pass (recovery) waits one interval too: notifications Pub/Sub delivers on
        start are handled as messages first, and recovery finds only what none settled.
        """
        passes = [self.recover, self.sweep]
        while not self.stop.wait(self.interval):
            try:
                for one in passes:
                    one()
                passes = [self.sweep]
            except Exception:  # e.g. the database is away; the jobs wait for the next pass
                log.exception("sweep failed; trying again in %.0f s", self.interval)

    def recover(self) -> Counter[str]:
        """Settle every unsettled job that can be settled now (at start-up); returns how."""
        counts: Counter[str] = Counter()
        seen: set[str] = set()
        while not self.stop.is_set():
            jobs = self.store.unsettled_jobs(self.started_at, limit=self.batch, exclude=seen)
            if not jobs:
                break
            seen.update(j.job_id for j in jobs)
            counts += self._settle_all(jobs, recovering=True)
        if counts:
            log.info("recovery at start: %s", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        return counts

    def sweep(self) -> Counter[str]:
        """One pass over the overdue jobs; returns how each was settled."""
        now = time.monotonic()
        self._resting = {job_id: until for job_id, until in self._resting.items() if until > now}
        jobs = self.store.overdue_jobs(self.after, lease_grace=timedelta(0), limit=self.batch, exclude=set(self._resting))
        return self._settle_all(jobs, recovering=False)

    def _settle_all(self, jobs: list[Job], *, recovering: bool) -> Counter[str]:
        counts: Counter[str] = Counter()
        if not jobs:
            return counts
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)), thread_name_prefix="pique-sweep") as pool:
            outcomes = list(pool.map(lambda job: self._settle_one(job, recovering), jobs))
        for job, outcome in zip(jobs, outcomes):
            if outcome not in ("handled", "expired", "waiting"):
                self._resting[job.job_id] = time.monotonic() + self.REST_INTERVALS * self.interval
            counts[outcome] += 1
            self.metrics.swept.labels(outcome).inc()
        return counts

    def _settle_one(self, job: Job, recovering: bool) -> str:
        if self.stop.is_set():
            return "skipped"
        try:
            return self._settle(job, recovering)
        except StorageError as exc:
            log.warning("could not look for the upload, trying again later: %s", exc, extra={"job_id": job.job_id})
            return "storage_unavailable"
        except Exception:  # one odd job must not stop the others being settled
            log.exception("could not sweep this job; it rests for a while", extra={"job_id": job.job_id})
            return "error"

    def _settle(self, job: Job, recovering: bool) -> str:
        extra = {"job_id": job.job_id}
        bucket = self.storage.bucket
        if job.status is JobStatus.PROCESSING:
            if job.upload_bucket != bucket or job.upload_object is None or job.upload_generation is None:
                log.warning("the job's lease ran out but its upload is not in %s; leaving it", bucket, extra=extra)
                return "skipped"
            name, generation = job.upload_object, job.upload_generation
            found = self.storage.locate(name)
            # The size, when this generation is still there, lets the evaluation check it against
            # the declared one; a generation that is gone fails the job when it is read.
            size = found.size if found and found.generation == generation else None
            why = "the job's lease ran out (its worker stopped) and no redelivery reclaimed it; evaluating its upload again"
        else:
            name = job.object_name
            found = self.storage.locate(name)
            if found is None:
                if recovering and job.expires_at + self.after > utc_now():
                    return "waiting"  # its URL may still be used; the sweep comes back after it expires
                if not self.store.expire_job(job.job_id):
                    return "skipped"  # its notification came meanwhile
                log.info("the upload URL expired and no upload came; job expired", extra=extra)
                return "expired"
            generation, size = found
            why = "no notification came for this upload; evaluating it from the sweep"
        if self.stop.is_set():  # the look-up may have taken a while
            return "skipped"
        log.warning(why, extra=extra)
        verdict = self.handle(Notification.finalize(bucket, name, generation, size))
        return "handled" if verdict == ACK else "retry_later"
