"""Every hook a pique-engine plugin can implement.

The marker name, the plugin manager's project name and the entry-point group are all
``pique_engine``: a plugin package declares

    [project.entry-points.pique_engine]
    my_plugin = "my_plugin"

and decorates its hook functions with ``pique_engine.hookimpl``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .detector import Detector
    from .judge import Judge
    from .payloads import CriterionResult

PROJECT = "pique_engine"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_detectors(register: Callable[[Detector], None]) -> None:
    """Register detectors by calling ``register(Detector(...))`` once for each.

    Called once, when the plugin manager is first built (at CLI, worker or API start-up).
    The engine calls each registered detector itself, one criterion at a time, so a detector
    that raises fails only its own criterion. Returns nothing.
    """


@hookspec(firstresult=True)
def overall_score(judge: Judge, results: Sequence[CriterionResult]) -> float | None:
    """Combine criterion results into the evaluation's ``overall_score`` (0..1).

    Called once per completed evaluation with the judge and the results of the criteria
    that applied to the content. The first plugin to return a number wins; the built-in
    implementation (which runs last) returns the weight-weighted mean of the scores.
    Return ``None`` to leave the decision to the next plugin.
    """
