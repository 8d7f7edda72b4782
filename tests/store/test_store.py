"""The store's behaviour, on SQLite and on PostgreSQL (skipped locally when it is not running).

The fixtures `store` and `org` here are imported by the other `test_store_*` modules;
`migrated_database_url` and `pg_url` come from `tests/databases.py`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, text

from pique_engine.errors import JobStateError, JudgeNotFound, StoreError
from pique_engine.store import ClaimOutcome, DeliveryStatus, JobStatus, NewOrg, Store
from pique_engine.store.models import DeliveryRow

from ..databases import PG_URL, migrated_database_url, pg_url, postgres_problem  # noqa: F401 - fixtures

T0 = datetime(2026, 1, 15, 11, 15, tzinfo=UTC)
JUDGE = {
    "judge_id": "judge_reels",
    "name": "Reels",
    "criteria": [
        {"criterion_id": "specs", "detector": "video_specs", "weight": 2.0, "params": {"aspect_ratio": "9:16"}},
        {"criterion_id": "loud", "detector": "loudness", "params": {}},
    ],
}


@pytest.fixture
def store(migrated_database_url: str) -> Iterator[Store]:
    with Store.open(migrated_database_url) as s:
        yield s


@pytest.fixture
def org(store: Store) -> NewOrg:
    new = store.create_org("Acme", webhook_url="https://hooks.example.com/pique", now=T0)
    store.create_judge(new.org.id, JUDGE, now=T0)
    return new


def new_job(store: Store, org: NewOrg, **kw):
    args = {"judge_id": "judge_reels", "content_type": "video", "filename": "demo.mp4", "file_size_bytes": 1234}
    return store.create_job(org.org.id, **{**args, **kw})


def claim(store: Store, job, generation: int = 1, **kw):
    return store.claim_job(job.job_id, "uploads", job.object_name, generation, **kw)


# organisations and API keys ----------------------------------------------------------


def test_new_org_api_key_resolves_to_that_org(store: Store, org: NewOrg) -> None:
    assert org.api_key.startswith("pk_") and len(org.api_key) == 43
    assert org.webhook_secret.startswith("whsec_")
    found = store.org_for_api_key(org.api_key)
    assert found is not None
    assert (found.id, found.name, found.webhook_url) == (org.org.id, "Acme", "https://hooks.example.com/pique")
    assert found.webhook_secret == org.webhook_secret


def test_api_key_is_stored_only_as_prefix_and_sha256(store: Store, org: NewOrg) -> None:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["key_hash"] == hashlib.sha256(org.api_key.encode()).hexdigest()
    assert row["prefix"] == org.api_key[:12]
    assert all(org.api_key not in str(value) for value in row.values())


def test_revoked_api_key_stops_resolving_while_others_still_work(store: Store, org: NewOrg) -> None:
    second = store.create_api_key(org.org.id)
    first = next(k for k in store.list_api_keys(org.org.id) if k.id != second.key.id)

    assert store.revoke_api_key(first.id) is True
    assert store.revoke_api_key(first.id) is False  # already revoked
    assert store.org_for_api_key(org.api_key) is None
    resolved = store.org_for_api_key(second.plaintext)
    assert resolved is not None and resolved.id == org.org.id
    assert [k.active for k in store.list_api_keys(org.org.id) if k.id == first.id] == [False]


@pytest.mark.parametrize("bad", ["", "pk_", "pk_short", "not-a-key-at-all-really", "pk_" + "A" * 40])
def test_unknown_or_malformed_api_key_resolves_to_nothing(store: Store, org: NewOrg, bad: str) -> None:
    assert store.org_for_api_key(bad) is None


def test_key_with_right_prefix_but_wrong_rest_is_refused(store: Store, org: NewOrg) -> None:
    forged = org.api_key[:12] + "x" * (len(org.api_key) - 12)
    assert store.org_for_api_key(forged) is None


def test_rotated_secret_signs_alongside_the_old_one_until_the_overlap_ends(store: Store, org: NewOrg) -> None:
    new_secret = store.rotate_webhook_secret(org.org.id, overlap=timedelta(hours=1), now=T0)
    rotated = store.get_org(org.org.id)
    assert rotated is not None
    assert new_secret != org.webhook_secret
    assert rotated.signing_secrets(T0 + timedelta(minutes=59)) == (new_secret, org.webhook_secret)
    assert rotated.signing_secrets(T0 + timedelta(hours=1)) == (new_secret,)


def test_org_records_do_not_show_secrets_in_repr(org: NewOrg) -> None:
    assert org.api_key not in repr(org) and org.webhook_secret not in repr(org)


def test_unreachable_database_raises_store_error_saying_so() -> None:
    store = Store.open("postgresql+psycopg://postgres@127.0.0.1:1/test", migrate=False, connect_args={"connect_timeout": 2})
    with pytest.raises(StoreError, match="OperationalError.*check that the database is reachable"):
        store.get_org("org_x")
    store.close()


# judges ------------------------------------------------------------------------------


def test_judge_criteria_round_trip_exactly(store: Store, org: NewOrg) -> None:
    judge = store.get_judge(org.org.id, "judge_reels")
    assert judge.model_dump(mode="json") == {
        "judge_id": "judge_reels",
        "name": "Reels",
        "criteria": [
            {"criterion_id": "specs", "detector": "video_specs", "weight": 2.0, "params": {"aspect_ratio": "9:16"}},
            {"criterion_id": "loud", "detector": "loudness", "weight": 1.0, "params": {}},
        ],
    }
    assert [j.judge_id for j in store.list_judges(org.org.id)] == ["judge_reels"]


def test_judge_of_another_org_is_not_found_and_the_message_names_both(store: Store, org: NewOrg) -> None:
    other = store.create_org("Other")
    with pytest.raises(JudgeNotFound, match=f"judge 'judge_reels' not found for organisation '{other.org.id}'"):
        store.get_judge(other.org.id, "judge_reels")
    assert store.list_judges(other.org.id) == []


def test_creating_a_judge_twice_is_refused_unless_replacing(store: Store, org: NewOrg) -> None:
    changed = {**JUDGE, "name": "Reels v2"}
    with pytest.raises(StoreError, match="already exists"):
        store.create_judge(org.org.id, changed)
    store.create_judge(org.org.id, changed, replace=True)
    assert store.get_judge(org.org.id, "judge_reels").name == "Reels v2"


# jobs --------------------------------------------------------------------------------


def test_new_job_awaits_upload_at_its_object_name_for_15_minutes(store: Store, org: NewOrg) -> None:
    job = new_job(store, org, title="Demo", now=T0)
    assert job.job_id.startswith("job_") and len(job.job_id) == 20
    assert job.status is JobStatus.AWAITING_UPLOAD
    assert job.object_name == f"{org.org.id}/pending/{job.job_id}/demo.mp4"
    assert job.expires_at == T0 + timedelta(minutes=15)
    assert store.get_job(job.job_id) == job
    assert store.get_job(job.job_id, org_id="org_someone_else") is None


def test_times_come_back_utc_aware(store: Store, org: NewOrg) -> None:
    paris = timezone(timedelta(hours=1))
    job = new_job(store, org, now=datetime(2026, 1, 15, 14, 0, tzinfo=paris))
    stored = store.get_job(job.job_id)
    assert stored is not None
    assert stored.created_at.tzinfo is UTC and stored.created_at == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused(store: Store, org: NewOrg) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        new_job(store, org, now=datetime(2026, 1, 15, 13, 0))


def test_job_for_unknown_judge_raises_judge_not_found(store: Store, org: NewOrg) -> None:
    with pytest.raises(JudgeNotFound, match="judge 'judge_nope' not found"):
        new_job(store, org, judge_id="judge_nope")


def test_claim_binds_the_upload_moves_to_processing_and_counts_an_attempt(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    result = claim(store, job, generation=1700000000123456, lease=timedelta(minutes=5), now=T0)
    assert result.outcome is ClaimOutcome.CLAIMED and result.should_evaluate
    assert result.lease_token and len(result.lease_token) == 32
    claimed = result.job
    assert claimed is not None and claimed.status is JobStatus.PROCESSING
    assert (claimed.upload_bucket, claimed.upload_object, claimed.upload_generation) == (
        "uploads",
        job.object_name,
        1700000000123456,
    )
    assert claimed.attempts == 1
    assert claimed.lease_expires_at == T0 + timedelta(minutes=5)


def test_duplicate_notification_is_refused_while_processing_and_after_completion(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    first = claim(store, job, now=T0)
    again = claim(store, job, now=T0 + timedelta(seconds=5))
    assert again.outcome is ClaimOutcome.IN_PROGRESS
    assert (again.should_evaluate, again.retry_later, again.lease_token) == (False, True, None)

    store.complete_job(job.job_id, b"{}", evaluation_id="ev1", content_id="c1", lease_token=first.lease_token)
    late = claim(store, job, now=T0 + timedelta(hours=2))
    assert late.outcome is ClaimOutcome.DUPLICATE and not late.should_evaluate and not late.retry_later
    stored = store.get_job(job.job_id)
    assert stored is not None and stored.attempts == 1


def test_notification_for_another_generation_of_a_claimed_job_is_superseded(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    claim(store, job, generation=1)
    assert claim(store, job, generation=2).outcome is ClaimOutcome.SUPERSEDED


def test_claim_of_unknown_job_is_not_found(store: Store) -> None:
    result = store.claim_job("job_missing", "uploads", "org_x/pending/job_missing/a.mp4", 1)
    assert (result.outcome, result.job) == (ClaimOutcome.NOT_FOUND, None)


def test_lapsed_lease_is_reclaimed_and_the_old_worker_can_no_longer_finish(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    dead = claim(store, job, lease=timedelta(minutes=10), now=T0)
    early = claim(store, job, now=T0 + timedelta(minutes=9))
    assert early.outcome is ClaimOutcome.IN_PROGRESS

    second = claim(store, job, now=T0 + timedelta(minutes=10))
    assert second.outcome is ClaimOutcome.RECLAIMED and second.should_evaluate
    assert second.job is not None and second.job.attempts == 2
    assert second.lease_token != dead.lease_token

    with pytest.raises(JobStateError, match="leased to another worker"):
        store.complete_job(job.job_id, b"old", evaluation_id="ev-old", content_id="c", lease_token=dead.lease_token)
    store.complete_job(job.job_id, b"new", evaluation_id="ev-new", content_id="c", lease_token=second.lease_token)
    result = store.get_result(job.job_id)
    assert result is not None and result.payload == b"new"


def test_released_job_is_reclaimed_by_the_next_delivery_at_once(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    first = claim(store, job, now=T0)
    assert first.lease_token is not None
    assert store.release_job(job.job_id, "not-the-token", now=T0) is False
    assert store.release_job(job.job_id, first.lease_token, now=T0 + timedelta(seconds=1)) is True
    assert claim(store, job, now=T0 + timedelta(seconds=2)).outcome is ClaimOutcome.RECLAIMED


def test_record_attempt_counts_on_top_of_claims(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    claim(store, job)
    assert store.record_attempt(job.job_id) == 2
    assert store.record_attempt(job.job_id) == 3
    with pytest.raises(JobStateError, match="does not exist"):
        store.record_attempt("job_missing")


def test_complete_stores_result_finishes_job_and_queues_webhook_together(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    token = claim(store, job).lease_token
    payload = b'{"evaluation_id":"ev1","job_id":"%s","status":"completed"}' % job.job_id.encode()
    delivery = store.complete_job(job.job_id, payload, evaluation_id="ev1", content_id="c1", lease_token=token, now=T0)

    finished = store.get_job(job.job_id)
    assert finished is not None
    assert (finished.status, finished.lease_expires_at, finished.error) == (JobStatus.COMPLETED, None, None)
    result = store.get_result(job.job_id)
    assert result is not None
    assert (result.status, result.evaluation_id, result.content_id, result.payload) == (
        JobStatus.COMPLETED, "ev1", "c1", payload,
    )  # fmt: skip
    assert delivery is not None and delivery == store.delivery_for_job(job.job_id)
    assert (delivery.url, delivery.body, delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        "https://hooks.example.com/pique", payload, DeliveryStatus.PENDING, 0, T0,
    )  # fmt: skip
    assert delivery.event_id.startswith("evt_") and delivery.org_id == org.org.id


def test_fail_stores_failed_payload_error_and_queues_webhook(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    token = claim(store, job).lease_token
    payload = b'{"event":"evaluation.failed"}'
    delivery = store.fail_job(job.job_id, payload, "Failed to process video", lease_token=token)

    failed = store.get_job(job.job_id)
    assert failed is not None and (failed.status, failed.error) == (JobStatus.FAILED, "Failed to process video")
    result = store.get_result(job.job_id)
    assert result is not None and (result.status, result.evaluation_id, result.payload) == (
        JobStatus.FAILED, None, payload,
    )  # fmt: skip
    assert delivery is not None and delivery.body == payload


def test_a_job_that_never_got_claimed_can_still_be_failed(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    assert store.fail_job(job.job_id, b"{}", "poison message") is not None
    stored = store.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.FAILED
    with pytest.raises(JobStateError, match="is awaiting_upload, so it cannot become completed"):
        store.complete_job(new_job(store, org).job_id, b"{}", evaluation_id="e", content_id="c")


def test_second_result_for_a_finished_job_is_refused_and_the_first_kept(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    token = claim(store, job).lease_token
    first = store.complete_job(job.job_id, b"first", evaluation_id="ev1", content_id="c1", lease_token=token)
    with pytest.raises(JobStateError, match="is completed, so it cannot become failed"):
        store.fail_job(job.job_id, b"second", "late failure")
    with pytest.raises(JobStateError):
        store.complete_job(job.job_id, b"third", evaluation_id="ev3", content_id="c1")
    result = store.get_result(job.job_id)
    assert result is not None and result.payload == b"first"
    assert store.delivery_for_job(job.job_id) == first


def test_completion_is_all_or_nothing_when_the_outbox_insert_fails(store: Store, org: NewOrg) -> None:
    job = new_job(store, org)
    token = claim(store, job).lease_token
    stray = {"job_id": job.job_id, "org_id": org.org.id, "event_id": "evt_stray", "url": "https://x.example",
             "body": b"stray", "status": "stopped", "attempts": 0, "created_at": T0}  # fmt: skip
    with store.engine.begin() as conn:  # a stray outbox row makes the real insert violate uniqueness
        conn.execute(insert(DeliveryRow).values(stray))
    with pytest.raises(StoreError):
        store.complete_job(job.job_id, b"result", evaluation_id="ev1", content_id="c1", lease_token=token)

    after = store.get_job(job.job_id)
    assert after is not None and after.status is JobStatus.PROCESSING
    assert store.get_result(job.job_id) is None
    # and the worker can still finish once the problem is gone
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM webhook_deliveries WHERE event_id = 'evt_stray'"))
    assert store.complete_job(job.job_id, b"result", evaluation_id="ev1", content_id="c1", lease_token=token)


def test_per_job_webhook_url_overrides_the_org_url(store: Store, org: NewOrg) -> None:
    job = new_job(store, org, webhook_url="https://sandbox.example.com/hook")
    token = claim(store, job).lease_token
    delivery = store.complete_job(job.job_id, b"{}", evaluation_id="e", content_id="c", lease_token=token)
    assert delivery is not None and delivery.url == "https://sandbox.example.com/hook"


def test_without_any_webhook_url_the_result_is_stored_but_nothing_queued(store: Store) -> None:
    quiet = store.create_org("Quiet")
    store.create_judge(quiet.org.id, JUDGE)
    job = new_job(store, quiet)
    token = claim(store, job).lease_token
    assert store.complete_job(job.job_id, b"{}", evaluation_id="e", content_id="c", lease_token=token) is None
    assert store.get_result(job.job_id) is not None
    assert store.delivery_for_job(job.job_id) is None


def test_overdue_jobs_are_those_no_notification_settled(store: Store, org: NewOrg) -> None:
    waiting = new_job(store, org, now=T0)  # URL expires at T0 + 15 min
    fresh = new_job(store, org, now=T0 + timedelta(minutes=10))
    stuck = new_job(store, org, now=T0)
    claim(store, stuck, lease=timedelta(minutes=5), now=T0 + timedelta(minutes=1))  # lease ends at T0 + 6 min
    done = new_job(store, org, now=T0)
    store.complete_job(done.job_id, b"{}", evaluation_id="e", content_id="c",
                       lease_token=claim(store, done, now=T0).lease_token, now=T0)  # fmt: skip
    late = T0 + timedelta(minutes=20)

    def overdue(older_than_min: int) -> list[str]:
        return sorted(j.job_id for j in store.overdue_jobs(timedelta(minutes=older_than_min), now=late))

    assert overdue(10) == sorted([stuck.job_id])
    assert overdue(5) == sorted([waiting.job_id, stuck.job_id])
    assert overdue(0) == sorted([waiting.job_id, stuck.job_id])  # `fresh` expires at T0 + 25 min
    assert [j.job_id for j in store.overdue_jobs(timedelta(0), now=late, limit=1)] == [waiting.job_id]  # least recently updated first
    assert fresh.job_id not in overdue(0) and done.job_id not in overdue(0)


def test_expire_job_only_moves_a_job_still_awaiting_its_upload(store: Store, org: NewOrg) -> None:
    waiting, busy = new_job(store, org), new_job(store, org)
    claim(store, busy)
    assert store.expire_job(waiting.job_id) is True
    assert store.expire_job(waiting.job_id) is False
    assert store.expire_job(busy.job_id) is False
    assert [store.get_job(j.job_id).status for j in (waiting, busy)] == [JobStatus.EXPIRED, JobStatus.PROCESSING]  # type: ignore[union-attr]


def test_an_upload_that_lands_after_its_job_expired_is_still_evaluated(store: Store, org: NewOrg) -> None:
    # A PUT that began before the URL expired may finish after the sweep gave up on it.
    job = new_job(store, org)
    store.expire_job(job.job_id)
    result = claim(store, job, generation=7)
    assert result.outcome is ClaimOutcome.CLAIMED and result.job.status is JobStatus.PROCESSING
    assert claim(store, job, generation=7).outcome is ClaimOutcome.IN_PROGRESS


# outbox ------------------------------------------------------------------------------


def finished_job(store: Store, org: NewOrg, now: datetime = T0):
    job = new_job(store, org)
    token = claim(store, job, now=now).lease_token
    delivery = store.complete_job(job.job_id, b"{}", evaluation_id=uuid.uuid4().hex, content_id="c",
                                  lease_token=token, now=now)  # fmt: skip
    assert delivery is not None
    return delivery


def test_due_delivery_is_handed_out_once_then_hidden_for_its_lease(store: Store, org: NewOrg) -> None:
    delivery = finished_job(store, org)
    assert store.due_deliveries(T0 - timedelta(seconds=1)) == []
    got = store.due_deliveries(T0, lease=timedelta(seconds=60))
    assert [d.id for d in got] == [delivery.id]
    assert got[0].next_attempt_at == T0 + timedelta(seconds=60)
    assert store.due_deliveries(T0 + timedelta(seconds=59)) == []
    # the sender died without recording anything: the row comes back after the lease
    assert [d.id for d in store.due_deliveries(T0 + timedelta(seconds=60))] == [delivery.id]


def test_due_deliveries_come_oldest_first_up_to_the_limit(store: Store, org: NewOrg) -> None:
    ids = [finished_job(store, org, now=T0 + timedelta(seconds=i)).id for i in range(5)]
    assert [d.id for d in store.due_deliveries(T0 + timedelta(minutes=1), limit=3)] == ids[:3]
    assert [d.id for d in store.due_deliveries(T0 + timedelta(minutes=1), limit=3)] == ids[3:]


def test_failed_attempt_is_logged_and_schedules_the_retry(store: Store, org: NewOrg) -> None:
    delivery = finished_job(store, org)
    retry_at = T0 + timedelta(seconds=30)
    after = store.record_delivery_attempt(
        delivery.id, status_code=500, duration_ms=12, next_attempt_at=retry_at, now=T0
    )
    assert (after.status, after.attempts, after.next_attempt_at, after.last_error) == (
        DeliveryStatus.PENDING, 1, retry_at, "HTTP 500",
    )  # fmt: skip
    store.record_delivery_attempt(delivery.id, error="connection refused", next_attempt_at=retry_at, now=T0)
    attempts = store.delivery_attempts(delivery.id)
    assert [(a.attempt, a.status_code, a.error, a.duration_ms) for a in attempts] == [
        (1, 500, None, 12), (2, None, "connection refused", None),
    ]  # fmt: skip
    assert store.due_deliveries(retry_at - timedelta(seconds=1)) == []
    assert [d.id for d in store.due_deliveries(retry_at)] == [delivery.id]


@pytest.mark.parametrize(
    ("status_code", "final", "last_error"),
    [
        (200, DeliveryStatus.DELIVERED, None),
        (410, DeliveryStatus.STOPPED, "HTTP 410"),
        (503, DeliveryStatus.FAILED, "HTTP 503"),
    ],
)
def test_final_attempt_ends_the_delivery(store: Store, org: NewOrg, status_code, final, last_error) -> None:
    delivery = finished_job(store, org)
    after = store.record_delivery_attempt(delivery.id, status_code=status_code, final_status=final, now=T0)
    assert (after.status, after.next_attempt_at, after.last_error) == (final, None, last_error)
    assert after.delivered_at == (T0 if final is DeliveryStatus.DELIVERED else None)
    assert store.due_deliveries(T0 + timedelta(days=30)) == []


def test_late_attempt_from_a_lapsed_sender_does_not_reopen_a_delivered_webhook(store: Store, org: NewOrg) -> None:
    delivery = finished_job(store, org)
    store.record_delivery_attempt(delivery.id, status_code=200, final_status="delivered", now=T0)
    after = store.record_delivery_attempt(delivery.id, status_code=500, next_attempt_at=T0 + timedelta(minutes=1))
    assert (after.status, after.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(store.delivery_attempts(delivery.id)) == 2


def test_attempt_must_either_retry_or_finish(store: Store, org: NewOrg) -> None:
    delivery = finished_job(store, org)
    with pytest.raises(ValueError, match="exactly one"):
        store.record_delivery_attempt(delivery.id, status_code=500)
    with pytest.raises(ValueError, match="exactly one"):
        store.record_delivery_attempt(delivery.id, next_attempt_at=T0, final_status="failed")
    with pytest.raises(ValueError, match="delivered, failed or stopped"):
        store.record_delivery_attempt(delivery.id, final_status="pending")
    with pytest.raises(StoreError, match="does not exist"):
        store.record_delivery_attempt(987654, final_status="failed")
