"""Refusals over MCP: domain errors as tool errors carrying REST's error envelope (same code,
message and details), arguments refused by the tools' schemas, the same input limits."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.models_base import MAX_METADATA_BYTES, MAX_NAME
from tests.mcp.conftest import API, Served, call, mcp_http, ok, refused

MISSING = "00000000-0000-4000-8000-000000000000"


def rest_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def setup(server: Served) -> tuple[dict[str, Any], dict[str, Any]]:
    project = ok(
        await server.rest.post(
            f"{API}/projects/register", json={"remote_origin": "git@github.com:acme/err.git"}
        ),
        201,
    )
    body = {"type": "feat", "name": "feat-a", "branch_name": "feat/a", "path": "/code/a"}
    worktree = ok(
        await server.rest.post(f"{API}/projects/{project['id']}/worktrees", json=body), 201
    )
    return project, worktree


async def test_domain_errors_carry_the_rest_envelope(server: Served) -> None:
    project, worktree = await setup(server)
    http = server.rest
    pid = project["id"]
    duplicate = {"type": "feat", "name": "feat-b", "branch_name": "feat/a", "path": "/code/b"}
    bad_type = {"type": "bogus", "name": "feat-c", "branch_name": "feat/c", "path": "/code/c"}
    traversal = {"type": "feat", "name": "feat-d", "branch_name": "feat/d", "path": "/code/../x"}
    activity = {
        "agent_id": "a",
        "worktree_id": MISSING,
        "activity_type": "other",
        "description": "d",
    }
    # (tool, arguments, code, the REST call given the same input and its status)
    cases: list[tuple[str, dict[str, Any], str, Any, int]] = [
        (
            "get_project",
            {"project_id": MISSING},
            "NOT_FOUND",
            http.get(f"{API}/projects/{MISSING}"),
            404,
        ),
        (
            "find_project_by_origin",
            {"remote_origin": "git@github.com:acme/none.git"},
            "NOT_FOUND",
            http.get(f"{API}/projects", params={"remote_origin": "git@github.com:acme/none.git"}),
            404,
        ),
        (
            "find_project_by_origin",
            {"remote_origin": "not a remote"},
            "VALIDATION_ERROR",
            http.get(f"{API}/projects", params={"remote_origin": "not a remote"}),
            400,
        ),
        (
            "create_worktree",
            {"project_id": MISSING, **duplicate},
            "NOT_FOUND",
            http.post(f"{API}/projects/{MISSING}/worktrees", json=duplicate),
            404,
        ),
        (
            "create_worktree",
            {"project_id": pid, **duplicate},
            "CONFLICT",
            http.post(f"{API}/projects/{pid}/worktrees", json=duplicate),
            409,
        ),
        (
            "create_worktree",
            {"project_id": pid, **bad_type},
            "VALIDATION_ERROR",
            http.post(f"{API}/projects/{pid}/worktrees", json=bad_type),
            400,
        ),
        (
            "create_worktree",
            {"project_id": pid, **traversal},
            "VALIDATION_ERROR",
            http.post(f"{API}/projects/{pid}/worktrees", json=traversal),
            400,
        ),
        (
            "update_git_state",
            {"worktree_id": MISSING, "ahead": 1},
            "NOT_FOUND",
            http.patch(f"{API}/worktrees/{MISSING}/git-state", json={"ahead": 1}),
            404,
        ),
        ("log_activity", activity, "NOT_FOUND", http.post(f"{API}/activities", json=activity), 404),
        (
            "trace",
            {"entity_type": "ticket", "entity_id": "NOPE-1"},
            "NOT_FOUND",
            http.get(f"{API}/trace/ticket/NOPE-1"),
            404,
        ),
        (
            "link_ticket",
            {"work_item_id": MISSING, "plane_ticket_id": "ERR-1"},
            "NOT_FOUND",
            http.post(
                f"{API}/links/ticket", json={"work_item_id": MISSING, "plane_ticket_id": "ERR-1"}
            ),
            404,
        ),
    ]
    async with mcp_http(server.mcp_url) as client:
        for tool, arguments, code, request, status in cases:
            by_mcp = await refused(client, tool, code, **arguments)
            assert by_mcp == rest_error(await request, status), (tool, arguments)
        # Completing twice: the second is a conflict, as over REST.
        await call(client, "complete_work", work_item_id=worktree["id"])
        again = await refused(client, "complete_work", "CONFLICT", work_item_id=worktree["id"])
    by_rest = rest_error(await http.post(f"{API}/work/{worktree['id']}/complete", json={}), 409)
    assert again == by_rest


async def test_arguments_outside_the_schema_are_refused_before_any_work(
    server: Served, engine: AsyncEngine
) -> None:
    _, worktree = await setup(server)
    origin = "git@github.com:acme/never.git"
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("create_project", {"remote_origin": origin}, "name"),  # required by the contract
        ("create_project", {"name": "x" * (MAX_NAME + 1), "remote_origin": origin}, "name"),
        ("create_project", {"name": "n", "remote_origin": origin, "metadata": [1]}, "metadata"),
        ("create_project", {"name": "n", "remote_origin": 42}, "remote_origin"),
        ("get_project", {"project_id": "not-a-uuid"}, "project_id"),
        ("get_project", {}, "project_id"),
        ("update_git_state", {"worktree_id": worktree["id"], "ahead": -1}, "ahead"),
        ("update_git_state", {"worktree_id": worktree["id"], "has_uncommitted": "lots"}, "has_"),
        (
            "log_activity",
            {
                "agent_id": "a",
                "worktree_id": worktree["id"],
                "activity_type": "danced",
                "description": "d",
            },
            "activity_type",
        ),
        (
            "log_activity",
            {"agent_id": "", "worktree_id": worktree["id"], "activity_type": "other"},
            "agent_id",
        ),
        ("get_inflight_work", {"limit": 0}, "limit"),
        ("list_work", {"limit": 501}, "limit"),
        ("list_work", {"status": "sleepy"}, "status"),
        ("complete_work", {"work_item_id": worktree["id"], "completion_type": "won"}, "completion"),
        ("trace", {"entity_type": "planet", "entity_id": "x"}, "entity_type"),
    ]
    async with mcp_http(server.mcp_url) as client:
        for tool, arguments, field in cases:
            result = await client.call_tool(tool, arguments)
            assert result.is_error, (tool, arguments)
            assert field in result.content[0].text, result  # type: ignore[union-attr]
        unknown = await client.call_tool("drop_database", {})
        assert unknown.is_error
    async with engine.connect() as conn:
        projects = await conn.scalar(text("SELECT count(*) FROM projects"))
        activities = await conn.scalar(text("SELECT count(*) FROM activities"))
        ahead = await conn.scalar(
            text("SELECT ahead_of_trunk FROM work_items WHERE id = :id"),
            {"id": uuid.UUID(worktree["id"])},
        )
    assert (projects, activities, ahead) == (1, 0, 0)


async def test_input_limits_are_the_rest_limits(server: Served) -> None:
    await setup(server)
    big = {"blob": "x" * MAX_METADATA_BYTES}
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["d"] = {}
        node = node["d"]
    origin = "git@github.com:acme/limits.git"
    async with mcp_http(server.mcp_url) as client:
        for metadata in (big, deep):
            by_mcp = await refused(
                client,
                "create_project",
                "VALIDATION_ERROR",
                name="limits",
                remote_origin=origin,
                metadata=metadata,
            )
            body = {"name": "limits", "remote_origin": origin, "metadata": metadata}
            by_rest = rest_error(await server.rest.post(f"{API}/projects/register", json=body), 400)
            assert by_mcp["details"]["field"] == by_rest["details"]["field"] == "metadata"
            assert by_mcp["message"] == by_rest["message"]
