"""The worker loop: one source of notifications, the core, the sweep, lease renewal, the
outbox dispatcher and the health server, started together and stopped in order.

`pique-engine worker` runs it on a Pub/Sub subscription; `pique-engine dev` runs the same loop
on an in-process queue. Until SIGTERM/SIGINT (or `stop`, or `max_messages` handled): the first
signal stops taking notifications and lets those in flight finish; a second exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from ..webhooks.dispatcher import OutboxDispatcher
from . import sandbox
from .handler import Worker
from .metrics import HealthServer
from .sweep import Sweeper

log = logging.getLogger(__name__)


class Source(Protocol):
    """Where notifications come from: `start` delivers them to the core until `stop`."""

    def start(self, worker: Worker) -> None: ...

    def failed(self) -> bool: ...

    def stop(self, timeout: float) -> None: ...


class Runner:
    """Runs a `Worker` core on a `Source`; see the module docstring."""

    def __init__(
        self,
        worker: Worker,
        source: Source,
        dispatcher: OutboxDispatcher,
        *,
        metrics_port: int | None = None,
        ready_check: Callable[[], bool] = lambda: True,
    ) -> None:
        self.worker = worker
        self.source = source
        self.dispatcher = dispatcher
        self.metrics_port = metrics_port
        self.ready_check = ready_check
        self.ready = threading.Event()
        s = worker.settings
        self.sweeper = Sweeper(worker.store, worker.storage, lambda n: worker.handle(n, swept=True), stop=worker.stopping,
                               metrics=worker.metrics, after=timedelta(seconds=s.sweep_after_sec),
                               interval=s.sweep_interval_sec, concurrency=s.concurrency)  # fmt: skip

    def run(self, *, max_messages: int | None = None, sweep: bool = True) -> Counter[str]:
        """Handle notifications until stopped (or `max_messages` handled); returns the counters.

        A burst (`max_messages`) leaves the sweeping to the fleet and sends what is due before exiting.
        """
        worker, s = self.worker, self.worker.settings
        sandbox.warm_up()
        stop_dispatch, stop_renewing = threading.Event(), threading.Event()
        dispatching = threading.Thread(target=self.dispatcher.run, args=(stop_dispatch,), name="pique-outbox", daemon=True)
        renewing = threading.Thread(target=self._renew_leases, args=(stop_renewing,), name="pique-leases", daemon=True)
        sweeping = threading.Thread(target=self.sweeper.run, name="pique-sweep", daemon=True)
        started = [dispatching, renewing, *([sweeping] if sweep and max_messages is None else [])]
        for t in started:
            t.start()
        health = None
        if self.metrics_port is not None:
            health = HealthServer("0.0.0.0", self.metrics_port, worker.metrics, lambda: self.ready.is_set() and self.ready_check()).start()
            log.info("health and metrics on port %d", health.port)
        self.source.start(worker)
        self.ready.set()
        log.info("worker taking notifications from %s with concurrency %d", self.source, s.concurrency)
        self._install_signals()
        try:
            with worker.handled:
                while not worker.stopping.is_set() and not self.source.failed():
                    if max_messages is not None and worker.counts["messages"] >= max_messages:
                        break
                    worker.handled.wait(0.5)
        finally:
            self.ready.clear()
            worker.stop()
            self.source.stop(timeout=s.evaluation_timeout_sec + 30)
            if sweeping.is_alive():  # let an evaluation the sweep started finish and store its result
                sweeping.join(timeout=s.evaluation_timeout_sec + 30)
            stop_renewing.set()
            renewing.join(timeout=15)
            if max_messages is not None:
                self.dispatcher.deliver_due()
            stop_dispatch.set()
            self.dispatcher.wake.set()
            dispatching.join(timeout=15)
            if health:
                health.stop()
        log.info("worker stopped: %s", ", ".join(f"{k}={v}" for k, v in sorted(worker.counts.items())) or "no messages")
        return worker.counts

    def _renew_leases(self, stop: threading.Event) -> None:
        every = self.worker.lease.total_seconds() / 3
        while not stop.wait(every):
            try:
                self.worker.renew_leases()
            except Exception as exc:  # the database is away: the lease may run out, and the claim guards the result
                log.warning("could not renew job leases: %s", exc)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum, _frame) -> None:
            if self.worker.stopping.is_set():
                log.warning("second %s: exiting now", signal.Signals(signum).name)
                os._exit(130)
            log.info("%s: draining (no new messages; in-flight evaluations finish); send again to exit now", signal.Signals(signum).name)
            self.worker.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
