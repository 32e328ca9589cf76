"""Failures answer with the envelope (issue 13): a 500 keeps the keep-alive connection, an
unreachable database is a 503 with Retry-After (a read retried once first), deactivation and
concurrent starts of work serialize, and paths and names cannot traverse."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.app import create_app
from imi.settings import Settings
from tests.api.conftest import API, error, ok
from tests.graphql.test_subscriptions import serving


def _settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, rabbitmq_url=None, **overrides)  # type: ignore[call-arg]


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: imi.test\r\n\r\n".encode()


def _read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


async def test_a_500_keeps_the_connection(database_url: str, engine: AsyncEngine) -> None:
    async def boom() -> None:
        raise RuntimeError("boom")

    app = create_app(_settings(), database_url)
    app.add_api_route("/boom", boom)
    async with serving(app) as (live, _):

        def exchange() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
                sock.sendall(_request("/boom"))
                first = _read_response(sock)
                sock.sendall(_request("/health"))  # the same connection
                second = _read_response(sock)
            return first, second

        first, second = await asyncio.to_thread(exchange)
    assert first.startswith(b"HTTP/1.1 500") and b'"INTERNAL_ERROR"' in first
    assert b"connection: close" not in first.lower()
    assert second.startswith(b"HTTP/1.1 200"), second[:200]


@pytest.fixture
async def unreachable(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    # A port nothing listens on: every connection attempt is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(_settings(), f"postgresql://postgres@127.0.0.1:{port}/nothing")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
    ):
        yield client


async def test_database_unreachable_is_503_with_retry_after(
    unreachable: httpx.AsyncClient,
) -> None:
    for method, path, body in (
        ("GET", f"{API}/projects", None),
        ("GET", f"{API}/projects/{uuid.uuid4()}", None),
        ("POST", f"{API}/projects", {"remote_origin": "git@github.com:a/b.git"}),
        ("POST", "/graphql", {"query": "{ stats { totalProjects } }"}),
    ):
        response = await unreachable.request(method, path, json=body)
        assert response.headers["retry-after"] == "2", (path, response.text)
        if path == "/graphql":  # a GraphQL answer, with the same status and code
            assert response.status_code == 503, response.text
            [gql_error] = response.json()["errors"]
            assert gql_error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            continue
        err = error(response, 503, "SERVICE_UNAVAILABLE")
        assert response.headers["retry-after"] == "2"
        assert "Traceback" not in response.text and "asyncpg" not in response.text
        assert err["details"] == {"retry_after": 2}
    assert (await unreachable.get("/health")).status_code == 503


async def test_a_read_is_retried_once_on_a_lost_connection(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = ok(
        await client.post(f"{API}/projects", json={"remote_origin": "git@github.com:a/r.git"}), 201
    )
    # Kill every other backend of the app's pool: the next read's connection is dead.
    async with sessions() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    response = await client.get(f"{API}/projects/{created['id']}")  # type: ignore[index]
    assert response.status_code == 200, response.text


async def test_deactivation_and_starts_of_work_serialize(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """20 deactivations racing 20 starts: no active work may remain on the project."""
    for trial in range(3):
        pid = ok(
            await client.post(
                f"{API}/projects", json={"remote_origin": f"git@github.com:a/race{trial}.git"}
            ),
            201,
        )["id"]  # type: ignore[index]
        starts = [
            client.post(f"{API}/work", json={"project_id": pid, "branch_name": f"feat/b{i}"})
            for i in range(20)
        ]
        stops = [client.delete(f"{API}/projects/{pid}") for _ in range(20)]
        results = await asyncio.gather(*starts, *stops)
        assert all(r.status_code in (201, 204, 409) for r in results), [
            r.text for r in results if r.status_code not in (201, 204, 409)
        ]
        async with sessions() as session:
            active = (
                await session.execute(
                    text("SELECT count(*) FROM work_items WHERE project_id = :p AND active"),
                    {"p": pid},
                )
            ).scalar_one()
        assert active == 0


async def test_worktree_names_and_paths_cannot_traverse(client: httpx.AsyncClient) -> None:
    pid = ok(
        await client.post(f"{API}/projects", json={"remote_origin": "git@github.com:a/p.git"}), 201
    )["id"]  # type: ignore[index]
    for body, field in (
        ({"name": "../../../../etc"}, "name"),
        ({"name": ".."}, "name"),
        ({"name": "a/b"}, "name"),
        ({"worktree_path": "relative/dir"}, "worktree_path"),
        ({"worktree_path": "/code/../../etc"}, "worktree_path"),
    ):
        response = await client.post(
            f"{API}/work", json={"project_id": pid, "branch_name": "feat/x", **body}
        )
        err = error(response, 400, "VALIDATION_ERROR")
        assert err["details"]["field"] == field, err  # type: ignore[index]
    v2 = {"type": "feat", "name": "feat-x", "branch_name": "feat/x", "path": "../x"}
    err = error(
        await client.post(f"{API}/projects/{pid}/worktrees", json=v2), 400, "VALIDATION_ERROR"
    )
    assert err["details"]["field"] == "path"  # type: ignore[index]
    fine = {"project_id": pid, "branch_name": "feat/y", "worktree_path": "/code/p/feat-y"}
    assert ok(await client.post(f"{API}/work", json=fine), 201)


async def test_hostile_metadata_filters_are_400(client: httpx.AsyncClient) -> None:
    for raw in (
        "[" * 5000 + "]" * 5000,
        '{"a": ' + "9" * 5000 + "}",
        '{"a": ' + "[" * 100 + "1" + "]" * 100 + "}",
        '{"a": "' + "x" * 10_000 + '"}',
        '{"a": "\\u0000"}',
    ):
        for path in (f"{API}/projects", f"{API}/components"):
            response = await client.get(path, params={"metadata": raw})
            err = error(response, 400, "VALIDATION_ERROR")
            assert err["details"]["field"] == "metadata"  # type: ignore[index]
            assert len(response.content) < 2000  # the input is not echoed back


async def test_a_statement_timeout_is_a_503_timeout(database_url: str, engine: AsyncEngine) -> None:
    async def slow() -> None:
        async with app.state.sessions() as session:
            await session.execute(text("SELECT pg_sleep(5)"))

    app = create_app(_settings(db_statement_timeout_ms=200), database_url)
    app.add_api_route("/slow", slow)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
    ):
        response = await client.get("/slow")
    err = error(response, 503, "TIMEOUT")
    assert response.headers["retry-after"] == "2" and err["details"] == {"retry_after": 2}


async def test_lone_surrogates_are_bad_input_not_a_500(client: httpx.AsyncClient) -> None:
    """A JSON "\\ud800" escape decodes to text with no UTF-8 form: nothing can store it."""
    for body in (
        b'{"remote_origin": "git@github.com:a/s.git", "name": "\\ud800"}',
        b'{"remote_origin": "git@github.com:a/t.git", "metadata": {"k": "\\udfff"}}',
    ):
        response = await client.post(
            f"{API}/projects", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 422), response.text
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
