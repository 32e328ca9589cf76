"""get_inflight_work and the views against the REST reads; roles; downgrade and upgrade."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command

from imi.migrate import alembic_config, upgrade
from tests.api.conftest import API, ok
from tests.api.test_trace import Graph, graph  # noqa: F401  (a ticket -> work -> PR -> deploy graph)
from tests.conftest import with_database
from tests.sql.conftest import plain_url

WRITES = [
    "SELECT register_project(NULL, 'git@github.com:acme/ro.git')",
    "SELECT register_worktree($1::uuid, 'feat', 'x', 'feat/x', '/srv/x')",
    "SELECT update_worktree_git_state($1::uuid, true)",
    "SELECT log_activity('a', $1::uuid, 'other', 'd')",
    "SELECT imi_emit('imi.x', 'project', 'p', '{}')",
]
VIEWS = ("v_projects_summary", "v_inflight_work", "v_work_items_with_links", "v_trace_edges")
IN_FLIGHT = (
    "worktree_id, worktree_name, branch_name, status, uncommitted_count, ahead, behind,"
    " agent_id, last_activity"
)


async def _post(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], status: int = 201
) -> Any:
    return ok(await client.post(API + path, json=body), status)


async def _work(client: httpx.AsyncClient) -> dict[str, str]:
    """Two projects; active work in several git states with distinct activity times; one
    merged item (not in flight)."""
    a = (await _post(client, "/projects", {"remote_origin": "git@github.com:acme/a.git"}))["id"]
    b = (await _post(client, "/projects", {"remote_origin": "git@github.com:acme/b.git"}))["id"]
    ids = {"a": a, "b": b}
    for project, branch, state in (
        (a, "feat/one", {"has_uncommitted": True, "uncommitted_count": 2}),
        (a, "fix/two", {"ahead": 3, "behind": 1}),
        (a, "feat/three", {"ahead": 1}),
        (b, "feat/four", {"behind": 4}),
        (b, "feat/five", {}),
        (a, "feat/done", {}),
    ):
        body = {"type": "feat", "name": "", "branch_name": branch, "path": f"/srv/{branch}"}
        body["agent_id"] = "agent-" + branch[-3:]
        item = await _post(client, f"/projects/{project}/worktrees", body)
        ids[branch] = item["id"]
        if state:
            ok(await client.patch(f"{API}/worktrees/{item['id']}/git-state", json=state))
    ok(await client.post(f"{API}/worktrees/{ids['feat/done']}/merge", json={}))
    return ids


def _rest_rows(data: Any) -> list[dict[str, Any]]:
    keys = [k.strip() for k in IN_FLIGHT.split(",")]
    rows = []
    for item in data:
        out = {k: item[k] for k in keys}
        out["last_activity"] = datetime.fromisoformat(out["last_activity"])
        out["worktree_id"] = uuid.UUID(out["worktree_id"])
        rows.append(out)
    return rows


async def test_get_inflight_work_and_its_view_equal_get_inflight_work(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ids = await _work(client)
    for project in (None, ids["a"], ids["b"], str(uuid.uuid4())):
        query = f"?project_id={project}" if project else ""
        rest = ok(await client.get(f"{API}/inflight-work{query}"))
        by_function = await db.fetch("SELECT * FROM get_inflight_work($1::uuid)", project)
        assert [dict(r) for r in by_function] == _rest_rows(rest)
        by_view = await db.fetch(
            f"SELECT {IN_FLIGHT}, project_name FROM v_inflight_work"
            " WHERE $1::uuid IS NULL OR project_id = $1::uuid"
            " ORDER BY last_activity DESC, worktree_id",
            project,
        )
        assert [dict(r) for r in by_view] == [
            {**row, "project_name": item["project_name"]}
            for row, item in zip(_rest_rows(rest), rest, strict=True)  # type: ignore[arg-type]
        ]
    assert len(await db.fetch("SELECT * FROM get_inflight_work()")) == 5  # merged one is out
    assert {r["status"] for r in await db.fetch("SELECT status FROM get_inflight_work()")} == {
        "uncommitted",
        "diverged",
        "ahead",
        "behind",
        "clean",
    }


async def test_projects_summary_counts_are_the_projects_worktree_counts(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ids = await _work(client)
    for key in ("a", "b"):
        project = ok(await client.get(f"{API}/projects/{ids[key]}"))
        summary = await db.fetchrow(
            "SELECT * FROM v_projects_summary WHERE id = $1", uuid.UUID(ids[key])
        )
        assert summary is not None
        counts = project["worktree_counts"]  # type: ignore[index]
        assert {
            "active": summary["active_worktrees"],
            "in_flight": summary["in_flight_worktrees"],
            "uncommitted": summary["uncommitted_worktrees"],
            "unmerged": summary["unmerged_worktrees"],
        } == counts
        assert summary["name"] == project["name"] and summary["active"] is True  # type: ignore[index]
    a = await db.fetchrow("SELECT * FROM v_projects_summary WHERE id = $1", uuid.UUID(ids["a"]))
    assert a is not None
    # a: one, two, three active (one uncommitted; two, three ahead); done merged.
    assert (a["total_worktrees"], a["active_worktrees"], a["uncommitted_worktrees"]) == (4, 3, 1)
    assert a["unmerged_worktrees"] == 2


async def test_links_and_trace_views_match_the_trace(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    graph: Graph,  # noqa: F811
) -> None:
    g = graph
    rest = ok(await client.get(f"{API}/trace/ticket/PROJ-1"))
    expected = {(e["kind"], e["from"], e["to"], e["link_kind"]) for e in rest["edges"]}  # type: ignore[index]
    edges = await db.fetch("SELECT * FROM v_trace_edges")
    assert {
        (e["kind"], str(e["from_id"]), str(e["to_id"]), e["link_kind"]) for e in edges
    } == expected
    assert len(edges) == len(expected)  # no edge twice
    pr = next(e for e in edges if e["kind"] == "has_pr" and str(e["to_id"]) == g.pr1)
    assert (pr["from_type"], pr["to_type"], pr["to_key"]) == (
        "work_item",
        "pull_request",
        "https://github.com/acme/app/pull/1",
    )
    rows = {
        str(r["work_item_id"]): r for r in await db.fetch("SELECT * FROM v_work_items_with_links")
    }
    assert set(rows) == {g.w1, g.w2}
    w1, w2 = rows[g.w1], rows[g.w2]
    assert (w1["ticket_ids"], w1["pull_request_numbers"], w1["deploy_ids"]) == (
        ["PROJ-1"],
        [1],
        ["d1", "d2"],
    )
    assert w1["pull_request_urls"] == ["https://github.com/acme/app/pull/1"]
    assert (w2["ticket_ids"], w2["pull_request_numbers"], w2["deploy_ids"]) == (
        ["PROJ-1"],
        [2],
        ["d2"],
    )
    assert w2["branch_name"] == "fix/ui/PROJ-1-typo" and w2["project_name"] == "app"


async def test_the_read_only_role_reads_the_views_but_cannot_write(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ids = await _work(client)
    project, worktree = ids["a"], ids["feat/one"]
    await db.execute("SET ROLE imi_readonly")
    try:
        for view in VIEWS:
            assert await db.fetch(f"SELECT * FROM {view}")
        assert len(await db.fetch("SELECT * FROM get_inflight_work($1::uuid)", project)) == 3
        for statement in WRITES:
            args = (project,) if "register_worktree" in statement else ()
            args = (worktree,) if "git_state" in statement or "log_activity" in statement else args
            with pytest.raises(
                asyncpg.InsufficientPrivilegeError, match="permission denied for function"
            ):
                await db.fetchval(statement, *args)
    finally:
        await db.execute("RESET ROLE")
    count = await db.fetchval("SELECT count(*) FROM projects")
    assert count == 2  # nothing was registered


async def test_a_project_restricted_role_sees_only_its_projects_through_the_views(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """The views are security_invoker: row-level security (0005) applies to their caller."""
    ids = await _work(client)
    async with db.transaction():
        await db.execute("SET LOCAL ROLE imi_scoped")
        await db.execute(f"SET LOCAL imi.project_ids = '{{{ids['b']}}}'")
        names = [r["name"] for r in await db.fetch("SELECT name FROM v_projects_summary")]
        flight = await db.fetch("SELECT project_id FROM v_inflight_work")
        by_function = await db.fetch("SELECT * FROM get_inflight_work()")
        # The write functions run as the caller too: a project outside the scope is refused.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.fetchval("SELECT register_project(NULL, 'git@github.com:acme/c.git')")
    assert names == ["b"]
    assert {str(r["project_id"]) for r in flight} == {ids["b"]}
    assert len(by_function) == 2


def _exists(url: str) -> list[bool]:
    async def probe() -> list[bool]:
        conn = await asyncpg.connect(url)
        try:
            functions = await conn.fetchval(
                "SELECT count(*) FROM pg_proc WHERE proname IN ('register_project',"
                " 'register_worktree', 'update_worktree_git_state', 'get_inflight_work',"
                " 'log_activity', 'imi_emit', 'imi_normalize_remote_origin')"
            )
            views = await conn.fetchval(
                "SELECT count(*) FROM pg_views WHERE viewname = ANY($1::text[])", list(VIEWS)
            )
            return [functions == 7, views == 4, functions == views == 0]
        finally:
            await conn.close()

    return asyncio.run(probe())


def test_downgrade_removes_everything_and_upgrade_brings_it_back(server_url: str) -> None:
    name = f"imi_test_sqlfn_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = plain_url(with_database(server_url, name))
    try:
        # 0008 itself: later revisions (other features) are not this test's business.
        upgrade(url, "0008")
        assert _exists(url) == [True, True, False]
        command.downgrade(alembic_config(url), "0007")
        assert _exists(url) == [False, False, True]
        upgrade(url, "0008")
        assert _exists(url) == [True, True, False]
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
