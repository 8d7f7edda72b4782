"""The outbox dispatcher: signs at send time, follows the retry policy, records every attempt."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy.exc import OperationalError

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


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_the_retry_delay_counts_from_when_the_attempt_ended(store):
    new = store.create_org("Acme", webhook_url="https://hooks.example.com/x")
    store.create_judge(new.org.id, JUDGE)
    job_id = finished_job(store, new.org.id)
    clock = FakeClock(utc_now() + timedelta(seconds=1))
    start = clock.now

    def hangs_ten_seconds_then_fails(request: httpx.Request) -> httpx.Response:
        clock.now += timedelta(seconds=10)
        return httpx.Response(503)

    sender, _ = mock_sender(hangs_ten_seconds_then_fails)
    policy = RetryPolicy(delays=(5,), random=lambda: 0.5)
    OutboxDispatcher(store, sender, policy=policy, clock=clock).deliver_due()
    d = store.delivery_for_job(job_id)
    (attempt,) = store.delivery_attempts(d.id)
    assert attempt.at == start + timedelta(seconds=10)
    assert d.next_attempt_at == start + timedelta(seconds=15)  # end + 5 s, not start + 5 s


def test_an_unavailable_database_is_logged_once_when_it_goes_and_once_when_it_returns(store, monkeypatch, caplog):
    new = store.create_org("Acme", webhook_url="https://hooks.example.com/x")
    store.create_judge(new.org.id, JUDGE)
    job_id = finished_job(store, new.org.id)
    claim = store.due_deliveries
    calls = 0
    back_for_a_while = threading.Event()

    def database_away_for_20_passes(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls <= 20:
            with store._wrap():  # exactly what the store raises when its connection fails
                raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))
        if calls >= 25:
            back_for_a_while.set()
        return claim(*args, **kwargs)

    monkeypatch.setattr(store, "due_deliveries", database_away_for_20_passes)
    dispatcher, seen = make(store, lambda r: httpx.Response(200))
    caplog.set_level(logging.INFO, logger="pique_engine.webhooks.dispatcher")
    stop = threading.Event()
    loop = threading.Thread(target=dispatcher.run, args=(stop,), kwargs={"poll_sec": 0.01})
    loop.start()
    assert back_for_a_while.wait(30)
    stop.set()
    loop.join(30)
    assert not loop.is_alive()
    loud = [r for r in caplog.records if r.name == "pique_engine.webhooks.dispatcher" and r.levelno >= logging.WARNING]
    assert [(r.levelname, r.exc_info) for r in loud] == [("ERROR", None), ("WARNING", None)]
    assert "outbox is unavailable: database operation failed (ConnectionRefusedError: connection refused)" in loud[0].getMessage()
    assert "resumed" in loud[1].getMessage()
    assert len(seen) == 1 and store.delivery_for_job(job_id).status is DeliveryStatus.DELIVERED


def test_caps_must_be_positive(store):
    sender, _ = mock_sender(lambda r: httpx.Response(200))
    with pytest.raises(ValueError, match="must be >= 1, got 0 overall and 4 per organisation"):
        OutboxDispatcher(store, sender, max_in_flight=0, per_org=4)


def test_caps_timeout_and_address_policy_come_from_settings(store, monkeypatch):
    from pique_engine.settings import Settings

    monkeypatch.setenv("PIQUE_WEBHOOK_CONCURRENCY", "6")
    monkeypatch.setenv("PIQUE_WEBHOOK_CONCURRENCY_PER_ORG", "2")
    monkeypatch.setenv("PIQUE_WEBHOOK_TIMEOUT_SEC", "45")
    monkeypatch.setenv("PIQUE_WEBHOOK_ALLOW_PRIVATE", "true")
    dispatcher = OutboxDispatcher.from_settings(store, Settings())
    assert (dispatcher.max_in_flight, dispatcher.per_org, dispatcher.allow_private) == (6, 2, True)
    assert dispatcher.sender.timeout_sec == 45
    assert dispatcher.lease == timedelta(seconds=90)  # a claim outlives the longest attempt


def test_the_send_lease_comes_from_settings_and_never_drops_below_twice_the_timeout(store, monkeypatch):
    from pique_engine.settings import Settings

    monkeypatch.setenv("PIQUE_WEBHOOK_TIMEOUT_SEC", "5")
    monkeypatch.setenv("PIQUE_WEBHOOK_SEND_LEASE_SEC", "12")
    assert OutboxDispatcher.from_settings(store, Settings()).lease == timedelta(seconds=12)
    monkeypatch.setenv("PIQUE_WEBHOOK_SEND_LEASE_SEC", "3")
    assert OutboxDispatcher.from_settings(store, Settings()).lease == timedelta(seconds=10)
