"""Long-lived sandbox children that take one call after another over a pipe.

Forking a child per call costs tens of milliseconds (the fork, the pipe, tearing down a process
that has every media library mapped); a warm child answers in well under one. Each child is
forked from the sandbox's forkserver, so it starts with the plugins loaded, and serves calls
until something goes wrong: a child that crashed, hung, hit its memory limit, left a thread
running (an abandoned detector), served `MAX_CALLS` calls or grew `MAX_RSS_GROWTH` past its
starting size is replaced by a fresh one. Everything a call writes to file descriptors 1 and 2
(a detector's `print()`, a native library's warnings) goes to a pipe that this process logs with
the job's fields, never to the command's own output.
"""

from __future__ import annotations

import logging
import multiprocessing.connection
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import DetectorError
from ..logs import configure_child, for_child

log = logging.getLogger(__name__)

MAX_CALLS = 500
MAX_RSS_GROWTH = 512 << 20
# Past its own budget a detector is abandoned inside the child; this process steps in only for
# one that holds the interpreter (native code that never returns), a little later.
DETECTOR_GRACE_SEC = 2.0
_RUNS_A_DETECTOR = re.compile(r"^(detector |content pass)")
_PERCENT = re.compile(r" \d+%")
# Written to fd 1 after each call: once the reader has seen it, that call's output is logged
# with that call's job, before the child takes the next one.
_END_OF_CALL = b"\x00pique-end-of-call"


