"""Judges are validated once, at load, with errors naming judge, criterion and field."""

from __future__ import annotations

import json

import pytest

from pique_engine.errors import JudgeError
from pique_engine.judge import bind_judge, load_judge_file, parse_judge
from pique_engine.plugins import load_plugins

from .conftest import FIXTURES, require_service


@pytest.fixture(scope="module")
def registry():
    return load_plugins([]).detectors


def judge(*criteria):
    return {"judge_id": "judge_x", "name": "x", "criteria": list(criteria)}


@pytest.mark.parametrize("path", sorted((FIXTURES / "judges").glob("*.json")), ids=lambda p: p.name)
def test_every_example_judge_loads(path):
    everything = load_plugins(None).detectors
    if path.name in ("loudness.json", "qc_short_video.json") and everything.get("audio_loudness") is None:
        require_service(False, f"{path.name} needs the example plugin: pip install -e plugins/pique-qc")
    if path.name == "brand_safety.json" and everything.get("nsfw") is None:
        require_service(False, "brand_safety.json needs pique-safety: pip install -e plugins/pique-safety")
    bound = load_judge_file(path, everything)
    assert len(bound.criteria) == len(json.loads(path.read_text())["criteria"])


def test_a_bad_param_names_judge_criterion_detector_and_field(registry):
    data = judge({"criterion_id": "specs", "detector": "video_specs", "params": {"min_fps": "fast"}})
    with pytest.raises(JudgeError) as exc:
        bind_judge(parse_judge(data), registry)
    assert str(exc.value).startswith("judge 'judge_x', criterion 'specs' (video_specs): invalid params: params.min_fps:")


def test_an_unknown_param_is_refused(registry):
    data = judge({"criterion_id": "specs", "detector": "video_specs", "params": {"min_fsp": 30}})
    with pytest.raises(JudgeError, match="params.min_fsp: Extra inputs are not permitted"):
        bind_judge(parse_judge(data), registry)


def test_a_detector_that_is_not_installed_is_named_with_the_installed_ones(registry):
    data = judge({"criterion_id": "loud", "detector": "audio_loudnes"})
    with pytest.raises(JudgeError, match="asks for detector 'audio_loudnes', which is not installed \\(installed: audio_sample_rate, image_dimensions, video_specs"):
        bind_judge(parse_judge(data), registry)


@pytest.mark.parametrize(
    "data, words",
    [
        ({"judge_id": "j", "criteria": []}, "criteria: List should have at least 1 item"),
        ({"criteria": [{"criterion_id": "a", "detector": "video_specs"}]}, "judge_id: Field required"),
        (judge({"criterion_id": "a", "detector": "video_specs", "weight": -1}), "criteria.0.weight"),
        (judge({"criterion_id": "a", "detector": "video_specs"}, {"criterion_id": "a", "detector": "image_dimensions"}), "criterion id 'a' is used twice"),
        (judge({"criterion_id": "a", "detector": "video_specs", "weight": 0}), "every criterion has weight 0"),
    ],
)
def test_judge_shape_errors_are_specific(data, words):
    with pytest.raises(JudgeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_judge(data)


def test_a_judge_file_that_is_not_json_says_so(tmp_path, registry):
    path = tmp_path / "j.json"
    path.write_text("{not json")
    with pytest.raises(JudgeError, match="is not valid JSON"):
        load_judge_file(path, registry)


def test_criteria_for_keeps_only_detectors_that_handle_the_content_type(registry):
    bound = load_judge_file(FIXTURES / "judges" / "any_media.json", registry)
    assert [c.criterion.criterion_id for c in bound.criteria_for("image")] == ["image"]
    assert [c.criterion.criterion_id for c in bound.criteria_for("audio")] == ["audio"]
