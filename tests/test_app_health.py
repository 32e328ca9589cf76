"""The app shell: lifespan, GET /health and the correlation id middleware."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send

from imi.api.middleware import CorrelationIdMiddleware
from imi.app import create_app
from imi.correlation import get_correlation_id
from imi.migrate import head_revision
from imi.settings import Settings


def _settings(**overrides: object) -> Settings:
    # Explicit values, so a developer's environment or .env cannot change the outcome.
    values: dict[str, object] = {"rabbitmq_url": None, **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``app`` with its lifespan run, as uvicorn would."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
    ):
        yield client


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_health_reports_database_revision(database_url: str, engine: AsyncEngine) -> None:
    # `engine`: an empty database (no backlog left by an earlier test).
    app = create_app(_settings(), database_url)
    async with running(app) as client:
        response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": {"status": "up", "revision": head_revision(), "head": head_revision()},
        "broker": {"status": "disabled"},
        "outbox": {"backlog": 0, "oldest_age_seconds": None},
        "breaker": {
            "state": "closed",
            "consecutive_failures": 0,
            "retry_after_seconds": None,
            "opened_total": 0,
        },
    }


async def test_lifespan_provides_engine_and_sessions_then_disposes(database_url: str) -> None:
    app = create_app(_settings(), database_url)
    async with running(app):
        async with app.state.sessions() as session:
            assert await session.scalar(select(literal(1))) == 1
        engine = app.state.engine
    assert engine.pool.checkedout() == 0


async def test_health_is_503_when_the_database_is_unreachable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/imi"
    app = create_app(_settings(), url)
    async with running(app) as client:
        response = await client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["status"] == "down"
    assert body["database"]["head"] == head_revision()
    assert body["database"]["error"]  # the driver's message, e.g. "Connect call failed"
    assert body["broker"] == {"status": "disabled"}


async def test_health_reports_an_unreachable_broker_as_disconnected(database_url: str) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{_closed_port()}/"
    app = create_app(_settings(rabbitmq_url=url), database_url)
    async with running(app) as client:
        response = await client.get("/health")
    # The API still serves (events wait in the outbox), but an operator sees the problem.
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"] == {"status": "disconnected"}


def test_create_app_needs_a_database_url() -> None:
    with pytest.raises(ValueError, match="database URL"):
        create_app(_settings(database_url=None))


async def test_correlation_id_is_echoed(database_url: str) -> None:
    app = create_app(_settings(), database_url)
    async with running(app) as client:
        response = await client.get("/health", headers={"X-Correlation-ID": "req-42.a:b"})
    assert response.headers["X-Correlation-ID"] == "req-42.a:b"


async def test_correlation_id_is_generated_when_missing_or_invalid(database_url: str) -> None:
    app = create_app(_settings(), database_url)
    async with running(app) as client:
        missing = await client.get("/health")
        forged = await client.get("/health", headers={"X-Correlation-ID": "x\tinjected=1"})
        too_long = await client.get("/health", headers={"X-Correlation-ID": "a" * 200})

    ids = [r.headers["X-Correlation-ID"] for r in (missing, forged, too_long)]
    for value in ids:
        assert uuid.UUID(value).version == 4
    assert len(set(ids)) == 3


async def test_correlation_id_is_visible_to_the_endpoint_and_reset_after() -> None:
    seen: list[str | None] = []

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(get_correlation_id())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=CorrelationIdMiddleware(endpoint))
    async with httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client:
        response = await client.get("/", headers={"x-correlation-id": "abc"})

    assert seen == ["abc"]
    assert response.headers["x-correlation-id"] == "abc"
    assert get_correlation_id() is None


async def test_openapi_documents_health(database_url: str) -> None:
    app = create_app(_settings(), database_url)
    async with running(app) as client:
        schema = (await client.get("/openapi.json")).json()
    assert "/health" in schema["paths"]


async def test_correlation_id_covers_unhandled_errors(database_url: str) -> None:
    async def boom() -> None:
        raise RuntimeError("boom: secret internals")

    app = create_app(_settings(), database_url)
    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
    ):
        response = await client.get("/boom", headers={"X-Correlation-ID": "err-1"})

    assert response.status_code == 500
    assert response.headers["X-Correlation-ID"] == "err-1"
    assert response.json() == {
        "success": False,
        "error": {"code": "INTERNAL_ERROR", "message": "Internal server error", "details": {}},
    }


def test_a_worker_app_moves_long_lived_objects_out_of_the_collectors_way(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc.freeze() once the app is built (`imi serve` and each worker): full collections under
    load skip the schema and the modules."""
    import gc

    from imi.app import WORKER_DATABASE_URL, create_app_from_env

    monkeypatch.setattr("imi.app._stop_with_parent", lambda: None)
    monkeypatch.setattr("imi.app.configure_logging", lambda settings: None)  # keep the tests'

    monkeypatch.setenv(WORKER_DATABASE_URL, database_url)
    gc.unfreeze()
    try:
        create_app_from_env()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