class ChildFailed(DetectorError):
    """The child died or was stopped while `label` ran; `reason` names the limit or the crash."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(f"{label} {reason}")
        self.label = label
        self.reason = reason


class _Child:
    """One warm child: its process, its call pipe and the logger of its output."""

    def __init__(self, ctx) -> None:
        calls, child_calls = ctx.Pipe(duplex=True)
        output, child_output = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_serve, args=(child_calls, child_output), daemon=True, name="pique-sandbox")
        self.process.start()
        child_calls.close()
        child_output.close()
        self.conn = calls
        self.calls = 0
        self.fields: dict[str, str] = {}
        self.drained = threading.Event()
        threading.Thread(target=self._log_output, args=(output,), name="pique-sandbox-output", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _log_output(self, output) -> None:
        pending = b""
        fd = output.fileno()
        while chunk := _read(fd):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line == _END_OF_CALL:
                    self.drained.set()
                else:
                    self._log_line(line)
        if pending:
            self._log_line(pending)
        output.close()

    def _log_line(self, line: bytes) -> None:
        job = self.fields.get("job_id", "-")
        log.info("sandbox child %d output (job %s): %s", self.pid, job, line.decode("utf-8", "replace"), extra=self.fields)

    def kill(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except OSError:
        return b""


class WarmPool:
    """Up to `size` idle children kept ready; more are forked when more calls run at once."""

    def __init__(self, ctx_for: Callable[[str], Any], size: int = 2) -> None:
        self._ctx_for = ctx_for
        self.size = size
        self._idle: list[_Child] = []
        self._lock = threading.Lock()

    def _take(self, target_module: str) -> _Child:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Child(self._ctx_for(target_module))

    def _give_back(self, child: _Child, healthy: bool, rss_growth: int) -> None:
        if healthy and child.calls < MAX_CALLS and rss_growth < MAX_RSS_GROWTH:
            with self._lock:
                if len(self._idle) < self.size:
                    self._idle.append(child)
                    return
        child.kill()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.kill()

    def warm(self, target_module: str) -> None:
        """Fork children until `size` are idle, so the first calls do not wait for one."""
        fresh = [_Child(self._ctx_for(target_module)) for _ in range(max(0, self.size - len(self._idle)))]
        with self._lock:
            self._idle.extend(fresh)

    def run(self, target: Callable[..., Any], args: tuple, kwargs: dict[str, Any], *, limits, what: str,
            log_fields: dict[str, str] | None = None, on_result: Callable[[Any], None] | None = None) -> Any:
        """Call `target(*args, progress=..., **kwargs)` in a warm child within `limits` (a `sandbox.Limits`).

        With `on_result`, the target also gets an `on_result` callable whose values reach
        `on_result` here as they are sent. Raises `ChildFailed` when the child crashed or was
        stopped at a limit, `DetectorError` when the target raised.
        """
        child = self._take(target.__module__)
        if child.calls:  # the last call's output is logged with its own job (it has almost always arrived by now)
            child.drained.wait(1.0)
            child.drained.clear()
        child.fields = dict(log_fields or {})
        child.calls += 1
        try:
            child.conn.send((target, args, kwargs, limits.memory_bytes, for_child(child.fields), on_result is not None))
        except OSError:  # died while idle (killed from outside): a fresh one takes the call
            child.kill()
            child = _Child(self._ctx_for(target.__module__))
            child.fields = dict(log_fields or {})
            child.conn.send((target, args, kwargs, limits.memory_bytes, for_child(child.fields), on_result is not None))
        try:
            kind, value, healthy, rss_growth = self._wait(child, limits, what, on_result)
        except BaseException:
            child.kill()
            raise
        self._give_back(child, healthy and kind != "memory", rss_growth)
        if kind == "ok":
            return value
        if kind == "memory":
            raise ChildFailed(value, f"exceeded the {_mib(limits.memory_bytes)} memory limit (PIQUE_EVALUATION_MEMORY_MB) and was stopped")
        raise DetectorError(value)

    def _wait(self, child: _Child, limits, what: str, on_result) -> tuple[str, Any, bool, int]:
        current = what
        deadline = time.monotonic() + limits.timeout_sec
        detector_deadline = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise ChildFailed(current, f"exceeded the {limits.timeout_sec:g} s time limit (PIQUE_EVALUATION_TIMEOUT_SEC) and was stopped")
            if detector_deadline is not None and now >= detector_deadline:
                raise ChildFailed(current, f"exceeded the {limits.detector_timeout_sec:g} s time limit (PIQUE_DETECTOR_TIMEOUT_SEC) and was stopped")
            wait = min(deadline, detector_deadline or deadline) - now
            if not child.conn.poll(wait):
                continue
            try:
                kind, *rest = child.conn.recv()
            except (EOFError, OSError):
                child.process.join(5)
                raise ChildFailed(current, f"crashed ({_exit_reason(child.process.exitcode)})") from None
            if kind == "progress":
                label = rest[0]
                if _PERCENT.sub("", label) != _PERCENT.sub("", current):
                    detector_deadline = _detector_deadline(label, limits)
                current = label
            elif kind == "result":
                on_result(rest[0])
            elif kind == "memory":
                return kind, current, False, 0
            elif kind == "error":
                return kind, f"{current} failed: {rest[0]}", rest[1], rest[2]
            else:
                return kind, *rest


def _detector_deadline(label: str, limits) -> float | None:
    if limits.detector_timeout_sec is None or not _RUNS_A_DETECTOR.match(label):
        return None
    return time.monotonic() + limits.detector_timeout_sec + DETECTOR_GRACE_SEC


# -- in the child -----------------------------------------------------------------------------


def _serve(calls, output) -> None:
    """A child's life: take calls until the parent closes the pipe (or dies)."""
    die_with_parent()
    # Log lines keep the real stderr; whatever else reaches fd 1 or 2 goes to the parent's log.
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
    os.dup2(output.fileno(), 1)
    os.dup2(output.fileno(), 2)
    output.close()
    start_rss = _rss()
    threads = threading.active_count()
    lock = threading.Lock()

    def send(message: tuple) -> None:
        with lock:
            calls.send(message)

    while True:
        try:
            target, args, kwargs, memory_bytes, log_setup, stream = calls.recv()
        except (EOFError, OSError):
            os._exit(0)
        configure_child(log_setup)
        extra = {"on_result": lambda value: send(("result", value))} if stream else {}
        _limit_memory(address_space() + memory_bytes if memory_bytes else None)
        try:
            message: tuple = ("ok", target(*args, progress=lambda label: send(("progress", label)), **extra, **kwargs))
        except MemoryError:
            message = ("memory",)
        except BaseException as exc:  # reported to the parent, which decides what it means
            message = ("error", f"{type(exc).__name__}: {exc}")
        finally:
            _limit_memory(None)
            _end_output()
        healthy = threading.active_count() <= threads and message[0] != "memory"
        try:
            send((*message, healthy, _rss() - start_rss))
        except OSError:  # the parent has gone, or gave up on this call
            os._exit(1)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            send(("error", f"the result could not be sent back: {type(exc).__name__}: {exc}", False, 0))
        if message[0] == "memory":
            os._exit(1)


def die_with_parent() -> None:
    """Exit as soon as the process that asked for this call has gone.

    Only the caller enforces the time limit, so a child stuck in an endless loop would
    outlive a caller killed with SIGKILL (and keep the forkserver alive with it). A daemon
    thread waits on the pipe the caller holds open; its EOF means the caller is dead.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="pique-parent-watch", daemon=True).start()


def address_space() -> int:
    """This process's mapped address space in bytes (VmSize), 0 when unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _end_output() -> None:
    try:
        sys.stdout.flush()
        os.write(1, _END_OF_CALL + b"\n")
    except (OSError, ValueError):  # stdout closed by the call: its output is lost, not the result
        pass


def _limit_memory(cap: int | None) -> None:
    import resource

    # Only the soft limit moves, so the next call can raise it again.
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if cap is None or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_AS, (hard if cap is None else cap, hard))
    else:
        resource.setrlimit(resource.RLIMIT_AS, (min(cap, hard), hard))


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _exit_reason(code: int | None) -> str:
    import signal

    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _mib(n: int | None) -> str:
    return f"{(n or 0) / (1 << 20):,.0f} MiB"
