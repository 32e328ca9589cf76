"""The tools over streamable HTTP: the 002 section 3 contract, the same JSON as the REST
endpoints and the same events, one transaction per call."""

from __future__ import annotations

import re
import uuid
from typing import Any, Protocol
from urllib.parse import quote

from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.mcp.conftest import (
    API,
    CONTRACT_TOOLS,
    READ_TOOLS,
    WRITE_TOOLS,
    Served,
    call,
    events_since,
    last_event,
    mcp_http,
    ok,
)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


async def test_the_contract_tools_and_their_required_parameters(server: Served) -> None:
    async with mcp_http(server.mcp_url) as mcp:
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    assert set(tools) == set(CONTRACT_TOOLS) | READ_TOOLS | WRITE_TOOLS
    for name, required in CONTRACT_TOOLS.items():
        schema = tools[name].input_schema
        assert schema["type"] == "object"
        assert set(schema.get("required", [])) == required, name
        assert tools[name].description
    # The contract's parameters, by its names; ids are UUIDs as it says.
    properties = tools["create_worktree"].input_schema["properties"]
    assert set(properties) == {
        "project_id",
        "type",
        "name",
        "branch_name",
        "path",
        "agent_id",
        "metadata",
    }
    assert properties["project_id"]["format"] == "uuid"
    git = tools["update_git_state"].input_schema["properties"]
    assert {"has_uncommitted", "uncommitted_count", "ahead", "behind"} <= set(git)
    activity = tools["log_activity"].input_schema
    enum = activity["$defs"]["ActivityType"]["enum"]
    assert enum == [
        "created",
        "modified",
        "deleted",
        "committed",
        "pushed",
        "merged",
        "synced",
        "other",
    ]
    assert tools["create_project"].input_schema["properties"]["default_branch"]["default"] == "main"
    assert tools["get_project"].annotations and tools["get_project"].annotations.read_only_hint


class Surface(Protocol):
    async def __call__(self, tool: str, **arguments: Any) -> Any: ...


def rest_surface(server: Served) -> Surface:
    """The REST endpoint each tool mirrors, called with the same arguments."""
    http = server.rest

    async def invoke(tool: str, **a: Any) -> Any:
        if tool == "create_project":
            return ok(await http.post(f"{API}/projects/register", json=a), 201)
        if tool == "create_worktree":
            pid = a.pop("project_id")
            return ok(await http.post(f"{API}/projects/{pid}/worktrees", json=a), 201)
        if tool == "update_git_state":
            wid = a.pop("worktree_id")
            return ok(await http.patch(f"{API}/worktrees/{wid}/git-state", json=a))
        if tool == "log_activity":
            return ok(await http.post(f"{API}/activities", json=a), 201)
        if tool == "link_ticket":
            return ok(await http.post(f"{API}/links/ticket", json=a), 201)
        if tool == "complete_work":
            wid = a.pop("work_item_id")
            return ok(await http.post(f"{API}/work/{wid}/complete", json=a))
        if tool == "get_project":
            return ok(await http.get(f"{API}/projects/{a['project_id']}"))
        if tool == "find_project_by_origin":
            return ok(await http.get(f"{API}/projects", params=a))
        if tool == "get_inflight_work":
            return ok(await http.get(f"{API}/inflight-work", params=a))
        if tool == "list_work":
            return ok(await http.get(f"{API}/work", params=a))
        if tool == "trace":
            path = f"{a['entity_type']}/{quote(a['entity_id'], safe='')}"
            return ok(await http.get(f"{API}/trace/{path}"))
        raise AssertionError(tool)

    return invoke


def mcp_surface(client: Client) -> Surface:
    async def invoke(tool: str, **arguments: Any) -> Any:
        return await call(client, tool, **arguments)

    return invoke


