"""`pique-engine evaluate`, `detectors` and `plugins` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ..conftest import FIXTURES

pytestmark = pytest.mark.integration  # each test runs the pique-engine CLI in a subprocess

MEDIA = FIXTURES / "media"
JUDGES = FIXTURES / "judges"


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "pique_engine", *args], capture_output=True, text=True, env=full_env, timeout=120)


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_evaluate_prints_one_completed_payload_per_file_and_exits_0():
    r = run("evaluate", str(MEDIA / "contract_576x1024_30fps.mp4"), str(MEDIA / "phone_rotated_90.mp4"), "--judge", str(JUDGES / "any_media.json"))
    assert r.returncode == 0, r.stderr
    payloads = lines(r.stdout)
    assert [p["status"] for p in payloads] == ["completed", "completed"]
    assert payloads[1]["results"][0]["metrics"]["video_specs"]["width"] == 360


def test_evaluate_exits_1_when_any_file_fails_and_prints_its_failed_payload():
    r = run("evaluate", str(MEDIA / "square_512.png"), str(MEDIA / "empty.mp4"), "--judge", str(JUDGES / "any_media.json"))
    assert r.returncode == 1
    ok, failed = lines(r.stdout)
    assert ok["status"] == "completed"
    assert (failed["event"], failed["error"]) == ("evaluation.failed", "the file is empty (0 bytes)")
    assert "Traceback" not in r.stderr


def test_evaluate_honours_job_id_and_declared_content_type():
    r = run("evaluate", str(MEDIA / "tone_44100_mono.wav"), "--judge", str(JUDGES / "reels.json"), "--content-type", "video", "--job-id", "job_abc")
    assert r.returncode == 1
    (p,) = lines(r.stdout)
    assert p["job_id"] == "job_abc"
    assert "declared as video but the file is audio" in p["error"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["evaluate", "x.mp4"], "Missing option '--judge'"),
        (["evaluate", "a.mp4", "b.mp4", "--judge", str(JUDGES / "reels.json"), "--job-id", "j"], "--job-id names one evaluation"),
        (["evaluate", "a.mp4", "--judge", str(JUDGES / "reels.json"), "--content-type", "text"], "Invalid value for '--content-type'"),
    ],
)
def test_usage_errors_exit_2(args, words):
    r = run(*args)
    assert r.returncode == 2
    assert words in r.stderr


def test_an_invalid_judge_is_a_usage_error_naming_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"judge_id": "j", "criteria": [{"criterion_id": "c", "detector": "nope"}]}))
    r = run("evaluate", str(MEDIA / "square_512.png"), "--judge", str(bad))
    assert r.returncode == 2
    assert "criterion 'c' asks for detector 'nope', which is not installed" in r.stderr


def test_detectors_json_lists_builtins_with_plugin_version_and_types():
    r = run("detectors", "--json", env={"PIQUE_LOAD_PLUGINS": ""})
    assert r.returncode == 0, r.stderr
    rows = {row["detector"]: row for row in json.loads(r.stdout)}
    assert sorted(rows) == ["audio_sample_rate", "image_dimensions", "video_specs"]
    assert rows["video_specs"]["content_types"] == ["video"]
    assert rows["video_specs"]["plugin"] == "pique_engine.detectors.video_specs"
    assert rows["video_specs"]["version"]


def test_detectors_table_has_a_header_row():
    r = run("detectors", env={"PIQUE_LOAD_PLUGINS": ""})
    assert r.stdout.splitlines()[0].split() == ["detector", "plugin", "version", "content_types", "reads"]


def test_plugins_json_lists_hooks():
    r = run("plugins", "--json", env={"PIQUE_LOAD_PLUGINS": ""})
    data = json.loads(r.stdout)
    scoring = next(p for p in data["plugins"] if p["plugin"] == "pique_engine.scoring")
    assert scoring["hooks"] == ["overall_score"] and scoring["builtin"] is True


def test_help_works():
    r = run("--help")
    assert r.returncode == 0 and "evaluate" in r.stdout


def test_detectors_json_shows_each_detectors_params_as_json_schema():
    r = run("detectors", "--json", env={"PIQUE_LOAD_PLUGINS": ""})
    rows = {row["detector"]: row for row in json.loads(r.stdout)}
    schema = rows["video_specs"]["params"]
    assert schema["type"] == "object" and "aspect_ratio" in schema["properties"]
    assert rows["audio_sample_rate"]["reads"] == "header"
