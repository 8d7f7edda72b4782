"""Module-level functions the sandbox tests run in a child process."""

import ctypes
import os
import time


def healthy(value, *, progress):
    progress("detector 'healthy'")
    return value * 2


def segfault(*, progress):
    progress("detector 'segfaults'")
    ctypes.string_at(0)


def aborts(*, progress):
    progress("detector 'aborts'")
    os.abort()


def hangs(*, progress):
    progress("detector 'hangs'")
    while True:
        time.sleep(0.05)


def allocates(*, progress):
    progress("detector 'allocates'")
    import numpy as np

    return np.ones((16 << 30) // 8).sum()


def raises(*, progress):
    raise KeyError("weights")


def evaluate_path(path, judge, content_type=None, *, plugins=(), progress):
    """Evaluate a local file as the worker's child does, with extra plugin modules loaded.

    Returns the payload as a dict (what the webhook would carry).
    """
    import importlib
    import json

    from pique_engine.evaluation import Evaluator, MediaSource
    from pique_engine.judge import bind_judge, parse_judge
    from pique_engine.plugins import load_plugins

    loaded = load_plugins([], extra=[importlib.import_module(name) for name in plugins])
    bound = bind_judge(parse_judge(judge), loaded.detectors)
    ev = Evaluator(loaded).evaluate(MediaSource.from_path(path), bound, job_id="job_test", content_type=content_type, progress=progress)
    return json.loads(ev.payload.to_bytes())


def writes_pid_then_hangs(path, *, progress):
    from pathlib import Path

    Path(path).write_text(str(os.getpid()))
    while True:
        time.sleep(0.05)


def evaluate_path_cpu(path, judge, *, progress):
    """`evaluate_path`, returning the CPU seconds this child has used since it was forked."""
    evaluate_path(path, judge, progress=progress)
    return time.process_time()
