"""``imi serve`` (uvicorn, one process or several workers) and ``imi mcp`` (MCP over stdio):
the two commands that run iMi against a database, resolved the same way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from imi.cli.common import (
    Terminated,
    default,
    friendly_errors,
    given,
    graceful_signals,
    log,
    settings_with,
)
from imi.logging import configure_logging
from imi.settings import Settings

# uvicorn's own status code for "the application failed to start".
STARTUP_FAILURE = 3


@contextmanager
def served_database(settings: Settings, *, beside_server: bool = False) -> Iterator[str]:
    """The database ``imi serve`` runs against: ``IMI_DATABASE_URL``, else the embedded
    PostgreSQL in ``IMI_DATA_DIR`` (started, and stopped on the way out), migrated when
    ``IMI_MIGRATE_ON_START`` says so. ``beside_server``: when a running ``imi serve`` manages
    that embedded server, use it as it is instead of failing."""
    from imi.runtime import database

    with database(settings, migrate=settings.migrate_on_start, read_only=beside_server) as url:
        yield url


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
    ] = default("host"),
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
    ] = default("port"),
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Apply migrations before serving.",
            envvar="IMI_MIGRATE_ON_START",
            show_envvar=True,
        ),
    ] = default("migrate_on_start"),
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
    ] = default("workers"),
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

    chosen = given(ctx, host=host, port=port, migrate_on_start=migrate, workers=workers)
    settings = settings_with(**chosen)
    configure_logging(settings)
    if settings.auth == "off" and not is_loopback(settings.host) and not force_open:
        typer.echo(
            f"error: IMI_AUTH=off on {settings.host} would let anyone on the network change "
            "everything; bind 127.0.0.1, set IMI_AUTH=local-open or required, or pass "
            "--force-open",
            err=True,
        )
        raise typer.Exit(2)
    with graceful_signals(), friendly_errors():
        try:
            with served_database(settings) as url:
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


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves iMi, with one worker or several."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # keep ours: uvicorn's records go through imi.logging
        "access_log": True,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        # uvicorn's own 5 s is shorter than most load balancers' idle timeout.
        "timeout_keep_alive": settings.keep_alive_seconds,
        "server_header": False,
        # GraphQL frames are small; per-socket compression state costs ~40 KB a connection.
        "ws_per_message_deflate": False,
    }


def _run_uvicorn(settings: Settings, database_url: str) -> bool:
    """Serve until a signal; True when the server came up at all."""
    import uvicorn

    from imi.app import create_app, freeze_startup_objects

    options = uvicorn_options(settings)
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
    from imi.observability.multiprocess import shared_metrics_dir

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
        # The workers' metrics meet in one directory: a scrape of any answers their sum.
        with shared_metrics_dir():
            supervisor = Supervisor(config, sockets=[sock])
            supervisor.run()
    finally:
        sock.close()
    if supervisor.signalled:
        raise Terminated(supervisor.signalled)
    return False  # uvicorn's supervisor only returns early when a worker could not start


def mcp() -> None:
    """Serve iMi's MCP tools over stdio (for an agent that launches `imi mcp` itself).

    The database is found as `imi serve` finds it (IMI_DATABASE_URL, or the embedded
    PostgreSQL, shared with a running `imi serve`). stdout carries the MCP protocol, so every
    log line goes to stderr.
    """
    settings = settings_with()
    configure_logging(settings)  # stderr only: stdout is the MCP channel
    with graceful_signals(), friendly_errors():
        try:
            with served_database(settings, beside_server=True) as url:
                from imi.mcp.stdio import serve_stdio

                serve_stdio(settings, url)
        except Terminated:
            log.info("stopped by signal")
