"""Migrations: from empty to head in code, safe to run from several processes at once."""

from __future__ import annotations

import importlib.resources
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from pique_engine.store import Store, current_revision, head_revision, upgrade
from pique_engine.store.db import make_engine, writer
from pique_engine.store.migrate import MIGRATIONS_DIR, alembic_config
from pique_engine.store.models import Base

from ..databases import database_url, pg_url  # noqa: F401 - fixtures

PRAGMAS = ("journal_mode", "busy_timeout", "foreign_keys")
TABLES = {
    "alembic_version",
    "organisations",
    "api_keys",
    "judges",
    "evaluation_jobs",
    "evaluation_results",
    "webhook_deliveries",
    "webhook_attempts",
}


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_from_an_empty_database(database_url: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini anywhere near
    assert tables(database_url) == set()
    upgrade(database_url)
    assert tables(database_url) == TABLES
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision() == "0002"
    engine.dispose()


def test_upgrading_an_up_to_date_database_keeps_its_data(database_url: str) -> None:
    with Store.open(database_url) as store:
        org = store.create_org("Acme").org
    upgrade(database_url)
    with Store.open(database_url) as store:
        assert store.get_org(org.id) == org


def test_models_and_migrations_describe_the_same_schema(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    cfg = alembic_config(engine)
    with writer(engine).connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    engine.dispose()
    assert tables(database_url) == {"alembic_version"}
    upgrade(database_url)
    assert tables(database_url) == TABLES


@pytest.mark.integration
def test_several_processes_upgrading_at_once_all_succeed(database_url: str) -> None:
    start = time.time() + 3  # let every interpreter import first, then go together
    script = (
        "import sys, time\n"
        "from pique_engine.store import upgrade\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "upgrade(sys.argv[1])\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, database_url, str(start)], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], "\n".join(errors)
    assert tables(database_url) == TABLES
    engine = make_engine(database_url)
    assert current_revision(engine) == "0002"
    engine.dispose()


def test_migrations_ship_inside_the_package() -> None:
    package_dir = Path(str(importlib.resources.files("pique_engine.store")))
    assert MIGRATIONS_DIR == package_dir / "migrations"
    for name in ("env.py", "script.py.mako", "versions/0001_initial.py", "versions/0002_job_leases_index.py"):
        assert (MIGRATIONS_DIR / name).is_file(), name


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        pragmas = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in PRAGMAS]
    engine.dispose()
    assert pragmas == ["wal", 30000, 1]


def test_sqlite_enforces_foreign_keys(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with pytest.raises(IntegrityError, match="FOREIGN KEY"), engine.begin() as conn:
            conn.execute(text("INSERT INTO api_keys VALUES ('key_1', 'org_missing', 'pk_x', 'h', '2026-01-01', NULL)"))
    finally:
        engine.dispose()
