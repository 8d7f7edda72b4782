"""Misbehaving third-party detectors, each in a judge beside healthy criteria, in the sandbox.

A crash, a hang or a runaway allocation fails the evaluation with a message naming the limit,
the detector and its criterion; an exception or unsendable metrics fail that criterion only.
Either way the next evaluation in the same parent works. (Through the real worker:
`test_worker_faults.py`.)
"""

from __future__ import annotations

import statistics
import time

import pytest

from pique_engine.errors import DetectorError
from pique_engine.worker.sandbox import Limits, run_isolated, warm_up

from .. import misbehaving_plugin as mp
from .. import sandbox_targets as t
from ..conftest import FIXTURES

VIDEO = str(FIXTURES / "media" / "phone_rotated_90.mp4")
# Each test makes the limit it is about certain to trip first, on however busy a machine: the
# time limit is far above what anything but a hang needs (the healthy criteria take ~50 ms),
# and everything else runs under a time limit far above what its crash or allocation needs.
TIME_LIMIT = Limits(timeout_sec=5, memory_bytes=512 << 20)
LIMITS = Limits(timeout_sec=120, memory_bytes=512 << 20)
PLUGINS = ("tests.misbehaving_plugin",)
HANGS = {"hangs", "spins"}

FAILS_THE_EVALUATION = {
    "segfaults": "detector 'segfaults' (criterion 'bad_segfaults') crashed (killed by SIGSEGV)",
    "aborts": "detector 'aborts' (criterion 'bad_aborts') crashed (killed by SIGABRT)",
    "exits": "detector 'exits' (criterion 'bad_exits') crashed (exit status 3)",
    "hangs": "detector 'hangs' (criterion 'bad_hangs') exceeded the 5 s time limit (PIQUE_EVALUATION_TIMEOUT_SEC) and was stopped",
    "spins": "detector 'spins' (criterion 'bad_spins') exceeded the 5 s time limit (PIQUE_EVALUATION_TIMEOUT_SEC) and was stopped",
    "allocates": "detector 'allocates' (criterion 'bad_allocates') exceeded the 512 MiB memory limit (PIQUE_EVALUATION_MEMORY_MB) and was stopped",
    "grows": "detector 'grows' (criterion 'bad_grows') exceeded the 512 MiB memory limit (PIQUE_EVALUATION_MEMORY_MB) and was stopped",
}


def evaluate(judge: dict, limits: Limits = LIMITS) -> dict:
    return run_isolated(t.evaluate_path, VIDEO, judge, plugins=PLUGINS, limits=limits)


def healthy_evaluation_still_works() -> None:
    payload = evaluate({"judge_id": "ok", "criteria": [{"criterion_id": "specs", "detector": "video_specs"}]})
    assert payload["status"] == "completed" and payload["results"][0]["pass_check"] is True


@pytest.fixture(scope="module", autouse=True)
def forkserver():
    warm_up()  # started once, so its start-up is not counted against a test's limit or timing


@pytest.mark.parametrize("detector", sorted(FAILS_THE_EVALUATION))
def test_a_crashing_hanging_or_hoarding_detector_fails_the_evaluation_naming_limit_detector_and_criterion(detector):
    limits = TIME_LIMIT if detector in HANGS else LIMITS
    started = time.monotonic()
    with pytest.raises(DetectorError) as exc:
        evaluate(mp.judge_with(detector), limits)
    elapsed = time.monotonic() - started
    assert str(exc.value) == FAILS_THE_EVALUATION[detector]
    if detector in HANGS:  # stopped at the limit, not at the next one (pytest's) or never
        assert limits.timeout_sec <= elapsed < limits.timeout_sec + 30
    healthy_evaluation_still_works()


def test_a_detector_that_raises_fails_only_its_criterion():
    payload = evaluate(mp.judge_with("raises"))
    by_id = {r["criterion_id"]: r for r in payload["results"]}
    assert payload["status"] == "completed"
    assert by_id["bad_raises"]["pass_check"] is False and by_id["bad_raises"]["score"] == 0.0
    assert by_id["bad_raises"]["rationale"] == "detector 'raises' failed: KeyError: 'weights'"
    assert by_id["specs_before"]["pass_check"] is True and by_id["specs_after"]["pass_check"] is True


def test_a_detector_whose_metrics_are_not_json_fails_only_its_criterion():
    payload = evaluate(mp.judge_with("bad_metrics"))
    by_id = {r["criterion_id"]: r for r in payload["results"]}
    assert by_id["bad_bad_metrics"]["pass_check"] is False
    assert by_id["bad_bad_metrics"]["rationale"].startswith("detector 'bad_metrics' returned metrics that cannot be sent as JSON:")
    assert by_id["specs_before"]["pass_check"] is True and by_id["specs_after"]["pass_check"] is True


def test_the_parent_is_untouched_by_a_child_hitting_its_memory_limit():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DetectorError, match="memory limit"):
        evaluate(mp.judge_with("grows"), LIMITS)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 << 10  # KiB: < 64 MiB grown here


def test_isolation_costs_tens_of_milliseconds_of_cpu_per_evaluation():
    """The price of a child per evaluation, kept visible (benchmarks/isolation_cost.py has the table).

    Measured in CPU time, which a busy machine does not inflate as it does wall-clock time:
    what a child costs is the imports and set-up the forkserver did not do for it.
    """
    from pique_engine.evaluation import Evaluator, MediaSource
    from pique_engine.judge import bind_judge, parse_judge
    from pique_engine.plugins import load_plugins

    judge = {"judge_id": "ok", "criteria": [{"criterion_id": "specs", "detector": "video_specs"}]}
    plugins = load_plugins([])
    bound = bind_judge(parse_judge(judge), plugins.detectors)
    inside, isolated, wall = [], [], []
    for _ in range(7):
        t0, w0 = time.process_time(), time.perf_counter()
        Evaluator(plugins).evaluate(MediaSource.from_path(VIDEO), bound, job_id="job_cost")
        inside.append(time.process_time() - t0)
        w1 = time.perf_counter()
        isolated.append(run_isolated(t.evaluate_path_cpu, VIDEO, judge, limits=Limits(timeout_sec=120)))
        wall.append((time.perf_counter() - w1) - (w1 - w0))
    cost_ms = (statistics.median(isolated) - statistics.median(inside)) * 1000
    print(f"isolation cost: {cost_ms:.0f} ms of CPU, {statistics.median(wall) * 1000:.0f} ms wall-clock per evaluation")
    # ~20 ms of CPU; before the forkserver preloaded the storage client and the console script
    # a child spent ~800 ms importing them.
    assert cost_ms < 200
