"""`Store`: everything the API, the worker and the CLI keep in the database."""

from __future__ import annotations

from typing import Any

from .accounts import AccountsMixin
from .db import make_engine
from .jobs import JobsMixin
from .migrate import upgrade
from .outbox import OutboxMixin


class Store(AccountsMixin, JobsMixin, OutboxMixin):
    """Organisations, API keys, judges, jobs, results and the webhook outbox, over one Engine.

    Safe to share between threads; every method runs in its own short transaction and
    returns frozen records. Database failures surface as `StoreError`.
    """

    @classmethod
    def open(cls, database_url: str, *, migrate: bool = True, **engine_kwargs: Any) -> Store:
        """A store on `database_url`, its schema brought up to date first unless `migrate` is False."""
        engine = make_engine(database_url, **engine_kwargs)
        if migrate:
            upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Store"]