async def scenario(surface: Surface, engine: AsyncEngine, tag: str) -> list[dict[str, Any]]:
    """An agent's session, step by step: each step's answer and the events it wrote."""
    steps: list[dict[str, Any]] = []

    async def step(tool: str, **arguments: Any) -> Any:
        before = await last_event(engine)
        data = await surface(tool, **arguments)
        steps.append({"tool": tool, "data": data, "events": await events_since(engine, before)})
        return data

    origin = f"git@github.com:acme/{tag}-app.git"
    project = await step(
        "create_project",
        name=f"{tag}-app",
        remote_origin=origin,
        trunk_path=f"/code/{tag}-app/trunk-main",
        metadata={"language": "rust", "team": {"name": "core"}},
    )
    worktree = await step(
        "create_worktree",
        project_id=project["id"],
        type="feat",
        name=f"feat-{tag}-login",
        branch_name=f"feat/{tag}-login",
        path=f"/code/{tag}-app/feat-login",
        agent_id="agent-coder-1",
        metadata={"story": 7},
    )
    await step(
        "update_git_state",
        worktree_id=worktree["id"],
        has_uncommitted=True,
        uncommitted_count=3,
        ahead=2,
        behind=0,
        last_commit_hash="a1b2c3d4",
        last_commit_message="Add login",
    )
    await step("update_git_state", worktree_id=worktree["id"], ahead=4)
    await step(
        "log_activity",
        agent_id="agent-coder-1",
        worktree_id=worktree["id"],
        activity_type="modified",
        description="Implemented the form",
        file_path="src/login.rs",
        metadata={"lines_added": 45},
    )
    ticket = f"{tag.upper()}-12"
    await step(
        "link_ticket",
        work_item_id=worktree["id"],
        plane_ticket_id=ticket,
        ticket_title="Login page",
        kind="closes",
    )
    await step("get_inflight_work", project_id=project["id"])
    await step("trace", entity_type="ticket", entity_id=ticket)
    await step("get_project", project_id=project["id"])
    await step("find_project_by_origin", remote_origin=f"https://github.com/acme/{tag}-app")
    await step(
        "complete_work",
        work_item_id=worktree["id"],
        completion_type="merged",
        merge_commit_hash="f6e5d4c3",
        merged_by="agent-merger-1",
    )
    await step("list_work", project_id=project["id"], active=False)
    return steps


def normalized(value: Any, tag: str) -> Any:
    """Ids, times and the twin's own names made comparable between the twins."""
    if isinstance(value, dict):
        return {key: normalized(item, tag) for key, item in value.items()}
    if isinstance(value, list):
        return [normalized(item, tag) for item in value]
    if isinstance(value, str):
        value = TIME.sub("<time>", UUID.sub("<uuid>", value))
        return value.replace(tag, "<tag>").replace(tag.upper(), "<TAG>")
    return value


async def test_each_tool_answers_and_emits_as_its_rest_endpoint(
    server: Served, engine: AsyncEngine
) -> None:
    rest = await scenario(rest_surface(server), engine, "rest")
    async with mcp_http(server.mcp_url) as client:
        tools = await scenario(mcp_surface(client), engine, "mcp")
    assert [s["tool"] for s in tools] == [s["tool"] for s in rest]
    for by_rest, by_mcp in zip(rest, tools, strict=True):
        assert normalized(by_mcp["data"], "mcp") == normalized(by_rest["data"], "rest"), by_mcp
        assert by_mcp["events"] == by_rest["events"], by_mcp["tool"]
    # Writes emitted what they should (a repeated field-for-field state is still a report).
    emitted = {s["tool"]: [e["routing_key"] for e in s["events"]] for s in tools}
    assert "imi.project.registered" in emitted["create_project"]
    assert "imi.worktree.created" in emitted["create_worktree"]
    assert "imi.activity.logged" in emitted["log_activity"]
    assert "imi.worktree.merged" in emitted["complete_work"]
    for read in READ_TOOLS | {"get_inflight_work"}:
        assert emitted[read] == [], read


