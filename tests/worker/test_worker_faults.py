"""Faults around the worker, injected into the real stack: what happened to every job and webhook.

Each test breaks one thing (a plugin, the media, PostgreSQL, the Pub/Sub emulator,
fake-gcs-server, the webhook receiver), lets the fault clear, and checks that every job ends
`completed` or `failed` with its webhook delivered, and that the worker process survived.
Services a test breaks are its own (a private PostgreSQL, a private stack), so other tests
are not disturbed. Run with ``-s`` to see one summary line per test.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from pique_engine.dev.stack import start_local_stack
from pique_engine.webhooks.signature import verify
from pique_engine.store import DeliveryStatus, JobStatus, Store

from .. import hostile_media as hm
from .. import misbehaving_plugin as mp
from ..conftest import FIXTURES, ROOT
from ..private_services import PrivatePostgres, kill, pause, resume, revive
from ..receiver import Receiver
from ..stack import local_stack, require_stack_tools, stack_env, upload_signed  # noqa: F401 - fixtures
from ..worker_harness import FAST_RECOVERY, REELS, World, fresh_subscription, unsettled, wait_until, worker_env

pytestmark = pytest.mark.integration

SMALL = (FIXTURES / "media" / "phone_rotated_90.mp4").read_bytes()
FAST_RETRIES = {"PIQUE_WEBHOOK_RETRY_DELAYS": "1,1,1,1,1,1,1,1"}
# A webhook sent but not recorded (the worker killed, the database gone) goes out again when its
# send lease runs out: 10 s here (twice a 5 s timeout), not the default 60.
SHORT_SEND_LEASE = {"PIQUE_WEBHOOK_TIMEOUT_SEC": "5", "PIQUE_WEBHOOK_SEND_LEASE_SEC": "10"}


# -- a world per test -----------------------------------------------------------------------


def open_world(stack, database_url: str, tmp_path: Path, *, receiver: Receiver | None = None, subscription: str | None = None) -> World:
    store = Store.open(database_url)
    receiver = receiver or Receiver()
    org = store.create_org("Acme", webhook_url=receiver.url())
    store.create_judge(org.org.id, REELS)
    subscription = subscription or fresh_subscription(stack)
    return World(stack, store, org, receiver, worker_env(stack, database_url, subscription))


def close_world(w: World) -> None:
    w.stop_all()
    for p in w.workers:  # nothing left behind, even if a test failed half-way
        if p.poll() is None:
            p.kill()
            p.wait(10)
    w.receiver.stop()
    w.store.close()


@pytest.fixture
def world(stack_env, tmp_path):
    w = open_world(stack_env, f"sqlite:///{tmp_path / 'pique.db'}", tmp_path)
    yield w
    close_world(w)


def upload(w: World, data: bytes, filename: str = "clip.mp4", content_type: str = "video", judge_id: str = "judge_reels", mime: str = "video/mp4"):
    job = w.store.create_job(w.org.org.id, judge_id=judge_id, content_type=content_type, filename=filename, file_size_bytes=len(data))
    upload_signed(w.stack, job.object_name, data, mime)
    return job


def bodies_by_job(w: World) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in w.receiver.received:
        verify(r.body, r.headers["x-pique-signature"], [w.org.webhook_secret], tolerance_sec=3600)
        body = json.loads(r.body)
        out.setdefault(body["job_id"], []).append(body)
    return out


def outcomes(w: World) -> Counter:
    return Counter(line["outcome"] for line in w.log_lines() if "outcome" in line)


def finished(w: World, jobs) -> bool:
    """Every job completed or failed, and its webhook delivered."""
    for j in jobs:
        job = w.store.get_job(j.job_id)
        d = w.store.delivery_for_job(j.job_id)
        if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED) or d is None or d.status is not DeliveryStatus.DELIVERED:
            return False
    return True


def settle(w: World, jobs, timeout: float, what: str) -> None:
    try:
        wait_until(lambda: finished(w, jobs), timeout, what, interval=0.25)
    except AssertionError:
        states = Counter(w.store.get_job(j.job_id).status.value for j in jobs)
        raise AssertionError(f"{what}: jobs {dict(states)}; worker outcomes {dict(outcomes(w))}") from None


def summary(name: str, w: World, jobs) -> dict:
    statuses = Counter(w.store.get_job(j.job_id).status.value for j in jobs)
    attempts = sum(len(w.store.delivery_attempts(w.store.delivery_for_job(j.job_id).id)) for j in jobs)
    retries = sum(1 for line in w.log_lines() if line.get("message", "").startswith("database unavailable"))
    facts = {"jobs": len(jobs), **statuses, "webhook_requests": len(w.receiver.received), "delivery_attempts": attempts,
             "outcomes": dict(outcomes(w)), "store_retries": retries}
    print(f"\n{name}: {facts}")
    return facts


def assert_one_result_per_job(w: World, jobs) -> None:
    by_job = bodies_by_job(w)
    assert set(by_job) == {j.job_id for j in jobs}
    for job_id, bodies in by_job.items():  # resends carry the same result
        assert len({json.dumps(b, sort_keys=True) for b in bodies}) == 1, job_id


# -- misbehaving plugins through the real worker --------------------------------------------

# Each misbehaving criterion fails alone, naming its detector and the limit; the job completes.
EXPECTED = mp.expected_failures(detector_timeout_sec=3)


def test_misbehaving_detectors_fail_only_their_criteria_and_the_same_worker_carries_on(world, tmp_path):
    site = mp.install_entry_point(tmp_path / "site")
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "PIQUE_LOAD_PLUGINS": mp.ENTRY_POINT,
           "PIQUE_EVALUATION_TIMEOUT_SEC": "120", "PIQUE_DETECTOR_TIMEOUT_SEC": "3", "PIQUE_EVALUATION_MEMORY_MB": "512", "PIQUE_CONCURRENCY": "2"}
    worker = world.start_worker(log_dir=tmp_path, extra_env=env)
    jobs = {}
    for name in EXPECTED:
        world.store.create_judge(world.org.org.id, mp.judge_with(name))
        jobs[name] = upload(world, SMALL, f"{name}.mp4", judge_id=f"judge_{name}")
    settle(world, jobs.values(), 60, "every misbehaving job finished")
    healthy = upload(world, SMALL, "after.mp4")  # the next job, on the same worker
    settle(world, [healthy], 30, "the healthy job after them")
    facts = summary("misbehaving plugins", world, [*jobs.values(), healthy])

    assert worker.poll() is None, "the worker died"
    by_job = bodies_by_job(world)
    for name, message in EXPECTED.items():
        (body,) = by_job[jobs[name].job_id]
        assert body["status"] == "completed", (name, body)
        results = {r["criterion_id"]: r for r in body["results"]}
        assert results[f"bad_{name}"]["pass_check"] is False and results[f"bad_{name}"]["rationale"].startswith(message)
        assert results["specs_before"]["pass_check"] and results["specs_after"]["pass_check"]
    assert by_job[healthy.job_id][0]["status"] == "completed"
    assert facts["webhook_requests"] == len(EXPECTED) + 1  # one webhook per job, none twice

    # What the sandbox children log comes out as the worker's JSON lines, tagged with the job.
    lines = world.logs[0].read_text().splitlines()
    assert [line for line in lines if not line.startswith("{")] == []
    (raised,) = [json.loads(line) for line in lines if "KeyError: 'weights'" in line]
    # The message names the detector and the file; the traceback (with the exception) rides along.
    assert raised["job_id"] == jobs["raises"].job_id and raised["message"] == "detector 'raises' raised on raises.mp4"


# -- hostile media through the real worker --------------------------------------------------

WORKER_SAMPLE = (
    "zero_bytes",
    "truncated_50%_moov_at_end_320x240_25fps.mp4",
    "truncated_50%_contract_576x1024_30fps.mp4",
    "random_bytes_0",
    "wav_named_and_declared_as_mp4",
    "hls_disguised_as_mp4",
    "ffconcat_disguised_as_mp4",
    "image_claiming_png_100000x100000",
    "gif_5000_frames",
    "rf64_claiming_2tib",
    "mp4_100k_nested_boxes",
    "mp4_box_largesize_2_64",
)


def test_hostile_uploads_end_failed_or_failing_through_the_worker_and_nothing_is_fetched(world, tmp_path):
    loopback = hm.Loopback()
    try:
        cases = {c.name: c for c in hm.corpus(loopback.url)}
        world.store.create_judge(world.org.org.id, hm.HOSTILE_JUDGE)
        env = {"PIQUE_EVALUATION_TIMEOUT_SEC": "10", "PIQUE_EVALUATION_MEMORY_MB": "1024"}
        worker = world.start_worker(log_dir=tmp_path, extra_env=env)
        jobs = {name: upload(world, cases[name].data, cases[name].filename, cases[name].content_type, "judge_hostile", cases[name].mime)
                for name in WORKER_SAMPLE}
        settle(world, jobs.values(), 60, "every hostile job finished")
        healthy = upload(world, SMALL, "after.mp4")
        settle(world, [healthy], 30, "the healthy job after them")
        summary("hostile media", world, [*jobs.values(), healthy])
        assert worker.poll() is None
        by_job = bodies_by_job(world)
        for name, job in jobs.items():
            case = cases[name]
            (body,) = by_job[job.job_id]
            if case.outcome == "failed":
                assert body["status"] == "failed" and case.message in body["error"], (name, body)
            else:
                assert body["status"] == "completed", (name, body)
                assert any(case.message in r["rationale"] for r in body["results"] if not r["pass_check"]), (name, body)
        assert by_job[healthy.job_id][0]["status"] == "completed"
        assert loopback.requests == []
    finally:
        loopback.stop()


# -- PostgreSQL restarted mid-batch ---------------------------------------------------------


@pytest.fixture
def private_pg():
    pg = PrivatePostgres()
    yield pg
    pg.close()


def test_a_postgresql_restart_mid_batch_loses_nothing(stack_env, private_pg, tmp_path):
    w = open_world(stack_env, private_pg.url, tmp_path)
    try:
        w.start_worker(log_dir=tmp_path, extra_env={"PIQUE_CONCURRENCY": "2", **FAST_RETRIES, **SHORT_SEND_LEASE})
        jobs = [upload(w, SMALL, f"pg{i}.mp4") for i in range(12)]
        w.receiver.wait_for(2, timeout=30)
        private_pg.stop()  # every session ends; nothing answers for 8 s
        time.sleep(8)
        private_pg.start()
        settle(w, jobs, 60, "every job finished after the restart")
        facts = summary("postgresql restart", w, jobs)
        assert all(p.poll() is None for p in w.workers)
        assert facts.get("completed") == 12
        assert_one_result_per_job(w, jobs)
    finally:
        close_world(w)


# -- a worker killed mid-batch ----------------------------------------------------------------


def test_after_a_sigkill_mid_batch_a_restarted_worker_settles_every_job_without_waiting_for_redelivery(world, tmp_path):
    """The killed worker's claimed jobs are reclaimed when their lease runs out (it is no longer
    renewed), and uploads whose notifications it took are found at start, whether or not the
    emulator ever redelivers them. Upload windows are the default 15 minutes: the periodic
    sweep of expired URLs plays no part."""
    # No redelivery for 10 minutes.
    env = {"PIQUE_CONCURRENCY": "2", "PIQUE_ACK_EXTENSION_SEC": "600", **FAST_RECOVERY, **SHORT_SEND_LEASE}
    first = world.start_worker(log_dir=tmp_path, extra_env=env)
    jobs = [upload(world, SMALL, f"k{i}.mp4") for i in range(16)]
    world.receiver.wait_for(2, timeout=60)
    first.kill()
    first.wait(10)
    left = unsettled(world.store, [j.job_id for j in jobs])
    assert left, "the batch finished before the kill; the test proves nothing"
    restarted = time.monotonic()
    world.start_worker(log_dir=tmp_path, extra_env=env)
    wait_until(lambda: not unsettled(world.store, [j.job_id for j in jobs]), 120, "every job settled after the restart")
    took = time.monotonic() - restarted
    # Webhooks the killed worker's dispatcher had taken wait for their send lease to run out.
    settle(world, jobs, 120, "every webhook delivered after the restart")
    facts = summary("sigkill mid-batch", world, jobs)
    print(f"{len(left)} jobs unsettled at the kill, all settled {took:.1f} s after the restart")
    assert facts.get("completed") == 16
    assert_one_result_per_job(w=world, jobs=jobs)
    by_sweep = [line for line in world.log_lines(1) if line.get("source") == "sweep" and line.get("outcome") == "completed"]
    assert by_sweep, "nothing was recovered by the restarted worker itself"


# -- a private stack for the Pub/Sub emulator and fake-gcs-server faults ----------------------


@pytest.fixture
def private_stack(tmp_path, monkeypatch):
    require_stack_tools()
    stack = start_local_stack(tmp_path / "stack", "pique-faults", "uploads", "uploads-worker", "pique-faults-uploads")
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    yield stack
    for name in list(getattr(stack, "_stopped", {})):  # a server a failed test left paused or stopped
        revive(stack, name)
    stack.stop()


def test_a_pubsub_outage_mid_batch_loses_nothing(private_stack, tmp_path):
    w = open_world(private_stack, f"sqlite:///{tmp_path / 'pique.db'}", tmp_path)
    try:
        w.start_worker(log_dir=tmp_path, extra_env={"PIQUE_CONCURRENCY": "2"})
        jobs = [upload(w, SMALL, f"ps{i}.mp4") for i in range(10)]
        w.receiver.wait_for(2, timeout=30)
        pause(private_stack, "pubsub-emulator")  # unreachable: acks, pulls and lease extensions hang
        time.sleep(8)
        resume(private_stack, "pubsub-emulator")
        settle(w, jobs, 60, "every job finished after the outage")
        facts = summary("pubsub outage", w, jobs)
        assert all(p.poll() is None for p in w.workers)
        assert facts.get("completed") == 10
        assert_one_result_per_job(w, jobs)
    finally:
        close_world(w)


def test_after_a_pubsub_emulator_restart_the_worker_reconnects_and_evaluates_new_uploads(private_stack, tmp_path):
    """The emulator keeps nothing across a restart (real Pub/Sub does): topics, subscriptions and
    unacknowledged messages are gone and are recreated here, as an operator would."""
    from pique_engine.dev.stack import _create_pubsub_resources

    subscription = fresh_subscription(private_stack)
    w = open_world(private_stack, f"sqlite:///{tmp_path / 'pique.db'}", tmp_path, subscription=subscription)
    try:
        worker = w.start_worker(log_dir=tmp_path)
        before = [upload(w, SMALL, f"b{i}.mp4") for i in range(3)]
        settle(w, before, 30, "the jobs before the restart")
        kill(private_stack, "pubsub-emulator")
        time.sleep(3)
        revive(private_stack, "pubsub-emulator")
        _create_pubsub_resources(private_stack, 60, 5)
        sub = pubsub_v1.SubscriberClient()
        try:
            sub.create_subscription(request={"name": subscription, "topic": private_stack.topic_path, "ack_deadline_seconds": 10})
        finally:
            sub.close()
        after = [upload(w, SMALL, f"a{i}.mp4") for i in range(3)]
        settle(w, after, 60, "the jobs uploaded after the restart")
        summary("pubsub restart", w, before + after)
        assert worker.poll() is None
        assert_one_result_per_job(w, before + after)
    finally:
        close_world(w)


def test_fake_gcs_server_down_for_a_while_loses_nothing(private_stack, tmp_path):
    w = open_world(private_stack, f"sqlite:///{tmp_path / 'pique.db'}", tmp_path)
    try:
        jobs = [upload(w, SMALL, f"g{i}.mp4") for i in range(8)]  # notified; nobody has read them yet
        # fake-gcs-server publishes after answering the upload, and drops what it has not sent
        # when stopped (real GCS does not): wait for all eight notifications first.
        log = private_stack.workdir / "fake-gcs-server.log"
        wait_until(lambda: log.read_text().count("sent event OBJECT_FINALIZE") >= 8, 30, "eight notifications sent")
        kill(private_stack, "fake-gcs-server")
        w.start_worker(log_dir=tmp_path, extra_env={"PIQUE_CONCURRENCY": "2"})
        # Each failing read retries for 20 s (READ_RETRY) before it counts: leave a wide margin.
        wait_until(lambda: outcomes(w)["storage_unavailable"] >= 2, 120, "reads failing")
        time.sleep(10)
        revive(private_stack, "fake-gcs-server")  # same port, same objects on disk
        settle(w, jobs, 90, "every job finished after storage came back")
        facts = summary("fake-gcs-server outage", w, jobs)
        assert all(p.poll() is None for p in w.workers)
        assert facts.get("completed") == 8, facts
        assert facts["outcomes"]["storage_unavailable"] >= 2
        assert_one_result_per_job(w, jobs)
    finally:
        close_world(w)


# -- the webhook receiver -------------------------------------------------------------------


def test_a_receiver_slower_than_the_timeout_gets_every_webhook_once_it_is_quick_again(stack_env, tmp_path):
    receiver = Receiver(delay=2.5)
    w = open_world(stack_env, f"sqlite:///{tmp_path / 'pique.db'}", tmp_path, receiver=receiver)
    try:
        w.start_worker(log_dir=tmp_path, extra_env={"PIQUE_WEBHOOK_TIMEOUT_SEC": "1", **FAST_RETRIES})
        jobs = [upload(w, SMALL, f"s{i}.mp4") for i in range(3)]

        def attempts(job):
            d = w.store.delivery_for_job(job.job_id)
            return w.store.delivery_attempts(d.id) if d else []

        wait_until(lambda: all(len(attempts(j)) >= 2 for j in jobs), 40, "two timed-out attempts per job")
        receiver.delay = 0
        settle(w, jobs, 40, "every webhook delivered")
        facts = summary("slow receiver", w, jobs)
        for j in jobs:
            tries = attempts(j)
            assert all(t.error == "timed out after 1 s waiting for the response" for t in tries[:-1])
            assert tries[-1].status_code == 200
        # The receiver saw every timed-out attempt too: it must dedupe by event id / job_id.
        assert facts["webhook_requests"] == facts["delivery_attempts"]
        assert_one_result_per_job(w, jobs)
        event_ids = {r.headers["x-pique-event-id"] for r in receiver.received}
        assert len(event_ids) == 3
    finally:
        close_world(w)


def test_a_receiver_answering_410_stops_that_delivery_after_one_attempt(stack_env, tmp_path):
    receiver = Receiver(status=410)
    w = open_world(stack_env, f"sqlite:///{tmp_path / 'pique.db'}", tmp_path, receiver=receiver)
    try:
        w.start_worker(log_dir=tmp_path, extra_env=FAST_RETRIES)
        jobs = [upload(w, SMALL, f"g{i}.mp4") for i in range(3)]
        wait_until(lambda: all((d := w.store.delivery_for_job(j.job_id)) and d.status is DeliveryStatus.STOPPED for j in jobs),
                   40, "three stopped deliveries")
        receiver.status = 200
        time.sleep(3)  # longer than the retry schedule's delays: nothing more is sent
        print(f"\n410 receiver: {{'jobs': 3, 'completed': 3, 'webhook_requests': {len(receiver.received)}, 'delivery': 'stopped'}}")
        assert len(receiver.received) == 3
        for j in jobs:
            assert w.store.get_job(j.job_id).status is JobStatus.COMPLETED  # the result is kept for GET /v1/jobs
            (attempt,) = w.store.delivery_attempts(w.store.delivery_for_job(j.job_id).id)
            assert attempt.status_code == 410
    finally:
        close_world(w)


def test_a_webhook_redirect_to_a_private_address_is_never_followed(stack_env, tmp_path):
    target = Receiver()  # stands for the metadata server / an internal service
    receiver = Receiver(status=302, headers={"Location": target.url("/latest/meta-data/")})
    w = open_world(stack_env, f"sqlite:///{tmp_path / 'pique.db'}", tmp_path, receiver=receiver)
    try:
        w.start_worker(log_dir=tmp_path, extra_env=FAST_RETRIES)
        jobs = [upload(w, SMALL, f"r{i}.mp4") for i in range(2)]

        def attempts(job):
            d = w.store.delivery_for_job(job.job_id)
            return w.store.delivery_attempts(d.id) if d else []

        wait_until(lambda: all(len(attempts(j)) >= 2 for j in jobs), 40, "two redirected attempts per job")
        receiver.status = 200  # the customer fixes the URL's server
        settle(w, jobs, 40, "every webhook delivered")
        summary("redirecting receiver", w, jobs)
        assert target.received == []
        for j in jobs:
            tries = attempts(j)
            assert all(t.status_code == 302 and "not followed" in t.error for t in tries[:-1])
            assert tries[-1].status_code == 200
    finally:
        target.stop()
        close_world(w)
