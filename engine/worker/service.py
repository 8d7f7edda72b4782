"""`pique-engine worker`, assembled: check what it needs, then run the loop on Pub/Sub."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.engine import make_url

from ..errors import PiqueError
from ..settings import Settings
from ..storage.gcs import GcsStorage
from ..store import Store, upgrade
from ..webhooks.dispatcher import OutboxDispatcher
from .checks import Readiness, database_problem, startup_problems
from .handler import Worker
from .metrics import WorkerMetrics
from .runner import Runner
from .subscriber import PubSubSource, subscription_problem

# An unreachable PostgreSQL host must fail the start-up check in seconds, not hang in connect().
CONNECT_TIMEOUT_SEC = 5


class StartupError(PiqueError):
    """Something the worker needs is missing; the message says what and how to provide it."""


def open_store(database_url: str) -> Store:
    """The store, not migrated yet: a connection failure is reported by `database_problem`."""
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    return Store.open(database_url, migrate=False, **({"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SEC}} if postgres else {}))


def run_worker(settings: Settings, *, max_messages: int | None = None) -> Counter[str]:
    """Check, then consume `settings.subscription` until stopped; raises `StartupError` first when anything is missing."""
    store = open_store(settings.database_url)
    try:
        try:
            upgrade(store.engine)
        except Exception:  # unreachable: the check below says so in one line
            pass
        problems = startup_problems(settings, store)
        if problems:
            raise StartupError(problems[0])
        metrics = WorkerMetrics()
        dispatcher = OutboxDispatcher.from_settings(store, settings, metrics=metrics)
        worker = Worker(settings, store, GcsStorage(settings.bucket, settings.google_cloud_project), metrics=metrics, results=dispatcher.wake)
        source = PubSubSource(settings.subscription, concurrency=settings.concurrency, ack_extension_sec=settings.ack_extension_sec)
        ready = Readiness([lambda: database_problem(store), lambda: subscription_problem(settings.subscription)])
        return Runner(worker, source, dispatcher, metrics_port=settings.metrics_port, ready_check=ready).run(max_messages=max_messages)
    finally:
        store.close()