async def test_reads_answer_exactly_what_rest_answers(server: Served, engine: AsyncEngine) -> None:
    await scenario(rest_surface(server), engine, "same")
    rest = rest_surface(server)
    project = await rest("find_project_by_origin", remote_origin="git@github.com:acme/same-app")
    open_work = ok(
        await server.rest.post(
            f"{API}/projects/{project['id']}/worktrees",
            json={"type": "fix", "name": "fix-x", "branch_name": "fix/x", "path": "/code/x"},
        ),
        201,
    )
    reads: list[tuple[str, dict[str, Any]]] = [
        ("get_project", {"project_id": project["id"]}),
        ("find_project_by_origin", {"remote_origin": "ssh://git@github.com/acme/same-app.git"}),
        ("get_inflight_work", {"project_id": project["id"]}),
        ("get_inflight_work", {"agent_id": "nobody"}),
        ("list_work", {"project_id": project["id"], "active": False}),
        ("list_work", {"status": "clean", "limit": 1}),
        ("trace", {"entity_type": "ticket", "entity_id": "SAME-12"}),
        ("trace", {"entity_type": "branch", "entity_id": f"{project['id']}:fix/x"}),
        ("trace", {"entity_type": "work", "entity_id": open_work["id"]}),
    ]
    async with mcp_http(server.mcp_url) as client:
        for tool, arguments in reads:
            assert await call(client, tool, **arguments) == await rest(tool, **arguments), tool


async def test_list_tools_carry_the_page_window(server: Served) -> None:
    project = ok(
        await server.rest.post(
            f"{API}/projects/register", json={"remote_origin": "git@github.com:acme/paged.git"}
        ),
        201,
    )
    for n in range(3):
        body = {"type": "feat", "name": f"f{n}", "branch_name": f"feat/{n}", "path": f"/p/{n}"}
        ok(await server.rest.post(f"{API}/projects/{project['id']}/worktrees", json=body), 201)
    async with mcp_http(server.mcp_url) as client:
        result = await client.call_tool("get_inflight_work", {"limit": 2, "offset": 1})
        listed = await client.call_tool("list_work", {"project_id": project["id"], "limit": 1})
    assert not result.is_error and not listed.is_error
    assert result.meta and result.meta["pagination"] == {"total": 3, "limit": 2, "offset": 1}
    assert listed.meta and listed.meta["pagination"] == {"total": 3, "limit": 1, "offset": 0}
    rest = await server.rest.get(f"{API}/inflight-work", params={"limit": 2, "offset": 1})
    assert rest.json()["pagination"] == result.meta["pagination"]


async def test_a_call_is_one_transaction_with_the_request_correlation_id(
    server: Served, engine: AsyncEngine
) -> None:
    before = await last_event(engine)
    headers = {"X-Correlation-ID": "mcp-trace-42"}
    async with mcp_http(server.mcp_url, headers=headers) as client:
        project = await call(
            client, "create_project", name="tx", remote_origin="git@github.com:acme/tx.git"
        )
        await call(
            client,
            "create_worktree",
            project_id=project["id"],
            type="feat",
            name="feat-tx",
            branch_name="feat/tx",
            path="/code/tx",
        )
        # A refused write leaves nothing behind: its transaction rolled back.
        result = await client.call_tool(
            "create_worktree",
            {
                "project_id": project["id"],
                "type": "feat",
                "name": "feat-tx-2",
                "branch_name": "feat/tx",
                "path": "/code/tx2",
            },
        )
    assert result.is_error
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT correlation_id FROM events WHERE id > :after"), {"after": before}
            )
        ).all()
        items = await conn.scalar(
            text("SELECT count(*) FROM work_items WHERE project_id = :p"),
            {"p": uuid.UUID(project["id"])},
        )
    assert rows and {r.correlation_id for r in rows} == {"mcp-trace-42"}
    assert items == 1
