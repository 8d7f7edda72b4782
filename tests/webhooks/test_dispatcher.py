"""The outbox dispatcher: signs at send time, follows the retry policy, records every attempt."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from pique_engine.webhooks.dispatcher import OutboxDispatcher
from pique_engine.webhooks.retry import RetryPolicy
from pique_engine.webhooks.signature import verify
from pique_engine.store import DeliveryStatus, Store
from pique_engine.store.base import utc_now

from .test_sender import mock_sender

JUDGE = {"judge_id": "j", "criteria": [{"criterion_id": "c", "detector": "video_specs"}]}


@pytest.fixture
def store(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'p.db'}") as s:
        yield s


def finished_job(store: Store, org_id: str, body: bytes = b'{"job_id":"x"}') -> str:
    job = store.create_job(org_id, judge_id="j", content_type="video", filename="a.mp4", file_size_bytes=1)
    claim = store.claim_job(job.job_id, "b", job.object_name, 1)
    store.fail_job(job.job_id, body, "boom", lease_token=claim.lease_token)
    return job.job_id


def make(store, handler, delays=(1, 2)):
    sender, seen = mock_sender(handler)
    policy = RetryPolicy(delays=tuple(delays), random=lambda: 0.5)
    return OutboxDispatcher(store, sender, policy=policy), seen


def test_a_rotated_secret_signs_with_both_and_either_verifies(store):
    new = store.create_org("Acme", webhook_url="https://hooks.example.com/x")
    store.create_judge(new.org.id, JUDGE)
    rotated = store.rotate_webhook_secret(new.org.id)
    job_id = finished_job(store, new.org.id)
    dispatcher, seen = make(store, lambda r: httpx.Response(200))
    assert dispatcher.deliver_due() == 1
    (request,) = seen
    header = request.headers["x-pique-signature"]
    assert header.count("v1=") == 2
    verify(request.content, header, [new.webhook_secret])
    verify(request.content, header, [rotated])
    assert store.delivery_for_job(job_id).status is DeliveryStatus.DELIVERED


def test_failures_are_rescheduled_by_the_policy_then_given_up(store):
    new = store.create_org("Acme", webhook_url="https://hooks.example.com/x")
    store.create_judge(new.org.id, JUDGE)
    job_id = finished_job(store, new.org.id)
    dispatcher, seen = make(store, lambda r: httpx.Response(503))
    before = utc_now()
    dispatcher.deliver_due()
    d = store.delivery_for_job(job_id)
    assert d.status is DeliveryStatus.PENDING
    assert timedelta(seconds=0.9) <= d.next_attempt_at - before <= timedelta(seconds=1.5)  # first delay: 1 s
    dispatcher.deliver_due(now=utc_now() + timedelta(seconds=10))
    dispatcher.deliver_due(now=utc_now() + timedelta(seconds=20))
    d = store.delivery_for_job(job_id)
    assert (d.status, d.attempts) == (DeliveryStatus.FAILED, 3)
    assert [a.status_code for a in store.delivery_attempts(d.id)] == [503, 503, 503]
    assert len(seen) == 3 and len({r.headers["x-pique-event-id"] for r in seen}) == 1


def test_410_stops_the_delivery_at_once(store):
    new = store.create_org("Acme", webhook_url="https://hooks.example.com/x")
    store.create_judge(new.org.id, JUDGE)
    job_id = finished_job(store, new.org.id)
    dispatcher, seen = make(store, lambda r: httpx.Response(410))
    dispatcher.deliver_due()
    d = store.delivery_for_job(job_id)
    assert (d.status, d.attempts, len(seen)) == (DeliveryStatus.STOPPED, 1, 1)


def test_the_exact_stored_bytes_are_sent(store):
    new = store.create_org("Acme", webhook_url="https://hooks.example.com/x")
    store.create_judge(new.org.id, JUDGE)
    body = b'{"event":"evaluation.failed","job_id":"job_1","note":"caf\\u00e9 \xe2\x9c\x93"}'
    finished_job(store, new.org.id, body)
    dispatcher, seen = make(store, lambda r: httpx.Response(204))
    dispatcher.deliver_due()
    assert seen[0].content == body
