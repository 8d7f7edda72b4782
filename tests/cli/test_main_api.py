"""`pique-engine api`: it checks what it needs at start, says in one line what is missing, and serves when ready."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..stack import service_account_info

pytestmark = pytest.mark.integration  # each test starts `pique-engine api` in a subprocess


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with a database and a bucket, and no Google credentials anywhere."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PIQUE_", "GOOGLE_", "CLOUDSDK_"))}
    return base | {
        "PIQUE_DATABASE_URL": f"sqlite:///{tmp_path / 'pique.db'}",
        "PIQUE_BUCKET": "uploads",
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),  # no gcloud application-default credentials
        "NO_GCE_CHECK": "true",  # and no asking a metadata server
    }


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(service_account_info()))
    return path


def start_api(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pique_engine", "api", *args], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def the_one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_without_a_bucket_it_exits_saying_to_set_pique_bucket(env, key_file):
    env = {k: v for k, v in env.items() if k != "PIQUE_BUCKET"} | {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}

    line = the_one_error_line(start_api(env))

    assert "PIQUE_BUCKET is not set" in line


def test_with_an_unreachable_database_it_exits_naming_it_and_pique_database_url(env, key_file):
    env |= {"PIQUE_DATABASE_URL": "postgresql+psycopg://pique:hunter2@127.0.0.1:1/pique",
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}  # fmt: skip

    line = the_one_error_line(start_api(env))

    assert "postgresql+psycopg://pique:***@127.0.0.1:1/pique" in line and "hunter2" not in line
    assert "Connection refused" in line and "set PIQUE_DATABASE_URL" in line


def test_with_a_database_a_newer_version_migrated_it_exits_saying_so(env, key_file, tmp_path):
    with sqlite3.connect(tmp_path / "pique.db") as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    env |= {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}

    line = the_one_error_line(start_api(env))

    assert "9999_from_the_future" in line and "newer pique-engine" in line


def test_without_google_credentials_it_exits_saying_how_to_sign(env):
    line = the_one_error_line(start_api(env))

    assert line.startswith(
        "error: no way to sign upload URLs: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file "
        "(pique-engine stack writes one for the emulators) or run with credentials that can call "
        "iam.serviceAccounts.signBlob"
    )


def test_with_a_key_file_that_is_not_there_it_exits_naming_the_file(env, tmp_path):
    missing = tmp_path / "no-such-key.json"

    line = the_one_error_line(start_api(env | {"GOOGLE_APPLICATION_CREDENTIALS": str(missing)}))

    assert "no way to sign upload URLs" in line and str(missing) in line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_with_everything_it_needs_it_serves_and_is_ready(env, key_file):
    port = free_port()
    env |= {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}
    server = subprocess.Popen([sys.executable, "-m", "pique_engine", "api", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120  # start-up takes seconds; the margin is for a busy machine
        while True:
            assert server.poll() is None, server.communicate()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API never answered"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.communicate(timeout=30)

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "reason": None}
