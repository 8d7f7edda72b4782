"""A crash, hang or runaway allocation in the child fails one call; the parent carries on."""

import os

import pytest

from pique_engine.errors import DetectorError
from pique_engine.sandbox import Limits, run_isolated

from . import sandbox_targets as t


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
