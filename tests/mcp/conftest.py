"""MCP through the SDK's own client: over streamable HTTP against a live server (uvicorn on a
free port, as the GraphQL subscription tests run it) and over stdio against a spawned process.
REST calls go to the same live server, so a tool and its endpoint can be compared."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.settings import Settings
from tests.graphql.test_subscriptions import LiveServer, serving

API = "/api/v1"
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"

# The tools of 002 section 3 with their required parameters, exactly as the contract has them.
CONTRACT_TOOLS = {
    "create_project": {"name", "remote_origin"},
    "create_worktree": {"project_id", "type", "name", "branch_name", "path"},
    "get_inflight_work": set(),
    "update_git_state": {"worktree_id"},
    "log_activity": {"agent_id", "worktree_id", "activity_type", "description"},
}
READ_TOOLS = {"get_project", "find_project_by_origin", "trace", "list_work"}
WRITE_TOOLS = {"link_ticket", "complete_work"}


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"rabbitmq_url": None, "jwt_secret": JWT_SECRET}
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


@dataclass
class Served:
    live: LiveServer
    rest: httpx.AsyncClient

    @property
    def mcp_url(self) -> str:
        return f"{self.live.http_url}/mcp"


@asynccontextmanager
async def served(database_url: str, **overrides: Any) -> AsyncIterator[Served]:
    async with (
        serving(create_app(settings(**overrides), database_url)) as (live, _),
        httpx.AsyncClient(base_url=live.http_url, timeout=30) as rest,
    ):
        yield Served(live, rest)


@pytest.fixture
async def server(database_url: str, engine: AsyncEngine) -> AsyncIterator[Served]:
    """A live app in the default mode (local-open: loopback callers need no key)."""
    async with served(database_url) as s:
        yield s


@asynccontextmanager
async def mcp_http(
    url: str, token: str | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP. Opened inside the test itself, not in a fixture:
    its task group must close in the task that opened it."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    async with (
        httpx2.AsyncClient(headers=sent, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def value(result: CallToolResult) -> Any:
    """The JSON a tool answered with (its one text block)."""
    assert len(result.content) == 1, result
    block = result.content[0]
    assert isinstance(block, TextContent), block
    return json.loads(block.text)


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """A successful call's JSON (the REST endpoint's ``data``)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result
    data = value(result)
    if isinstance(data, dict):
        assert result.structured_content == data
    return data


async def refused(client: Client, tool: str, code: str, **arguments: Any) -> dict[str, Any]:
    """A refused call's ``error``: the REST error envelope, with ``code``."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result
    body = value(result)
    assert body["success"] is False and set(body) == {"success", "error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


async def events_since(engine: AsyncEngine, after: int) -> list[dict[str, Any]]:
    """Events written after outbox position ``after``: type, routing key, payload keys."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT event_type, routing_key, envelope FROM events "
                    "WHERE id > :after ORDER BY id"
                ),
                {"after": after},
            )
        ).all()
    return [
        {
            "event_type": r.event_type,
            "routing_key": r.routing_key,
            "payload_keys": sorted((r.envelope.get("payload") or {}).keys()),
        }
        for r in rows
    ]


async def last_event(engine: AsyncEngine) -> int:
    """The outbox position of the newest event (0 when there is none)."""
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT coalesce(max(id), 0) FROM events")) or 0)
