"""The admin commands print JSON, show secrets once and work on a fresh database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from pique_engine.store import Store

from ..conftest import FIXTURES

pytestmark = pytest.mark.integration  # each test runs the pique-engine CLI in a subprocess


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
    assert ok(env, "keys", "revoke", "--key", key["key_id"]) == {"key_id": key["key_id"], "revoked": True}
    with Store.open(env["PIQUE_DATABASE_URL"]) as store:
        assert store.org_for_api_key(key["api_key"]) is None  # revoked at once
        assert store.org_for_api_key(org["api_key"]).id == org["org_id"]
    rotated = ok(env, "orgs", "rotate-secret", "--org", org["org_id"], "--overlap-hours", "1")
    assert rotated["webhook_secret"] != org["webhook_secret"] and rotated["previous_secret_valid_until"]
    moved = ok(env, "orgs", "set-webhook", "--org", org["org_id"], "--webhook-url", "https://hooks.example.com/v2")
    assert moved == {"org_id": org["org_id"], "webhook_url": "https://hooks.example.com/v2"}


ISO_UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_every_printed_timestamp_is_iso_8601_utc_with_z(env):
    org = ok(env, "orgs", "create", "--name", "Acme")
    before = datetime.now(UTC)
    rotated = ok(env, "orgs", "rotate-secret", "--org", org["org_id"], "--overlap-hours", "2")
    key = ok(env, "keys", "create", "--org", org["org_id"])
    ok(env, "keys", "revoke", "--key", key["key_id"])
    listed = ok(env, "keys", "list", "--org", org["org_id"])

    stamps = [rotated["previous_secret_valid_until"]] + [row[f] for row in listed for f in ("created_at", "revoked_at") if row[f]]
    assert len(stamps) == 4  # the rotation, two keys created, one revoked
    assert all(ISO_UTC_Z.match(s) for s in stamps), stamps
    valid_until = datetime.fromisoformat(rotated["previous_secret_valid_until"])
    assert timedelta(hours=2) <= valid_until - before <= timedelta(hours=2, minutes=5)


@pytest.mark.parametrize(
    "args",
    [["orgs", "rotate-secret", "org_x"], ["orgs", "set-webhook", "org_x", "--webhook-url", "https://x.example"], ["keys", "revoke", "key_x"]],
)
def test_ids_are_options_not_positional_arguments(env, args):
    r = run(env, *args)
    assert r.returncode == 2
    assert "Missing option '--" in r.stderr


def test_the_database_used_is_named_on_stderr(env, tmp_path):
    r = run(env, "orgs", "create", "--name", "Acme")
    assert r.returncode == 0, r.stderr
    assert f"database: sqlite:///{tmp_path / 'admin.db'}" in r.stderr.splitlines()


def test_without_a_database_url_the_admin_cli_uses_the_dev_servers_database(env, tmp_path):
    del env["PIQUE_DATABASE_URL"]
    r = subprocess.run([sys.executable, "-m", "pique_engine", "orgs", "create", "--name", "Acme"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "database: sqlite:///.pique-dev/pique.db" in r.stderr.splitlines()
    assert not (tmp_path / "pique.db").exists()
    with Store.open(f"sqlite:///{tmp_path / '.pique-dev' / 'pique.db'}") as store:
        assert store.get_org(json.loads(r.stdout)["org_id"]).name == "Acme"


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
        (["keys", "revoke", "--key", "key_nope"], "unknown or already revoked"),
        (["judges", "list", "--org", "org_nope"], "organisation 'org_nope' not found"),
    ],
)
def test_admin_errors_say_what_is_wrong(env, args, words):
    r = run(env, *args)
    assert r.returncode != 0
    assert words in r.stderr
