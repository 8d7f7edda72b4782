"""Running untrusted work (native decoders, third-party detectors) in a child process.

A segfault, `os.abort()`, an endless loop or an unbounded allocation in the child fails that
one call with a `DetectorError` naming the limit and what was running; the calling process
(the worker, with its Pub/Sub lease threads) carries on. Children are forked from a
forkserver that has already imported the heavy libraries, so a call costs milliseconds:
the caller names them (`preload`); the first call's target module is always among them.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import DetectorError
from ..logs import configure_child, for_child

T = TypeVar("T")

# "__main__": the console script is imported once by the forkserver, not again in every child.
_preload: list[str] = ["__main__"]
_context: multiprocessing.context.BaseContext | None = None


@dataclass(frozen=True)
class Limits:
    """Per-call limits.

    `memory_bytes` is the address space the call may add to what the child starts with
    (RLIMIT_AS = start + memory_bytes): the child inherits every library the forkserver
    preloaded (~0.6 GB of mappings with scipy-based plugins), which no call should be charged
    for, and which would otherwise make a small limit fail before the call even starts.
    """

    timeout_sec: float = 300.0
    memory_bytes: int | None = 4 << 30


def preload(modules: Iterable[str]) -> None:
    """Have the forkserver import `modules` once, so each child starts with them.

    Call before the first `run_isolated` (the forkserver starts then); later calls change nothing.
    """
    _preload.extend(m for m in modules if m not in _preload)


def _ctx(target_module: str) -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([*_preload, *([target_module] if target_module not in _preload else [])])
        _context = ctx
    return _context


def _die_with_parent() -> None:
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


def _child(conn, target, args, kwargs, memory_bytes, log_setup) -> None:
    _die_with_parent()
    configure_child(log_setup)
    if memory_bytes:
        import resource

        cap = _address_space() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    def progress(label: str) -> None:
        conn.send(("progress", label))

    try:
        try:
            message = ("ok", target(*args, progress=progress, **kwargs))
        except MemoryError:
            message = ("memory", None)
        except BaseException as exc:  # reported to the parent, which decides what it means
            message = ("error", f"{type(exc).__name__}: {exc}")
        conn.send(message)
    except OSError:  # the parent has gone (killed, or it gave up on us): nobody to tell
        pass
    finally:
        conn.close()


def run_isolated(
    target: Callable[..., T], *args: Any, limits: Limits, what: str = "evaluation", log_fields: dict[str, str] | None = None, **kwargs: Any
) -> T:
    """Call `target(*args, progress=..., **kwargs)` in a child process within `limits`.

    `target` must be importable (a module-level function) and may call `progress(label)` to
    say what it is doing (e.g. "detector 'video_specs'"), so a limit names the culprit.
    The child logs as this process does, with `log_fields` (e.g. the job id) on every line.
    Raises `DetectorError` when the child times out, runs out of memory, crashes or raises.
    """
    ctx = _ctx(target.__module__)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, target, args, kwargs, limits.memory_bytes, for_child(log_fields or {})), daemon=True)
    proc.start()
    child.close()
    current = what
    deadline = time.monotonic() + limits.timeout_sec
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DetectorError(f"{current} exceeded the {limits.timeout_sec:g} s time limit (PIQUE_EVALUATION_TIMEOUT_SEC) and was stopped")
            if not parent.poll(remaining):
                continue
            try:
                kind, value = parent.recv()
            except EOFError:
                proc.join(5)
                raise DetectorError(f"{current} crashed ({_exit_reason(proc.exitcode)})") from None
            if kind == "progress":
                current = value
            elif kind == "ok":
                return value
            elif kind == "memory":
                raise DetectorError(f"{current} exceeded the {_mib(limits.memory_bytes)} memory limit (PIQUE_EVALUATION_MEMORY_MB) and was stopped")
            else:
                raise DetectorError(f"{current} failed: {value}")
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def _address_space() -> int:
    """This process's mapped address space in bytes (VmSize), 0 when unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _exit_reason(code: int | None) -> str:
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


def warm_up() -> None:
    """Start the forkserver now, so the first evaluation does not pay for its imports."""
    run_isolated(_noop, limits=Limits(timeout_sec=60, memory_bytes=None))


def _noop(*, progress) -> int:
    return os.getpid()
