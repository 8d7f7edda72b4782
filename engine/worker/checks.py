"""What `pique-engine worker` needs before it can take a message, checked at start and by /readyz.

Each check returns None when all is well, or one line that says what is missing and how to
provide it: the bucket, the database (reachable, schema at this version's head) and the
subscription.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..settings import Settings
from ..errors import StoreError
from ..store import Store
from .subscriber import subscription_problem

log = logging.getLogger(__name__)

Check = Callable[[], "str | None"]


def bucket_problem(settings: Settings) -> str | None:
    if settings.bucket:
        return None
    return "no bucket set; set PIQUE_BUCKET (the bucket uploads land in) or pass --bucket"


def database_problem(store: Store) -> str | None:
    """None when the database answers and its schema is at this version's head."""
    try:
        store.check()
    except StoreError as exc:
        return str(exc)
    return None


def startup_problems(settings: Settings, store: Store) -> list[str]:
    """Everything missing, in the order an operator would fix it (stops at the first unreachable service)."""
    problems = [p for p in (bucket_problem(settings), database_problem(store)) if p]
    if not problems:
        problems += [p for p in (subscription_problem(settings.subscription),) if p]
    return problems


class Readiness:
    """/readyz: the start-up checks again, at most every `every` seconds (probes come often)."""

    def __init__(self, checks: list[Check], every: float = 15.0) -> None:
        self.checks = checks
        self.every = every
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._problems: list[str] = []

    def __call__(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at >= self.every:
                problems = [p for p in (check() for check in self.checks) if p]
                if problems != self._problems:
                    for p in problems:
                        log.warning("not ready: %s", p)
                self._problems, self._checked_at = problems, time.monotonic()
            return not self._problems
