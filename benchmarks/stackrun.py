"""The local stack, a store, a verifying webhook receiver and worker processes, for the worker benchmarks.

Everything listens on 127.0.0.1. Workers are real `pique-engine worker` processes reading a
fresh subscription of the stack's uploads topic.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REELS = {
    "judge_id": "judge_reels",
    "name": "Reels (header-only)",
    "criteria": [{"criterion_id": "specs", "detector": "video_specs", "params": {"min_fps": 24}}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Webhooks:
    """A receiver that verifies every signature (`pique_engine.webhooks.receiver`) and notes arrival times."""

    secrets: list[str] = field(default_factory=list)  # filled once the organisation exists
    arrivals: dict[str, float] = field(default_factory=dict)  # job_id -> time.time() of the verified webhook
    rejected: int = 0

    def __post_init__(self) -> None:
        from pique_engine.webhooks.receiver import make_listener

        self._lock = threading.Lock()
        self.server = make_listener("127.0.0.1", 0, self.secrets, self._line)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _line(self, line: str) -> None:
        now = time.time()
        with self._lock:
            if line.startswith("VERIFIED") and (m := re.search(r"job=(\S+) status=(\S+)", line)):
                self.arrivals.setdefault(m.group(1), now)
            elif line.startswith("REJECTED"):
                self.rejected += 1

    def wait_for(self, job_ids: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if job_ids <= self.arrivals.keys():
                    return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fresh_subscription(stack, ack_deadline: int = 30) -> str:
    from google.cloud import pubsub_v1

    path = f"projects/{stack.project}/subscriptions/bench-{uuid.uuid4().hex[:10]}"
    sub = pubsub_v1.SubscriberClient()
    try:
        sub.create_subscription(request={"name": path, "topic": stack.topic_path, "ack_deadline_seconds": ack_deadline})
    finally:
        sub.close()
    return path


def worker_env(stack, database_url: str, subscription: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIQUE_")}
    env.update(stack.env)
    env.update({
        "PIQUE_DATABASE_URL": database_url,
        "PIQUE_SUBSCRIPTION": subscription,
        "PIQUE_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver listens on loopback
        "PIQUE_LOAD_PLUGINS": "",
        "PIQUE_LOG_FORMAT": "json",
        "PIQUE_ACK_EXTENSION_SEC": "10",
        **extra,
    })
    return env


@dataclass
class WorkerProcess:
    proc: subprocess.Popen
    log: Path
    metrics_port: int

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=0.5) as r:
                return r.status == 200
        except OSError:
            return False

    def log_lines(self) -> list[dict]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def stop(self, timeout: float = 60) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def start_worker(env: dict[str, str], log: Path, *args: str) -> WorkerProcess:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pique_engine", "--log-level", "INFO", "worker", "--metrics-port", str(port), *args],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"), start_new_session=True,
    )
    return WorkerProcess(proc, log, port)


def wait_ready(workers: list[WorkerProcess], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(w.ready() for w in workers):
        for w in workers:
            if w.proc.poll() is not None:
                raise RuntimeError(f"a worker exited with {w.proc.returncode}; its log ({w.log}) ends:\n"
                                   + "\n".join(w.log.read_text(errors="replace").splitlines()[-15:]))
        if time.monotonic() > deadline:
            raise RuntimeError("workers not ready in time")
        time.sleep(0.05)


def evaluation_seconds(workers: list[WorkerProcess]) -> list[float]:
    """Each completed evaluation's duration as the worker logged it (sandbox included)."""
    out = []
    for w in workers:
        for line in w.log_lines():
            if line.get("outcome") == "completed" and (m := re.search(r"in ([0-9.]+)s", line.get("message", ""))):
                out.append(float(m.group(1)))
    return out
