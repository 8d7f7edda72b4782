"""The sweep settles jobs no notification settled: in-process, against a SQLite store and
uploads in a folder (the dev server's storage), so every case is exact.

The same sweep against fake-gcs-server and a real subscription is in test_worker_e2e.py.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from pique_engine.delivery import OutboxDispatcher
from pique_engine.devserver import LOCAL_BUCKET, LocalUploads
from pique_engine.settings import Settings
from pique_engine.store import JobStatus, Store
from pique_engine.sweep import folder_locator
from pique_engine.webhooks import WebhookSender
from pique_engine.worker import ACK, Worker

from .conftest import FIXTURES
from .worker_harness import REELS

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

    def job(*, uploaded: bool, ttl: timedelta = timedelta(0)):
        j = store.create_job(org.org.id, judge_id="judge_reels", content_type="video", filename="clip.mp4",
                             file_size_bytes=CLIP.stat().st_size, upload_ttl=ttl)  # fmt: skip
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


def test_the_dev_server_announces_the_generation_the_sweep_finds(tmp_path):
    uploads = LocalUploads(tmp_path)
    (tmp_path / "org" / "pending" / "job").mkdir(parents=True)
    (tmp_path / "org/pending/job/a.wav").write_bytes(b"RIFF")
    uploads.finalize("org/pending/job/a.wav", "audio/wav")
    attributes, _ = uploads.events.get_nowait()
    assert (int(attributes["objectGeneration"]), 4) == folder_locator(tmp_path)("org/pending/job/a.wav")
