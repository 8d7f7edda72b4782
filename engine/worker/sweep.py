"""The sweep: settling jobs that no notification settled.

Every upload is announced by an ``OBJECT_FINALIZE`` notification, delivered at least once,
but a notification can still go missing: a bucket whose notification config was off for a
while, messages dead-lettered or past the subscription's retention while every worker was
down, or an emulator that strands a dead subscriber's messages. So each worker looks, every
`interval`, at jobs that have been overdue for longer than `after`:

- ``awaiting_upload`` with its URL expired: if the object is in the bucket it is evaluated
  just as its notification would have had it; if not, the job becomes ``expired``. (An
  upload that lands later is still evaluated when its notification comes: claims accept
  expired jobs.)
- ``processing`` with its lease run out: its worker died and no redelivery reclaimed the job,
  so its upload is evaluated again.

Both go through `Worker.handle` with the notification GCS would have sent, so the claim keeps
each job to one stored result and one webhook however many replicas sweep at once.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StorageError
from .notifications import finalize_message
from ..store import Job, JobStatus

if TYPE_CHECKING:
    from .handler import Worker

log = logging.getLogger(__name__)

# An object name → its live (generation, size), or None when it does not exist.
Locate = Callable[[str], tuple[int, int] | None]


def gcs_locator(bucket_name: str, project: str | None) -> Locate:
    """Look objects up in a GCS bucket (through ``STORAGE_EMULATOR_HOST`` when set)."""
    from ..storage.gcs import find_object, storage_client

    @functools.cache
    def bucket():  # made on first use: most sweeps have nothing to look up
        return storage_client(project).bucket(bucket_name)

    return lambda name: find_object(bucket(), name)


def folder_locator(root: Path) -> Locate:
    """Look objects up as files under `root`, the local storage of `pique-engine dev`.

    A file's generation is its modification time in microseconds, as a GCS generation is
    the object's write time; the dev server announces uploads with the same number.
    """

    def locate(name: str) -> tuple[int, int] | None:
        try:
            st = (root / name).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_mtime_ns // 1000, st.st_size

    return locate


class Sweeper:
    """Settles overdue jobs for one worker; see the module docstring."""

    # A job a sweep could not settle (storage away, held elsewhere, a foreign bucket) rests for
    # this many intervals, so that it does not hold the head of every later batch.
    REST_INTERVALS = 10

    def __init__(self, worker: Worker, locate: Locate, *, after: timedelta, interval: float, batch: int = 100) -> None:
        self.worker = worker
        self.locate = locate
        self.after = after
        self.interval = interval
        self.batch = batch
        self._resting: dict[str, float] = {}  # job id -> monotonic time it may be swept again

    def run(self, stop: threading.Event) -> None:
        """Sweep every `interval` until `stop` is set."""
        while not stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # e.g. the database is away; the jobs wait for the next sweep
                log.exception("sweep failed; trying again in %.0f s", self.interval)

    def sweep(self) -> Counter[str]:
        """One pass over the overdue jobs; returns how each was settled."""
        now = time.monotonic()
        self._resting = {job_id: until for job_id, until in self._resting.items() if until > now}
        counts: Counter[str] = Counter()
        for job in self.worker.store.overdue_jobs(self.after, limit=self.batch, exclude=set(self._resting)):
            if self.worker.stopping.is_set():
                break
            try:
                outcome = self._settle(job)
            except StorageError as exc:
                log.warning("could not look for the upload, trying again later: %s", exc, extra={"job_id": job.job_id})
                outcome = "storage_unavailable"
            except Exception:  # one odd job must not stop the others being settled
                log.exception("could not sweep this job; it rests for a while", extra={"job_id": job.job_id})
                outcome = "error"
            if outcome not in ("handled", "expired"):
                self._resting[job.job_id] = time.monotonic() + self.REST_INTERVALS * self.interval
            counts[outcome] += 1
            self.worker.metrics.swept.labels(outcome).inc()
        return counts

    def _settle(self, job: Job) -> str:
        extra = {"job_id": job.job_id}
        bucket = self.worker.settings.bucket
        if job.status is JobStatus.PROCESSING:
            if job.upload_bucket != bucket or job.upload_object is None or job.upload_generation is None:
                log.warning("the job's lease ran out but its upload is not in gs://%s; leaving it", bucket, extra=extra)
                return "skipped"
            name, generation = job.upload_object, job.upload_generation
            found = self.locate(name)
            # The size, when this generation is still there, lets the evaluation check it against
            # the declared one; a generation that is gone fails the job when it is read.
            size = found[1] if found and found[0] == generation else None
            why = "the job's lease ran out and no redelivery reclaimed it; evaluating its upload again"
        else:
            name = job.object_name
            found = self.locate(name)
            if found is None:
                if not self.worker.store.expire_job(job.job_id):
                    return "skipped"  # its notification came meanwhile
                log.info("the upload URL expired and no upload came; job expired", extra=extra)
                return "expired"
            generation, size = found
            why = "no notification came for this upload; evaluating it from the sweep"
        if self.worker.stopping.is_set():  # the look-up may have taken a while
            return "skipped"
        log.warning(why, extra=extra)
        from .handler import ACK

        verdict = self.worker.handle(*finalize_message(bucket, name, generation, size), swept=True)
        return "handled" if verdict == ACK else "retry_later"
