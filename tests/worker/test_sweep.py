"""The sweep settles jobs no notification settled: in-process, against a SQLite store and
uploads in a folder (the dev server's storage), so every case is exact.

The same sweep against fake-gcs-server and a real subscription is in test_worker_e2e.py.
"""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta

import pytest

from pique_engine.settings import Settings
from pique_engine.storage.local import LOCAL_BUCKET, LocalStorage
from pique_engine.store import JobStatus, Store
from pique_engine.store.base import utc_now
from pique_engine.worker.handler import ACK, NACK, Worker
from pique_engine.worker.notifications import Notification
from pique_engine.worker.sweep import Sweeper

from ..conftest import FIXTURES
from ..worker_harness import REELS

BUCKET = LOCAL_BUCKET  # the dev server's
CLIP = FIXTURES / "media" / "phone_rotated_90.mp4"


class Env:
    def __init__(self, tmp_path, concurrency: int = 1) -> None:
        self.store = Store.open(f"sqlite:///{tmp_path / 'pique.db'}")
        self.org = self.store.create_org("Acme", webhook_url="https://hooks.example.com/pique")
        self.store.create_judge(self.org.org.id, REELS)
        settings = Settings(bucket=BUCKET, load_plugins="", concurrency=concurrency)
        self.storage = LocalStorage(tmp_path / "objects")
        self.worker = Worker(settings, self.store, self.storage)
        self.handled: list[Notification] = []
        # after=0: every job past its deadline is overdue at once
        self.sweeper = Sweeper(self.store, self.storage, self.handle, stop=threading.Event(), metrics=self.worker.metrics,
                               after=timedelta(0), interval=1, concurrency=concurrency)  # fmt: skip

    def handle(self, n: Notification):
        self.handled.append(n)
        return self.worker.handle(n, swept=True)

    def job(self, *, uploaded: bool, ttl: timedelta = timedelta(0), declared: int = CLIP.stat().st_size):
        j = self.store.create_job(self.org.org.id, judge_id="judge_reels", content_type="video", filename="clip.mp4",
                                  file_size_bytes=declared, upload_ttl=ttl)  # fmt: skip
        if uploaded:
            (self.storage.root / j.object_name).parent.mkdir(parents=True)
            shutil.copy(CLIP, self.storage.root / j.object_name)
        return j


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.store.close()


def test_an_upload_whose_notification_never_came_is_evaluated_once(env):
    lost = env.job(uploaded=True)
    assert env.sweeper.sweep() == {"handled": 1}
    assert env.store.get_job(lost.job_id).status is JobStatus.COMPLETED
    assert b'"status":"completed"' in env.store.get_result(lost.job_id).payload
    assert env.store.delivery_for_job(lost.job_id) is not None  # its webhook is queued like any other
    assert env.sweeper.sweep() == {}
    assert env.worker.metrics.swept.labels("handled")._value.get() == 1
    assert env.worker.counts["messages"] == 0  # a sweep is not a Pub/Sub message
    (n,) = env.handled  # the notification GCS would have sent: this generation, with its size
    assert (n.object_name, n.generation, n.size) == (lost.object_name, *env.storage.locate(lost.object_name))

    # the notification turns up after all: the same generation is a duplicate, not a second result
    assert env.worker.handle(n) == ACK
    assert env.worker.counts["duplicate"] == 1


def test_a_job_whose_upload_never_came_expires_and_sends_nothing(env):
    unused = env.job(uploaded=False)
    assert env.sweeper.sweep() == {"expired": 1}
    assert env.store.get_job(unused.job_id).status is JobStatus.EXPIRED
    assert env.store.delivery_for_job(unused.job_id) is None


def test_jobs_still_within_their_upload_window_are_left_alone_by_the_periodic_sweep(env):
    waiting = env.job(uploaded=True, ttl=timedelta(minutes=15))
    assert env.sweeper.sweep() == {}
    assert env.store.get_job(waiting.job_id).status is JobStatus.AWAITING_UPLOAD


def test_a_job_whose_worker_died_is_evaluated_again_from_its_bound_upload(env):
    orphan = env.job(uploaded=True, ttl=timedelta(minutes=15))
    generation, _ = env.storage.locate(orphan.object_name)
    env.store.claim_job(orphan.job_id, BUCKET, orphan.object_name, generation, lease=timedelta(seconds=-1))  # its holder is gone
    assert env.sweeper.sweep() == {"handled": 1}
    job_now = env.store.get_job(orphan.job_id)
    assert (job_now.status, job_now.attempts) == (JobStatus.COMPLETED, 2)


def test_an_upload_deleted_since_its_claim_fails_the_orphaned_job(env):
    orphan = env.job(uploaded=True, ttl=timedelta(minutes=15))
    env.store.claim_job(orphan.job_id, BUCKET, orphan.object_name, 1, lease=timedelta(seconds=-1))
    (env.storage.root / orphan.object_name).unlink()
    assert env.sweeper.sweep() == {"handled": 1}
    job_now = env.store.get_job(orphan.job_id)
    assert job_now.status is JobStatus.FAILED, job_now
    assert "no longer exists (overwritten or deleted); upload each file to its own job" in job_now.error


