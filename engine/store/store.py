"""`Store`: everything the API, the worker and the CLI keep in the database."""

from __future__ import annotations

from typing import Any

from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from ..errors import StoreError
from .accounts import AccountsMixin
from .db import make_engine
from .jobs import JobsMixin
from .migrate import current_revision, head_revision, upgrade
from .outbox import OutboxMixin


class Store(AccountsMixin, JobsMixin, OutboxMixin):
    """Organisations, API keys, judges, jobs, results and the webhook outbox, over one Engine.

    Safe to share between threads; every method runs in its own short transaction and
    returns frozen records. Database failures surface as `StoreError`.
    """

    @classmethod
    def open(cls, database_url: str, *, migrate: bool = True, **engine_kwargs: Any) -> Store:
        """A store on `database_url`, its schema brought up to date first unless `migrate` is False."""
        store = cls(make_engine(database_url, **engine_kwargs))
        if migrate:
            try:
                upgrade(store.engine)
            except DBAPIError as exc:
                raise StoreError(f"cannot migrate the database {store.where} ({_reason(exc)}): {_HOW_TO_FIX}") from exc
            except CommandError as exc:  # the schema is at a revision this version does not ship
                raise StoreError(f"cannot migrate the database {store.where} ({exc}): a newer pique-engine "
                                 "migrated it; run that version, or set PIQUE_DATABASE_URL to another database") from exc
        return store

    @property
    def where(self) -> str:
        """The database URL, without its password."""
        return self.engine.url.render_as_string(hide_password=True)

    def check(self) -> None:
        """Raise `StoreError` saying what to do unless the database answers and its schema is this version's."""
        try:
            current = current_revision(self.engine)
        except DBAPIError as exc:
            raise StoreError(f"cannot reach the database {self.where} ({_reason(exc)}): {_HOW_TO_FIX}") from exc
        head = head_revision()
        if current != head:
            raise StoreError(
                f"the database {self.where} is at schema revision {current or 'none (empty)'}, but this version of "
                f"pique-engine needs {head}: start any pique-engine command on it to migrate it (a newer "
                "revision means a newer pique-engine wrote it), or set PIQUE_DATABASE_URL to the right database"
            )

    def close(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_HOW_TO_FIX = "start it, or set PIQUE_DATABASE_URL to a reachable database"


def _reason(exc: Exception) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return f"{type(cause).__name__}: {(str(cause).strip().splitlines() or ['no detail'])[0]}"


__all__ = ["Store"]
