"""Alembic migrations for the store; run them with `pique_engine.store.migrate.upgrade`."""
