"""Safe defaults: body size limit, CORS only when configured, the 429 answer, bounded inputs,
the statement timeout, and a disconnected client's query cancelled (issue 12)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from imi.api.disconnect import CancelOnDisconnectMiddleware
from imi.api.limits import install_cors, rate_limited_response
from imi.app import create_app
from imi.db import create_engine, sqlstate
from imi.models_base import MAX_NAME, MAX_SEARCH
from imi.settings import Settings
from tests.api.conftest import API, error, ok

LIMIT = 2000


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, rabbitmq_url=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def _client(app: Any, asgi: ASGIApp | None = None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=asgi or app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as http,
    ):
        yield http


@pytest.fixture
async def limited(database_url: str, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a 2000-byte body limit."""
    app = create_app(_settings(rate_limit_per_minute=0, max_body_bytes=LIMIT), database_url)
    async with _client(app) as http:
        yield http


def _too_large(response: httpx.Response) -> None:
    body = error(response, 413, "VALIDATION_ERROR")
    assert body["details"] == {"field": "body", "limit": LIMIT}


def _project(name: str = "p") -> dict[str, Any]:
    return {"remote_origin": f"https://github.com/acme/{uuid.uuid4().hex[:8]}", "name": name}


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    limited: httpx.AsyncClient,
) -> None:
    body = {**_project(), "description": "x" * LIMIT}
    response = await limited.post(f"{API}/projects", json=body)
    _too_large(response)
    assert response.headers["connection"] == "close"
    # GraphQL is behind the same limit.
    query = "query { __typename }" + " " * LIMIT
    _too_large(await limited.post("/graphql", json={"query": query}))


async def test_a_streamed_body_is_cut_off_at_the_limit(limited: httpx.AsyncClient) -> None:
    read = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal read
        yield b'{"remote_origin": "https://github.com/acme/x", "description": "'
        for _ in range(1000):  # 100 kB if it were all read
            read += 100
            yield b"y" * 100
        yield b'"}'

    response = await limited.post(
        f"{API}/projects", content=chunks(), headers={"content-type": "application/json"}
    )
    _too_large(response)
    assert "content-length" not in response.request.headers
    assert read < 10_000  # reading stopped near the limit
    _too_large(
        await limited.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
    )


async def test_bodies_within_the_limit_pass(limited: httpx.AsyncClient) -> None:
    ok(await limited.post(f"{API}/projects", json=_project()), 201)
    ok(await limited.get(f"{API}/projects"))


def test_the_rate_limited_answer() -> None:
    response = rate_limited_response(2.2)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.body == (
        b'{"success":false,"error":{"code":"RATE_LIMITED","message":'
        b'"Too many requests: retry after 3 s","details":{"retry_after":3}}}'
    )
    assert rate_limited_response(0.001).headers["retry-after"] == "1"


