"""Sessions, ids and error wrapping shared by the parts of `Store`."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, StatementError
from sqlalchemy.orm import Session

from ..errors import StoreError
from .db import writer

_ALPHANUM = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 16) -> str:
    """A random id such as ``job_xKt9mNp2qRs3vWy7``: a type prefix and `length` letters or digits."""
    return prefix + "".join(secrets.choice(_ALPHANUM) for _ in range(length))


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_transient(exc: BaseException) -> bool:
    """Whether a `StoreError` came from the database being unreachable (worth retrying)."""
    cause = exc.__cause__
    if isinstance(cause, DBAPIError) and cause.connection_invalidated:
        return True
    return isinstance(cause, OperationalError | InterfaceError)


class StoreBase:
    """An Engine, and the two kinds of transaction the store runs on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._wrap(), Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A transaction that will write; on SQLite it takes the write lock up front."""
        with self._wrap(), Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _wrap(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            cause = exc.orig if exc.orig is not None else exc
            reason = (str(cause).strip().splitlines() or ["no detail"])[0]
            if isinstance(exc, IntegrityError):
                advice = "the change conflicts with data already stored"
            elif isinstance(exc, OperationalError | InterfaceError):
                advice = "check that the database is reachable; retrying later may succeed"
            else:
                advice = "check that the schema is up to date (every command migrates it at start-up)"
            raise StoreError(f"database operation failed ({type(cause).__name__}: {reason}); {advice}") from exc
        except StatementError as exc:
            if isinstance(exc.orig, ValueError):  # a value our column types refuse, e.g. a naive datetime
                raise exc.orig from None
            raise
