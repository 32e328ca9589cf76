"""Each SQL function against its REST call: the same rows and the same outbox events (types,
routing keys, subjects, work item refs, correlation, envelope and payload), ids and clocks
aside. The REST call runs on an empty database, then the function on an emptied one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from imi.settings import get_settings
from tests.api.conftest import API, ok
from tests.sql.conftest import CORRELATION, plain_url
from tests.sql.support import anonymous, empty, events_after, last_event_id, row

HEADERS = {"X-Correlation-ID": CORRELATION}
PROJECT = {
    "name": "widget",
    "remote_origin": "https://bot:tok@github.com/Acme/Widget.git",
    "default_branch": "trunk",
    "trunk_path": "/srv/widget/trunk",
    "metadata": {"team": "core", "tags": ["a", "b"]},
}
# Two ticket keys (one repeated) in the branch: both linked once, in order.
WORKTREE = {
    "type": "feat",
    "name": "feat-login",
    "branch_name": "feat/ABC-1-login-XY-22-ABC-1",
    "path": "/srv/widget/feat-login",
    "agent_id": "agent-1",
    "metadata": {"story": "ABC-1"},
}
GIT_STATE = {
    "has_uncommitted": True,
    "uncommitted_count": 5,
    "ahead": 3,
    "behind": 1,
    "last_commit_hash": "a1b2c3d4e5f6",
    "last_commit_message": "Add authentication endpoints",
}
ACTIVITY = {
    "agent_id": " agent-1 ",
    "activity_type": "modified",
    "description": "Implemented JWT token validation",
    "file_path": "src/auth/jwt.rs",
    "metadata": {"lines_added": 45},
}

Setup = Callable[[], Awaitable[dict[str, Any]]]
Snapshot = Callable[[dict[str, Any], Any], Awaitable[dict[str, Any]]]


async def compare(
    db: asyncpg.Connection,
    setup: Setup,
    rest: Callable[[dict[str, Any]], Awaitable[Any]],
    sql: Callable[[dict[str, Any]], Awaitable[Any]],
    snapshot: Snapshot,
) -> dict[str, Any]:
    """Run ``rest`` then (on an emptied database) ``sql`` after the same ``setup``; both
    snapshots (rows) and the events each wrote must be equal up to ids and times."""
    runs = []
    for operation in (rest, sql):
        await empty(db)
        context = await setup()
        mark = await last_event_id(db)
        result = await operation(context)
        runs.append({**await snapshot(context, result), "events": await events_after(db, mark)})
    by_rest, by_sql = runs
    assert by_rest["events"], "the operation wrote no event"
    assert anonymous(by_sql) == anonymous(by_rest)
    return by_sql


async def _project(client: httpx.AsyncClient) -> dict[str, Any]:
    data = ok(await client.post(f"{API}/projects/register", json=PROJECT), 201)
    assert isinstance(data, dict)
    return {"project_id": data["id"]}


async def _worktree(client: httpx.AsyncClient) -> dict[str, Any]:
    context = await _project(client)
    path = f"{API}/projects/{context['project_id']}/worktrees"
    data = ok(await client.post(path, json=WORKTREE), 201)
    assert isinstance(data, dict)
    return {**context, "worktree_id": data["id"]}


async def test_register_project_matches_post_projects_register(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    async def setup() -> dict[str, Any]:
        return {}

    async def rest(_: dict[str, Any]) -> str:
        response = await client.post(f"{API}/projects/register", json=PROJECT, headers=HEADERS)
        return str(ok(response, 201)["id"])  # type: ignore[index]

    async def sql(_: dict[str, Any]) -> str:
        return str(
            await db.fetchval(
                "SELECT register_project($1, $2, $3, $4, $5::jsonb)",
                PROJECT["name"],
                PROJECT["remote_origin"],
                PROJECT["default_branch"],
                PROJECT["trunk_path"],
                json.dumps(PROJECT["metadata"]),
            )
        )

    async def snapshot(_: dict[str, Any], project_id: Any) -> dict[str, Any]:
        return {"project": await row(db, "projects", project_id)}

    result = await compare(db, setup, rest, sql, snapshot)
    project = result["project"]
    assert project["remote_origin"] == "https://github.com/Acme/Widget.git"  # no token kept
    assert project["remote_origin_normalized"] == "github.com/acme/widget"
    [event] = result["events"]
    assert event["event_type"] == "imi.project.registered"
    assert event["correlation_id"] == CORRELATION
    assert event["envelope"]["payload"]["existed"] is False


async def test_register_project_defaults_and_repeats_like_the_service(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Defaults (name from the repository, branch main), idempotency in any spelling (the
    existing id, no second event, as REST's 200), and re-activation of a deleted project."""
    project_id = await db.fetchval("SELECT register_project(NULL, 'git@github.com:acme/app.git')")
    project = await row(db, "projects", project_id)
    assert (project["name"], project["default_branch"]) == ("app", "main")
    assert project["metadata"] == {} and project["active"] is True
    mark = await last_event_id(db)
    again = await db.fetchval(
        "SELECT register_project('other', 'https://www.GitHub.com/Acme/App', 'dev')"
    )
    assert again == project_id
    response = await client.post(
        f"{API}/projects/register", json={"remote_origin": "ssh://git@github.com/acme/app"}
    )
    assert ok(response, 200)["id"] == str(project_id)  # type: ignore[index]
    assert await events_after(db, mark) == []
    assert (await row(db, "projects", project_id))["name"] == "app"  # unchanged

    assert (await client.delete(f"{API}/projects/{project_id}")).status_code == 204
    mark = await last_event_id(db)
    back = await db.fetchval("SELECT register_project('app2', 'git@github.com:acme/app.git')")
    assert back == project_id
    [event] = await events_after(db, mark)
    assert event["event_type"] == "imi.project.registered"
    assert event["envelope"]["payload"]["reactivated"] is True
    assert event["envelope"]["payload"]["name"] == "app2"
    assert (await row(db, "projects", project_id))["active"] is True