def test_a_re_evaluated_orphan_still_has_its_size_checked_against_the_declared_one(env):
    orphan = env.job(uploaded=True, ttl=timedelta(minutes=15), declared=100)
    generation, _ = env.storage.locate(orphan.object_name)
    env.store.claim_job(orphan.job_id, BUCKET, orphan.object_name, generation, lease=timedelta(seconds=-1))
    assert env.sweeper.sweep() == {"handled": 1}
    job_now = env.store.get_job(orphan.job_id)
    assert job_now.status is JobStatus.FAILED
    assert job_now.error == f"the upload is {CLIP.stat().st_size:,} bytes but 100 were declared; create a new job with the file's real size"


def test_a_job_the_sweep_cannot_settle_rests_and_does_not_block_the_others(env):
    odd, lost = env.job(uploaded=True), env.job(uploaded=True)

    class OneUnreadable(LocalStorage):
        def locate(self, name):
            if odd.job_id in name:
                raise PermissionError(name)  # e.g. a file the worker may not read
            return super().locate(name)

    env.sweeper.storage = OneUnreadable(env.storage.root)  # the sweep's look-ups only
    assert env.sweeper.sweep() == {"error": 1, "handled": 1}
    assert env.store.get_job(lost.job_id).status is JobStatus.COMPLETED
    assert env.sweeper.sweep() == {}  # the odd one rests instead of heading every batch
    assert env.store.get_job(odd.job_id).status is JobStatus.AWAITING_UPLOAD


def test_a_sweep_whose_evaluation_is_handed_back_counts_it_as_retry_later(env, monkeypatch):
    lost = env.job(uploaded=True)
    monkeypatch.setattr(env.sweeper, "handle", lambda n: NACK)
    assert env.sweeper.sweep() == {"retry_later": 1}
    assert env.worker.metrics.swept.labels("retry_later")._value.get() == 1
    assert env.store.get_job(lost.job_id).status is JobStatus.AWAITING_UPLOAD


# -- recovery at start ------------------------------------------------------------------------


def test_recovery_evaluates_uploads_still_within_their_window_and_leaves_jobs_not_yet_uploaded(env):
    lost = env.job(uploaded=True, ttl=timedelta(minutes=15))  # notification lost while no worker ran
    pending = env.job(uploaded=False, ttl=timedelta(minutes=15))  # the client has not uploaded yet
    env.sweeper.started_at = utc_now()  # the worker (re)starts
    fresh = env.job(uploaded=True, ttl=timedelta(minutes=15))  # made since: its notification comes to this worker
    assert env.sweeper.recover() == {"handled": 1, "waiting": 1}
    assert env.store.get_job(lost.job_id).status is JobStatus.COMPLETED
    assert env.store.get_job(pending.job_id).status is JobStatus.AWAITING_UPLOAD
    assert env.store.get_job(fresh.job_id).status is JobStatus.AWAITING_UPLOAD


def test_recovery_reclaims_jobs_whose_lease_ran_out_but_not_those_still_leased(env):
    dead = env.job(uploaded=True, ttl=timedelta(minutes=15))
    alive = env.job(uploaded=True, ttl=timedelta(minutes=15))
    for j, lease in ((dead, timedelta(seconds=-1)), (alive, timedelta(minutes=5))):
        env.store.claim_job(j.job_id, BUCKET, j.object_name, env.storage.locate(j.object_name).generation, lease=lease)
    assert env.sweeper.recover() == {"handled": 1}
    assert env.store.get_job(dead.job_id).status is JobStatus.COMPLETED
    assert env.store.get_job(alive.job_id).status is JobStatus.PROCESSING  # its worker is still renewing it


def test_the_sweep_settles_several_jobs_at_once_within_the_concurrency(tmp_path):
    e = Env(tmp_path, concurrency=3)
    try:
        lost = [e.job(uploaded=True) for _ in range(6)]
        at_once, peak = [0], [0]
        lock = threading.Lock()
        real = e.sweeper.handle
        gate = threading.Barrier(3, timeout=60)  # three must be in flight together, or this times out

        def handle(n):
            with lock:
                at_once[0] += 1
                peak[0] = max(peak[0], at_once[0])
            try:
                if len(e.handled) < 3:
                    gate.wait()
                return real(n)
            finally:
                with lock:
                    at_once[0] -= 1

        e.sweeper.handle = handle
        assert e.sweeper.sweep() == {"handled": 6}
        assert peak[0] == 3
        assert all(e.store.get_job(j.job_id).status is JobStatus.COMPLETED for j in lost)
    finally:
        e.store.close()
