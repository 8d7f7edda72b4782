"""Engines for the store: SQLite for a single host, PostgreSQL for real deployments.

SQLite connections run in WAL mode with a busy timeout and foreign keys on. The stdlib
driver's own transaction handling is switched off so that SQLAlchemy's ``begin`` really
emits ``BEGIN`` (reads see one snapshot) and write transactions emit ``BEGIN IMMEDIATE``:
a deferred transaction that reads and then writes can fail at once with "database is
locked" instead of waiting for the busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE = "pique_write"


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """An Engine for `database_url` with the connection settings the store relies on."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def writer(engine: Engine) -> Engine:
    """The same engine, marked so SQLite takes its write lock when a transaction begins."""
    return engine.execution_options(**{WRITE: True})


def _set_wal(cur: Any) -> None:
    # Switching a new database to WAL needs an exclusive lock, and while another process holds
    # one SQLite may answer "database is locked" at once instead of through the busy handler
    # (seen with several processes opening a fresh database together), or keep the old mode and
    # say so only in the pragma's answer: try again for as long as the busy timeout would wait.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode in ("wal", "memory") or time.monotonic() > deadline:
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        _set_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text, which sorts and compares
    correctly because every value is written in UTC with the same format.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given to the store; pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
