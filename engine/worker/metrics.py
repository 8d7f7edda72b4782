"""Prometheus metrics and the /healthz, /readyz, /metrics endpoint the worker serves."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class WorkerMetrics:
    """The worker's counters, on a registry of its own (so tests can make several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.evaluations = Counter("pique_evaluations", "Evaluations finished, by final status.", ["status"], registry=self.registry)
        self.messages = Counter("pique_messages", "Pub/Sub messages handled, by outcome.", ["outcome"], registry=self.registry)
        self.swept = Counter("pique_swept_jobs", "Overdue jobs the sweep settled, by outcome.", ["outcome"], registry=self.registry)
        self.detector_seconds = Histogram(
            "pique_detector_seconds", "Time spent in each detector.", ["detector"], registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
        )
        self.evaluation_seconds = Histogram(
            "pique_evaluation_seconds", "Time from claim to stored result.", registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600),
        )
        self.webhook_attempts = Counter("pique_webhook_attempts", "Webhook delivery attempts, by outcome.", ["outcome"], registry=self.registry)
        self.in_flight = Gauge("pique_evaluations_in_flight", "Evaluations running now.", registry=self.registry)


class HealthServer:
    """Serves /healthz (alive), /readyz (`ready()` is true) and /metrics on one port."""

    def __init__(self, host: str, port: int, metrics: WorkerMetrics, ready: Callable[[], bool]) -> None:
        registry = metrics.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                elif self.path == "/readyz":
                    ok = ready()
                    self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n", "text/plain")
                elif self.path == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # probes every few seconds would flood the log
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="pique-health", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
