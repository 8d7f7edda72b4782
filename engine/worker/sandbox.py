"""Running untrusted work (native decoders, third-party detectors) in a child process.

A segfault, `os.abort()`, an endless loop or an unbounded allocation in the child fails that
one call with a `DetectorError` naming the limit and what was running; the calling process
(the worker, with its Pub/Sub lease threads) carries on. Calls go to warm children
(`warm_pool`) forked from a forkserver that has already imported the heavy libraries and
loaded the plugins, so a call costs well under a millisecond more than the work itself: the
caller names the modules to preload (`preload`); the first call's target module is among them.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from .warm_pool import WarmPool

T = TypeVar("T")

# "__main__": the console script is imported once by the forkserver, not again in every child.
_preload: list[str] = ["__main__"]
_context: multiprocessing.context.BaseContext | None = None
_pool: WarmPool | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class Limits:
    """Per-call limits.

    `memory_bytes` is the address space the call may add to what the child starts with
    (RLIMIT_AS = start + memory_bytes): the child inherits every library the forkserver
    preloaded (~0.33 GB of mappings with the pique-qc and pique-safety packs, more with plugins
    that import large libraries such as scipy at load), which no call should be charged for, and
    which would otherwise make a small limit fail before the call even starts.
    """

    timeout_sec: float = 300.0
    memory_bytes: int | None = 4 << 30
    detector_timeout_sec: float | None = None  # while `progress` names a detector (PIQUE_DETECTOR_TIMEOUT_SEC)


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


def pool() -> WarmPool:
    """This process's pool of warm children (two kept idle unless `set_pool_size` says otherwise)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WarmPool(_ctx)
        return _pool


def set_pool_size(size: int) -> None:
    """Keep `size` children idle (the worker's PIQUE_CONCURRENCY), so each evaluation finds one ready."""
    pool().size = max(1, size)


def run_isolated(
    target: Callable[..., T], *args: Any, limits: Limits, what: str = "evaluation", log_fields: dict[str, str] | None = None, **kwargs: Any
) -> T:
    """Call `target(*args, progress=..., **kwargs)` in a warm child process within `limits`.

    `target` must be importable (a module-level function) and may call `progress(label)` to
    say what it is doing (e.g. "detector 'video_specs'"), so a limit names the culprit.
    The child logs as this process does, with `log_fields` (e.g. the job id) on every line.
    Raises `DetectorError` when the child times out, runs out of memory, crashes or raises.
    """
    return pool().run(target, args, kwargs, limits=limits, what=what, log_fields=log_fields)


def warm_up() -> None:
    """Start the forkserver and the pool's children now, so the first evaluation does not wait for them."""
    run_isolated(_noop, limits=Limits(timeout_sec=60, memory_bytes=None))
    pool().warm(__name__)


def _noop(*, progress) -> int:
    return os.getpid()
