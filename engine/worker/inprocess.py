"""An in-process queue of notifications, the source `pique-engine dev` feeds its worker from.

It stands where the Pub/Sub subscription stands in production: the same core handles what
it delivers, `PIQUE_CONCURRENCY` at a time. A notification handed back (NACK) goes to the back
of the queue after a pause, as a subscription's retry delay would have it.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING

from .notifications import Notification
from .verdict import NACK

if TYPE_CHECKING:
    from .handler import Worker

RETRY_DELAY_SEC = 5.0


class QueueSource:
    """Delivers `put` notifications to a worker's core on `concurrency` threads."""

    def __init__(self, concurrency: int = 1) -> None:
        self.concurrency = concurrency
        self.queue: queue.Queue[tuple[Notification, int]] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def __str__(self) -> str:
        return "an in-process queue"

    def put(self, n: Notification) -> None:
        self.queue.put((n, 1))

    def start(self, worker: Worker) -> None:
        self._threads = [threading.Thread(target=self._consume, args=(worker,), name=f"pique-eval-{i}", daemon=True)
                         for i in range(self.concurrency)]  # fmt: skip
        for t in self._threads:
            t.start()

    def _consume(self, worker: Worker) -> None:
        while not self._stop.is_set() and not worker.stopping.is_set():
            try:
                n, attempt = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if worker.handle(n, attempt) == NACK:
                retry = threading.Timer(RETRY_DELAY_SEC, self.queue.put, args=((n, attempt + 1),))
                retry.daemon = True
                retry.start()

    def failed(self) -> bool:
        return False

    def stop(self, timeout: float) -> None:
        """Stop taking notifications and wait up to `timeout` for those in hand."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
