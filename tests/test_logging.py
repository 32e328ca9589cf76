"""Structured logging: one format for structlog and stdlib records, with the correlation id."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator

import pytest
import structlog

from imi.correlation import reset_correlation_id, set_correlation_id
from imi.logging import configure_logging, get_logger, resolve_log_format
from imi.settings import Settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def _configure(capsys: pytest.CaptureFixture[str], **settings: str) -> None:
    capsys.readouterr()  # the handler binds sys.stderr as it is now: the capture
    configure_logging(Settings(_env_file=None, **settings))  # type: ignore[arg-type]


def _json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


def test_json_lines_carry_correlation_id_for_structlog_and_stdlib(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _configure(capsys, log_format="json", log_level="info")
    token = set_correlation_id("corr-1")
    try:
        get_logger("imi.test").info("structured", answer=42)
        logging.getLogger("alembic.runtime.migration").info("Running upgrade %s", "0001")
    finally:
        reset_correlation_id(token)
    get_logger("imi.test").info("outside a request")

    first, second, third = _json_lines(capsys)
    assert first["event"] == "structured"
    assert first["answer"] == 42
    assert first["correlation_id"] == "corr-1"
    assert first["level"] == "info"
    assert "timestamp" in first
    assert second["event"] == "Running upgrade 0001"
    assert second["logger"] == "alembic.runtime.migration"
    assert second["correlation_id"] == "corr-1"
    assert "correlation_id" not in third


def test_uvicorn_access_line_gets_fields_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    _configure(capsys, log_format="json")
    args = ("127.0.0.1:5000", "GET", "/health", "1.1", 200)
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *args)

    (line,) = _json_lines(capsys)
    assert line["event"] == '127.0.0.1:5000 - "GET /health HTTP/1.1" 200'
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health", 200)
    assert "positional_args" not in line


def test_level_filters_and_exceptions_render(capsys: pytest.CaptureFixture[str]) -> None:
    _configure(capsys, log_format="json", log_level="WARNING")
    log = get_logger("imi.test")
    log.info("hidden")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")

    (line,) = _json_lines(capsys)
    assert line["event"] == "failed"
    assert "RuntimeError: boom" in str(line["exception"])


def test_console_format_is_human_readable(capsys: pytest.CaptureFixture[str]) -> None:
    _configure(capsys, log_format="console")
    token = set_correlation_id("corr-2")
    try:
        get_logger("imi.test").info("hello", who="world")
    finally:
        reset_correlation_id(token)
    err = capsys.readouterr().err
    assert "hello" in err
    assert "who=world" in err
    assert "correlation_id=corr-2" in err


@pytest.mark.parametrize(("terminal", "expected"), [(True, "console"), (False, "json")])
def test_auto_is_console_on_a_terminal_and_json_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    terminal: bool,
    expected: str,
) -> None:
    assert Settings.model_fields["log_format"].default == "auto"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert resolve_log_format(settings) == expected

    _configure(capsys, log_format="auto")
    get_logger("imi.test").info("hello", who="world")
    err = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err).strip()  # no colours
    if expected == "json":
        assert json.loads(err)["who"] == "world"
    else:
        assert "hello" in err and "who=world" in err and not err.startswith("{")


def test_an_explicit_format_wins_over_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    json_settings = Settings(_env_file=None, log_format="json")  # type: ignore[call-arg]
    assert resolve_log_format(json_settings) == "json"
