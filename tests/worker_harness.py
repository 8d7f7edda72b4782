"""Running `pique-engine worker` processes against the real stack, for the worker's tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from google.cloud import pubsub_v1

from pique_engine.dev.stack import LocalStack
from pique_engine.store import JobStatus, NewOrg, Store

from .receiver import Receiver

REELS = {
    "judge_id": "judge_reels",
    "name": "Reels",
    "criteria": [{"criterion_id": "specs", "detector": "video_specs", "params": {"aspect_ratio": "9:16", "min_fps": 29}}],
}


def fresh_subscription(stack: LocalStack, *, ack_deadline: int = 10, max_attempts: int = 5) -> str:
    """A new subscription on the uploads topic: it sees only what is published from now on.

    No retry policy: with one, the emulator never redelivers a message whose deadline expired.
    """
    path = f"projects/{stack.project}/subscriptions/worker-{uuid.uuid4().hex[:10]}"
    sub = pubsub_v1.SubscriberClient()
    try:
        sub.create_subscription(
            request={
                "name": path,
                "topic": stack.topic_path,
                "ack_deadline_seconds": ack_deadline,
                "dead_letter_policy": {"dead_letter_topic": stack.dead_letter_topic_path, "max_delivery_attempts": max_attempts},
            }
        )
    finally:
        sub.close()
    return path


@dataclass
class World:
    """One organisation with a judge and a live webhook receiver, and the env for workers."""

    stack: LocalStack
    store: Store
    org: NewOrg
    receiver: Receiver
    env: dict[str, str]
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start_worker(self, *args: str, extra_env: dict[str, str] | None = None, log_dir: Path) -> subprocess.Popen:
        log = log_dir / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pique_engine", "--log-level", "INFO", "worker", *args],
            env={**self.env, **(extra_env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        self.workers.append(proc)
        return proc

    def log_lines(self, index: int | None = None) -> list[dict]:
        """The JSON log lines of one worker (or all of them)."""
        paths = self.logs if index is None else [self.logs[index]]
        out = []
        for path in paths:
            for line in path.read_text().splitlines():
                if line.startswith("{"):
                    out.append(json.loads(line))
        return out

    def stop_all(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


# A worker's recovery settings made short, so that a test or benchmark of a killed worker
# does not wait out production's lease and sweep interval.
FAST_RECOVERY = {"PIQUE_JOB_LEASE_SEC": "10", "PIQUE_SWEEP_INTERVAL_SEC": "2"}


def unsettled(store: Store, job_ids) -> list[str]:
    """The jobs of `job_ids` not yet completed or failed."""
    return [j for j in job_ids if store.get_job(j).status not in (JobStatus.COMPLETED, JobStatus.FAILED)]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def worker_env(stack: LocalStack, database_url: str, subscription: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIQUE_")}
    env.update(stack.env)
    env.update(
        {
            "PIQUE_DATABASE_URL": database_url,
            "PIQUE_SUBSCRIPTION": subscription,
            "PIQUE_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver listens on loopback
            "PIQUE_LOAD_PLUGINS": "",
            "PIQUE_LOG_FORMAT": "json",
            # A worker that stops hands its messages back after this long; the emulator also
            # routes new messages to a closed stream until then, so keep it short in tests.
            "PIQUE_ACK_EXTENSION_SEC": "10",
        }
    )
    return env
