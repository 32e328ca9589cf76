"""The ``imi`` command: run the server, manage the schema (thin client commands come later)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, Any

import typer

from imi.cli_keys import keys_app
from imi.logging import configure_logging, get_logger
from imi.settings import Settings, get_settings

# Heavy modules (SQLAlchemy, alembic, uvicorn, FastAPI) are imported inside the commands that
# need them: `imi --help` and the thin client commands stay quick to start.

log = get_logger("imi.cli")

app = typer.Typer(
    name="imi",
    help="iMi: projects, work in flight and how they connect, for fleets of coding agents.",
    no_args_is_help=True,
    invoke_without_command=True,  # so `imi --version` needs no command
    add_completion=False,
)
db_app = typer.Typer(help="Inspect and migrate the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

# uvicorn's own status code for "the application failed to start".
STARTUP_FAILURE = 3


def _default(field: str) -> Any:
    """A setting's built-in default: what --help shows when no IMI_* variable overrides it."""
    return Settings.model_fields[field].default


def _given(ctx: typer.Context, **values: Any) -> dict[str, Any]:
    """The options set on the command line or by their environment variable.

    Defaults are left out, so the settings (which also read ``.env``) decide those.
    """
    names = {"migrate_on_start": "migrate"}
    given = {}
    for field, value in values.items():
        source = ctx.get_parameter_source(names.get(field, field))
        # By name: Typer ships its own copy of click's ParameterSource in newer releases.
        if source is not None and source.name != "DEFAULT":
            given[field] = value
    return given


class Terminated(Exception):
    """SIGTERM or SIGINT arrived; unwinds the stack so every ``finally`` runs."""


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
    ] = False,
) -> None:
    if version:
        from importlib.metadata import version as package_version

        typer.echo(package_version("imi"))
        raise typer.Exit()


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Interface to bind.",
            metavar="HOST",
            envvar="IMI_HOST",
            show_envvar=True,
        ),
    ] = _default("host"),
    port: Annotated[
        int,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to bind.",
            metavar="PORT",
            envvar="IMI_PORT",
            show_envvar=True,
        ),
    ] = _default("port"),
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Apply migrations before serving.",
            envvar="IMI_MIGRATE_ON_START",
            show_envvar=True,
        ),
    ] = _default("migrate_on_start"),
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="HTTP worker processes (0: one per CPU core; default: one per core with "
            "IMI_DATABASE_URL, one on the embedded database). Migrations and the embedded "
            "database are handled once, by this process.",
            metavar="N",
            envvar="IMI_WORKERS",
            show_envvar=True,
        ),
    ] = _default("workers"),
    force_open: Annotated[
        bool,
        typer.Option(
            "--force-open",
            help="Serve with IMI_AUTH=off on a non-loopback address (anyone who can reach it "
            "can change everything).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API. Without IMI_DATABASE_URL, runs an embedded PostgreSQL."""
    from imi.auth.policy import is_loopback
    from imi.runtime import database

    given = _given(ctx, host=host, port=port, migrate_on_start=migrate, workers=workers)
    settings = _settings(**given)
    configure_logging(settings)
    if settings.auth == "off" and not is_loopback(settings.host) and not force_open:
        typer.echo(
            f"error: IMI_AUTH=off on {settings.host} would let anyone on the network change "
            "everything; bind 127.0.0.1, set IMI_AUTH=local-open or required, or pass "
            "--force-open",
            err=True,
        )
        raise typer.Exit(2)
    with _graceful_signals(), _friendly_errors():
        try:
            with database(settings, migrate=settings.migrate_on_start) as url:
                started = _run_uvicorn(settings, url)
        except Terminated:
            log.info("stopped by signal")
            return
    if not started:
        raise typer.Exit(STARTUP_FAILURE)


def worker_count(settings: Settings) -> int:
    """``IMI_WORKERS``, where 0 means one per core; unset, one per core for a configured
    database (production) and one for the embedded default (a laptop: one process is plenty,
    and each worker holds its own pool)."""
    cores = os.cpu_count() or 1
    if settings.workers is None:
        return cores if settings.database_url else 1
    return settings.workers or cores


def _run_uvicorn(settings: Settings, database_url: str) -> bool:
    """Serve until a signal; True when the server came up at all."""
    import uvicorn

    from imi.app import create_app, freeze_startup_objects

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # keep ours: uvicorn's records go through imi.logging
        "access_log": True,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "server_header": False,
        # GraphQL frames are small; per-socket compression state costs ~40 KB a connection.
        "ws_per_message_deflate": False,
    }
    workers = worker_count(settings)
    if workers > 1:
        return _run_workers(options, database_url, workers)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, database_url), **options))
    freeze_startup_objects()
    # uvicorn takes over SIGINT/SIGTERM while it runs, drains in-flight requests, then
    # re-raises the signal into our handler, which unwinds to stop the embedded database.
    server.run()
    return server.started


