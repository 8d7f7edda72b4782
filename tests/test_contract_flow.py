"""The contract's flow as a client follows it, changing only the host.

Twice: against `pique-engine dev` (nothing but one process), and against `pique-engine api`
+ `pique-engine worker` on the local stack (Pub/Sub emulator, fake-gcs-server behind the
front that verifies signed uploads as GCS does), configured only by the stack's `export`
lines. Each ends with a webhook whose signature verifies and which carries the uploaded
fixture's specs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pique_engine.webhooks.signature import verify

from .conftest import FIXTURES
from .receiver import Receiver
from .stack import local_stack, stack_env  # noqa: F401 - fixtures
from .worker_harness import fresh_subscription, wait_until, worker_env

pytestmark = pytest.mark.integration

VIDEO = FIXTURES / "media" / "contract_576x1024_30fps.mp4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict[str, str]) -> dict:
    r = subprocess.run([sys.executable, "-m", "pique_engine", *args], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def serve(args: list[str], env: dict[str, str], log: Path, base: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "pique_engine", *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _up(base), 30, f"{base}/healthz")
    except AssertionError:
        proc.kill()
        raise AssertionError(log.read_text()) from None
    return proc


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def follow_the_contract(base: str, api_key: str, judge_id: str, before_upload=None, after_upload=None) -> str:
    """The contract's two curl commands: create the job, then PUT the file with the headers."""
    data = VIDEO.read_bytes()
    body = create_job(base, api_key, judge_id, data)
    if before_upload:
        before_upload(body, data)
    put = httpx.put(body["upload_url"], headers=body["upload_headers"], content=data, timeout=30)
    assert put.status_code == 200, put.text
    if after_upload:
        after_upload(body, data)
    return body["job_id"]


def create_job(base: str, api_key: str, judge_id: str, data: bytes) -> dict:
    created = httpx.post(
        f"{base}/v1/evaluations/presigned-upload",
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
        json={"judge_id": judge_id, "content_type": "video", "filename": "safety_test_video.mp4",
              "file_size_bytes": len(data), "title": "Product Demo Video", "description": "Marketing video for new product launch"},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == {"job_id", "upload_url", "upload_headers", "expires_at"}
    assert body["upload_headers"]["Content-Type"] == "video/mp4"
    return body


def storage_refuses_what_gcs_refuses(body: dict, data: bytes) -> None:
    """The stack answers a client's header or size mistake with GCS's status and error code."""

    def refused(headers: dict[str, str], content: bytes) -> tuple[int, str]:
        r = httpx.put(body["upload_url"], headers=headers, content=content, timeout=30)
        return r.status_code, r.text.partition("<Code>")[2].partition("</Code>")[0]

    headers = body["upload_headers"]
    assert refused({**headers, "Content-Type": "application/octet-stream"}, data) == (403, "SignatureDoesNotMatch")
    assert refused({k: v for k, v in headers.items() if k != "x-goog-content-length-range"}, data) == (403, "SignatureDoesNotMatch")
    assert refused(headers, data[:-1]) == (400, "EntityTooSmall")
    assert refused(headers, data + b"\0") == (400, "EntityTooLarge")
    forged = body["upload_url"][:-1] + ("0" if body["upload_url"][-1] != "0" else "1")
    assert httpx.put(forged, headers=headers, content=data, timeout=30).status_code == 403


def storage_refuses_a_second_upload(body: dict, data: bytes) -> None:
    r = httpx.put(body["upload_url"], headers=body["upload_headers"], content=data, timeout=30)
    assert (r.status_code, r.text.partition("<Code>")[2].partition("</Code>")[0]) == (412, "PreconditionFailed")


def assert_contract_webhook(received, secret: str, job_id: str) -> None:
    verify(received.body, received.headers["x-pique-signature"], [secret])
    payload = json.loads(received.body)
    assert (payload["job_id"], payload["status"]) == (job_id, "completed")
    specs = payload["results"][0]["metrics"]["video_specs"]
    assert (specs["width"], specs["height"], specs["aspect_ratio"], specs["fps"], specs["audio_sample_rate"]) == (576, 1024, "9:16", 30, 44100)


def test_contract_flow_against_pique_engine_dev(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIQUE_")}
    env["PIQUE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'dev.db'}"
    env["PIQUE_LOAD_PLUGINS"] = ""
    dev = serve(["dev", "--port", str(port), "--data-dir", str(tmp_path / "data")], env, tmp_path / "dev.log", base)
    receiver = Receiver()
    try:
        # The demo organisation's webhooks are verified and printed by the dev server itself.
        demo = json.loads((tmp_path / "data" / "demo.json").read_text())
        demo_job = follow_the_contract(base, demo["api_key"], demo["judge_id"])
        wait_until(lambda: f'"job_id": "{demo_job}"' in (tmp_path / "dev.log").read_text(), 30, "the demo webhook")
        assert "webhook received, signature verified" in (tmp_path / "dev.log").read_text()
        # The admin CLI works against the same database: a second organisation with its own receiver.
        admin_env = {**env, "PIQUE_WEBHOOK_ALLOW_PRIVATE": "true"}
        org = cli("orgs", "create", "--name", "Acme", "--webhook-url", receiver.url(), env=admin_env)
        judge = cli("judges", "create", "--org", org["org_id"], "--file", str(FIXTURES / "judges" / "reels.json"), env=admin_env)
        job_id = follow_the_contract(base, org["api_key"], judge["judge_id"])
        (got,) = receiver.wait_for(1)
        assert_contract_webhook(got, org["webhook_secret"], job_id)
        status = httpx.get(f"{base}/v1/evaluations/{job_id}", headers={"X-API-Key": org["api_key"]}).json()
        assert status["status"] == "completed" and status["result"] == json.loads(got.body)
    finally:
        dev.terminate()
        dev.wait(15)
        receiver.stop()


def test_contract_flow_against_api_and_worker_on_the_emulators(stack_env, tmp_path):
    # The stack's export lines (its throwaway key among them) are all api and worker need.
    env = worker_env(stack_env, f"sqlite:///{tmp_path / 'pique.db'}", fresh_subscription(stack_env))
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == str(stack_env.key_file)
    receiver = Receiver()
    org = cli("orgs", "create", "--name", "Acme", "--webhook-url", receiver.url(), env=env)
    judge = cli("judges", "create", "--org", org["org_id"], "--file", str(FIXTURES / "judges" / "reels.json"), env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = serve(["api", "--port", str(port)], env, tmp_path / "api.log", base)
    worker = subprocess.Popen([sys.executable, "-m", "pique_engine", "worker", "--max-messages", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("wb"))  # fmt: skip
    try:
        job_id = follow_the_contract(base, org["api_key"], judge["judge_id"], before_upload=storage_refuses_what_gcs_refuses,
                                     after_upload=storage_refuses_a_second_upload)  # fmt: skip
        assert worker.wait(60) == 0, (tmp_path / "worker.log").read_text()
        (got,) = receiver.wait_for(1)
        assert_contract_webhook(got, org["webhook_secret"], job_id)
    finally:
        for p in (api, worker):
            if p.poll() is None:
                p.terminate()
                p.wait(15)
        receiver.stop()
