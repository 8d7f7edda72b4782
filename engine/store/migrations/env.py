"""Alembic environment for the store.

`pique_engine.store.migrate.upgrade` hands over a connection that is already inside a
transaction (and, on PostgreSQL, holds the migration advisory lock), so the migrations run
inside that transaction. Offline (``--sql``) mode renders from the configured URL.
"""

from __future__ import annotations

from alembic import context

from pique_engine.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through pique_engine.store.migrate.upgrade, which supplies the connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
