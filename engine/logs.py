"""Log configuration, applied once by the CLI: JSON lines for containers, text for terminals."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Attributes a LogRecord always has; anything else was passed through `extra=` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={"job_id": ...}` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# What the CLI chose, (level, JSON or not), so sandbox children can log the same way.
_chosen: tuple[str, bool] | None = None


class _Fields(logging.Filter):
    """Adds fixed fields (a child's ``job_id``) to every record that lacks them."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__()
        self.fields = fields

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Send logs to stderr, as JSON lines unless `fmt` is 'text' (or 'auto' on a terminal)."""
    global _chosen
    _chosen = (level, fmt == "json" or (fmt == "auto" and not sys.stderr.isatty()))
    _install(*_chosen, {})


def for_child(fields: dict[str, str]) -> tuple[str, bool, dict[str, str]] | None:
    """What `configure_child` needs to log as this process does, with `fields` on every line."""
    return None if _chosen is None else (*_chosen, fields)


def configure_child(setup: tuple[str, bool, dict[str, str]] | None) -> None:
    """In a sandbox child: log like the parent (see `for_child`); without a setup, leave Python's default."""
    if setup is not None:
        _install(*setup)


def _install(level: str, use_json: bool, fields: dict[str, str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if fields:
        handler.addFilter(_Fields(fields))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if root.level > logging.DEBUG:  # migrations announce every plugin they set up
        logging.getLogger("alembic").setLevel(logging.WARNING)
