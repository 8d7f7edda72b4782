"""The built-in `overall_score`: the weighted mean of the criterion scores.

overall_score = sum(weight_i * score_i) / sum(weight_i) over the criteria that applied to the
content, rounded to 4 decimals. Criteria of weight 0 are reported but do not count. A plugin
can replace this by implementing the `overall_score` hook; this implementation runs last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .judge import Judge
    from .payloads import CriterionResult


@hookimpl(trylast=True)
def overall_score(judge: Judge, results: Sequence[CriterionResult]) -> float | None:
    weights = {c.criterion_id: c.weight for c in judge.criteria}
    total = sum(weights[r.criterion_id] for r in results)
    if total <= 0:
        return 0.0
    return round(sum(weights[r.criterion_id] * r.score for r in results) / total, 4)
