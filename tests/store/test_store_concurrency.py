"""Many workers at once: claims, results and the outbox stay exactly-once under real races.

Each test runs on SQLite and on PostgreSQL; the PostgreSQL runs are the ones that matter for
deployments, where workers in different containers share one database.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest

from pique_engine.errors import JobStateError
from pique_engine.store import ClaimOutcome, DeliveryStatus, JobStatus, NewOrg, Store

from ..databases import migrated_database_url, pg_url  # noqa: F401 - fixtures
from .test_store import T0, claim, new_job, org  # noqa: F401 - fixtures

WORKERS = 20
R = TypeVar("R")


@pytest.fixture
def store(migrated_database_url: str) -> Iterator[Store]:  # noqa: F811 - a pool big enough for every thread
    with Store.open(migrated_database_url, pool_size=WORKERS + 2, max_overflow=0) as s:
        yield s


def race(n: int, fn: Callable[[int], R]) -> list[R]:
    """Run fn(0..n-1) on n threads released at the same instant."""
    barrier = threading.Barrier(n)

    def run(i: int) -> R:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_twenty_workers_racing_to_claim_one_job_exactly_one_wins(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    results = race(WORKERS, lambda _: claim(store, job, now=T0))

    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {ClaimOutcome.CLAIMED: 1, ClaimOutcome.IN_PROGRESS: WORKERS - 1}
    winner = next(r for r in results if r.should_evaluate)
    stored = store.get_job(job.job_id)
    assert stored is not None and (stored.status, stored.attempts) == (JobStatus.PROCESSING, 1)
    assert store.release_job(job.job_id, winner.lease_token or "", now=T0) is True  # the winner holds the lease


def test_twenty_workers_racing_to_reclaim_a_lapsed_lease_exactly_one_wins(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    claim(store, job, lease=timedelta(minutes=1), now=T0)
    results = race(WORKERS, lambda _: claim(store, job, now=T0 + timedelta(minutes=2)))

    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {ClaimOutcome.RECLAIMED: 1, ClaimOutcome.IN_PROGRESS: WORKERS - 1}
    stored = store.get_job(job.job_id)
    assert stored is not None and stored.attempts == 2


def test_workers_sharing_many_notifications_evaluate_every_job_exactly_once(store: Store, org: NewOrg) -> None:
    jobs = [new_job(store, org) for _ in range(30)]

    def worker(i: int) -> list[str]:
        mine = jobs[:]
        random.Random(i).shuffle(mine)  # every worker sees every notification, in its own order
        return [j.job_id for j in mine if claim(store, j, now=T0).should_evaluate]

    claimed = [job_id for won in race(8, worker) for job_id in won]
    assert sorted(claimed) == sorted(j.job_id for j in jobs)


def test_racing_completions_and_failures_store_exactly_one_result(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    token = claim(store, job, now=T0).lease_token

    def finish(i: int) -> str:
        try:
            if i % 2:
                store.fail_job(job.job_id, f"failed-{i}".encode(), "boom", lease_token=token)
            else:
                store.complete_job(job.job_id, f"done-{i}".encode(), evaluation_id=f"ev{i}", content_id="c",
                                   lease_token=token)  # fmt: skip
        except JobStateError:
            return "refused"
        return f"{i}"

    results = race(10, finish)
    winners = [r for r in results if r != "refused"]
    assert len(winners) == 1
    result, delivery = store.get_result(job.job_id), store.delivery_for_job(job.job_id)
    assert result is not None and delivery is not None
    assert result.payload == delivery.body
    assert result.payload.decode().endswith(f"-{winners[0]}")


def test_concurrent_outbox_consumers_never_get_the_same_delivery(store: Store, org: NewOrg) -> None:
    expected = set()
    for _ in range(60):
        j = new_job(store, org)
        d = store.complete_job(j.job_id, b"{}", evaluation_id=j.job_id, content_id="c",
                               lease_token=claim(store, j, now=T0).lease_token, now=T0)  # fmt: skip
        assert d is not None
        expected.add(d.id)
    now = T0 + timedelta(minutes=1)

    def consume(_: int) -> list[int]:
        seen = []
        while batch := store.due_deliveries(now, limit=3, lease=timedelta(hours=1)):
            for d in batch:
                seen.append(d.id)
                time.sleep(0.001)  # a send, so the consumers overlap
                store.record_delivery_attempt(d.id, status_code=200, final_status="delivered", now=now)
        return seen

    handed = race(4, consume)
    every = [i for seen in handed for i in seen]
    assert len(every) == len(set(every)) == len(expected)
    assert set(every) == expected
    assert sum(1 for seen in handed if seen) >= 2  # the work really was shared
    for delivery_id in expected:
        d = store.get_delivery(delivery_id)
        assert d is not None and (d.status, d.attempts) == (DeliveryStatus.DELIVERED, 1)
