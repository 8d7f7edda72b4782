"""`Worker.handle` never raises: a surprise nacks the message and releases the job.

A Pub/Sub callback that raises leaves its message leased (and its flow-control slot taken)
until the client's maximum lease runs out, an hour by default; with concurrency 1 the worker
would stop pulling. These run `handle` in-process against a SQLite store.
"""

from __future__ import annotations

import json

import pytest

from pique_engine.delivery import OutboxDispatcher
from pique_engine.settings import Settings
from pique_engine.store import JobStatus, Store
from pique_engine.webhooks import WebhookSender
from pique_engine.worker import ACK, NACK, Worker

from .worker_harness import REELS

BUCKET = "uploads"


@pytest.fixture
def setup(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'pique.db'}")
    org = store.create_org("Acme", webhook_url="https://hooks.example.com/pique")
    store.create_judge(org.org.id, REELS)
    job = store.create_job(org.org.id, judge_id="judge_reels", content_type="video", filename="clip.mp4", file_size_bytes=100)
    settings = Settings(bucket=BUCKET, database_url=f"sqlite:///{tmp_path / 'pique.db'}", load_plugins="")
    worker = Worker(settings, store, OutboxDispatcher(store, WebhookSender()), local_root=str(tmp_path))
    yield worker, store, job
    store.close()


def finalize(job, generation: int = 1) -> tuple[dict[str, str], bytes]:
    attrs = {"eventType": "OBJECT_FINALIZE", "bucketId": BUCKET, "objectId": job.object_name,
             "objectGeneration": str(generation), "payloadFormat": "JSON_API_V1"}
    data = json.dumps({"bucket": BUCKET, "name": job.object_name, "generation": str(generation), "size": "100"}).encode()
    return attrs, data


def test_an_unexpected_error_before_the_claim_nacks_instead_of_raising(setup, monkeypatch):
    worker, store, job = setup

    def broken(*args, **kwargs):
        raise RuntimeError("driver bug")

    monkeypatch.setattr(store, "claim_job", broken)
    assert worker.handle(*finalize(job)) == NACK
    assert worker.counts["error"] == 1
    assert store.get_job(job.job_id).status is JobStatus.AWAITING_UPLOAD


def test_an_unexpected_error_after_the_claim_nacks_and_releases_the_job_at_once(setup, monkeypatch):
    worker, store, job = setup

    def broken(*args, **kwargs):
        raise RuntimeError("judge cache corrupted")

    monkeypatch.setattr(store, "get_judge", broken)
    assert worker.handle(*finalize(job)) == NACK
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
    assert worker.handle(*finalize(job)) == NACK
    # The object (100 declared bytes, not media) is read from the local folder.
    path = tmp_path / job.object_name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00" * 100)
    assert worker.handle(*finalize(job)) == ACK
    assert store.get_job(job.job_id).status is JobStatus.FAILED
    assert worker.counts["error"] == 1 and worker.counts["failed"] == 1
