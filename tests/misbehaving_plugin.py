"""A test-only plugin whose detectors misbehave the ways third-party code does.

Registered in-process with ``load_plugins(extra=[misbehaving_plugin])`` and, for worker
subprocesses, through an entry point (`install_entry_point` writes a dist-info that points at
this module). Every detector accepts every content type, so each can sit in a judge beside a
healthy built-in criterion.
"""

from __future__ import annotations

import ctypes
import os
import textwrap
import time
from pathlib import Path
from typing import Any

from pique_engine import Detector, DetectorResult, hookimpl

ENTRY_POINT = "pique_misbehaving"
ALL_TYPES = {"video", "image", "audio"}


def segfaults(media, params):
    ctypes.string_at(0)  # a NULL read in native code: SIGSEGV


def aborts(media, params):
    os.abort()  # what a failed assert() in a native decoder does


def hangs(media, params):
    while True:  # a plugin that never returns
        time.sleep(0.05)


def spins(media, params):
    n = 0
    while True:  # burns CPU without ever yielding to a signal handler in Python
        n += 1


def allocates(media, params):
    import numpy as np

    return np.ones((16 << 30) // 8).sum()  # 16 GiB in one request


def grows(media, params):
    hoard = []
    while True:  # allocates without bound; steps of 64 MiB pass a 512 MiB limit within a few steps, however busy the machine
        hoard.append(bytearray(64 << 20))


def raises(media, params):
    raise KeyError("weights")


def exits(media, params):
    os._exit(3)  # a library that "handles" an error by leaving


def bad_metrics(media, params):
    # Valid as a DetectorResult (metrics is dict[str, Any]) but not JSON: it cannot be sent.
    return DetectorResult(score=1.0, pass_check=True, rationale="fine", metrics={"bad_metrics": {"when": object()}})


BEHAVIOURS = {
    "segfaults": segfaults,
    "aborts": aborts,
    "hangs": hangs,
    "spins": spins,
    "allocates": allocates,
    "grows": grows,
    "raises": raises,
    "exits": exits,
    "bad_metrics": bad_metrics,
}


@hookimpl
def register_detectors(register):
    for name, fn in BEHAVIOURS.items():
        register(Detector(name=name, content_types=ALL_TYPES, evaluate=fn, description=f"test detector that {name}"))


def judge_with(detector: str, *, judge_id: str | None = None) -> dict[str, Any]:
    """A judge with a healthy `video_specs` criterion before and after the misbehaving one."""
    return {
        "judge_id": judge_id or f"judge_{detector}",
        "name": f"healthy criteria around {detector}",
        "criteria": [
            {"criterion_id": "specs_before", "detector": "video_specs", "params": {"min_width": 100}},
            {"criterion_id": f"bad_{detector}", "detector": detector},
            {"criterion_id": "specs_after", "detector": "video_specs", "params": {"min_fps": 1}},
        ],
    }


def install_entry_point(site: Path) -> Path:
    """Write a dist-info under `site` whose ``pique_engine`` entry point loads this module.

    Put `site` and the repository root on PYTHONPATH and set PIQUE_LOAD_PLUGINS to
    `ENTRY_POINT` for a worker subprocess to load it.
    """
    info = site / "pique_misbehaving-0.0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(textwrap.dedent("""\
        Metadata-Version: 2.1
        Name: pique-misbehaving
        Version: 0.0.1
        """))
    (info / "entry_points.txt").write_text(f"[pique_engine]\n{ENTRY_POINT} = tests.misbehaving_plugin\n")
    return site


def expected_failures(detector_timeout_sec: int) -> dict[str, str]:
    """The rationale each misbehaving criterion fails with, under a 512 MiB memory limit and a
    per-detector time limit of `detector_timeout_sec`."""
    abandoned = (
        f"exceeded its time limit of {detector_timeout_sec} s and was abandoned "
        "(PIQUE_DETECTOR_TIMEOUT_SEC, or the evaluation's own limit)"
    )
    memory = "exceeded the 512 MiB memory limit (PIQUE_EVALUATION_MEMORY_MB) and was stopped"
    return {
        "segfaults": "detector 'segfaults' (criterion 'bad_segfaults') crashed (killed by SIGSEGV)",
        "aborts": "detector 'aborts' (criterion 'bad_aborts') crashed (killed by SIGABRT)",
        "exits": "detector 'exits' (criterion 'bad_exits') crashed (exit status 3)",
        "hangs": f"detector 'hangs' {abandoned}",
        "spins": f"detector 'spins' {abandoned}",
        "allocates": f"detector 'allocates' (criterion 'bad_allocates') {memory}",
        "grows": f"detector 'grows' (criterion 'bad_grows') {memory}",
        "raises": "detector 'raises' failed: KeyError: 'weights'",
        "bad_metrics": "detector 'bad_metrics' returned metrics that cannot be sent as JSON",
    }
