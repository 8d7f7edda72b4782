"""The outbox dispatcher with real HTTP receivers and a real store (SQLite and PostgreSQL).

A receiver that hangs must slow only its own organisation; claims must keep every delivery
to one send at a time however many dispatchers run; a retry waits from the attempt's end.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pique_engine.store import DeliveryStatus, Store
from pique_engine.store.base import utc_now
from pique_engine.webhooks.dispatcher import OutboxDispatcher
from pique_engine.webhooks.retry import RetryPolicy
from pique_engine.webhooks.sender import WebhookSender

from ..databases import database_url, pg_url  # noqa: F401 - fixtures
from ..receiver import Receiver
from .test_dispatcher import JUDGE, finished_job

pytestmark = pytest.mark.integration  # real HTTP receivers

# Hanging lasts longer than any test here waits, and the sender's timeout longer still, so a
# hanging request is certain to be in flight for as long as a test looks at it.
HANG_SEC = 120.0
LONG_TIMEOUT_SEC = 60.0
WAIT_SEC = 30.0  # generous bound for things that must happen; it only matters when a test fails


class HangingReceiver:
    """A real HTTP receiver that holds every request open until `release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.changed = threading.Condition()
        self.hanging = 0
        self.most_hanging = 0
        self.answered = 0
        self.event_ids: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer._arrived(self.headers["X-Pique-Event-Id"])
                outer.release.wait(HANG_SEC)
                with outer.changed:
                    outer.hanging -= 1
                    outer.answered += 1
                    outer.changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a sender that timed out and hung up is expected

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _arrived(self, event_id: str) -> None:
        with self.changed:
            self.event_ids.append(event_id)
            self.hanging += 1
            self.most_hanging = max(self.most_hanging, self.hanging)
            self.changed.notify_all()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_hanging(self, count: int) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.hanging >= count, timeout=WAIT_SEC):
                raise AssertionError(f"{self.hanging} of {count} requests hanging after {WAIT_SEC} s")

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    with Store.open(database_url) as s:
        yield s


@pytest.fixture
def hanging() -> Iterator[HangingReceiver]:
    receiver = HangingReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def fast() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


def org_with_judge(store: Store, name: str, url: str) -> str:
    org_id = store.create_org(name, webhook_url=url).org.id
    store.create_judge(org_id, JUDGE)
    return org_id


def dispatcher_for(store: Store, *, timeout_sec: float = LONG_TIMEOUT_SEC, **caps: int) -> OutboxDispatcher:
    sender = WebhookSender(timeout_sec=timeout_sec)
    policy = RetryPolicy(delays=(5,), random=lambda: 0.5)  # no jitter: the delay is exactly 5 s
    return OutboxDispatcher(store, sender, policy=policy, allow_private=True, **caps)


class Running:
    """A dispatcher's `run` loop on a thread, stopped (and checked to have stopped) on exit."""

    def __init__(self, dispatcher: OutboxDispatcher) -> None:
        self.dispatcher = dispatcher
        self.stop = threading.Event()
        self.thread = threading.Thread(target=dispatcher.run, args=(self.stop,), kwargs={"poll_sec": 0.2}, daemon=True)

    def __enter__(self) -> OutboxDispatcher:
        self.thread.start()
        return self.dispatcher

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.dispatcher.wake.set()
        self.thread.join(WAIT_SEC + LONG_TIMEOUT_SEC)
        assert not self.thread.is_alive(), "the dispatcher did not stop"


def test_a_hanging_receiver_delays_only_its_own_organisation(store: Store, hanging: HangingReceiver, fast: Receiver) -> None:
    org_a = org_with_judge(store, "Hangs", hanging.url())
    org_b = org_with_judge(store, "Prompt", fast.url())
    a_jobs = [finished_job(store, org_a, f'{{"job_id":"a{i}"}}'.encode()) for i in range(6)]
    dispatcher = dispatcher_for(store, max_in_flight=8, per_org=2)
    with Running(dispatcher):
        hanging.wait_hanging(2)  # organisation A has used its whole share, and is stuck there

        finished_job(store, org_b, b'{"job_id":"b"}')
        stored = time.monotonic()
        dispatcher.wake.set()  # what the worker does once it has stored a result
        fast.wait_for(1, timeout=WAIT_SEC)
        arrived = time.monotonic()
        with hanging.changed:
            a_hanging_then, a_answered_then = hanging.hanging, hanging.answered
        # A's other four are not held by this dispatcher: they are due, for any sender with room.
        waiting = [store.delivery_for_job(j) for j in a_jobs]
        assert sum(d.attempts == 0 and d.next_attempt_at <= utc_now() for d in waiting) == 4

        hanging.release.set()  # let A's receiver answer: its queued deliveries go out too
        with hanging.changed:
            assert hanging.changed.wait_for(lambda: hanging.answered == 6, timeout=WAIT_SEC)
    # B was sent while both of A's requests were still hanging, none of them answered...
    assert (a_hanging_then, a_answered_then) == (2, 0)
    # ...promptly: 2 s bounds fairness (B never waits for A), not speed.
    assert arrived - stored < 2.0
    # A never had more than its share in flight, and each of its deliveries went out once.
    assert hanging.most_hanging == 2
    assert sorted(Counter(hanging.event_ids).values()) == [1] * 6
    assert all(store.delivery_for_job(j).status is DeliveryStatus.DELIVERED for j in a_jobs)


def test_overall_cap_bounds_sends_across_organisations(store: Store, hanging: HangingReceiver) -> None:
    orgs = [org_with_judge(store, f"Org {i}", hanging.url()) for i in range(3)]
    for org_id in orgs:
        for i in range(3):
            finished_job(store, org_id, f'{{"job_id":"{org_id}-{i}"}}'.encode())
    dispatcher = dispatcher_for(store, max_in_flight=4, per_org=2)
    with Running(dispatcher):
        hanging.wait_hanging(4)
        # Give the loop several polls to overstep the cap if it were going to.
        for _ in range(5):
            dispatcher.wake.set()
            time.sleep(0.2)
        with hanging.changed:
            most = hanging.most_hanging
        hanging.release.set()
        with hanging.changed:
            assert hanging.changed.wait_for(lambda: hanging.answered == 9, timeout=WAIT_SEC)
    assert most == 4
    assert hanging.most_hanging == 4
    assert sorted(Counter(hanging.event_ids).values()) == [1] * 9


def test_two_dispatchers_send_each_delivery_once(store: Store, fast: Receiver) -> None:
    fast.delay = 0.05  # long enough for the two dispatchers' sends to overlap
    orgs = [org_with_judge(store, f"Org {i}", fast.url()) for i in range(3)]
    jobs = [finished_job(store, org_id, f'{{"job_id":"{org_id}-{i}"}}'.encode()) for org_id in orgs for i in range(8)]
    first, second = dispatcher_for(store, per_org=3), dispatcher_for(store, per_org=3)
    with Running(first), Running(second):
        fast.wait_for(len(jobs), timeout=WAIT_SEC)
        deadline = time.monotonic() + WAIT_SEC
        while first.in_flight or second.in_flight:  # let the last sends record their outcome
            assert time.monotonic() < deadline
            time.sleep(0.05)
    sent = Counter(r.headers["x-pique-event-id"] for r in fast.received)
    assert len(sent) == len(jobs) and set(sent.values()) == {1}
    assert {store.delivery_for_job(j).status for j in jobs} == {DeliveryStatus.DELIVERED}
    assert {store.delivery_for_job(j).attempts for j in jobs} == {1}


def test_after_a_timeout_the_retry_is_scheduled_from_the_attempts_end(store: Store, hanging: HangingReceiver) -> None:
    org_id = org_with_judge(store, "Hangs", hanging.url())
    job_id = finished_job(store, org_id)
    dispatcher = dispatcher_for(store, timeout_sec=2.0)
    before = utc_now()
    assert dispatcher.deliver_due() == 1
    d = store.delivery_for_job(job_id)
    (attempt,) = store.delivery_attempts(d.id)
    assert attempt.error == "timed out after 2 s waiting for the response"
    assert attempt.at >= before + timedelta(seconds=2)  # recorded when the attempt ended
    # 5 s from the end (>= +7 s from the start), not from the start (+5 s).
    assert d.next_attempt_at - attempt.at == timedelta(seconds=5)
    assert d.next_attempt_at >= before + timedelta(seconds=7)


def test_stopping_starts_nothing_new_and_lets_the_sends_in_flight_finish(store: Store, hanging: HangingReceiver) -> None:
    org_id = org_with_judge(store, "Hangs", hanging.url())
    first, second = finished_job(store, org_id), finished_job(store, org_id)
    dispatcher = dispatcher_for(store, per_org=1)
    stop = threading.Event()
    loop = threading.Thread(target=dispatcher.run, args=(stop,), kwargs={"poll_sec": 0.2}, daemon=True)
    loop.start()
    hanging.wait_hanging(1)
    stop.set()
    dispatcher.wake.set()
    loop.join(0.5)
    assert loop.is_alive()  # still waiting for the hanging send: it cannot end before its answer
    hanging.release.set()
    loop.join(WAIT_SEC)
    assert not loop.is_alive()
    assert len(hanging.event_ids) == 1
    assert store.delivery_for_job(first).status is DeliveryStatus.DELIVERED
    assert (store.delivery_for_job(second).status, store.delivery_for_job(second).attempts) == (DeliveryStatus.PENDING, 0)
