"""What the server-side commands share: settings from the environment and the command line,
signal handling that unwinds cleanly, and one-line failures instead of tracebacks."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import typer

from imi.logging import get_logger
from imi.settings import Settings, get_settings

log = get_logger("imi.cli")


class Terminated(Exception):
    """SIGTERM or SIGINT arrived; unwinds the stack so every ``finally`` runs."""


def default(field: str) -> Any:
    """A setting's built-in default: what --help shows when no IMI_* variable overrides it."""
    return Settings.model_fields[field].default


def given(ctx: typer.Context, **values: Any) -> dict[str, Any]:
    """The options set on the command line or by their environment variable.

    Defaults are left out, so the settings (which also read ``.env``) decide those.
    """
    names = {"migrate_on_start": "migrate"}
    found = {}
    for field, value in values.items():
        source = ctx.get_parameter_source(names.get(field, field))
        # By name: Typer ships its own copy of click's ParameterSource in newer releases.
        if source is not None and source.name != "DEFAULT":
            found[field] = value
    return found


def settings_with(**overrides: Any) -> Settings:
    """The environment's settings with the command line's explicit options on top."""
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return get_settings().model_copy(update=chosen)


@contextmanager
def graceful_signals() -> Iterator[None]:
    """Turn the first SIGTERM/SIGINT into ``Terminated``; ignore repeats while we clean up."""
    fired = False

    def handler(signum: int, _: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return  # already unwinding: do not interrupt the database shutdown
        fired = True
        raise Terminated(signal.Signals(signum).name)

    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {
        sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Failures become one log record and exit code 1."""
    from imi.embedded import DataDirInUse

    try:
        yield
    except DataDirInUse as exc:
        log.error(
            str(exc),
            hint="this command changes the embedded database, which that process manages: stop "
            "it first (`imi serve` applies migrations when it starts), or set IMI_DATA_DIR / "
            "IMI_DATABASE_URL. Read-only commands (`imi db current`) work beside a running "
            "`imi serve`.",
        )
        raise typer.Exit(1) from None
    except Terminated as exc:
        log.warning("interrupted", signal=str(exc))
        raise typer.Exit(1) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception:
        # One structured record (JSON in production) instead of a multi-screen traceback.
        log.exception("imi failed")
        raise typer.Exit(1) from None
