"""The worker end to end: signed-URL upload → OBJECT_FINALIZE → worker → verified webhook.

Everything is real: the Pub/Sub emulator, fake-gcs-server publishing notifications, the
database (SQLite and PostgreSQL), worker processes, and an HTTP receiver on loopback.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from google.cloud import pubsub_v1

from pique_engine.storage.gcs import find_object, storage_client
from pique_engine.webhooks.signature import verify
from pique_engine.store import DeliveryStatus, JobStatus, Store

from ..conftest import FIXTURES
from ..databases import database_url, pg_url  # noqa: F401 - fixtures
from ..receiver import Receiver
from ..stack import for_object, local_stack, pull_until, stack_env, upload_signed  # noqa: F401 - fixtures
from ..worker_harness import FAST_RECOVERY, REELS, World, fresh_subscription, wait_until, worker_env

pytestmark = pytest.mark.integration

MEDIA = FIXTURES / "media"
CONTRACT = (MEDIA / "contract_576x1024_30fps.mp4").read_bytes()
SMALL = (MEDIA / "phone_rotated_90.mp4").read_bytes()


@pytest.fixture
def world(stack_env, database_url, tmp_path):
    store = Store.open(database_url)
    receiver = Receiver()
    org = store.create_org("Acme", webhook_url=receiver.url())
    store.create_judge(org.org.id, REELS)
    subscription = fresh_subscription(stack_env)
    w = World(stack_env, store, org, receiver, worker_env(stack_env, database_url, subscription))
    yield w
    w.stop_all()
    receiver.stop()
    store.close()


def new_upload(w: World, data: bytes, filename: str = "clip.mp4", content_type: str = "video", **job_args):
    job = w.store.create_job(w.org.org.id, judge_id="judge_reels", content_type=content_type, filename=filename,
                             file_size_bytes=len(data), **job_args)  # fmt: skip
    upload_signed(w.stack, job.object_name, data, "video/mp4")
    return job


def verified(w: World, received) -> dict:
    verify(received.body, received.headers["x-pique-signature"], [w.org.webhook_secret])
    return json.loads(received.body)


def test_upload_is_evaluated_and_a_verified_webhook_carries_the_specs(world, tmp_path):
    job = new_upload(world, CONTRACT, "contract.mp4")
    proc = world.start_worker("--max-messages", "1", log_dir=tmp_path)
    assert proc.wait(60) == 0
    (got,) = world.receiver.wait_for(1)
    body = verified(world, got)
    assert (body["job_id"], body["status"], body["judge_id"]) == (job.job_id, "completed", "judge_reels")
    specs = body["results"][0]["metrics"]["video_specs"]
    assert (specs["width"], specs["height"], specs["aspect_ratio"], specs["fps"], specs["audio_sample_rate"]) == (576, 1024, "9:16", 30, 44100)
    assert specs["duration_sec"] == pytest.approx(38.03, abs=0.01)
    assert got.headers["x-pique-event-id"].startswith("evt_")
    assert got.headers["content-type"] == "application/json"
    assert world.store.get_job(job.job_id).status is JobStatus.COMPLETED
    assert world.store.get_result(job.job_id).payload == got.body


def test_a_broken_upload_ends_failed_with_an_evaluation_failed_webhook(world, tmp_path):
    job = new_upload(world, (MEDIA / "truncated_moov_missing.mp4").read_bytes())
    assert world.start_worker("--max-messages", "1", log_dir=tmp_path).wait(60) == 0
    (got,) = world.receiver.wait_for(1)
    body = verified(world, got)
    assert (body["event"], body["status"], body["job_id"]) == ("evaluation.failed", "failed", job.job_id)
    assert "is it complete and undamaged" in body["error"]
    assert world.store.get_job(job.job_id).status is JobStatus.FAILED


def test_an_upload_of_another_size_than_declared_fails_saying_so(world, tmp_path):
    job = world.store.create_job(world.org.org.id, judge_id="judge_reels", content_type="video", filename="c.mp4", file_size_bytes=100)
    upload_signed(world.stack, job.object_name, SMALL, "video/mp4")  # signed for SMALL's real size: the worker must compare it with the declared 100
    assert world.start_worker("--max-messages", "1", log_dir=tmp_path).wait(60) == 0
    body = verified(world, world.receiver.wait_for(1)[0])
    assert body["error"] == f"the upload is {len(SMALL):,} bytes but 100 were declared; create a new job with the file's real size"


def test_duplicates_foreign_objects_and_poison_messages_are_acknowledged_without_a_second_webhook(world, tmp_path):
    # One long-running worker: the emulator keeps routing to a closed stream for a while, so
    # a second worker started later would only see these messages after a delay.
    world.start_worker(log_dir=tmp_path)
    job = new_upload(world, SMALL)
    world.receiver.wait_for(1)
    gen = world.store.get_job(job.job_id).upload_generation
    publisher = pubsub_v1.PublisherClient()
    # the same notification again, as at-least-once delivery may repeat it
    attrs = {"eventType": "OBJECT_FINALIZE", "bucketId": world.stack.bucket, "objectId": job.object_name,
             "objectGeneration": str(gen), "payloadFormat": "JSON_API_V1"}
    data = json.dumps({"bucket": world.stack.bucket, "name": job.object_name, "generation": str(gen), "size": str(len(SMALL))}).encode()
    publisher.publish(world.stack.topic_path, data, **attrs).result()
    upload_signed(world.stack, "somewhere/else/notes.txt", b"not an upload", "text/plain")
    publisher.publish(world.stack.topic_path, b"\x00garbage").result()
    publisher.publish(world.stack.topic_path, b"{}", eventType="OBJECT_DELETE", bucketId=world.stack.bucket,
                      objectId=job.object_name, objectGeneration=str(gen)).result()

    def outcomes():
        return Counter(line["outcome"] for line in world.log_lines(0) if "outcome" in line)

    wait_until(lambda: sum(outcomes().values()) >= 5, 60, "five handled messages")
    world.stop_all()
    assert outcomes() == Counter({"completed": 1, "duplicate": 1, "ignored": 2, "unreadable": 1})
    assert len(world.receiver.received) == 1


def test_two_workers_share_fifty_uploads_and_no_job_is_evaluated_twice(world, tmp_path):
    for i in (0, 1):
        world.start_worker(log_dir=tmp_path, extra_env={"PIQUE_CONCURRENCY": "2"})
    jobs = [new_upload(world, SMALL, f"clip{i}.mp4") for i in range(50)]
    received = world.receiver.wait_for(50, timeout=120)
    world.stop_all()
    assert [p.returncode for p in world.workers] == [0, 0]
    job_ids = [json.loads(r.body)["job_id"] for r in received]
    assert sorted(job_ids) == sorted(j.job_id for j in jobs)  # 50 webhooks, one per job
    evaluated = Counter(line["job_id"] for line in world.log_lines() if line.get("outcome") == "completed")
    assert len(evaluated) == 50 and set(evaluated.values()) == {1}
    per_worker = [sum(1 for line in world.log_lines(i) if line.get("outcome") == "completed") for i in (0, 1)]
    assert sum(per_worker) == 50
    assert all(world.store.get_job(j.job_id).status is JobStatus.COMPLETED for j in jobs)


def test_a_worker_killed_mid_batch_loses_nothing(world, tmp_path):
    # The killed worker's messages come back when their deadline passes, usually after 10-40 s.
    # Should the emulator strand some (docs/operators.md, "Local development"), the restarted
    # worker's recovery settles those jobs; leases and sweeps are short here.
    env = {"PIQUE_CONCURRENCY": "1", "PIQUE_EVALUATION_TIMEOUT_SEC": "5", "PIQUE_SWEEP_AFTER_SEC": "5", **FAST_RECOVERY}
    first = world.start_worker(log_dir=tmp_path, extra_env=env)
    jobs = [new_upload(world, SMALL, f"k{i}.mp4", upload_ttl=timedelta(seconds=30)) for i in range(20)]
    world.receiver.wait_for(3, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    done_before = len({json.loads(r.body)["job_id"] for r in world.receiver.received})
    assert done_before < 20, "the batch finished before the kill; the test proves nothing"
    world.start_worker(log_dir=tmp_path, extra_env=env)
    wait_until(lambda: len({json.loads(r.body)["job_id"] for r in world.receiver.received}) == 20, 120, "all 20 webhooks")
    by_job: dict[str, set[bytes]] = {}
    for r in world.receiver.received:
        by_job.setdefault(json.loads(r.body)["job_id"], set()).add(r.body)
    assert set(by_job) == {j.job_id for j in jobs}
    assert all(len(bodies) == 1 for bodies in by_job.values())  # a resend is the same result
    assert all(world.store.get_job(j.job_id).status is JobStatus.COMPLETED for j in jobs)


def test_the_sweep_evaluates_an_upload_whose_notification_never_arrived_and_expires_one_never_made(world, tmp_path):
    lost = new_upload(world, SMALL, "lost.mp4", upload_ttl=timedelta(0))
    unused = world.store.create_job(world.org.org.id, judge_id="judge_reels", content_type="video", filename="never.mp4",
                                    file_size_bytes=10, upload_ttl=timedelta(0))  # fmt: skip
    # A subscription made after the upload's notification was published never sees it. The
    # front and fake-gcs-server publish after answering the PUT, so wait for the notification
    # on the stack's own subscription first, or a busy machine may publish it after the
    # fresh subscription exists.
    pull_until(world.stack.subscription_path, for_object(lost.object_name), timeout=120)
    env = {"PIQUE_SUBSCRIPTION": fresh_subscription(world.stack), "PIQUE_SWEEP_AFTER_SEC": "1", "PIQUE_SWEEP_INTERVAL_SEC": "1"}
    world.start_worker(log_dir=tmp_path, extra_env=env)
    (got,) = world.receiver.wait_for(1, timeout=60)
    body = verified(world, got)
    assert (body["job_id"], body["status"]) == (lost.job_id, "completed")
    wait_until(lambda: world.store.get_job(unused.job_id).status is JobStatus.EXPIRED, 30, "the unused job to expire")
    world.stop_all()
    swept = [line for line in world.log_lines(0) if line.get("source") == "sweep" and "outcome" in line]
    assert [(line["job_id"], line["outcome"]) for line in swept] == [(lost.job_id, "completed")]
    generation, size = find_object(storage_client(world.stack.project).bucket(world.stack.bucket), lost.object_name)
    assert (world.store.get_job(lost.job_id).upload_generation, size) == (generation, len(SMALL))
    assert len(world.receiver.received) == 1


def test_two_workers_sweeping_the_same_lost_uploads_evaluate_each_once(world, tmp_path):
    lost = [new_upload(world, SMALL, f"lost{i}.mp4", upload_ttl=timedelta(0)) for i in range(12)]
    env = {"PIQUE_SUBSCRIPTION": fresh_subscription(world.stack), "PIQUE_SWEEP_AFTER_SEC": "1", "PIQUE_SWEEP_INTERVAL_SEC": "1"}
    for _ in range(2):
        world.start_worker(log_dir=tmp_path, extra_env=env)
    received = world.receiver.wait_for(12, timeout=90)
    time.sleep(3)  # a few more sweeps by both, which must find nothing left to do
    world.stop_all()
    assert sorted(json.loads(r.body)["job_id"] for r in received) == sorted(j.job_id for j in lost)
    assert len(world.receiver.received) == 12
    evaluated = Counter(line["job_id"] for line in world.log_lines() if line.get("outcome") == "completed")
    assert evaluated == Counter({j.job_id: 1 for j in lost})


@pytest.mark.parametrize("outage", ["500", "down"])
def test_webhooks_arrive_after_the_receiver_recovers_and_attempts_follow_the_schedule(world, tmp_path, outage):
    port = world.receiver.port
    if outage == "500":
        world.receiver.status = 500
    else:
        world.receiver.stop()
    delays = [0, 1, 2, 8, 8]
    env = {"PIQUE_WEBHOOK_RETRY_DELAYS": ",".join(map(str, delays))}
    world.start_worker(log_dir=tmp_path, extra_env=env)
    jobs = [new_upload(world, SMALL, f"r{i}.mp4") for i in range(3)]

    def attempts(job_id):
        d = world.store.delivery_for_job(job_id)
        return world.store.delivery_attempts(d.id) if d else []

    wait_until(lambda: all(len(attempts(j.job_id)) >= 3 for j in jobs), 60, "three failed attempts per job")
    if outage == "500":
        world.receiver.status = 200
    else:
        world.receiver = Receiver(port=port)
    wait_until(lambda: all(world.store.delivery_for_job(j.job_id).status is DeliveryStatus.DELIVERED for j in jobs), 90, "deliveries")
    for j in jobs:
        tries = attempts(j.job_id)
        gaps = [(b.at - a.at).total_seconds() for a, b in zip(tries, tries[1:])]
        for gap, scheduled in zip(gaps, delays):  # ±20% jitter, plus the dispatcher's 1 s poll
            assert 0.8 * scheduled - 0.1 <= gap <= 1.2 * scheduled + 1.5, (gaps, delays)
        assert 4 <= len(tries) <= 5 and tries[-1].status_code == 200
        assert all(t.status_code == (500 if outage == "500" else None) for t in tries[:-1])
    assert {j.job_id for j in jobs} <= {json.loads(r.body)["job_id"] for r in world.receiver.received}


def test_health_ready_and_metrics_are_served(world, tmp_path):
    from socket import socket

    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    world.start_worker("--metrics-port", str(port), log_dir=tmp_path)
    new_upload(world, SMALL)
    world.receiver.wait_for(1)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz").status_code == 200
    wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, 10, "ready")
    metrics = httpx.get(f"{base}/metrics").text
    assert 'pique_evaluations_total{status="completed"} 1.0' in metrics
    assert "pique_detector_seconds_bucket" in metrics
    wait_until(lambda: 'pique_webhook_attempts_total{outcome="delivered"} 1.0' in httpx.get(f"{base}/metrics").text, 10, "delivered metric")


def test_an_upload_that_cannot_be_read_ends_failed_once_its_attempts_run_out(world, tmp_path):
    job = new_upload(world, SMALL)
    # Storage unreachable for this worker: every attempt is a transient failure.
    env = {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:9", "PIQUE_MAX_DELIVERY_ATTEMPTS": "2"}
    world.start_worker(log_dir=tmp_path, extra_env=env)
    (got,) = world.receiver.wait_for(1, timeout=150)
    body = verified(world, got)
    assert (body["event"], body["job_id"]) == ("evaluation.failed", job.job_id)
    assert body["error"].startswith("the upload could not be read after 2 attempts:")
    outcomes = [line["outcome"] for line in world.log_lines() if line.get("job_id") == job.job_id and "outcome" in line]
    assert outcomes == ["storage_unavailable", "failed"]
