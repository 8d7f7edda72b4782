"""Declaring a detector and scoring its checks the way the built-ins do."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from pique_engine import Checks, Detector, DetectorResult, NoParams, check_ranges


def test_the_score_is_the_share_of_checks_that_pass_and_the_rationale_names_each_failure():
    c = Checks()
    c.check("fps", 24.0, ">= 29", ok=False)
    c.check("width", 576, ">= 100", ok=True)
    c.check("codecs", ["h264", "aac"], "vp9", ok=False)
    r = c.result(name="x", metrics={"fps": 24}, summary="fine")
    assert (r.score, r.pass_check) == (0.3333, False)
    assert r.rationale == "2 of 3 checks failed: fps 24 (required >= 29); codecs h264, aac (required vp9)"
    assert r.metrics == {"x": {"fps": 24}}


def test_all_passing_or_no_checks_gives_the_summary_and_full_score():
    c = Checks()
    c.check("width", 576, ">= 100", ok=True)
    assert c.result(name="x", metrics={}, summary="all good").model_dump() == {
        "score": 1.0, "pass_check": True, "rationale": "all good", "metrics": {"x": {}}}  # fmt: skip
    assert Checks().result(name="x", metrics={}, summary="nothing to check").score == 1.0


def test_within_checks_only_the_bounds_set_and_an_unknown_value_fails_them():
    c = Checks()
    c.within("fps", 30.0, 29, 60)
    c.within("duration", None, 1.0, unit="s", shown="unknown")
    c.within("height", 100)  # no bounds: no check
    assert c.total == 3
    assert c.failures == ["duration unknown (required >= 1s)"]


def test_check_ranges_refuses_a_minimum_above_its_maximum():
    class Params(BaseModel):
        min_width: int | None = None
        max_width: int | None = None

        @model_validator(mode="after")
        def _ranges(self):
            check_ranges(self, "width")
            return self

    assert Params(min_width=10, max_width=10).min_width == 10
    assert Params(min_width=10).max_width is None
    with pytest.raises(ValidationError, match=r"min_width \(20\) is greater than max_width \(10\)"):
        Params(min_width=20, max_width=10)


def test_a_detector_result_refuses_scores_outside_0_to_1_and_unknown_fields():
    for score in (-0.1, 1.5, math.nan, math.inf):
        with pytest.raises(ValidationError):
            DetectorResult(score=score, pass_check=True, rationale="", metrics={})
    with pytest.raises(ValidationError, match="extra"):
        DetectorResult(score=1, pass_check=True, rationale="", metrics={}, note="x")


def test_a_detector_declaration_is_checked_when_it_is_made():
    def evaluate(media, params):
        raise AssertionError("not called")

    d = Detector(name="my_check", content_types={"video", "audio"}, evaluate=evaluate)
    assert d.content_types == frozenset({"video", "audio"}) and d.params is NoParams and d.reads == "header"
    with pytest.raises(ValueError, match="content_types must be a non-empty subset"):
        Detector(name="my_check", content_types={"text"}, evaluate=evaluate)
    with pytest.raises(ValueError, match="content_types must be a non-empty subset"):
        Detector(name="my_check", content_types=set(), evaluate=evaluate)
    with pytest.raises(ValueError, match="must be a Python identifier"):
        Detector(name="my-check", content_types={"video"}, evaluate=evaluate)
    with pytest.raises(ValidationError):
        NoParams(anything=1)


def test_requests_make_a_content_detector():
    from pique_engine import VideoFrames

    det = Detector(name="looks", content_types={"video"}, evaluate=lambda m, p: None,
                   requests=lambda params, info: {"frames": VideoFrames(fps=1)})
    assert det.reads == "content"
    assert Detector(name="header", content_types={"video"}, evaluate=lambda m, p: None).reads == "header"


def test_requests_that_are_not_a_function_are_refused_saying_what_they_should_be():
    with pytest.raises(ValueError, match=r"detector 'looks': requests must be a function \(params, info\)"):
        Detector(name="looks", content_types={"video"}, evaluate=lambda m, p: None, requests={"frames": 1})
