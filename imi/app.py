"""The ASGI application: routers, middleware and the lifespan that owns the database engine."""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from imi.api.body_limit import BodyLimitMiddleware
from imi.api.disconnect import CancelOnDisconnectMiddleware
from imi.api.errors import install_error_handlers
from imi.api.failures import FailureMiddleware
from imi.api.limits import install_cors
from imi.api.middleware import CorrelationIdMiddleware
from imi.api.security import AuthMiddleware
from imi.auth.policy import check_auth_settings
from imi.auth.scoping import install_project_scoping
from imi.coordination.sweeper import start_sweeper
from imi.db import create_engine, session_factory
from imi.insights.stale_job import start_stale_job
from imi.logging import configure_logging, get_logger
from imi.mcp.http import mount_mcp
from imi.migrate import head_revision
from imi.observability.http import HttpMetricsMiddleware
from imi.observability.sampled import PoolSampler
from imi.outbox.notify import EventHub
from imi.pages import mount_static
from imi.settings import Settings, get_settings
from imi.version import imi_version

if TYPE_CHECKING:
    from imi.messaging.bus import EventBus

log = get_logger(__name__)

# Set by `imi serve --workers N` in its own environment before it starts the workers: the
# database they serve (the embedded server's URL when IMI_DATABASE_URL is unset).
WORKER_DATABASE_URL = "IMI_SERVE_DATABASE_URL"

TITLE = "iMi"


class ImiApp(FastAPI):
    """FastAPI with the correlation id as the outermost layer, then the disconnect watch and the
    body size limit.

    Outside even Starlette's ServerErrorMiddleware, so a 500 response and the error log
    written for it carry the request's correlation id too.
    """

    def build_middleware_stack(self) -> ASGIApp:
        # Inside the correlation id: a disconnected client's handler is cancelled (and its
        # query with it); bodies over the limit are refused before any route reads them.
        settings: Settings = getattr(self.state, "settings", None) or get_settings()
        app: ASGIApp = BodyLimitMiddleware(
            super().build_middleware_stack(), settings.max_body_bytes
        )
        app = CorrelationIdMiddleware(CancelOnDisconnectMiddleware(app))
        # Outermost: every answer is counted and timed, refusals and failures included.
        return HttpMetricsMiddleware(app) if settings.metrics_enabled else app