async def test_cors_only_when_origins_are_configured(database_url: str) -> None:
    preflight = {
        "Origin": "https://dash.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    assert install_cors(FastAPI(), _settings()) is False
    closed = create_app(_settings(), database_url)
    async with _client(closed) as http:
        response = await http.get("/health", headers={"Origin": "https://dash.example"})
        assert "access-control-allow-origin" not in response.headers

    settings = _settings(cors_origins="https://dash.example, https://other.example")
    assert settings.cors_origin_list == ["https://dash.example", "https://other.example"]
    assert install_cors(FastAPI(), settings) is True
    opened = create_app(settings, database_url)  # installs it
    async with _client(opened) as http:
        response = await http.options(f"{API}/projects", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://dash.example"
        evil = await http.options(
            f"{API}/projects", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in evil.headers
        # A refusal carries the headers too, so the browser shows the caller why.
        refused = await http.get(f"{API}/nowhere", headers={"Origin": "https://dash.example"})
        assert refused.status_code == 404
        assert refused.headers["access-control-allow-origin"] == "https://dash.example"


async def _busy_backends(engine: AsyncEngine, marker: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.scalars(
            text(
                "SELECT query FROM pg_stat_activity WHERE state <> 'idle' "
                "AND pid <> pg_backend_pid() AND query LIKE :pattern"
            ),
            {"pattern": f"%{marker}%"},
        )
        return list(rows.all())


async def test_hostile_inputs_are_refused_fast_and_hold_nothing(
    database_url: str, engine: AsyncEngine
) -> None:
    app = create_app(_settings(rate_limit_per_minute=0), database_url)
    async with _client(app) as http:
        # A name of 100,000 characters is refused, on the v2 and the v3 path alike.
        long = {**_project("n" * 100_000)}
        refused = error(
            await http.post(f"{API}/projects/register", json=long), 400, "VALIDATION_ERROR"
        )
        assert refused["details"]["field"] == "name"
        error(await http.post(f"{API}/projects", json=long), 422, "VALIDATION_ERROR")
        ok(await http.post(f"{API}/projects", json=_project("n" * MAX_NAME)), 201)

        # As long as a URL may be (httpx stops at 65,536 characters); GraphQL below sends
        # 100,000 in the body.
        hostile = "similarity " + "q" * 60_000
        started = time.monotonic()

        async def search() -> httpx.Response:
            return await http.get(f"{API}/projects/search", params={"q": hostile})

        async def served() -> httpx.Response:
            return await http.get(f"{API}/projects")

        answers = await asyncio.gather(*(search() for _ in range(40)), served(), served())
        elapsed = time.monotonic() - started
        for response in answers[:40]:
            body = error(response, 400, "VALIDATION_ERROR")
            assert body["details"]["field"] == "q" and body["details"]["limit"] == MAX_SEARCH
        for response in answers[40:]:
            ok(response)
        assert elapsed < 10, elapsed

        # GraphQL's search is bounded the same way (the rule is the service's).
        result = await http.post(
            "/graphql",
            json={
                "query": "query($q: String!) { searchProjects(query: $q) { relevance } }",
                "variables": {"q": hostile + "q" * 40_000},
            },
        )
        assert "at most 200 characters" in result.text
        ok(await http.get(f"{API}/projects/search", params={"q": "n" * MAX_SEARCH}))
    await asyncio.sleep(1)
    assert await _busy_backends(engine, "similarity") == []


async def test_the_statement_timeout_bounds_every_statement(database_url: str) -> None:
    engine = create_engine(database_url, _settings(db_statement_timeout_ms=300))
    try:
        started = time.monotonic()
        with pytest.raises(DBAPIError) as caught:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(20) /* imi-timeout-test */"))
        assert sqlstate(caught.value) == "57014"  # query_canceled
        assert time.monotonic() - started < 5
        async with engine.connect() as conn:
            assert await conn.scalar(text("SHOW statement_timeout")) == "300ms"
        assert await _busy_backends(engine, "imi-timeout-test") == []
    finally:
        await engine.dispose()


def _sleeping_app(engine: AsyncEngine, marker: str, done: asyncio.Event) -> ASGIApp:
    """An endpoint whose query runs 30 s, unless cancelled."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        try:
            async with engine.connect() as conn:
                await conn.execute(text(f"SELECT pg_sleep(30) /* {marker} */"))
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"slept"})
        finally:
            done.set()

    return app


async def test_a_disconnected_clients_query_is_cancelled_under_uvicorn(
    engine: AsyncEngine,
) -> None:
    marker = f"imi-disconnect-{uuid.uuid4().hex[:8]}"
    done = asyncio.Event()
    app = CancelOnDisconnectMiddleware(_sleeping_app(engine, marker, done))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = sock.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: imi.test\r\n\r\n")
        await writer.drain()
        deadline = time.monotonic() + 5
        while not await _busy_backends(engine, marker):
            assert time.monotonic() < deadline, "the query did not start"
            await asyncio.sleep(0.05)
        writer.close()  # the client gives up (a timeout, a closed tab)
        await asyncio.wait_for(done.wait(), 3)
        await asyncio.sleep(1)
        assert await _busy_backends(engine, marker) == []
        # The pool is healthy afterwards.
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)
        sock.close()


async def test_a_complete_request_is_not_cancelled(database_url: str, engine: AsyncEngine) -> None:
    app = create_app(_settings(rate_limit_per_minute=0), database_url)
    async with _client(app) as http:  # the app's own stack watches for disconnects
        ok(await http.post(f"{API}/projects", json=_project()), 201)
        chunks = [b'{"remote_origin": "https://github.com/acme/streamed"', b"}"]

        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        ok(
            await http.post(
                f"{API}/projects", content=stream(), headers={"content-type": "application/json"}
            ),
            201,
        )
        listed = ok(await http.get(f"{API}/projects"))
        assert isinstance(listed, list) and len(listed) == 2
