"""A crash, hang or runaway allocation in the child fails one call; the parent carries on."""

import os

import pytest

from pique_engine.errors import DetectorError
from pique_engine.worker.sandbox import Limits, run_isolated

from .. import sandbox_targets as t

pytestmark = pytest.mark.integration  # every test runs calls in the sandbox's child processes


def test_result_comes_back_from_the_child():
    assert run_isolated(t.healthy, 21, limits=Limits()) == 42


@pytest.mark.parametrize(
    "target, limits, message",
    [
        (t.segfault, Limits(), "detector 'segfaults' crashed (killed by SIGSEGV)"),
        (t.aborts, Limits(), "detector 'aborts' crashed (killed by SIGABRT)"),
        (t.hangs, Limits(timeout_sec=1), "detector 'hangs' exceeded the 1 s time limit (PIQUE_EVALUATION_TIMEOUT_SEC) and was stopped"),
        (t.allocates, Limits(memory_bytes=1 << 30), "detector 'allocates' exceeded the 1,024 MiB memory limit (PIQUE_EVALUATION_MEMORY_MB) and was stopped"),
        (t.raises, Limits(), "evaluation failed: KeyError: 'weights'"),
    ],
)
def test_misbehaving_child_fails_the_call_with_a_message_naming_limit_and_culprit(target, limits, message):
    with pytest.raises(DetectorError) as exc:
        run_isolated(target, limits=limits)
    assert str(exc.value) == message
    # The parent is unharmed and the next call works.
    assert run_isolated(t.healthy, 1, limits=Limits()) == 2
    assert os.getpid() > 0


def test_a_hanging_child_does_not_outlive_a_parent_killed_with_sigkill(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from ..conftest import ROOT

    pid_file = tmp_path / "child.pid"
    script = (
        "from pique_engine.worker.sandbox import Limits, run_isolated\n"
        "from tests import sandbox_targets as t\n"
        "if __name__ == '__main__':\n"
        f"    run_isolated(t.writes_pid_then_hangs, {str(pid_file)!r}, limits=Limits(timeout_sec=120))\n"
    )
    (tmp_path / "parent.py").write_text(script)
    mark = f"PIQUE_TEST_MARK={tmp_path.name}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIQUE_TEST_MARK": tmp_path.name}
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], cwd=ROOT, env=env)
    child = None
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and parent.poll() is None, "the child never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, f"sandbox child {child} outlived its killed parent"
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while _forkservers_marked(mark):  # and the forkserver it kept alive goes too
            assert time.monotonic() < deadline, "the forkserver outlived its killed parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)


def _forkservers_marked(mark: str) -> list[int]:
    """Live forkservers whose environment holds `mark` (inherited from the test's parent)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if b"multiprocessing.forkserver" in cmd and _alive(int(entry)) and _has_env(int(entry), mark):
                found.append(int(entry))
    return found


def _has_env(pid: int, mark: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return mark.encode() in f.read().split(b"\0")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie is already dead
    except FileNotFoundError:
        return False


def test_the_memory_limit_counts_what_the_call_adds_not_the_preloaded_libraries():
    # The child starts with ~0.6 GB of preloaded mappings; 64 MiB more must still be usable.
    assert run_isolated(t.healthy, 1, limits=Limits(memory_bytes=64 << 20)) == 2
    with pytest.raises(DetectorError, match=r"exceeded the 64 MiB memory limit"):
        run_isolated(t.allocates, limits=Limits(memory_bytes=64 << 20))
