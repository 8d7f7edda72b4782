"""The built-in overall score: the weighted mean of the criteria that applied."""

from __future__ import annotations

import pytest

from pique_engine.judge import parse_judge
from pique_engine.payloads import CriterionResult
from pique_engine.plugins import load_plugins
from pique_engine.scoring import overall_score


def judge(*weights: float):
    return parse_judge({"judge_id": "j", "criteria": [
        {"criterion_id": f"c{i}", "detector": "video_specs", "weight": w} for i, w in enumerate(weights)]})  # fmt: skip


def result(i: int, score: float) -> CriterionResult:
    return CriterionResult(criterion_id=f"c{i}", detector_name="video_specs", pass_check=score == 1, score=score,
                           rationale="", metrics={})  # fmt: skip


def test_the_score_is_the_weighted_mean_rounded_to_4_places():
    assert overall_score(judge(1, 3), [result(0, 1.0), result(1, 0.5)]) == pytest.approx(0.625)
    assert overall_score(judge(1, 1, 1), [result(0, 1.0), result(1, 0.0), result(2, 0.0)]) == 0.3333


def test_only_the_results_given_count_and_weight_0_is_reported_but_not_counted():
    assert overall_score(judge(2, 5), [result(0, 0.25)]) == 0.25  # c1 did not apply
    assert overall_score(judge(1, 0), [result(0, 1.0), result(1, 0.0)]) == 1.0


def test_no_weight_among_the_results_scores_0():
    assert overall_score(judge(1, 0), [result(1, 1.0)]) == 0.0
    assert overall_score(judge(1), []) == 0.0


def test_the_plugin_facade_answers_with_the_built_in_when_no_plugin_overrides_it():
    plugins = load_plugins([])
    assert plugins.overall_score(judge(1, 3), [result(0, 1.0), result(1, 0.5)]) == pytest.approx(0.625)
    assert plugins.detector("video_specs") is plugins.detectors.get("video_specs")
    assert plugins.detector("no_such_detector") is None
