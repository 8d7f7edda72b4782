"""`pique-engine judges validate FILE`: a judge checked against the installed detectors, no database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration  # each test runs the pique-engine CLI in a subprocess


@pytest.fixture
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith("PIQUE_")}
    e["PIQUE_LOAD_PLUGINS"] = ""
    # A database URL no command could open: validating must never touch it.
    e["PIQUE_DATABASE_URL"] = f"postgresql://nobody@127.0.0.1:1/{tmp_path.name}"
    return e


def validate(env, tmp_path, judge) -> subprocess.CompletedProcess:
    path = tmp_path / "judge.json"
    path.write_text(judge if isinstance(judge, str) else json.dumps(judge))
    return subprocess.run([sys.executable, "-m", "pique_engine", "judges", "validate", str(path)],
                          env=env, capture_output=True, text=True, timeout=60)


def test_a_valid_judge_exits_0_and_says_which_content_types_it_covers(env, tmp_path):
    r = validate(env, tmp_path, {"judge_id": "reels", "criteria": [
        {"criterion_id": "specs", "detector": "video_specs", "params": {"aspect_ratio": "9:16"}},
        {"criterion_id": "rate", "detector": "audio_sample_rate"}]})
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "judge 'reels' is valid: 2 criteria"
    assert "  video: specs" in lines and "  audio: rate" in lines
    assert "  image: no criterion (evaluating it would fail)" in lines
    assert "database" not in r.stderr


def test_every_problem_is_reported_and_the_exit_status_is_1(env, tmp_path):
    r = validate(env, tmp_path, {"judge_id": "bad", "criteria": [
        {"criterion_id": "typo", "detector": "video_spec"},
        {"criterion_id": "params", "detector": "video_specs", "params": {"min_fps": "fast"}},
        {"criterion_id": "fine", "detector": "image_dimensions"}]})
    assert r.returncode == 1
    errors = [line for line in r.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert "criterion 'typo' asks for detector 'video_spec', which is not installed" in errors[0]
    assert "criterion 'params' (video_specs): invalid params: params.min_fps: Input should be a valid number" in errors[1]


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "is not valid JSON"),
    (json.dumps({"judge_id": "x", "criteria": []}), "is not a valid judge: criteria: List should have at least 1 item"),
])
def test_a_file_that_is_not_a_judge_says_why(env, tmp_path, text, message):
    r = validate(env, tmp_path, text)
    assert r.returncode == 1 and message in r.stdout
