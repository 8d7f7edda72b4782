"""The sweep settles jobs no notification settled: in-process, against a SQLite store and
uploads in a folder (the dev server's storage), so every case is exact.

The same sweep against fake-gcs-server and a real subscription is in test_worker_e2e.py.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from pique_engine.webhooks.dispatcher import OutboxDispatcher
from pique_engine.dev.server import LOCAL_BUCKET, LocalUploads
from pique_engine.settings import Settings
from pique_engine.store import JobStatus, Store
from pique_engine.worker.sweep import folder_locator
from pique_engine.webhooks.sender import WebhookSender
from pique_engine.worker.handler import ACK, NACK, Worker

from ..conftest import FIXTURES
from ..worker_harness import REELS

BUCKET = LOCAL_BUCKET  # the dev server's
CLIP = FIXTURES / "media" / "phone_rotated_90.mp4"


@pytest.fixture
def env(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'pique.db'}")
    org = store.create_org("Acme", webhook_url="https://hooks.example.com/pique")
    store.create_judge(org.org.id, REELS)
    settings = Settings(bucket=BUCKET, load_plugins="", sweep_after_sec=1)
    root = tmp_path / "objects"
    worker = Worker(settings, store, OutboxDispatcher(store, WebhookSender()), local_root=str(root))
    worker.sweeper.after = timedelta(0)  # every job past its deadline is overdue at once

    def job(*, uploaded: bool, ttl: timedelta = timedelta(0), declared: int = CLIP.stat().st_size):
        j = store.create_job(org.org.id, judge_id="judge_reels", content_type="video", filename="clip.mp4",
                             file_size_bytes=declared, upload_ttl=ttl)  # fmt: skip
        if uploaded:
            (root / j.object_name).parent.mkdir(parents=True)
            shutil.copy(CLIP, root / j.object_name)
        return j

    yield worker, store, job, root
    store.close()


def test_an_upload_whose_notification_never_came_is_evaluated_once(env):
    worker, store, job, root = env
    lost = job(uploaded=True)
    assert worker.sweeper.sweep() == {"handled": 1}
    assert store.get_job(lost.job_id).status is JobStatus.COMPLETED
    assert b'"status":"completed"' in store.get_result(lost.job_id).payload
    assert store.delivery_for_job(lost.job_id) is not None  # its webhook is queued like any other
    assert worker.sweeper.sweep() == {}
    assert worker.metrics.swept.labels("handled")._value.get() == 1
    assert worker.counts["messages"] == 0  # a sweep is not a Pub/Sub message

    # the notification turns up after all: the same generation is a duplicate, not a second result
    assert worker.handle(*_announce(root, lost.object_name)) == ACK
    assert worker.counts["duplicate"] == 1


def _announce(root, object_name):
    uploads = LocalUploads(root)
    uploads.finalize(object_name, "video/mp4")
    return uploads.events.get_nowait()


def test_a_job_whose_upload_never_came_expires_and_sends_nothing(env):
    worker, store, job, _ = env
    unused = job(uploaded=False)
    assert worker.sweeper.sweep() == {"expired": 1}
    assert store.get_job(unused.job_id).status is JobStatus.EXPIRED
    assert store.delivery_for_job(unused.job_id) is None


def test_jobs_still_within_their_upload_window_are_left_alone(env):
    worker, store, job, _ = env
    waiting = job(uploaded=True, ttl=timedelta(minutes=15))
    assert worker.sweeper.sweep() == {}
    assert store.get_job(waiting.job_id).status is JobStatus.AWAITING_UPLOAD


def test_a_job_whose_worker_died_is_evaluated_again_from_its_bound_upload(env):
    worker, store, job, root = env
    orphan = job(uploaded=True, ttl=timedelta(minutes=15))
    generation, _ = folder_locator(root)(orphan.object_name)
    store.claim_job(orphan.job_id, BUCKET, orphan.object_name, generation, lease=timedelta(seconds=-1))  # its holder is gone
    assert worker.sweeper.sweep() == {"handled": 1}
    job_now = store.get_job(orphan.job_id)
    assert (job_now.status, job_now.attempts) == (JobStatus.COMPLETED, 2)


def test_an_upload_deleted_since_its_claim_fails_the_orphaned_job(env):
    worker, store, job, root = env
    orphan = job(uploaded=True, ttl=timedelta(minutes=15))
    store.claim_job(orphan.job_id, BUCKET, orphan.object_name, 1, lease=timedelta(seconds=-1))
    (root / orphan.object_name).unlink()
    assert worker.sweeper.sweep() == {"handled": 1}
    job_now = store.get_job(orphan.job_id)
    assert job_now.status is JobStatus.FAILED, job_now
    assert "No such file or directory" in job_now.error


def test_a_re_evaluated_orphan_still_has_its_size_checked_against_the_declared_one(env):
    worker, store, job, root = env
    orphan = job(uploaded=True, ttl=timedelta(minutes=15), declared=100)
    generation, _ = folder_locator(root)(orphan.object_name)
    store.claim_job(orphan.job_id, BUCKET, orphan.object_name, generation, lease=timedelta(seconds=-1))
    assert worker.sweeper.sweep() == {"handled": 1}
    job_now = store.get_job(orphan.job_id)
    assert job_now.status is JobStatus.FAILED
    assert job_now.error == f"the upload is {CLIP.stat().st_size:,} bytes but 100 were declared; create a new job with the file's real size"


def test_a_job_the_sweep_cannot_settle_rests_and_does_not_block_the_others(env, monkeypatch):
    worker, store, job, _ = env
    odd, lost = job(uploaded=True), job(uploaded=True)
    real_locate = worker.sweeper.locate

    def locate(name):
        if odd.job_id in name:
            raise PermissionError(name)  # e.g. a file the worker may not read
        return real_locate(name)

    monkeypatch.setattr(worker.sweeper, "locate", locate)
    assert worker.sweeper.sweep() == {"error": 1, "handled": 1}
    assert store.get_job(lost.job_id).status is JobStatus.COMPLETED
    assert worker.sweeper.sweep() == {}  # the odd one rests instead of heading every batch
    assert store.get_job(odd.job_id).status is JobStatus.AWAITING_UPLOAD


def test_a_sweep_whose_evaluation_is_handed_back_counts_it_as_retry_later(env, monkeypatch):
    worker, store, job, _ = env
    lost = job(uploaded=True)
    monkeypatch.setattr(worker, "handle", lambda *args, **kwargs: NACK)
    assert worker.sweeper.sweep() == {"retry_later": 1}
    assert worker.metrics.swept.labels("retry_later")._value.get() == 1
    assert store.get_job(lost.job_id).status is JobStatus.AWAITING_UPLOAD
