"""The local stack runs both emulators behind the verifying front, wires uploads to
notifications, writes its throwaway key, and leaves nothing behind."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest
from google.cloud import pubsub_v1

from pique_engine.errors import LocalStackError
from pique_engine.dev.stack import start_local_stack
from pique_engine.worker.notifications import OBJECT_FINALIZE, parse_notification

from ..stack import (
    BUCKET,
    PROJECT,
    TOPIC,
    for_object,
    local_stack,  # noqa: F401
    pull_until,
    require_stack_tools,
    stack_env,  # noqa: F401
    unique_name,
    upload_signed,
)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_too_short_pubsub_names_are_refused_before_anything_starts(tmp_path):
    with pytest.raises(LocalStackError, match="at least 3 characters"):
        start_local_stack(tmp_path, "p", "up", "uploads-worker", "bucket")
    assert list(tmp_path.iterdir()) == []


def test_a_port_asked_for_that_is_taken_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalStackError, match=f"port {port} on 127.0.0.1 is in use: choose another --gcs-port"):
            start_local_stack(tmp_path / "stack", gcs_port=port, pubsub_emulator="/no/emulator", fake_gcs_server="/no/fake-gcs")
    assert not (tmp_path / "stack").exists()


def test_a_missing_emulator_binary_is_reported_by_path(tmp_path):
    with pytest.raises(LocalStackError, match="could not start pubsub-emulator .*/no/such/emulator"):
        start_local_stack(tmp_path, pubsub_emulator="/no/such/emulator", fake_gcs_server="/no/such/fake-gcs")


@pytest.mark.integration
def test_stack_serves_both_emulators_on_the_ports_in_its_env(local_stack):
    env = local_stack.env
    assert env["PUBSUB_EMULATOR_HOST"] == f"127.0.0.1:{local_stack.pubsub_port}"
    assert env["STORAGE_EMULATOR_HOST"] == f"http://127.0.0.1:{local_stack.gcs_port}"
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == str(local_stack.key_file)
    assert env["PIQUE_SUBSCRIPTION"] == f"projects/{PROJECT}/subscriptions/uploads-worker"
    assert env["PIQUE_BUCKET"] == BUCKET
    assert len({local_stack.pubsub_port, local_stack.gcs_port, local_stack.fake_gcs_port}) == 3
    assert answers(f"http://{env['PUBSUB_EMULATOR_HOST']}/")
    assert answers(f"{env['STORAGE_EMULATOR_HOST']}/storage/v1/b/{BUCKET}")
    assert set(local_stack.startup_seconds) == {"fake_gcs_server", "pubsub_emulator", "total"}


@pytest.mark.integration
def test_subscription_has_ack_deadline_and_dead_letter_policy(stack_env):
    subscriber = pubsub_v1.SubscriberClient()
    try:
        sub = subscriber.get_subscription(subscription=stack_env.subscription_path)
        dead = subscriber.get_subscription(subscription=stack_env.dead_letter_subscription_path)
    finally:
        subscriber.close()
    assert sub.topic == f"projects/{PROJECT}/topics/{TOPIC}"
    assert sub.ack_deadline_seconds == 60
    assert sub.dead_letter_policy.dead_letter_topic == f"projects/{PROJECT}/topics/{TOPIC}-dead-letter"
    assert sub.dead_letter_policy.max_delivery_attempts == 5
    assert dead.topic == sub.dead_letter_policy.dead_letter_topic


@pytest.mark.integration
def test_signed_put_upload_publishes_object_finalize_that_parses(stack_env):
    name = unique_name("safety_test_video.mp4")
    data = os.urandom(10_000)
    uploaded = upload_signed(stack_env, name, data, "video/mp4").json()

    received = pull_until(stack_env.subscription_path, for_object(name))
    note = parse_notification(received.message.attributes, received.message.data)

    assert note.event_type == OBJECT_FINALIZE
    assert note.payload_format == "JSON_API_V1"
    assert note.dedupe_key == (BUCKET, name, int(uploaded["generation"]))
    assert note.overwrote_generation is None
    assert note.size == 10_000
    assert note.content_type == "video/mp4"
    assert note.upload is not None
    assert (note.upload.org_id, note.upload.filename) == ("org_test", "safety_test_video.mp4")
    assert received.delivery_attempt == 1  # counted because the subscription has a dead-letter policy


@pytest.mark.integration
def test_overwrite_publishes_finalize_naming_the_overwritten_generation(stack_env):
    name = unique_name()
    first = int(upload_signed(stack_env, name, b"first").json()["generation"])
    second = int(upload_signed(stack_env, name, b"second upload").json()["generation"])

    received = pull_until(stack_env.subscription_path, for_object(name, second))
    note = parse_notification(received.message.attributes, received.message.data)

    assert second != first
    assert note.generation == second
    assert note.overwrote_generation == first
    assert note.size == len(b"second upload")


@pytest.mark.integration
def test_message_nacked_five_times_moves_to_the_dead_letter_subscription(stack_env):
    marker = uuid.uuid4().hex
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(stack_env.topic_path, b"poison", marker=marker).result(timeout=10)
    subscriber = pubsub_v1.SubscriberClient()
    attempts = []
    try:
        for _ in range(5):
            received = pull_until(
                stack_env.subscription_path, lambda m: m.message.attributes.get("marker") == marker, ack=False
            )
            attempts.append(received.delivery_attempt)
            subscriber.modify_ack_deadline(
                subscription=stack_env.subscription_path, ack_ids=[received.ack_id], ack_deadline_seconds=0
            )
        # The emulator moves a message to the dead-letter topic lazily, on the next pull after
        # its last allowed attempt; that pull does not deliver it a sixth time.
        sixth = subscriber.pull(subscription=stack_env.subscription_path, max_messages=50, timeout=2.0)
        for other in sixth.received_messages:
            subscriber.acknowledge(subscription=stack_env.subscription_path, ack_ids=[other.ack_id])
        dead = pull_until(
            stack_env.dead_letter_subscription_path, lambda m: m.message.attributes.get("marker") == marker
        )
    finally:
        subscriber.close()
    assert attempts == [1, 2, 3, 4, 5]
    assert not [m for m in sixth.received_messages if m.message.attributes.get("marker") == marker]
    assert dead.message.data == b"poison"


@pytest.mark.integration
def test_exiting_the_stack_stops_every_process_group_and_frees_ports(tmp_path):
    require_stack_tools()
    with start_local_stack(tmp_path, "pique-stop", "topic-stop", "sub-stop", "bucket-stop") as stack:
        groups = [server.process.pid for server in stack._servers]
        ports = (stack.pubsub_port, stack.gcs_port, stack.fake_gcs_port)
        assert len(groups) == 3
        assert stack.running()
    assert not stack.running()
    for pgid in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
    assert all(port_is_closed(port) for port in ports)
    assert {p.name for p in tmp_path.iterdir()} >= {"pubsub-emulator.log", "fake-gcs-server.log", "gcs-front.log", "gcs"}


def read_exports(process: subprocess.Popen, count: int, timeout: float) -> dict[str, str]:
    # A thread, not select(): readline() buffers lines that select() then no longer reports.
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    exports: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while len(exports) < count:
        line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        key, _, value = line.removeprefix("export ").strip().partition("=")
        exports[key] = value
    return exports


@pytest.mark.integration
def test_stack_command_serves_the_ports_asked_for_prints_exports_and_stops_cleanly_on_sigterm(tmp_path):
    require_stack_tools()
    pubsub_port, gcs_port = free_ports(2)
    process = subprocess.Popen(
        [sys.executable, "-m", "pique_engine", "stack", "--workdir", str(tmp_path), "--project", "pique-cli",
         "--pubsub-port", str(pubsub_port), "--gcs-port", str(gcs_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        exports = read_exports(process, 6, timeout=60)
        assert exports == {
            "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "service-account.json"),
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
            "GOOGLE_CLOUD_PROJECT": "pique-cli",
            "PIQUE_BUCKET": "pique-uploads",
            "PIQUE_SUBSCRIPTION": "projects/pique-cli/subscriptions/uploads-worker",
        }
        key = json.loads((tmp_path / "service-account.json").read_text())
        assert key["type"] == "service_account" and key["client_email"].endswith("@pique-cli.iam.gserviceaccount.com")
        assert stat.S_IMODE((tmp_path / "service-account.json").stat().st_mode) == 0o600
        assert answers(f"http://{exports['PUBSUB_EMULATOR_HOST']}/")
        assert answers(f"{exports['STORAGE_EMULATOR_HOST']}/storage/v1/b/pique-uploads")
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=30)
    assert returncode == 0, process.stderr.read()
    assert port_is_closed(pubsub_port) and port_is_closed(gcs_port)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
