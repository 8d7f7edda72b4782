"""The receiving end of the decode pass.

The pass drives: it calls `feed(item)` on each consumer in turn, on its own thread, so any
number of detectors share one decode without a thread each. A detector that reads more
naturally as a loop (`for frame in frames: ...`) is wrapped in `Iterating`, which runs it on
a thread of its own behind a small bounded queue (memory stays flat: the pass waits when the
detector falls behind).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from .content import Item

R = TypeVar("R")


class Consumer(Protocol):
    """What the pass feeds. Exceptions from either method fail this consumer only."""

    def feed(self, item: Item) -> bool | None:
        """Take one item; return True when no more are needed (the pass stops feeding it)."""

    def close(self) -> None:
        """The stream has ended: every item this consumer asked for has been fed."""


class Collect:
    """Keeps every item in a list (for tests and short media; memory grows with the file)."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.closed = False

    def feed(self, item: Item) -> None:
        self.items.append(item)

    def close(self) -> None:
        self.closed = True


_END = object()


class Iterating(Generic[R]):
    """Runs `fn(items)` on its own thread, `items` being an iterator over what the pass feeds.

    `result()` returns what `fn` returned once the pass has ended; if `fn` raised, the pass
    records the failure and `result()` raises it again. When `fn` returns early, the pass
    stops feeding it.
    """

    def __init__(self, fn: Callable[[Iterator[Item]], R], *, depth: int = 4, name: str | None = None) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._result: R | None = None
        self._error: BaseException | None = None
        self._fn = fn
        self._thread = threading.Thread(target=self._run, name=name or f"consumer-{getattr(fn, '__name__', 'fn')}", daemon=True)
        self._thread.start()

    def _items(self) -> Iterator[Item]:
        while (item := self._queue.get()) is not _END:
            yield item  # type: ignore[misc]

    def _run(self) -> None:
        try:
            self._result = self._fn(self._items())
        except BaseException as exc:  # handed to the pass through close()
            self._error = exc

    def feed(self, item: Item) -> bool:
        while True:
            try:
                self._queue.put(item, timeout=0.05)
                break
            except queue.Full:
                if not self._thread.is_alive():
                    break
        if not self._thread.is_alive():
            self._raise()
            return True
        return False

    def close(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=0.05)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._raise()

    def result(self) -> R:
        """What `fn` returned; raises what it raised. Call after the pass has ended."""
        if self._thread.is_alive():
            raise RuntimeError("the consumer is still running: call result() after the decode pass has ended")
        self._raise()
        return self._result  # type: ignore[return-value]

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


class Subscriber:
    """One (request, consumer) pair inside the pass: feeds it, and records its failure if it fails.

    A consumer that raises is never fed again; the other consumers carry on.
    """

    def __init__(self, index: int, request, consumer: Consumer) -> None:
        self.index = index
        self.request = request
        self.consumer = consumer
        self.active = True
        self.error: BaseException | None = None

    def send(self, item: Item) -> None:
        if not self.active:
            return
        try:
            if self.consumer.feed(item):
                self.finish()
        except Exception as exc:
            self.fail(exc)

    def finish(self) -> None:
        if not self.active:
            return
        self.active = False
        try:
            self.consumer.close()
        except Exception as exc:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """Stop feeding this consumer and keep `exc` as the reason."""
        self.active = False
        self.error = exc
