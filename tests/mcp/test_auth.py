"""One policy with the API: /mcp takes the same keys and JWTs, scopes and project restriction,
rate limit and body limit (IMI_AUTH=required here, so loopback gets no free pass)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.auth.keys import create_key, revoke_key
from imi.auth.models import Scope
from tests.mcp.conftest import (
    API,
    JWT_SECRET,
    Served,
    call,
    mcp_http,
    ok,
    refused,
    served,
)

Sessions = async_sessionmaker[AsyncSession]
# A JSON-RPC request as any MCP client posts it (stateless: no session to open first).
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2025-06-18",
}


async def new_key(sessions: Sessions, scope: Scope, projects: list[str] | None = None) -> str:
    ids = [uuid.UUID(p) for p in projects] if projects is not None else None
    async with sessions() as session, session.begin():
        created = await create_key(session, name=f"mcp {scope}", scope=scope, project_ids=ids)
    return created.secret


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def project(server: Served, admin: str, name: str) -> dict[str, Any]:
    body = {"remote_origin": f"git@github.com:acme/{name}.git"}
    response = await server.rest.post(f"{API}/projects/register", json=body, headers=bearer(admin))
    return dict(ok(response, 201))


@pytest.fixture
async def required(database_url: str, engine: AsyncEngine) -> Any:
    async with served(database_url, auth="required") as s:
        yield s


async def test_no_key_is_a_401_envelope(required: Served) -> None:
    for headers in ({}, bearer("imi_not_a_real_key"), {"authorization": "Basic abc"}):
        response = await required.rest.post("/mcp", json=LIST_TOOLS, headers=MCP_HEADERS | headers)
        assert response.status_code == 401, response.text
        body = response.json()
        assert body["success"] is False and body["error"]["code"] == "UNAUTHORIZED", body
        assert response.headers["www-authenticate"].startswith("Bearer")
    # The SDK's client cannot even connect without one.
    with pytest.raises(Exception):  # noqa: B017 (the SDK wraps the 401 in its own errors)
        async with mcp_http(required.mcp_url) as client:
            await client.list_tools()


async def test_scopes_decide_which_tools_run(
    required: Served, sessions: Sessions, engine: AsyncEngine
) -> None:
    admin = await new_key(sessions, Scope.ADMIN)
    reader = await new_key(sessions, Scope.READ)
    writer = await new_key(sessions, Scope.WRITE)
    known = await project(required, admin, "scoped")
    async with mcp_http(required.mcp_url, reader) as client:
        assert len((await client.list_tools()).tools) == 11
        assert (await call(client, "get_project", project_id=known["id"]))["id"] == known["id"]
        await call(client, "get_inflight_work")
        error = await refused(
            client, "create_project", "FORBIDDEN", name="n", remote_origin="git@h.com:o/r.git"
        )
        assert error["details"] == {"needed_scope": "imi:write"}
        await refused(client, "complete_work", "FORBIDDEN", work_item_id=str(uuid.uuid4()))
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM projects")) == 1
    async with mcp_http(required.mcp_url, writer) as client:
        made = await call(
            client, "create_project", name="w", remote_origin="git@github.com:acme/w.git"
        )
    assert made["name"] == "w"
    # A JWT with imi:read reads, and is refused a write, like a key.
    claims = {"sub": "agent", "scope": "imi:read", "exp": datetime.now(UTC) + timedelta(minutes=5)}
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    async with mcp_http(required.mcp_url, token) as client:
        await call(client, "get_project", project_id=known["id"])
        await refused(
            client,
            "log_activity",
            "FORBIDDEN",
            agent_id="a",
            worktree_id=str(uuid.uuid4()),
            activity_type="other",
            description="d",
        )


async def test_a_project_restricted_key_sees_only_its_projects(
    required: Served, sessions: Sessions
) -> None:
    admin = await new_key(sessions, Scope.ADMIN)
    mine = await project(required, admin, "mine")
    theirs = await project(required, admin, "theirs")
    for p in (mine, theirs):
        body = {"type": "feat", "name": "f", "branch_name": "feat/f", "path": f"/c/{p['name']}"}
        response = await required.rest.post(
            f"{API}/projects/{p['id']}/worktrees", json=body, headers=bearer(admin)
        )
        ok(response, 201)
    restricted = await new_key(sessions, Scope.WRITE, [mine["id"]])
    as_restricted = bearer(restricted)
    async with mcp_http(required.mcp_url, restricted) as client:
        assert (await call(client, "get_project", project_id=mine["id"]))["id"] == mine["id"]
        hidden = await refused(client, "get_project", "NOT_FOUND", project_id=theirs["id"])
        by_rest = await required.rest.get(f"{API}/projects/{theirs['id']}", headers=as_restricted)
        assert by_rest.status_code == 404 and by_rest.json()["error"] == hidden
        origin = await client.call_tool(
            "find_project_by_origin", {"remote_origin": theirs["remote_origin"]}
        )
        assert origin.is_error
        inflight = await call(client, "get_inflight_work")
        assert {row["project_id"] for row in inflight} == {mine["id"]}
        body = {"type": "fix", "name": "x", "branch_name": "fix/x", "path": "/c/x"}
        write = await client.call_tool("create_worktree", {"project_id": theirs["id"], **body})
        by_rest = await required.rest.post(
            f"{API}/projects/{theirs['id']}/worktrees", json=body, headers=as_restricted
        )
        assert write.is_error and by_rest.status_code in (403, 404)
        assert write.structured_content["error"] == by_rest.json()["error"]
        work = await call(client, "list_work", active=True)
        assert {item["project_id"] for item in work} == {mine["id"]}


async def test_a_revoked_key_is_refused_at_once(required: Served, sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        created = await create_key(session, name="short-lived", scope=Scope.READ)
    async with mcp_http(required.mcp_url, created.secret) as client:
        await call(client, "get_inflight_work")
    async with sessions() as session, session.begin():
        await revoke_key(session, created.key.id)
    response = await required.rest.post(
        "/mcp", json=LIST_TOOLS, headers=MCP_HEADERS | bearer(created.secret)
    )
    assert response.status_code == 401


async def test_rate_and_body_limits_apply(database_url: str, engine: AsyncEngine) -> None:
    async with served(database_url, rate_limit_per_minute=1, rate_limit_burst=1) as server:
        first = await server.rest.post("/mcp", json=LIST_TOOLS, headers=MCP_HEADERS)
        assert first.status_code == 200, first.text
        assert len(first.json()["result"]["tools"]) == 11
        limited = await server.rest.post("/mcp", json=LIST_TOOLS, headers=MCP_HEADERS)
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
    async with served(database_url, max_body_bytes=2048) as server:
        call_body = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "create_project",
                "arguments": {"name": "big", "remote_origin": "git@h.com:o/big.git"},
                "_pad": "x" * 4096,
            },
        }
        response = await server.rest.post("/mcp", json=call_body, headers=MCP_HEADERS)
        assert response.status_code == 413
        assert response.json()["success"] is False
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM projects")) == 0
