"""intermute agents over HTTP: register, list, heartbeat, presence; shapes, bounds, auth."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.app import create_app
from imi.auth.keys import create_key
from imi.auth.models import Scope
from imi.migrate import alembic_config, upgrade
from imi.outbox.models import Event
from imi.projects.models import ProjectCreate
from imi.projects.service import register_project
from imi.settings import Settings
from tests.conftest import with_database

TABLES = "agents, coordination_events, messages, message_recipients, thread_index"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def empty_coordination(engine: AsyncEngine) -> None:
    """These tables are not in SQLModel's metadata, so the suite's cleanup skips them."""
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))


@pytest.fixture
async def api(database_url: str, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    await empty_coordination(engine)
    settings = Settings(_env_file=None, rabbitmq_url=None)  # type: ignore[call-arg]
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as http,
    ):
        yield http


@dataclass
class Keys:
    project: str  # the restricted key's project (its UUID text)
    restricted: str  # imi:write, restricted to `project`
    reader: str  # imi:read, unrestricted

    def auth(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def keys(sessions: async_sessionmaker[AsyncSession]) -> Keys:
    async with sessions() as session:
        registered = await register_project(
            session, ProjectCreate(remote_origin=f"https://github.com/o/{uuid.uuid4().hex}")
        )
        restricted = await create_key(
            session, name="agent", scope=Scope.WRITE, project_ids=[registered.project.id]
        )
        reader = await create_key(session, name="reader", scope=Scope.READ)
        await session.commit()
    return Keys(str(registered.project.id), restricted.secret, reader.secret)


def envelope_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


async def test_register_answers_intermute_shape_and_lists(api: httpx.AsyncClient) -> None:
    body = {
        "name": "reviewer",
        "project": "autarch",
        "capabilities": ["review", "go"],
        "metadata": {"host": "dev-1"},
        "status": "idle",
    }
    response = await api.post("/api/agents", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert set(out) == {"agent_id", "session_id", "name", "cursor"}
    assert out["name"] == "reviewer" and out["cursor"] == 0
    uuid.UUID(out["agent_id"])
    uuid.UUID(out["session_id"])

    listed = (await api.get("/api/agents", params={"project": "autarch"})).json()
    assert list(listed) == ["agents"] and len(listed["agents"]) == 1
    agent = listed["agents"][0]
    assert set(agent) == {
        "agent_id",
        "session_id",
        "name",
        "project",
        "capabilities",
        "metadata",
        "status",
        "last_seen",
        "created_at",
    }
    assert agent["agent_id"] == out["agent_id"] and agent["project"] == "autarch"
    assert agent["capabilities"] == ["review", "go"] and agent["metadata"] == {"host": "dev-1"}
    assert RFC3339.match(agent["last_seen"]) and RFC3339.match(agent["created_at"])
    # Another project's list does not show it; no project (unrestricted) shows every project.
    assert (await api.get("/api/agents", params={"project": "other"})).json() == {"agents": []}
    assert len((await api.get("/api/agents")).json()["agents"]) == 1


async def test_register_generates_name_and_records_event(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    out = (await api.post("/api/agents", json={"project": "p"})).json()
    assert re.match(r"^[a-z]+-[a-z]+-[0-9a-f]{4}$", out["name"]), out
    async with sessions() as session:
        event = (
            await session.execute(
                text("SELECT envelope FROM events WHERE event_type = 'imi.agent.registered'")
            )
        ).scalar_one()
    assert event["payload"]["agent_id"] == out["agent_id"]
    assert event["payload"]["name"] == out["name"]
    assert Event is not None


async def test_session_id_in_use_by_a_live_agent_is_409(api: httpx.AsyncClient) -> None:
    first = (await api.post("/api/agents", json={"project": "p", "session_id": "s-1"})).json()
    assert first["session_id"] == "s-1"
    again = await api.post("/api/agents", json={"project": "p", "session_id": "s-1"})
    assert again.status_code == 409
    assert again.json() == {
        "error": "session_id is in use by an active agent",
        "code": "active_session_conflict",
    }
    # The same session id in another project is another agent.
    other = await api.post("/api/agents", json={"project": "q", "session_id": "s-1"})
    assert other.status_code == 200


async def test_stale_session_is_taken_over_with_the_same_id(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = (await api.post("/api/agents", json={"project": "p", "session_id": "s-2"})).json()
    async with sessions() as session:
        await session.execute(
            text("UPDATE agents SET last_seen = now() - interval '1 hour' WHERE id = :id"),
            {"id": uuid.UUID(first["agent_id"])},
        )
        await session.commit()
    presence = (await api.get("/api/agents/presence", params={"project": "p"})).json()
    assert presence["agents"][0]["online"] is False
    assert presence["online_within_seconds"] == 300
    again = await api.post(
        "/api/agents", json={"project": "p", "session_id": "s-2", "name": "back"}
    )
    assert again.status_code == 200
    assert again.json()["agent_id"] == first["agent_id"] and again.json()["name"] == "back"
    presence = (await api.get("/api/agents/presence", params={"project": "p"})).json()
    assert [a["online"] for a in presence["agents"]] == [True]


async def test_heartbeat_moves_last_seen(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agent = (await api.post("/api/agents", json={"project": "p"})).json()["agent_id"]
    async with sessions() as session:
        await session.execute(
            text("UPDATE agents SET last_seen = now() - interval '1 hour' WHERE id = :id"),
            {"id": uuid.UUID(agent)},
        )
        await session.commit()
    response = await api.post(f"/api/agents/{agent}/heartbeat", json={})
    assert response.status_code == 200 and response.json() == {"agent_id": agent}
    presence = (await api.get("/api/agents/presence")).json()["agents"]
    assert presence[0]["agent_id"] == agent and presence[0]["online"] is True


@pytest.mark.parametrize("agent", [str(uuid.uuid4()), "not-a-uuid"])
async def test_heartbeat_of_unknown_agent_is_404(api: httpx.AsyncClient, agent: str) -> None:
    response = await api.post(f"/api/agents/{agent}/heartbeat")
    assert envelope_error(response, 404)["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"name": 5}', "name"),
        (b'{"capabilities": "x"}', "capabilities"),
        (b'{"metadata": {"k": 1}}', "metadata.k"),
        (b'{"name": "' + b"n" * 201 + b'"}', "name"),
        (b'{"capabilities": [' + b",".join([b'"c"'] * 101) + b"]}", "capabilities"),
    ],
)
async def test_register_bad_input_is_400(api: httpx.AsyncClient, body: bytes, field: str) -> None:
    response = await api.post(
        "/api/agents", content=body, headers={"Content-Type": "application/json"}
    )
    error = envelope_error(response, 400)
    assert error["code"] == "VALIDATION_ERROR"
    assert dict(error["details"]).get("field") == field  # type: ignore[call-overload]


async def test_wrong_methods_are_405(api: httpx.AsyncClient) -> None:
    assert (await api.delete("/api/agents")).status_code == 405
    assert (await api.get(f"/api/agents/{uuid.uuid4()}/heartbeat")).status_code == 405
    assert (await api.put("/api/agents/presence")).status_code == 405


async def test_restricted_key_is_bound_to_its_project(api: httpx.AsyncClient, keys: Keys) -> None:
    auth = keys.auth(keys.restricted)
    # Omitting the project takes the key's; naming another is 403.
    mine = await api.post("/api/agents", json={"name": "a"}, headers=auth)
    assert mine.status_code == 200, mine.text
    other = await api.post("/api/agents", json={"project": "elsewhere"}, headers=auth)
    assert envelope_error(other, 403)["code"] == "FORBIDDEN"
    assert envelope_error(
        await api.get("/api/agents", params={"project": "elsewhere"}, headers=auth), 403
    )
    listed = (await api.get("/api/agents", headers=auth)).json()["agents"]
    assert [a["project"] for a in listed] == [keys.project]
    # An agent of another project: its heartbeat is 404 for this key.
    foreign = (await api.post("/api/agents", json={"project": "elsewhere"})).json()
    hb = await api.post(f"/api/agents/{foreign['agent_id']}/heartbeat", headers=auth)
    assert envelope_error(hb, 404)["code"] == "NOT_FOUND"
    ok = await api.post(f"/api/agents/{mine.json()['agent_id']}/heartbeat", headers=auth)
    assert ok.status_code == 200


async def test_read_key_cannot_register(api: httpx.AsyncClient, keys: Keys) -> None:
    auth = keys.auth(keys.reader)
    refused = await api.post("/api/agents", json={"project": "p"}, headers=auth)
    assert envelope_error(refused, 403)["code"] == "FORBIDDEN"
    assert (await api.get("/api/agents", headers=auth)).status_code == 200
    bad = await api.get("/api/agents", headers={"Authorization": "Bearer imi_nope_nope"})
    assert envelope_error(bad, 401)["code"] == "UNAUTHORIZED"


def test_migration_0009_downgrades_and_upgrades_back(server_url: str) -> None:
    name = f"imi_test_msgs_{uuid.uuid4().hex[:10]}"
    url = with_database(server_url, name)
    tables = sorted(TABLES.split(", "))

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
        upgrade(url, "0009")
        assert asyncio.run(present()) == tables
        command.downgrade(alembic_config(url), "0008")
        assert asyncio.run(present()) == []
        upgrade(url, "0009")
        assert asyncio.run(present()) == tables
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_restricted_role_sees_only_its_project_rows(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Row-level security of 0009: under imi_scoped, only the projects in imi.project_ids."""
    for project in ("mine", "theirs"):
        await api.post("/api/agents", json={"project": project, "name": project})
        sent = await api.post(
            "/api/messages", json={"project": project, "from": "a", "to": ["b"], "thread_id": "t"}
        )
        assert sent.status_code == 200
    async with sessions() as session, session.begin():
        await session.execute(text("SET LOCAL ROLE imi_scoped"))
        await session.execute(text("SELECT set_config('imi.project_ids', '{mine}', true)"))
        for table in TABLES.split(", "):
            seen = (await session.execute(text(f"SELECT DISTINCT project FROM {table}"))).all()
            assert [row[0] for row in seen] == ["mine"], table
        with pytest.raises(DBAPIError):
            async with session.begin_nested():
                await session.execute(
                    text("INSERT INTO agents (session_id, name, project) VALUES ('s', 'n', 'x')")
                )
