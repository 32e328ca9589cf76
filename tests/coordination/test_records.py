"""Orchestration records over intermute's paths: every kind's create, read, list, filter,
update and delete with the exact wire shapes, every refusal, the events written, and
concurrent updates of one record (no lost update)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.auth.keys import create_key
from imi.auth.models import Scope
from imi.coordination import records
from imi.coordination.records_kinds import BY_NAME
from imi.migrate import alembic_config, upgrade
from tests.api import conftest as api_fixtures
from tests.api.conftest import API, error
from tests.conftest import with_database

Sessions = async_sessionmaker[AsyncSession]
client = api_fixtures.client  # the in-process app (fixture)
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Case:
    """One kind: its path, a minimal and a full body, and what intermute answers for them."""

    name: str
    path: str
    minimal: dict[str, Any]
    minimal_keys: list[str]  # the JSON keys of the minimal record, in order
    default_status: str | None
    full: dict[str, Any]
    full_keys: list[str]
    filters: dict[str, str] = field(default_factory=dict)  # query parameter -> body field
    versioned: bool = True
    updatable: bool = True
    subject: str = ""


V_TIMES = ["version", "created_at", "updated_at"]
CASES = [
    Case(
        "spec",
        "specs",
        {"title": "Coordination"},
        ["id", "project", "title", "status", *V_TIMES],
        "draft",
        {"title": "T", "vision": "V", "users": "U", "problem": "P", "status": "research"},
        ["id", "project", "title", "vision", "users", "problem", "status", *V_TIMES],
        {"status": "status"},
    ),
    Case(
        "epic",
        "epics",
        {"title": "Reservations"},
        ["id", "project", "title", "status", *V_TIMES],
        "open",
        {"spec_id": "spec-9", "title": "T", "description": "D", "status": "in_progress"},
        ["id", "project", "spec_id", "title", "description", "status", *V_TIMES],
        {"spec": "spec_id"},
    ),
    Case(
        "story",
        "stories",
        {"epic_id": "epic-1", "title": "Exclusive"},
        ["id", "project", "epic_id", "title", "status", *V_TIMES],
        "todo",
        {
            "epic_id": "epic-2",
            "title": "T",
            "acceptance_criteria": ["a", "b"],
            "status": "review",
        },
        ["id", "project", "epic_id", "title", "acceptance_criteria", "status", *V_TIMES],
        {"epic": "epic_id"},
    ),
    Case(
        "task",
        "tasks",
        {"title": "Overlap"},
        ["id", "project", "title", "status", *V_TIMES],
        "pending",
        {
            "story_id": "story-1",
            "title": "T",
            "agent": "agent-7",
            "session_id": "s-1",
            "status": "blocked",
        },
        ["id", "project", "story_id", "title", "agent", "session_id", "status", *V_TIMES],
        {"status": "status", "agent": "agent"},
    ),
    Case(
        "insight",
        "insights",
        {"source": "pollard", "category": "market", "title": "Locks"},
        ["id", "project", "source", "category", "title", "score", "created_at"],
        None,
        {
            "spec_id": "spec-1",
            "source": "web",
            "category": "competitor",
            "title": "T",
            "body": "B",
            "url": "https://example.com/x",
            "score": 0.75,
        },
        [
            "id",
            "project",
            "spec_id",
            "source",
            "category",
            "title",
            "body",
            "url",
            "score",
            "created_at",
        ],
        {"spec": "spec_id", "category": "category"},
        versioned=False,
        updatable=False,
    ),
    Case(
        "session",
        "sessions",
        {"name": "tmux-1", "agent": "agent-1"},
        ["id", "project", "name", "agent", "status", "started_at", "updated_at"],
        "running",
        {"name": "tmux-2", "agent": "agent-2", "task_id": "task-1", "status": "idle"},
        ["id", "project", "name", "agent", "task_id", "status", "started_at", "updated_at"],
        {"status": "status"},
        versioned=False,
    ),
    Case(
        "cuj",
        "cujs",
        {"spec_id": "spec-1", "title": "Reserve first"},
        ["id", "project", "spec_id", "title", "priority", "status", *V_TIMES],
        "draft",
        {
            "spec_id": "spec-2",
            "title": "T",
            "persona": "agent",
            "priority": "high",
            "entry_point": "in",
            "exit_point": "out",
            "steps": [
                {"order": 1, "action": "a", "expected": "e", "alternatives": ["x"]},
                {"order": 2, "action": "b", "expected": "f"},
            ],
            "success_criteria": ["ok"],
            "error_recovery": ["retry"],
            "status": "validated",
        },
        [
            "id",
            "project",
            "spec_id",
            "title",
            "persona",
            "priority",
            "entry_point",
            "exit_point",
            "steps",
            "success_criteria",
            "error_recovery",
            "status",
            *V_TIMES,
        ],
        {"spec": "spec_id"},
    ),
]
IDS = [case.name for case in CASES]
REQUIRED = {
    "spec": ["title"],
    "epic": ["title"],
    "story": ["epic_id", "title"],
    "task": ["title"],
    "insight": ["source", "category", "title"],
    "session": ["name", "agent"],
    "cuj": ["spec_id", "title"],
}


def project() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


async def events(sessions: Sessions, kind: str, proj: str, key: str) -> list[tuple[str, Any]]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT event_type, envelope FROM events "
                "WHERE subject_type = :t AND subject_id = :s ORDER BY id"
            ),
            {"t": f"coordination_{kind}", "s": f"{proj}/{key}"},
        )
        return [(r.event_type, r.envelope["payload"]) for r in rows]


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_create_read_list_update_delete(
    client: httpx.AsyncClient, sessions: Sessions, case: Case
) -> None:
    proj = project()
    base = f"/api/{case.path}"

    minimal = created(await client.post(base, json={**case.minimal, "project": proj}))
    assert list(minimal) == case.minimal_keys
    assert UUID.match(minimal["id"]) and minimal["project"] == proj
    assert minimal.get("status") == case.default_status
    for key in ("created_at", "started_at", "updated_at"):
        if key in minimal:
            assert TIME.match(minimal[key]), minimal[key]
    if case.versioned:
        assert minimal["version"] == 1
    if case.name == "insight":
        assert minimal["score"] == 0.0

    # The Go client sends its whole struct: zero times and unknown fields are ignored.
    body = {
        **case.full,
        "id": f"{case.name}-full",
        "project": proj,
        "created_at": "0001-01-01T00:00:00Z",
        "updated_at": "0001-01-01T00:00:00Z",
        "started_at": "0001-01-01T00:00:00Z",
        "unknown_field": {"x": 1},
    }
    full = created(await client.post(base, json=body))
    assert list(full) == case.full_keys
    assert {k: full[k] for k in case.full} == case.full and full["id"] == f"{case.name}-full"
    assert not full[case.full_keys[-1]].startswith("0001")

    read = await client.get(f"{base}/{full['id']}", params={"project": proj})
    assert read.status_code == 200 and read.json() == full

    listed = await client.get(base, params={"project": proj})
    assert listed.status_code == 200
    assert sorted(r["id"] for r in listed.json()) == sorted([minimal["id"], full["id"]])
    for param, body_field in case.filters.items():
        only = await client.get(base, params={"project": proj, param: case.full[body_field]})
        assert [r["id"] for r in only.json()] == [full["id"]], param
        none = await client.get(base, params={"project": proj, param: "no-such-value"})
        assert none.json() == []
    assert (await client.get(base, params={"project": project()})).json() == []

    if case.updatable:
        change = {**case.minimal, "project": proj}  # the optional fields emptied
        if case.versioned:
            change["version"] = full["version"]
        updated = await client.put(f"{base}/{full['id']}", json=change)
        assert updated.status_code == 200, updated.text
        after = updated.json()
        assert list(after) == [k for k in case.minimal_keys]
        assert after["status"] == full["status"]  # a left-out status is kept
        assert after[case.full_keys[-2]] == full[case.full_keys[-2]]  # created/started kept
        if case.versioned:
            assert after["version"] == 2
        assert (await client.get(f"{base}/{full['id']}", params={"project": proj})).json() == after

    deleted = await client.delete(f"{base}/{full['id']}", params={"project": proj})
    assert deleted.status_code == 204 and deleted.content == b""
    error(await client.get(f"{base}/{full['id']}", params={"project": proj}), 404, "NOT_FOUND")
    error(await client.delete(f"{base}/{full['id']}", params={"project": proj}), 404, "NOT_FOUND")

    kinds = [t for t, _ in await events(sessions, case.name, proj, full["id"])]
    middle = [f"imi.{case.name}.updated"] if case.updatable else []
    assert kinds == [f"imi.{case.name}.created", *middle, f"imi.{case.name}.deleted"]
    payloads = [p for _, p in await events(sessions, case.name, proj, full["id"])]
    assert payloads[0] == {"kind": case.name, "project": proj, "id": full["id"], "record": full}
    assert payloads[-1]["record"]["id"] == full["id"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_bad_input_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, sessions: Sessions, case: Case
) -> None:
    proj = project()
    base = f"/api/{case.path}"
    headers = {"content-type": "application/json"}
    for raw in (b"{", b"[1, 2]", b'"text"', b"", b'{"title": NaN}'):
        refused = await client.post(base, content=raw, headers=headers)
        error(refused, 400, "VALIDATION_ERROR")
    for name in REQUIRED[case.name]:
        body = {**case.minimal, "project": proj}
        del body[name]
        assert error(await client.post(base, json=body), 400, "VALIDATION_ERROR")["details"] == {
            "field": name
        }
        body[name] = "   "
        error(await client.post(base, json=body), 400, "VALIDATION_ERROR")
    text_field = REQUIRED[case.name][-1]
    too_long = 501 if text_field == "title" else 201
    wrong: list[dict[str, Any]] = [
        {text_field: 5},
        {text_field: "x" * too_long},
        {"id": "a/b"},
        {"id": "x" * 201},
        {"project": ["p"]},
        {"project": "p" * 201},
        {text_field: "nul \x00 inside"},
        {text_field: "\ud800 lone surrogate"},
        {"project": "a\x00b"},
    ]
    if case.default_status:
        wrong.append({"status": "sideways"})
    if case.name == "story":
        wrong += [{"acceptance_criteria": "one"}, {"acceptance_criteria": ["a"] * 101}]
        wrong.append({"acceptance_criteria": [1]})
    if case.name == "insight":
        wrong += [{"score": "high"}, {"score": True}]
    if case.name == "cuj":
        wrong += [
            {"priority": "urgent"},
            {"steps": "walk"},
            {"steps": [1]},
            {"steps": [{"order": "1"}]},
            {"steps": [{"order": 2**31}]},
            {"steps": [{"action": 5}]},
            {"steps": [{"alternatives": "x"}]},
            {"steps": [{}] * 101},
            {"success_criteria": [None]},
        ]
    for override in wrong:
        body = {**case.minimal, "project": proj, **override}
        # json.dumps escapes a lone surrogate (httpx's json= cannot encode it).
        sent = await client.post(base, content=json.dumps(body), headers=headers)
        error(sent, 400, "VALIDATION_ERROR")
    assert (await client.get(base, params={"project": proj})).json() == []

    first = created(await client.post(base, json={**case.minimal, "project": proj, "id": "dup"}))
    duplicate = await client.post(base, json={**case.minimal, "project": proj, "id": "dup"})
    error(duplicate, 409, "CONFLICT")
    # Another project may reuse the id: the key is (project, id).
    created(await client.post(base, json={**case.minimal, "project": project(), "id": "dup"}))

    error(await client.get(f"{base}/nope", params={"project": proj}), 404, "NOT_FOUND")
    error(await client.get(f"{base}/dup"), 404, "NOT_FOUND")  # project '' has none
    error(await client.get(f"{base}/{'x' * 300}", params={"project": proj}), 404, "NOT_FOUND")
    error(await client.delete(f"{base}/nope", params={"project": proj}), 404, "NOT_FOUND")
    error(await client.patch(f"{base}/dup", json={}), 405, "VALIDATION_ERROR")
    error(await client.delete(base), 405, "VALIDATION_ERROR")
    error(await client.put(base, json={}), 405, "VALIDATION_ERROR")
    error(await client.get(f"{base}/a%00b", params={"project": proj}), 404, "NOT_FOUND")
    error(await client.get(base, params={"project": "a\x00"}), 400, "VALIDATION_ERROR")
    for param in case.filters:
        answer = await client.get(base, params={"project": proj, param: "a\x00"})
        error(answer, 400, "VALIDATION_ERROR")
    for query in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"offset": "-1"}):
        error(await client.get(base, params={"project": proj, **query}), 400, "VALIDATION_ERROR")
    if case.updatable:
        change = {**case.minimal, "project": proj, "version": first.get("version")}
        error(await client.put(f"{base}/nope", json=change), 404, "NOT_FOUND")
        error(
            await client.put(f"{base}/dup", content=b"{", headers=headers), 400, "VALIDATION_ERROR"
        )
        missing = {k: v for k, v in change.items() if k != REQUIRED[case.name][0]}
        error(await client.put(f"{base}/dup", json=missing), 400, "VALIDATION_ERROR")
    else:
        error(await client.put(f"{base}/dup", json=case.minimal), 405, "VALIDATION_ERROR")
    assert (await client.get(f"{base}/dup", params={"project": proj})).json() == first
    assert [t for t, _ in await events(sessions, case.name, proj, "dup")] == [
        f"imi.{case.name}.created"
    ]


@pytest.mark.parametrize("case", [c for c in CASES if c.versioned], ids=lambda c: c.name)
async def test_a_stale_version_is_a_conflict(client: httpx.AsyncClient, case: Case) -> None:
    proj = project()
    base = f"/api/{case.path}"
    record = created(await client.post(base, json={**case.minimal, "project": proj}))
    url = f"{base}/{record['id']}"
    fresh = await client.put(url, json={**record, "version": 1})
    assert fresh.status_code == 200 and fresh.json()["version"] == 2
    for stale in ({**record, "version": 1}, {k: v for k, v in record.items() if k != "version"}):
        refused = error(await client.put(url, json=stale), 409, "CONFLICT")
        assert refused["details"] == {"field": "version", "current_version": 2}
    for bad in ("2", -1, 1.5, True):
        error(await client.put(url, json={**record, "version": bad}), 400, "VALIDATION_ERROR")
    assert (await client.get(url, params={"project": proj})).json() == fresh.json()


async def test_concurrent_updates_lose_nothing(client: httpx.AsyncClient) -> None:
    proj = project()
    story = created(
        await client.post("/api/stories", json={"epic_id": "e", "title": "t", "project": proj})
    )
    url = f"/api/stories/{story['id']}"

    # One version, many writers: exactly one wins.
    racers = await asyncio.gather(
        *(client.put(url, json={**story, "title": f"writer {i}"}) for i in range(12))
    )
    assert sorted(r.status_code for r in racers) == [200] + [409] * 11

    # Read-modify-write with retry on 409: every writer's criterion survives.
    async def add(criterion: str) -> None:
        for _ in range(200):
            current = (await client.get(url, params={"project": proj})).json()
            criteria = [*current.get("acceptance_criteria", []), criterion]
            answer = await client.put(url, json={**current, "acceptance_criteria": criteria})
            if answer.status_code == 200:
                return
            assert answer.status_code == 409, answer.text
        raise AssertionError(f"{criterion} never applied")

    await asyncio.gather(*(add(f"c{i}") for i in range(8)))
    final = (await client.get(url, params={"project": proj})).json()
    assert sorted(final["acceptance_criteria"]) == sorted(f"c{i}" for i in range(8))
    assert final["version"] == 2 + 8


async def test_task_assign_and_insight_link(client: httpx.AsyncClient, sessions: Sessions) -> None:
    proj = project()
    task = created(await client.post("/api/tasks", json={"title": "t", "project": proj}))
    url = f"/api/tasks/{task['id']}/assign"
    assigned = await client.post(url, params={"project": proj}, json={"agent": "agent-3"})
    assert assigned.status_code == 200
    after = assigned.json()
    assert after["agent"] == "agent-3" and after["status"] == "running" and after["version"] == 2
    assert list(after) == ["id", "project", "title", "agent", "status", *V_TIMES]
    error(await client.post(url, params={"project": proj}, json={}), 400, "VALIDATION_ERROR")
    error(await client.post(url, params={"project": proj}, content=b"{"), 400, "VALIDATION_ERROR")
    error(await client.get(url, params={"project": proj}), 405, "VALIDATION_ERROR")
    missing = "/api/tasks/nope/assign"
    error(
        await client.post(missing, params={"project": proj}, json={"agent": "a"}), 404, "NOT_FOUND"
    )
    # The assignment is a version like any update: a writer holding version 1 is stale.
    error(await client.put(f"/api/tasks/{task['id']}", json=task), 409, "CONFLICT")

    insight = created(
        await client.post(
            "/api/insights",
            json={"source": "s", "category": "c", "title": "t", "project": proj},
        )
    )
    link = f"/api/insights/{insight['id']}/link"
    linked = await client.post(link, params={"project": proj}, json={"spec_id": "spec-5"})
    assert linked.status_code == 200 and linked.content == b""
    read = (await client.get(f"/api/insights/{insight['id']}", params={"project": proj})).json()
    assert read["spec_id"] == "spec-5"
    listed = await client.get("/api/insights", params={"project": proj, "spec": "spec-5"})
    assert [r["id"] for r in listed.json()] == [insight["id"]]
    error(await client.post(link, params={"project": proj}, json={}), 400, "VALIDATION_ERROR")
    error(
        await client.post(link, params={"project": proj}, json={"spec_id": "a/b"}),
        400,
        "VALIDATION_ERROR",
    )
    error(
        await client.post(
            "/api/insights/nope/link", params={"project": proj}, json={"spec_id": "s"}
        ),
        404,
        "NOT_FOUND",
    )

    assert [t for t, _ in await events(sessions, "task", proj, task["id"])] == [
        "imi.task.created",
        "imi.task.assigned",
    ]
    assert [t for t, _ in await events(sessions, "insight", proj, insight["id"])] == [
        "imi.insight.created",
        "imi.insight.linked",
    ]


async def test_list_order_pages_and_all_projects(client: httpx.AsyncClient) -> None:
    proj = project()
    ids = []
    for i in range(5):
        spec = created(await client.post("/api/specs", json={"title": f"s{i}", "project": proj}))
        ids.append(spec["id"])
    # intermute's order: most recently updated first.
    listed = await client.get("/api/specs", params={"project": proj})
    assert [r["id"] for r in listed.json()] == list(reversed(ids))
    assert "link" not in listed.headers
    first = await client.get("/api/specs", params={"project": proj, "limit": 2})
    assert [r["id"] for r in first.json()] == [ids[4], ids[3]]
    assert 'rel="next"' in first.headers["link"] and "offset=2" in first.headers["link"]
    last = await client.get("/api/specs", params={"project": proj, "limit": 2, "offset": 4})
    assert [r["id"] for r in last.json()] == [ids[0]] and "link" not in last.headers

    insights = []
    for score in (0.2, 0.9, 0.5):
        body = {"source": "s", "category": "c", "title": "t", "score": score, "project": proj}
        insights.append(created(await client.post("/api/insights", json=body)))
    by_score = (await client.get("/api/insights", params={"project": proj})).json()
    assert [r["score"] for r in by_score] == [0.9, 0.5, 0.2]

    # No project: every project's records (intermute's rule for an unrestricted caller).
    other = project()
    created(await client.post("/api/specs", json={"title": "x", "project": other}))
    everything = (await client.get("/api/specs", params={"limit": 1000})).json()
    assert {proj, other} <= {r["project"] for r in everything}


async def _restricted_key(client: httpx.AsyncClient, sessions: Sessions) -> tuple[str, str]:
    name = f"r{uuid.uuid4().hex[:8]}"
    answer = await client.post(
        f"{API}/projects",
        json={"remote_origin": f"git@github.com:acme/{name}.git", "name": name},
    )
    assert answer.status_code == 201, answer.text
    mine = answer.json()["data"]["id"]
    async with sessions() as session, session.begin():
        key = await create_key(
            session, name="records", scope=Scope.ADMIN, project_ids=[uuid.UUID(mine)]
        )
    return mine, key.secret


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_restricted_key_stays_in_its_project(
    client: httpx.AsyncClient, sessions: Sessions, case: Case
) -> None:
    mine, secret = await _restricted_key(client, sessions)
    auth = {"authorization": f"Bearer {secret}"}
    base = f"/api/{case.path}"
    theirs = project()
    foreign = created(await client.post(base, json={**case.minimal, "project": theirs}))

    # Left out, the project is the key's; naming another is 403, and nothing is written.
    own = created(await client.post(base, json=case.minimal, headers=auth))
    assert own["project"] == mine
    refused = await client.post(base, json={**case.minimal, "project": theirs}, headers=auth)
    error(refused, 403, "FORBIDDEN")
    listed = await client.get(base, headers=auth)
    assert [r["id"] for r in listed.json()] == [own["id"]]
    error(await client.get(base, params={"project": theirs}, headers=auth), 403, "FORBIDDEN")
    item = f"{base}/{foreign['id']}"
    error(await client.get(item, params={"project": theirs}, headers=auth), 403, "FORBIDDEN")
    error(await client.get(item, headers=auth), 404, "NOT_FOUND")
    error(await client.delete(item, params={"project": theirs}, headers=auth), 403, "FORBIDDEN")
    if case.updatable:
        change = {**foreign, "title": "mine now"} if "title" in foreign else {**foreign}
        error(await client.put(item, json=change, headers=auth), 403, "FORBIDDEN")
        # The key's own record updates (its role reads and writes only its project's rows).
        answer = await client.put(f"{base}/{own['id']}", json=own, headers=auth)
        assert answer.status_code == 200, answer.text
    assert (await client.get(item, params={"project": theirs})).json() == foreign
    gone = await client.delete(f"{base}/{own['id']}", headers=auth)
    assert gone.status_code == 204, gone.text


async def test_records_are_documented_in_openapi(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    for case in CASES:
        base, item = f"/api/{case.path}", f"/api/{case.path}/{{record_id}}"
        expected = {"get", "put", "delete"} if case.updatable else {"get", "delete"}
        assert set(paths[base]) == {"get", "post"} and set(paths[item]) == expected
        post = paths[base]["post"]
        body = post["requestBody"]["content"]["application/json"]
        assert set(REQUIRED[case.name]) == set(body["schema"]["required"])
        assert set(body["example"]) >= set(REQUIRED[case.name])
        assert set(post["responses"]) >= {"201", "400", "403", "409"}
        schema = post["responses"]["201"]["content"]["application/json"]["schema"]
        model = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert set(model["examples"][0]) == set(case.full_keys)
        assert set(model["required"]) == set(case.minimal_keys)  # the never-omitted keys
    assert "post" in paths["/api/tasks/{record_id}/assign"]
    assert "post" in paths["/api/insights/{record_id}/link"]


async def test_the_restricted_role_sees_and_writes_only_its_projects_rows(
    sessions: Sessions,
) -> None:
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    async with sessions() as session, session.begin():
        for case in CASES:
            for proj in (mine, theirs):
                await records.create(session, BY_NAME[case.name], proj, case.minimal)
    async with sessions() as session, session.begin():
        await session.execute(text("SET LOCAL ROLE imi_scoped"))
        await session.execute(
            text("SELECT set_config('imi.project_ids', :ids, true)"), {"ids": "{" + mine + "}"}
        )
        for case in CASES:
            table = BY_NAME[case.name].table
            seen = await session.execute(
                text(f"SELECT project FROM {table} WHERE project = ANY(:p)"),
                {"p": [mine, theirs]},
            )
            assert [r.project for r in seen] == [mine], table
        with pytest.raises(DBAPIError, match="row-level security"):
            await records.create(session, BY_NAME["spec"], theirs, {"title": "not mine"})


async def test_a_read_key_reads_and_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    async with sessions() as session, session.begin():
        key = await create_key(session, name="reader", scope=Scope.READ)
    reader = {"authorization": f"Bearer {key.secret}"}
    proj = project()
    spec = created(await client.post("/api/specs", json={"title": "t", "project": proj}))
    item = f"/api/specs/{spec['id']}"
    assert (await client.get(item, params={"project": proj}, headers=reader)).json() == spec
    assert (await client.get("/api/specs", params={"project": proj}, headers=reader)).json() == [
        spec
    ]
    refused = [
        await client.post("/api/specs", json={"title": "t", "project": proj}, headers=reader),
        await client.put(item, json=spec, headers=reader),
        await client.delete(item, params={"project": proj}, headers=reader),
    ]
    for answer in refused:
        error(answer, 403, "FORBIDDEN")
    bad_key = {"authorization": "Bearer imi_nope_nope"}
    error(await client.get(item, params={"project": proj}, headers=bad_key), 401, "UNAUTHORIZED")
    assert (await client.get(item, params={"project": proj})).json() == spec


def test_downgrade_drops_the_tables_and_upgrade_brings_them_back(server_url: str) -> None:
    name = f"imi_test_records_{uuid.uuid4().hex[:10]}"
    url = with_database(server_url, name)
    tables = [kind.table for kind in BY_NAME.values()]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def present() -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE tablename = ANY($1::text[])", tables
            )
            return sorted(r["tablename"] for r in rows)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(url, "0011")
        assert asyncio.run(present()) == sorted(tables)
        command.downgrade(alembic_config(url), "0010")
        assert asyncio.run(present()) == []
        upgrade(url, "0011")
        assert asyncio.run(present()) == sorted(tables)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_cuj_feature_links(client: httpx.AsyncClient, sessions: Sessions) -> None:
    proj = project()
    q = {"project": proj}
    cuj = created(
        await client.post("/api/cujs", json={"spec_id": "s", "title": "t", "project": proj})
    )
    base = f"/api/cujs/{cuj['id']}"
    for feature in ("f-2", "f-1"):
        linked = await client.post(f"{base}/link", params=q, json={"feature_id": feature})
        assert linked.status_code == 200 and linked.content == b""
    links = (await client.get(f"{base}/links", params=q)).json()
    assert [(x["cuj_id"], x["feature_id"], x["project"]) for x in links] == [
        (cuj["id"], "f-2", proj),
        (cuj["id"], "f-1", proj),
    ]
    assert all(list(x) == ["cuj_id", "feature_id", "project", "linked_at"] for x in links)
    assert all(TIME.match(x["linked_at"]) for x in links)
    # Linking again refreshes linked_at: f-2 becomes the newest.
    await client.post(f"{base}/link", params=q, json={"feature_id": "f-2"})
    again = (await client.get(f"{base}/links", params=q)).json()
    assert [x["feature_id"] for x in again] == ["f-1", "f-2"]

    assert (
        await client.post(f"{base}/unlink", params=q, json={"feature_id": "f-1"})
    ).status_code == 200
    assert (
        await client.post(f"{base}/unlink", params=q, json={"feature_id": "f-1"})
    ).status_code == 200
    assert [x["feature_id"] for x in (await client.get(f"{base}/links", params=q)).json()] == [
        "f-2"
    ]

    for path in ("link", "unlink"):
        error(await client.post(f"{base}/{path}", params=q, json={}), 400, "VALIDATION_ERROR")
        bad = {"feature_id": "a/b"}
        error(await client.post(f"{base}/{path}", params=q, json=bad), 400, "VALIDATION_ERROR")
        error(await client.get(f"{base}/{path}", params=q), 405, "VALIDATION_ERROR")
        unknown = await client.post(f"/api/cujs/nope/{path}", params=q, json={"feature_id": "f"})
        error(unknown, 404, "NOT_FOUND")
    error(await client.get("/api/cujs/nope/links", params=q), 404, "NOT_FOUND")
    error(await client.post(f"{base}/links", params=q, json={}), 405, "VALIDATION_ERROR")

    kinds = [t for t, _ in await events(sessions, "cuj", proj, cuj["id"])]
    assert kinds == ["imi.cuj.created", *["imi.cuj.linked"] * 3, "imi.cuj.unlinked"]
    payload = (await events(sessions, "cuj", proj, cuj["id"]))[-1][1]
    assert payload["feature_id"] == "f-1" and payload["record"] == cuj

    # The links go with the journey.
    assert (await client.delete(base, params=q)).status_code == 204
    async with sessions() as session:
        left = await session.scalar(
            text("SELECT count(*) FROM cuj_feature_links WHERE project = :p"), {"p": proj}
        )
    assert left == 0


async def test_cujs_list_by_priority_then_last_updated(client: httpx.AsyncClient) -> None:
    proj = project()
    made = {}
    for title, priority in (("a", "low"), ("b", "high"), ("c", None), ("d", "high")):
        body = {"spec_id": "s", "title": title, "project": proj}
        if priority:
            body["priority"] = priority
        made[title] = created(await client.post("/api/cujs", json=body))
    assert made["c"]["priority"] == "medium"
    listed = (await client.get("/api/cujs", params={"project": proj})).json()
    assert [r["title"] for r in listed] == ["d", "b", "c", "a"]
