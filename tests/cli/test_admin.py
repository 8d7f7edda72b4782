"""The admin commands print JSON, show secrets once and work on a fresh database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pique_engine.store import Store

from ..conftest import FIXTURES


@pytest.fixture
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith("PIQUE_")}
    e["PIQUE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'admin.db'}"
    e["PIQUE_LOAD_PLUGINS"] = ""
    return e


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "pique_engine", *args], env=env, capture_output=True, text=True, timeout=60)


def ok(env, *args):
    r = run(env, *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_orgs_keys_and_judges_round_trip(env):
    org = ok(env, "orgs", "create", "--name", "Acme", "--webhook-url", "https://hooks.example.com/pique")
    assert org["api_key"].startswith("pk_") and org["webhook_secret"].startswith("whsec_")
    judge = ok(env, "judges", "create", "--org", org["org_id"], "--file", str(FIXTURES / "judges" / "reels.json"))
    assert judge == {"judge_id": "judge_reels", "org_id": org["org_id"], "criteria": 1}
    assert [j["judge_id"] for j in ok(env, "judges", "list", "--org", org["org_id"])] == ["judge_reels"]
    shown = ok(env, "judges", "show", "--org", org["org_id"], "--judge", "judge_reels")
    assert shown["criteria"][0]["params"]["aspect_ratio"] == "9:16"
    key = ok(env, "keys", "create", "--org", org["org_id"])
    assert len(ok(env, "keys", "list", "--org", org["org_id"])) == 2
    assert ok(env, "keys", "revoke", key["key_id"]) == {"key_id": key["key_id"], "revoked": True}
    with Store.open(env["PIQUE_DATABASE_URL"]) as store:
        assert store.org_for_api_key(key["api_key"]) is None  # revoked at once
        assert store.org_for_api_key(org["api_key"]).id == org["org_id"]
    rotated = ok(env, "orgs", "rotate-secret", org["org_id"], "--overlap-hours", "1")
    assert rotated["webhook_secret"] != org["webhook_secret"] and rotated["previous_secret_valid_until"]


def test_an_invalid_judge_file_is_refused_before_it_is_stored(env, tmp_path):
    org = ok(env, "orgs", "create", "--name", "Acme")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"judge_id": "j", "criteria": [{"criterion_id": "c", "detector": "video_specs", "params": {"min_fps": "x"}}]}))
    r = run(env, "judges", "create", "--org", org["org_id"], "--file", str(bad))
    assert r.returncode == 2
    assert "criterion 'c' (video_specs): invalid params: params.min_fps" in r.stderr
    assert ok(env, "judges", "list", "--org", org["org_id"]) == []


@pytest.mark.parametrize(
    "args, words",
    [
        (["orgs", "create", "--name", "X", "--webhook-url", "http://169.254.169.254/latest"], "cloud metadata address"),
        (["keys", "revoke", "key_nope"], "unknown or already revoked"),
        (["judges", "list", "--org", "org_nope"], "organisation 'org_nope' not found"),
    ],
)
def test_admin_errors_say_what_is_wrong(env, args, words):
    r = run(env, *args)
    assert r.returncode != 0
    assert words in r.stderr