def routers(settings: Settings) -> list[tuple[str, APIRouter]]:
    """Every router the app serves, with its path prefix: the one place areas are mounted.

    ``settings`` is there for routers built per app (GraphQL limits, feature switches).
    """
    from imi.api import coordination_ws, health, metrics
    from imi.api.rest import API_PREFIX, rest_router
    from imi.api.routes import (
        coordination_agents,
        coordination_messages,
        coordination_records,
        coordination_reservations,
    )
    from imi.graphql.router import graphql_router
    from imi.messaging.asyncapi import asyncapi_router
    from imi.pages import pages_router

    return [
        ("", pages_router(TITLE, imi_version())),
        ("", health.router),
        (API_PREFIX, rest_router()),
        ("/graphql", graphql_router(settings)),
        ("", asyncapi_router(settings)),
        ("", coordination_agents.router),
        ("", coordination_messages.router),
        ("", coordination_ws.router),
        ("", coordination_reservations.router),
        ("", coordination_records.router),
        *([("", metrics.router)] if settings.metrics_enabled else []),
    ]


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """Build the app for ``database_url`` (a plain postgresql:// URL).

    The URL defaults to ``IMI_DATABASE_URL``; ``imi serve`` passes the embedded server's URL
    when none is configured. Nothing connects until the first request.
    """
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if not url:
        raise ValueError("create_app needs a database URL (or IMI_DATABASE_URL)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_engine(url, settings)
        app.state.sessions = session_factory(app.state.engine)
        app.state.pool_sampler = PoolSampler(app.state.engine)  # only with several workers
        app.state.bus = await start_bus(settings, app.state.sessions, url)
        app.state.event_hub = EventHub(url)  # LISTENs from the first subscription on
        app.state.reservation_sweeper = start_sweeper(
            app.state.sessions,
            interval=settings.reservation_sweep_seconds,
            stale_seconds=settings.reservation_stale_agent_seconds,
        )
        app.state.stale_job = start_stale_job(app.state.sessions, settings)
        await app.state.mcp.start()
        log.info("imi started", version=imi_version())
        try:
            yield
        finally:
            await app.state.mcp.stop()
            await app.state.pool_sampler.stop()
            if app.state.stale_job is not None:
                await app.state.stale_job.stop()
            if app.state.reservation_sweeper is not None:
                await app.state.reservation_sweeper.stop()
            await app.state.event_hub.stop()
            if app.state.bus is not None:
                await app.state.bus.stop()
            # Closes pooled connections so PostgreSQL sees a clean goodbye, not resets.
            await app.state.engine.dispose()
            log.info("imi stopped")

    app = ImiApp(
        title=TITLE,
        version=imi_version(),
        description="Projects, work in flight, tickets, PRs, deploys and components as one graph.",
        lifespan=lifespan,
        # /docs and /redoc are imi.pages' own, with their assets served from the package.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.head_revision = head_revision()  # parsed once: it reads the migration files
    for prefix, router in routers(settings):
        app.include_router(router, prefix=prefix)
    app.state.mcp = mount_mcp(app, settings)  # MCP tools at /mcp
    mount_static(app)
    install_error_handlers(app)
    check_auth_settings(settings)  # a missing JWT key file fails here, not on each request
    app.add_middleware(AuthMiddleware)
    # Added last, so outside authentication: it answers for the routes' and auth's failures.
    app.add_middleware(FailureMiddleware)
    # Outermost of all: a preflight is answered before authentication, and every answer
    # (refusals included) carries the CORS headers. Nothing when IMI_CORS_ORIGINS is unset.
    install_cors(app, settings)
    install_project_scoping()
    return app


def create_app_from_env() -> FastAPI:
    """The app of one `imi serve --workers N` worker (uvicorn imports and calls this in each).

    Settings come from the environment the worker inherited; the database URL from
    ``IMI_SERVE_DATABASE_URL``, which the parent sets once it has started (and migrated) the
    database, so no worker starts, stops or migrates anything.
    """
    settings = get_settings()
    configure_logging(settings)
    _stop_with_parent()
    app = create_app(settings, os.environ.get(WORKER_DATABASE_URL) or None)
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """What `imi serve` built before serving (modules, the GraphQL schema, routes) lives as
    long as the process: out of the collector's way, so a full collection under load walks
    only what requests made (the dashboard's p95 was 3x its p50 from those pauses)."""
    gc.collect()
    gc.freeze()


def _stop_with_parent() -> None:
    """A worker whose `imi serve` dies without a goodbye (SIGKILL, OOM) gets SIGTERM from the
    kernel and drains, rather than serving on as an orphan holding the socket (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # no prctl here: nothing to arm
        return
    if os.getppid() == 1:  # the parent was gone already, before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


PR_SET_PDEATHSIG = 1


def operation_id(route: APIRoute) -> str:
    """A short, stable OpenAPI operationId: the route function's name in camelCase.

    ``register_project`` becomes ``registerProject`` (FastAPI's default would be
    ``register_project_api_v1_projects_post``); a test checks they are unique.
    """
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


async def start_bus(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> EventBus | None:
    """The Bloodbank link, when a broker is configured; otherwise events wait in the outbox."""
    if not settings.rabbitmq_url:
        return None
    from imi.messaging.bus import EventBus
    from imi.messaging.consumers import consumer_routers

    bus = EventBus(settings, sessions, consumer_routers(settings, sessions), database_url)
    await bus.start()
    return bus
