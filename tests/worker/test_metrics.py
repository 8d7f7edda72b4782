"""The worker's health server: /healthz, /readyz following its checks, /metrics from its registry."""

from __future__ import annotations

import httpx
import pytest

from pique_engine.worker.checks import Readiness
from pique_engine.worker.metrics import HealthServer, WorkerMetrics


@pytest.fixture
def served():
    metrics = WorkerMetrics()
    state = {"ready": False}
    server = HealthServer("127.0.0.1", 0, metrics, lambda: state["ready"]).start()
    yield f"http://127.0.0.1:{server.port}", metrics, state
    server.stop()


def test_healthz_is_always_ok_and_readyz_follows_the_ready_check(served):
    base, _, state = served
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert (r := httpx.get(f"{base}/readyz")).status_code == 503 and r.text == "not ready\n"
    state["ready"] = True
    assert (r := httpx.get(f"{base}/readyz")).status_code == 200 and r.text == "ready\n"
    assert httpx.get(f"{base}/nope").status_code == 404


def test_metrics_serve_the_workers_own_counters(served):
    base, metrics, _ = served
    metrics.evaluations.labels("completed").inc()
    metrics.messages.labels("duplicate").inc(2)
    text = httpx.get(f"{base}/metrics").text
    assert 'pique_evaluations_total{status="completed"} 1.0' in text
    assert 'pique_messages_total{outcome="duplicate"} 2.0' in text


def test_two_workers_metrics_do_not_share_a_registry():
    a, b = WorkerMetrics(), WorkerMetrics()
    a.evaluations.labels("failed").inc()
    assert b.evaluations.labels("failed")._value.get() == 0


def test_readiness_runs_its_checks_at_most_every_interval_and_reports_problems():
    calls, problem = [], ["the database is away"]

    def check():
        calls.append(1)
        return problem[0]

    ready = Readiness([check], every=3600)
    assert ready() is False and ready() is False
    assert len(calls) == 1  # probes come often; the checks do not run each time
    problem[0] = None
    ready.every = 0
    assert ready() is True and len(calls) == 2
