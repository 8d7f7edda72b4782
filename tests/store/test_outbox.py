"""Claiming outbox rows around organisations a sender is not taking, and handing claims back."""

from __future__ import annotations

from datetime import timedelta

from pique_engine.store import DeliveryStatus, NewOrg, Store

from ..databases import migrated_database_url, pg_url  # noqa: F401 - fixtures
from .test_store import JUDGE, T0, finished_job, org, store  # noqa: F401 - fixtures

LATER = T0 + timedelta(minutes=1)


def other_org(store: Store) -> NewOrg:
    new = store.create_org("Other", webhook_url="https://other.example.com/hook", now=T0)
    store.create_judge(new.org.id, JUDGE, now=T0)
    return new


def test_excluded_organisations_rows_stay_unclaimed_and_the_others_are_handed_out(store: Store, org: NewOrg) -> None:
    mine = [finished_job(store, org).id for _ in range(3)]
    theirs = finished_job(store, other_org(store)).id
    got = store.due_deliveries(LATER, limit=10, exclude_orgs={org.org.id})
    assert [d.id for d in got] == [theirs]
    # The excluded rows were not leased: anyone may claim them now.
    assert [d.id for d in store.due_deliveries(LATER, limit=10)] == mine


def test_released_claims_are_due_again_at_once(store: Store, org: NewOrg) -> None:
    ids = [finished_job(store, org).id for _ in range(2)]
    assert [d.id for d in store.due_deliveries(LATER, lease=timedelta(minutes=5))] == ids
    assert store.due_deliveries(LATER) == []
    assert store.release_deliveries(ids, LATER) == 2
    again = store.due_deliveries(LATER)
    assert [(d.id, d.next_attempt_at) for d in again] == [(i, LATER + timedelta(seconds=60)) for i in ids]


def test_release_leaves_finished_deliveries_alone(store: Store, org: NewOrg) -> None:
    done, waiting = finished_job(store, org).id, finished_job(store, org).id
    store.due_deliveries(LATER)
    store.record_delivery_attempt(done, status_code=200, final_status=DeliveryStatus.DELIVERED, now=LATER)
    assert store.release_deliveries([done, waiting], LATER) == 1
    assert store.get_delivery(done).status is DeliveryStatus.DELIVERED
    assert store.get_delivery(done).next_attempt_at is None
    assert store.release_deliveries([], LATER) == 0
