"""Shared test helpers: fixture paths, and services that skip locally but fail in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(available: bool, why: str) -> None:
    """Skip (locally) or fail (in CI) when a service a test needs is missing.

    In CI `.ci/run` provides every service, so a missing one is a broken CI set-up, not a
    reason to pass quietly.
    """
    if available:
        return
    if IN_CI:
        pytest.fail(f"required service missing in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def sqlite_at_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to the newest revision once, for `migrated_database_url` to copy."""
    from pique_engine.store import upgrade  # here: a run that needs no database need not import Alembic

    path = tmp_path_factory.mktemp("migrated") / "pique.db"
    upgrade(f"sqlite:///{path}")
    return path