async def test_register_worktree_matches_post_worktrees(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    async def setup() -> dict[str, Any]:
        return await _project(client)

    async def rest(context: dict[str, Any]) -> str:
        path = f"{API}/projects/{context['project_id']}/worktrees"
        return str(ok(await client.post(path, json=WORKTREE, headers=HEADERS), 201)["id"])  # type: ignore[index]

    async def sql(context: dict[str, Any]) -> str:
        return str(
            await db.fetchval(
                "SELECT register_worktree($1::uuid, $2, $3, $4, $5, $6, $7::jsonb)",
                context["project_id"],
                WORKTREE["type"],
                WORKTREE["name"],
                WORKTREE["branch_name"],
                WORKTREE["path"],
                WORKTREE["agent_id"],
                json.dumps(WORKTREE["metadata"]),
            )
        )

    async def snapshot(_: dict[str, Any], worktree_id: Any) -> dict[str, Any]:
        tickets = await db.fetch(
            "SELECT t.plane_ticket_id, l.kind FROM ticket_links l"
            " JOIN tickets t ON t.id = l.ticket_id WHERE l.work_item_id = $1::uuid"
            " ORDER BY t.plane_ticket_id",
            worktree_id,
        )
        return {
            "work_item": await row(db, "work_items", worktree_id),
            "tickets": [tuple(t) for t in tickets],
        }

    result = await compare(db, setup, rest, sql, snapshot)
    assert result["tickets"] == [("ABC-1", "references"), ("XY-22", "references")]
    assert result["work_item"]["work_type"] == "feature"
    assert [e["event_type"] for e in result["events"]] == [
        "imi.ticket.created",
        "imi.link.ticket_linked",
        "imi.ticket.created",
        "imi.link.ticket_linked",
        "imi.work.started",
        "imi.worktree.created",
    ]
    created = result["events"][-1]["envelope"]
    assert created["payload"]["type"] == "feat" and created["metadata"]["version"] == "2.0.0"


async def test_update_worktree_git_state_matches_patch_git_state(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    async def setup() -> dict[str, Any]:
        return await _worktree(client)

    async def rest(context: dict[str, Any]) -> None:
        path = f"{API}/worktrees/{context['worktree_id']}/git-state"
        ok(await client.patch(path, json=GIT_STATE, headers=HEADERS))

    async def sql(context: dict[str, Any]) -> None:
        await db.execute(
            "SELECT update_worktree_git_state($1::uuid, $2, $3, $4, $5, $6, $7)",
            context["worktree_id"],
            *GIT_STATE.values(),
        )

    async def snapshot(context: dict[str, Any], _: Any) -> dict[str, Any]:
        return {"work_item": await row(db, "work_items", context["worktree_id"])}

    result = await compare(db, setup, rest, sql, snapshot)
    assert result["work_item"]["status"] == "uncommitted"
    [v3, v2] = result["events"]
    assert v3["envelope"]["payload"]["updated_fields"] == [
        "ahead_of_trunk",
        "behind_trunk",
        "has_uncommitted_changes",
        "last_commit_hash",
        "last_commit_message",
        "uncommitted_files_count",
    ]
    assert v2["event_type"] == "imi.worktree.git_state_updated"


async def test_git_state_omitted_fields_keep_their_values_and_no_change_writes_no_event(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    context = await _worktree(client)
    worktree_id = context["worktree_id"]
    await db.execute("SELECT update_worktree_git_state($1::uuid, p_ahead => 2)", worktree_id)
    mark = await last_event_id(db)
    await db.execute(
        "SELECT update_worktree_git_state($1::uuid, p_ahead => 2, p_behind => 0)", worktree_id
    )
    assert await events_after(db, mark) == []  # nothing changed: no event, as REST
    await db.execute(
        "SELECT update_worktree_git_state($1::uuid, p_has_uncommitted => true)", worktree_id
    )
    item = await row(db, "work_items", worktree_id)
    assert (item["ahead_of_trunk"], item["has_uncommitted_changes"]) == (2, True)
    [v3, _] = await events_after(db, mark)
    assert v3["envelope"]["payload"]["updated_fields"] == ["has_uncommitted_changes"]


async def test_log_activity_matches_post_activities(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    async def setup() -> dict[str, Any]:
        return await _worktree(client)

    async def rest(context: dict[str, Any]) -> str:
        body = {**ACTIVITY, "worktree_id": context["worktree_id"]}
        return str(
            ok(await client.post(f"{API}/activities", json=body, headers=HEADERS), 201)["id"]
        )  # type: ignore[index]

    async def sql(context: dict[str, Any]) -> str:
        return str(
            await db.fetchval(
                "SELECT log_activity($1, $2::uuid, $3, $4, $5, $6::jsonb)",
                ACTIVITY["agent_id"],
                context["worktree_id"],
                ACTIVITY["activity_type"],
                ACTIVITY["description"],
                ACTIVITY["file_path"],
                json.dumps(ACTIVITY["metadata"]),
            )
        )

    async def snapshot(context: dict[str, Any], activity_id: Any) -> dict[str, Any]:
        return {
            "activity": await row(db, "activities", activity_id),
            "work_item": await row(db, "work_items", context["worktree_id"]),
        }

    result = await compare(db, setup, rest, sql, snapshot)
    assert result["activity"]["agent_id"] == "agent-1"  # stripped, as the service does
    [event] = result["events"]
    assert event["event_type"] == "imi.activity.logged"
    assert event["work_item_refs"] == [result["activity"]["work_item_id"]]


async def test_v2_events_follow_the_setting_like_imi_publish_v2_events(
    client: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """imi.publish_v2_events = off drops the v2 names from the functions' events, as
    IMI_PUBLISH_V2_EVENTS=false does from the service's."""
    monkeypatch.setenv("IMI_PUBLISH_V2_EVENTS", "false")
    get_settings.cache_clear()
    context = await _project(client)
    mark = await last_event_id(db)
    other = {**WORKTREE, "name": "feat-other", "branch_name": "feat/other"}
    path = f"{API}/projects/{context['project_id']}/worktrees"
    ok(await client.post(path, json=other), 201)
    by_rest = [e["event_type"] for e in await events_after(db, mark)]

    await db.execute("SET imi.publish_v2_events = off")
    mark = await last_event_id(db)
    await db.fetchval(
        "SELECT register_worktree($1::uuid, 'feat', 'feat-sql', 'feat/sql', '/srv/w/sql')",
        context["project_id"],
    )
    by_sql = [e["event_type"] for e in await events_after(db, mark)]
    assert by_sql == by_rest == ["imi.work.started"]
    await db.execute("RESET imi.publish_v2_events")
    mark = await last_event_id(db)
    await db.fetchval(
        "SELECT register_worktree($1::uuid, 'fix', NULL, 'fix/x', '/srv/w/x')",
        context["project_id"],
    )
    events = await events_after(db, mark)
    assert [e["event_type"] for e in events] == ["imi.work.started", "imi.worktree.created"]
    assert events[0]["envelope"]["payload"]["name"] == "fix-x"  # the branch's worktree name


async def test_concurrent_calls_register_one_project_and_one_worktree_per_branch(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Many connections at once: one project per origin (any spelling), one registered event;
    one active worktree per branch, the others refused as duplicates."""
    spellings = [
        "git@github.com:acme/race.git",
        "https://github.com/Acme/Race",
        "ssh://git@github.com/acme/race.git",
        "https://www.github.com/acme/race/",
    ] * 3
    conns = [await asyncpg.connect(plain_url(database_url)) for _ in spellings]
    try:
        ids = await asyncio.gather(
            *(
                c.fetchval("SELECT register_project(NULL, $1)", s)
                for c, s in zip(conns, spellings, strict=True)
            )
        )
        assert len(set(ids)) == 1
        registered = await db.fetchval(
            "SELECT count(*) FROM events WHERE event_type = 'imi.project.registered'"
        )
        assert registered == 1
        results = await asyncio.gather(
            *(
                c.fetchval(
                    "SELECT register_worktree($1, 'fix', NULL, 'fix/race', '/srv/race')", ids[0]
                )
                for c in conns
            ),
            return_exceptions=True,
        )
        created = [r for r in results if isinstance(r, uuid.UUID)]
        refused = [r for r in results if isinstance(r, asyncpg.UniqueViolationError)]
        assert len(created) == 1 and len(refused) == len(conns) - 1, results
        started = await db.fetchval(
            "SELECT count(*) FROM events WHERE event_type = 'imi.work.started'"
        )
        assert started == 1
    finally:
        await asyncio.gather(*(c.close() for c in conns))
