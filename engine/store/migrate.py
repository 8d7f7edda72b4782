"""Bring a database's schema up to date, from code, with no ``alembic.ini`` on disk.

Every command calls `upgrade` at start-up, so a fresh database needs no extra step. Several
processes may start at once: on PostgreSQL the whole upgrade runs in one transaction that
first takes a transaction-scoped advisory lock, so the others wait and then find the schema
already at head; on SQLite the transaction begins ``IMMEDIATE``, which serialises them the
same way.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from .db import make_engine, writer

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number works; deriving it from a name keeps it recognisable in pg_locks.
ADVISORY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"pique_engine.store.migrate").digest()[:8], "big", signed=True)


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic `Config` built in code, pointing at the migrations shipped in the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this version of pique-engine."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(database: str | Engine) -> None:
    """Migrate the database (a URL or an Engine) to the newest revision; a no-op when it is there."""
    engine = make_engine(database) if isinstance(database, str) else database
    try:
        _upgrade(engine)
    finally:
        if isinstance(database, str):
            engine.dispose()


def _upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine)
    with writer(engine).connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("database schema upgraded from %s to %s", before or "empty", after)