WORKER_STARTUP_SECONDS = 60


def _run_workers(options: dict[str, Any], database_url: str, workers: int) -> bool:
    """Serve from ``workers`` processes sharing one socket, until a signal.

    This process binds the socket and supervises; each worker builds its own app (engine,
    pool, LISTEN hub, relay and consumers: all made for several at once) from the
    environment, with the database this process started and migrated. On SIGTERM/SIGINT
    uvicorn's supervisor asks every worker to drain and waits for them; then ``Terminated``
    unwinds to stop the embedded database last.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from imi.app import WORKER_DATABASE_URL

    class Supervisor(Multiprocess):
        signalled: str | None = None

        def handle_int(self) -> None:
            self.signalled = "SIGINT"
            super().handle_int()

        def handle_term(self) -> None:
            self.signalled = "SIGTERM"
            super().handle_term()

    os.environ[WORKER_DATABASE_URL] = database_url  # the spawned workers inherit it
    config = uvicorn.Config(
        "imi.app:create_app_from_env",
        factory=True,
        workers=workers,
        # A worker imports the whole app before it answers the supervisor's first ping; on a
        # loaded machine that took longer than uvicorn's 5 s, and workers were killed and
        # restarted in a loop. Later pings are answered by a thread, whatever the loop does.
        timeout_worker_healthcheck=WORKER_STARTUP_SECONDS,
        **options,
    )
    sock = config.bind_socket()
    log.info("starting workers", workers=workers)
    try:
        supervisor = Supervisor(config, sockets=[sock])
        supervisor.run()
    finally:
        sock.close()
    if supervisor.signalled:
        raise Terminated(supervisor.signalled)
    return False  # uvicorn's supervisor only returns early when a worker could not start


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Option("--revision", help="Target revision.", metavar="REVISION")
    ] = "head",
) -> None:
    """Apply migrations up to a revision (the newest by default)."""
    from imi.runtime import database

    settings = _settings()
    configure_logging(settings)
    with (
        _graceful_signals(),
        _friendly_errors(),
        database(settings, migrate=True, revision=revision),
    ):
        pass


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the newest one this code knows."""
    from imi.migrate import head_revision
    from imi.runtime import database

    settings = _settings()
    configure_logging(settings)
    with (
        _graceful_signals(),
        _friendly_errors(),
        database(settings, migrate=False, read_only=True) as url,
    ):
        current = asyncio.run(_current_revision(url))
    head = head_revision()
    typer.echo(f"revision: {current or 'none'}")
    typer.echo(f"head: {head}")
    typer.echo("up to date" if current == head else "migrations pending: run `imi db upgrade`")


async def _current_revision(url: str) -> str | None:
    from imi.db import create_engine, schema_revision

    engine = create_engine(url)
    try:
        return await schema_revision(engine)
    finally:
        await engine.dispose()


@app.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL); schema.graphql in the repository is this output."""
    from imi.graphql.schema import schema

    typer.echo(schema.as_str())


def _settings(**overrides: Any) -> Settings:
    """The environment's settings with the command line's explicit options on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return get_settings().model_copy(update=given)


@contextmanager
def _graceful_signals() -> Iterator[None]:
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
def _friendly_errors() -> Iterator[None]:
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


if __name__ == "__main__":
    app()
