"""`imi mcp`: the tools over stdio, as an agent launches them (002 section 3's configuration:
`uv run imi mcp` with IMI_DATABASE_URL), spawned here as `python -m imi.cli mcp`."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.mcp.conftest import API, CONTRACT_TOOLS, Served, call, ok, refused

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def stdio(database_url: str) -> AsyncIterator[tuple[Client, list[str]]]:
    """The SDK's client on a spawned `imi mcp`; yields it and a list that receives the
    server's stderr once the server has exited."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "imi.cli", "mcp"],
        env={
            "IMI_DATABASE_URL": database_url,
            "IMI_MIGRATE_ON_START": "false",
            "IMI_LOG_FORMAT": "json",
            "IMI_LOG_LEVEL": "INFO",
        },
        cwd=ROOT,
    )
    stderr: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stderr.log"
        with path.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=60) as c:
                yield c, stderr
        stderr.append(path.read_text())


async def test_the_tools_over_stdio(server: Served, database_url: str, engine: AsyncEngine) -> None:
    async with stdio(database_url) as (client, stderr):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(CONTRACT_TOOLS) <= set(tools)
        for name, required in CONTRACT_TOOLS.items():
            assert set(tools[name].input_schema.get("required", [])) == required
        project = await call(
            client,
            "create_project",
            name="stdio-app",
            remote_origin="git@github.com:acme/stdio-app.git",
            metadata={"via": "stdio"},
        )
        worktree = await call(
            client,
            "create_worktree",
            project_id=project["id"],
            type="fix",
            name="fix-crash",
            branch_name="fix/crash",
            path="/code/stdio-app/fix-crash",
            agent_id="agent-local",
        )
        state = await call(client, "update_git_state", worktree_id=worktree["id"], ahead=2)
        assert state == {
            "worktree_id": worktree["id"],
            "updated_fields": ["ahead_of_trunk"],
            "applied": True,
        }
        await refused(
            client, "get_project", "NOT_FOUND", project_id="00000000-0000-4000-8000-000000000000"
        )
        dup = {"type": "fix", "name": "other", "branch_name": "fix/crash", "path": "/code/o"}
        await refused(client, "create_worktree", "CONFLICT", project_id=project["id"], **dup)
        by_stdio = await call(client, "get_project", project_id=project["id"])
        inflight = await call(client, "get_inflight_work", project_id=project["id"])
    # What the stdio tools wrote is what REST reads, answered in the same shapes.
    assert by_stdio == ok(await server.rest.get(f"{API}/projects/{project['id']}"))
    params = {"project_id": project["id"]}
    assert inflight == ok(await server.rest.get(f"{API}/inflight-work", params=params))
    assert worktree == ok(await server.rest.get(f"{API}/worktrees/{worktree['id']}")) | {
        key: worktree[key]
        for key in ("ahead_of_trunk", "status", "updated_at", "last_sync_at", "last_activity_at")
    }
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT routing_key, correlation_id FROM events"))).all()
    keys = {r.routing_key for r in rows}
    assert {"imi.project.registered", "imi.worktree.created"} <= keys
    assert all(r.correlation_id for r in rows)  # each call has its own
    # stdout carried only the protocol; the server's logs went to stderr.
    assert '"tool refused"' in stderr[0], stderr
