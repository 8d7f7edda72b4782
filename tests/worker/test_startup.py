"""`pique-engine worker` checks what it needs at start and exits at once, in one line, when
something is missing; /readyz runs the same checks. Against the real Pub/Sub emulator."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pique_engine.store import Store
from pique_engine.worker.checks import database_problem
from pique_engine.worker.service import open_store

from ..stack import local_stack, stack_env  # noqa: F401 - fixtures
from ..worker_harness import fresh_subscription, worker_env

pytestmark = pytest.mark.integration

UNREACHABLE_PG = "postgresql+psycopg://pique@127.0.0.1:1/pique"  # nothing listens on port 1


def start(env: dict[str, str]) -> tuple[int, list[str], float]:
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pique_engine", "worker"], env=env, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr.strip().splitlines(), time.monotonic() - started


def test_a_missing_subscription_stops_the_worker_with_one_line_saying_how_to_create_it(stack_env, tmp_path):
    missing = f"projects/{stack_env.project}/subscriptions/never-created"
    code, lines, took = start(worker_env(stack_env, f"sqlite:///{tmp_path / 'pique.db'}", missing))
    assert code == 1
    assert lines == [f"error: subscription '{missing}' not found; create it (docs/operators.md#google-cloud-set-up) or set PIQUE_SUBSCRIPTION"]
    print(f"\nmissing subscription: exited in {took:.1f} s")


def test_an_unreachable_database_stops_the_worker_with_one_line_naming_it(stack_env):
    code, lines, took = start(worker_env(stack_env, UNREACHABLE_PG, fresh_subscription(stack_env)))
    assert code == 1 and len(lines) == 1, lines
    # The same line the API prints for the same fault.
    assert lines[0].startswith("error: cannot reach the database postgresql+psycopg://pique@127.0.0.1:1/pique (")
    assert lines[0].endswith("): start it, or set PIQUE_DATABASE_URL to a reachable database")
    print(f"\nunreachable database: exited in {took:.1f} s")


def test_no_bucket_stops_the_worker_saying_which_variable_to_set(stack_env, tmp_path):
    env = worker_env(stack_env, f"sqlite:///{tmp_path / 'pique.db'}", fresh_subscription(stack_env))
    env.pop("PIQUE_BUCKET", None)
    code, lines, _ = start(env)
    assert (code, lines) == (1, ["error: no bucket set; set PIQUE_BUCKET (the bucket uploads land in) or pass --bucket"])


def test_the_database_check_names_an_unmigrated_database_and_passes_a_migrated_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'pique.db'}"
    fresh = open_store(url)
    try:
        assert "is at schema revision none" in database_problem(fresh)
    finally:
        fresh.close()
    with Store.open(url) as migrated:
        assert database_problem(migrated) is None
