"""Logs are JSON lines for containers, text on a terminal, and a sandbox child logs like its parent."""

from __future__ import annotations

import json
import logging

import pytest

from pique_engine import logs


class Stderr:
    """What the handlers write to sys.stderr, which capsys replaces for the test's duration."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def getvalue(self) -> str:
        return self.capsys.readouterr().err


@pytest.fixture
def stderr(capsys):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logs._chosen)
    yield Stderr(capsys)
    root.handlers[:], root.level, logs._chosen = saved[0], saved[1], saved[2]


def test_json_lines_carry_time_level_logger_message_and_extra_fields(stderr):
    logs.configure_logging("INFO", "json")
    logging.getLogger("pique_engine.test").info("evaluated %s", "clip.mp4", extra={"job_id": "job_1"})
    logging.getLogger("pique_engine.test").debug("not shown at INFO")
    (line,) = stderr.getvalue().splitlines()
    entry = json.loads(line)
    assert {k: entry[k] for k in ("level", "logger", "message", "job_id")} == {
        "level": "info", "logger": "pique_engine.test", "message": "evaluated clip.mp4", "job_id": "job_1"}  # fmt: skip
    assert entry["time"].endswith("Z") and "T" in entry["time"]


def test_an_exception_is_one_json_line_with_its_traceback(stderr):
    logs.configure_logging("INFO", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    (line,) = stderr.getvalue().splitlines()
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_text_format_and_auto_on_a_pipe(stderr):
    logs.configure_logging("WARNING", "text")
    logging.getLogger("x").warning("careful")
    assert " WARNING x: careful" in stderr.getvalue()
    logs.configure_logging("INFO", "auto")  # a StringIO is not a terminal: JSON
    assert logs.for_child({"job_id": "j"}) == ("INFO", True, {"job_id": "j"})


def test_a_child_logs_as_the_parent_chose_with_its_fields_on_every_line(stderr):
    logs.configure_logging("INFO", "json")
    setup = logs.for_child({"job_id": "job_9"})
    logs.configure_child(setup)
    logging.getLogger("child").info("probing")
    logging.getLogger("child").info("own id", extra={"job_id": "other"})
    first, second = (json.loads(line) for line in stderr.getvalue().splitlines())
    assert (first["job_id"], second["job_id"]) == ("job_9", "other")


def test_without_a_choice_a_child_keeps_python_s_default(stderr):
    logs._chosen = None
    assert logs.for_child({"job_id": "j"}) is None
    before = logging.getLogger().handlers[:]
    logs.configure_child(None)
    assert logging.getLogger().handlers == before
