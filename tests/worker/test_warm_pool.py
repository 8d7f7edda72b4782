"""Warm sandbox children: reused while nothing goes wrong, replaced after anything does, their
output sent to the log, and a detector that holds the interpreter stopped at its own limit."""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time

import pytest

from pique_engine.errors import DetectorError
from pique_engine.worker import sandbox
from pique_engine.worker.sandbox import Limits, run_isolated, warm_up
from pique_engine.worker.warm_pool import ChildFailed

from .. import sandbox_targets as t

pytestmark = pytest.mark.integration  # every test runs calls in the sandbox's child processes


def pid(*, progress) -> int:
    return os.getpid()


def prints(marker: str, *, progress) -> int:
    print(f"print {marker}", flush=True)
    os.write(2, f"native {marker}\n".encode())  # as a C library writing to stderr would
    return os.getpid()


def holds_the_interpreter(*, progress) -> None:
    progress("detector 'native' (criterion 'stuck')")
    ctypes.PyDLL(None).sleep(600)  # native code that keeps the GIL: no thread inside can stop it


def leaves_a_thread(*, progress) -> int:
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()  # an abandoned detector's thread
    return os.getpid()


@pytest.fixture(scope="module", autouse=True)
def forkserver():
    warm_up()


def test_a_child_is_reused_between_calls_when_nothing_went_wrong():
    first = run_isolated(pid, limits=Limits())
    assert run_isolated(pid, limits=Limits()) == first
    assert first != os.getpid()


@pytest.mark.parametrize("target, limits", [(t.segfault, Limits()), (t.allocates, Limits(memory_bytes=256 << 20))])
def test_a_child_that_crashed_or_hit_its_memory_limit_is_replaced_and_the_next_call_works(target, limits):
    before = run_isolated(pid, limits=Limits())
    with pytest.raises(ChildFailed):
        run_isolated(target, limits=limits)
    after = run_isolated(pid, limits=Limits())
    assert after != before
    assert run_isolated(t.healthy, 4, limits=Limits()) == 8


def test_a_child_that_left_a_thread_running_is_not_reused():
    used = run_isolated(leaves_a_thread, limits=Limits())
    assert run_isolated(pid, limits=Limits()) != used


def test_the_memory_limit_holds_for_every_call_a_warm_child_takes():
    limits = Limits(memory_bytes=256 << 20)
    assert run_isolated(t.healthy, 1, limits=limits) == 2  # a first call in the child ...
    assert run_isolated(t.healthy, 2, limits=limits) == 4  # ... does not use up the next one's headroom
    with pytest.raises(ChildFailed, match="exceeded the 256 MiB memory limit"):
        run_isolated(t.allocates, limits=limits)


def test_what_a_call_writes_to_stdout_and_stderr_goes_to_the_log_with_the_job_id(caplog, capfd):
    caplog.set_level(logging.INFO, logger="pique_engine.worker.warm_pool")
    marker = f"m{time.monotonic_ns()}"
    child = run_isolated(prints, marker, limits=Limits(), log_fields={"job_id": "job_out"})
    deadline = time.monotonic() + 30
    wanted = {f"sandbox child {child} output (job job_out): print {marker}", f"sandbox child {child} output (job job_out): native {marker}"}
    while not wanted <= {r.getMessage() for r in caplog.records} and time.monotonic() < deadline:
        time.sleep(0.05)  # a reader thread logs the child's output as it arrives
    assert wanted <= {r.getMessage() for r in caplog.records}
    out, err = capfd.readouterr()
    assert marker not in out and marker not in err


def test_a_detector_holding_the_interpreter_is_stopped_at_its_own_limit_not_the_evaluations():
    limits = Limits(timeout_sec=300, detector_timeout_sec=1)
    started = time.monotonic()
    with pytest.raises(ChildFailed) as exc:
        run_isolated(holds_the_interpreter, limits=limits)
    assert str(exc.value) == "detector 'native' (criterion 'stuck') exceeded the 1 s time limit (PIQUE_DETECTOR_TIMEOUT_SEC) and was stopped"
    assert exc.value.label == "detector 'native' (criterion 'stuck')"
    assert time.monotonic() - started < 120  # far below the evaluation's 300 s
    assert run_isolated(t.healthy, 1, limits=Limits()) == 2


def test_an_exception_in_the_target_fails_the_call_and_keeps_the_child():
    before = run_isolated(pid, limits=Limits())
    with pytest.raises(DetectorError) as exc:
        run_isolated(t.raises, limits=Limits())
    assert not isinstance(exc.value, ChildFailed)
    assert str(exc.value) == "evaluation failed: KeyError: 'weights'"
    assert run_isolated(pid, limits=Limits()) == before


def test_the_pool_keeps_as_many_idle_children_as_it_is_sized_for():
    pool = sandbox.pool()
    sized = pool.size
    try:
        sandbox.set_pool_size(3)
        pool.warm(__name__)
        assert len(pool._idle) == 3
    finally:
        sandbox.set_pool_size(sized)
        while len(pool._idle) > sized:
            pool._idle.pop().kill()
