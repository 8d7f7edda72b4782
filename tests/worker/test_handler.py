"""`Worker.handle` never raises, and holds a message while the database is away.

A surprise nacks the message and releases the job; a database outage is waited out on
`STORE_RETRY` instead of spending the message's delivery attempts.

A Pub/Sub callback that raises leaves its message leased (and its flow-control slot taken)
until the client's maximum lease runs out, an hour by default; with concurrency 1 the worker
would stop pulling. These run `handle` in-process against a SQLite store and a folder.
"""

from __future__ import annotations

import pytest

from pique_engine.errors import StoreError
from pique_engine.settings import Settings
from pique_engine.storage.local import LocalStorage
from pique_engine.store import JobStatus, Store
from pique_engine.webhooks.retry import RetryPolicy
from pique_engine.worker import handler as worker_module
from pique_engine.worker.handler import ACK, NACK, Worker
from pique_engine.worker.notifications import Notification

from ..worker_harness import REELS

BUCKET = "local"


@pytest.fixture
def setup(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'pique.db'}")
    org = store.create_org("Acme", webhook_url="https://hooks.example.com/pique")
    store.create_judge(org.org.id, REELS)
    job = store.create_job(org.org.id, judge_id="judge_reels", content_type="video", filename="clip.mp4", file_size_bytes=100)
    settings = Settings(bucket=BUCKET, database_url=f"sqlite:///{tmp_path / 'pique.db'}", load_plugins="")
    worker = Worker(settings, store, LocalStorage(tmp_path))
    yield worker, store, job
    store.close()


def finalize(job, generation: int = 1) -> Notification:
    return Notification.finalize(BUCKET, job.object_name, generation, 100)


def put(worker, job, data: bytes) -> Notification:
    """Store the upload in the worker's folder; the notification GCS would send for it."""
    path = worker.storage.root / job.object_name
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return finalize(job, worker.storage.locate(job.object_name).generation)


def test_an_unexpected_error_before_the_claim_nacks_instead_of_raising(setup, monkeypatch):
    worker, store, job = setup

    def broken(*args, **kwargs):
        raise RuntimeError("driver bug")

    monkeypatch.setattr(store, "claim_job", broken)
    assert worker.handle(finalize(job)) == NACK
    assert worker.counts["error"] == 1
    assert store.get_job(job.job_id).status is JobStatus.AWAITING_UPLOAD


def test_an_unexpected_error_after_the_claim_nacks_and_releases_the_job_at_once(setup, monkeypatch):
    worker, store, job = setup

    def broken(*args, **kwargs):
        raise RuntimeError("judge cache corrupted")

    monkeypatch.setattr(store, "get_judge", broken)
    assert worker.handle(finalize(job)) == NACK
    held = store.get_job(job.job_id)
    assert held.status is JobStatus.PROCESSING and held.attempts == 1
    monkeypatch.undo()
    # Released: the redelivery claims it now instead of waiting out a lease.
    claim = store.claim_job(job.job_id, BUCKET, job.object_name, 1)
    assert claim.should_evaluate


def test_the_next_message_is_handled_normally_after_an_unexpected_error(setup, monkeypatch, tmp_path):
    worker, store, job = setup
    calls = []
    real = store.get_judge

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("once")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "get_judge", flaky)
    upload = put(worker, job, b"\x00" * 100)  # 100 declared bytes, not media
    assert worker.handle(upload) == NACK
    assert worker.handle(upload) == ACK
    assert store.get_job(job.job_id).status is JobStatus.FAILED
    assert worker.counts["error"] == 1 and worker.counts["failed"] == 1


def _outage() -> StoreError:
    from sqlalchemy.exc import OperationalError

    try:
        raise StoreError("database operation failed (connection refused)") from OperationalError("SELECT", {}, ConnectionRefusedError())
    except StoreError as exc:
        return exc


def test_while_the_database_is_unreachable_the_message_is_held_and_the_store_retried(setup, monkeypatch, tmp_path):
    worker, store, job = setup
    monkeypatch.setattr(worker_module, "STORE_RETRY", RetryPolicy(delays=(0.01,) * 5, jitter=0))
    real = store.claim_job
    failures = []

    def down_twice(*args, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise _outage()
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "claim_job", down_twice)
    assert worker.handle(put(worker, job, b"\x00" * 100)) == ACK  # not nacked: no Pub/Sub delivery attempt spent
    assert len(failures) == 2 and store.get_job(job.job_id).status is JobStatus.FAILED


def test_a_database_outage_longer_than_the_schedule_nacks(setup, monkeypatch):
    worker, store, job = setup
    monkeypatch.setattr(worker_module, "STORE_RETRY", RetryPolicy(delays=(0.01, 0.01), jitter=0))
    calls = []

    def down(*args, **kwargs):
        calls.append(1)
        raise _outage()

    monkeypatch.setattr(store, "claim_job", down)
    assert worker.handle(finalize(job)) == NACK
    assert len(calls) == 3 and worker.counts["store_unavailable"] == 1


def test_a_store_error_that_is_not_an_outage_is_not_retried(setup, monkeypatch):
    worker, store, job = setup
    calls = []

    def refused(*args, **kwargs):
        calls.append(1)
        raise StoreError("the change conflicts with data already stored")

    monkeypatch.setattr(store, "claim_job", refused)
    assert worker.handle(finalize(job)) == NACK
    assert len(calls) == 1


def test_a_later_generation_of_a_settled_jobs_object_is_acknowledged_in_one_line_and_not_evaluated(setup, caplog):
    worker, store, job = setup
    first = put(worker, job, b"\x00" * 100)
    assert worker.handle(first) == ACK
    settled = store.get_job(job.job_id)
    result = store.get_result(job.job_id).payload
    later = Notification.finalize(BUCKET, job.object_name, first.generation + 1, 100)  # the object written again
    caplog.clear()
    with caplog.at_level("INFO", logger="pique_engine.worker"):
        assert worker.handle(later) == ACK
    (line,) = [r for r in caplog.records if r.name.startswith("pique_engine.worker")]
    assert line.getMessage() == (
        f"ignored {later.dedupe_key}: the job is failed on generation {first.generation}, "
        "which its upload URL created (an upload URL uploads once) (ack)"
    )
    assert worker.counts["superseded"] == 1
    now = store.get_job(job.job_id)
    assert (now.status, now.upload_generation, now.attempts) == (settled.status, first.generation, settled.attempts)
    assert store.get_result(job.job_id).payload == result
