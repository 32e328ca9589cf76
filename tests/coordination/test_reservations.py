"""File reservations through intermute's REST paths: wire shapes, every 4xx, the conflict
rules pattern against pattern, check, list, release and expiry."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.auth.keys import create_key
from imi.auth.models import Scope
from tests.api.conftest import client, error
from tests.factories import make_project

__all__ = ["client"]  # the in-process app fixture, reused

URL = "/api/reservations"
WIRE = {
    "id",
    "agent_id",
    "project",
    "path_pattern",
    "exclusive",
    "reason",
    "created_at",
    "expires_at",
    "is_active",
}
CONFLICT = {"reservation_id", "agent_id", "held_by", "pattern", "exclusive", "reason", "expires_at"}


@pytest.fixture(autouse=True)
async def _no_reservations(engine: AsyncEngine) -> AsyncIterator[None]:
    # file_reservations is not an ORM table, so the shared harness does not empty it.
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))
    yield
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))


def _time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value[:-1] + "+00:00")


async def reserve(
    http: httpx.AsyncClient, agent: str, pattern: str, *, status: int = 201, **fields: Any
) -> dict[str, Any]:
    body = {"agent_id": agent, "project": "p1", "path_pattern": pattern, **fields}
    response = await http.post(URL, json=body)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_create_answers_intermutes_shape(client: httpx.AsyncClient) -> None:
    made = await reserve(client, "agent-1", "src/**", exclusive=True, reason="refactor")
    assert set(made) == WIRE
    assert made["agent_id"] == "agent-1" and made["project"] == "p1"
    assert made["path_pattern"] == "src/**" and made["exclusive"] is True
    assert made["reason"] == "refactor" and made["is_active"] is True
    uuid.UUID(made["id"])
    lifetime = _time(made["expires_at"]) - _time(made["created_at"])
    assert lifetime == timedelta(minutes=30)
    short = await reserve(client, "agent-1", "docs/*.md", ttl_minutes=5)
    assert _time(short["expires_at"]) - _time(short["created_at"]) == timedelta(minutes=5)
    assert short["exclusive"] is False  # Go's zero value: shared unless asked
    # Zero or negative TTL means the default, as in intermute.
    zero = await reserve(client, "agent-1", "a/b", ttl_minutes=0)
    assert _time(zero["expires_at"]) - _time(zero["created_at"]) == timedelta(minutes=30)


async def test_prd_aliases_are_accepted(client: httpx.AsyncClient) -> None:
    body = {"agent": "agent-2", "project": "p1", "path": "lib/*.py", "shared": False}
    response = await client.post(URL, json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["agent_id"] == "agent-2" and made["path_pattern"] == "lib/*.py"
    assert made["exclusive"] is True
    one = {"agent_id": "agent-2", "project": "p1", "glob_patterns": ["tools/**"], "shared": True}
    response = await client.post(URL, json=one)
    assert response.status_code == 201 and response.json()["exclusive"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project": "p1", "path_pattern": "a"}, "agent_id"),
        ({"agent_id": "", "path_pattern": "a"}, "agent_id"),
        ({"agent_id": "x"}, "path_pattern"),
        ({"agent_id": "x", "path_pattern": ""}, "path_pattern"),
        ({"agent_id": "x", "path_pattern": "a/[b"}, "path_pattern"),
        ({"agent_id": "x", "path_pattern": "a/../b"}, "path_pattern"),
        ({"agent_id": "x", "path_pattern": "a" * 600}, "path_pattern"),
        ({"agent_id": "x", "path_pattern": "a", "ttl_minutes": 24 * 60 + 1}, "ttl_minutes"),
        ({"agent_id": "x", "path_pattern": "a", "ttl_minutes": "5"}, "ttl_minutes"),
        ({"agent_id": "x", "path_pattern": "a", "exclusive": "yes"}, "exclusive"),
        ({"agent_id": 7, "path_pattern": "a"}, "agent_id"),
        ({"agent_id": "x", "path_pattern": "a", "reason": "r" * 1001}, "reason"),
        ({"agent_id": "x", "path_pattern": "a", "project": "p" * 201}, "project"),
        ({"agent_id": "x" * 201, "path_pattern": "a"}, "agent_id"),
        ({"agent_id": "x", "agent": "y", "path_pattern": "a"}, "agent_id"),
        ({"agent_id": "x", "path_pattern": "a", "path": "b"}, "path_pattern"),
        ({"agent_id": "x", "glob_patterns": ["a", "b"]}, "glob_patterns"),
        ({"agent_id": "x", "path_pattern": "a", "exclusive": True, "shared": True}, "exclusive"),
        ({"agent_id": "x\u0000", "path_pattern": "a"}, "agent_id"),
        ({"agent_id": "x", "path_pattern": "a\u0000"}, "path_pattern"),
        ({"agent_id": "x", "path_pattern": "a", "project": "p\u0000"}, "project"),
        ({"agent_id": "x", "path_pattern": "a", "reason": "r\u0000"}, "reason"),
    ],
)
async def test_bad_input_is_a_400_before_anything_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, Any], field: str
) -> None:
    found = error(await client.post(URL, json=body), 400, "VALIDATION_ERROR")
    assert field in str(found["details"].get("field")) or field in str(found["message"])  # type: ignore[union-attr]
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM file_reservations")) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b""])
async def test_malformed_bodies_are_a_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(URL, content=raw, headers={"content-type": "application/json"})
    error(response, 400, "VALIDATION_ERROR")


async def test_wrong_methods_are_405(client: httpx.AsyncClient) -> None:
    assert (await client.put(URL, json={})).status_code == 405
    assert (await client.patch(URL, json={})).status_code == 405
    assert (await client.post(f"{URL}/{uuid.uuid4()}", json={})).status_code == 405
    assert (await client.post(f"{URL}/check", json={})).status_code == 405


async def test_exclusive_conflicts_with_any_overlapping_live_reservation(
    client: httpx.AsyncClient,
) -> None:
    held = await reserve(client, "a1", "src/**", exclusive=True, reason="big refactor")
    response = await client.post(
        URL, json={"agent_id": "a2", "project": "p1", "path_pattern": "src/*.py", "exclusive": True}
    )
    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"error", "conflicts"} and body["error"] == "reservation_conflict"
    [conflict] = body["conflicts"]
    assert set(conflict) == CONFLICT
    assert conflict["reservation_id"] == held["id"] and conflict["agent_id"] == "a1"
    assert conflict["held_by"] == "a1"  # no registered agent: its id
    assert conflict["pattern"] == "src/**" and conflict["reason"] == "big refactor"
    assert conflict["expires_at"] == held["expires_at"]
    # A shared request conflicts with the exclusive one too; the same agent is no exception.
    await reserve(client, "a2", "src/app/main.py", status=409)
    await reserve(client, "a1", "**/main.py", status=409)
    # Disjoint patterns and other projects do not conflict.
    await reserve(client, "a2", "lib/**", exclusive=True)
    await reserve(client, "a2", "src/**", exclusive=True, project="p2")
    await reserve(client, "a2", "src", exclusive=True, status=409)  # src/** matches src
    assert (await client.get(URL, params={"project": "p1"})).json()["reservations"][0]["id"]


async def test_shared_reservations_coexist_until_an_exclusive_one_asks(
    client: httpx.AsyncClient,
) -> None:
    one = await reserve(client, "a1", "docs/**")
    two = await reserve(client, "a2", "docs/*.md", exclusive=False)
    response = await client.post(
        URL, json={"agent_id": "a3", "project": "p1", "path_pattern": "**/*.md", "exclusive": True}
    )
    assert response.status_code == 409
    ids = {c["reservation_id"] for c in response.json()["conflicts"]}
    assert ids == {one["id"], two["id"]}
    await reserve(client, "a3", "docs/*.txt", exclusive=True, status=409)  # under docs/**
    await reserve(client, "a3", "docs/*.txt")  # shared: coexists with the shared ones
    await reserve(client, "a3", "src/**", exclusive=True)
    await reserve(client, "a1", "src/x", status=409)  # shared meets exclusive


async def test_check_returns_the_would_be_conflicts(client: httpx.AsyncClient) -> None:
    exclusive = await reserve(client, "a1", "src/**", exclusive=True, reason="mine")
    await reserve(client, "a2", "tests/**")
    answer = await client.get(f"{URL}/check", params={"project": "p1", "pattern": "src/a.py"})
    assert answer.status_code == 200
    [found] = answer.json()["conflicts"]
    assert found["reservation_id"] == exclusive["id"] and found["reason"] == "mine"
    # exclusive defaults to true: a shared reservation conflicts with an exclusive request.
    both = await client.get(f"{URL}/check", params={"project": "p1", "pattern": "**"})
    assert len(both.json()["conflicts"]) == 2
    shared = await client.get(
        f"{URL}/check", params={"project": "p1", "pattern": "**", "exclusive": "false"}
    )
    assert [c["reservation_id"] for c in shared.json()["conflicts"]] == [exclusive["id"]]
    none = await client.get(f"{URL}/check", params={"project": "p1", "pattern": "lib/**"})
    assert none.json() == {"conflicts": []}
    other = await client.get(f"{URL}/check", params={"project": "p2", "pattern": "**"})
    assert other.json() == {"conflicts": []}
    error(await client.get(f"{URL}/check", params={"project": "p1"}), 400, "VALIDATION_ERROR")
    bad = await client.get(f"{URL}/check", params={"project": "p1", "pattern": "[x"})
    error(bad, 400, "VALIDATION_ERROR")


async def test_held_by_names_a_registered_agent(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        agent = await conn.scalar(
            text(
                "INSERT INTO agents (session_id, name, project) VALUES ('s1', 'claude-1', 'p1') "
                "RETURNING id::text"
            )
        )
    await reserve(client, agent, "src/**", exclusive=True)
    answer = await client.get(f"{URL}/check", params={"project": "p1", "pattern": "src/x"})
    assert answer.json()["conflicts"][0]["held_by"] == "claude-1"


async def test_list_by_project_and_by_agent(client: httpx.AsyncClient) -> None:
    a = await reserve(client, "a1", "src/**")
    b = await reserve(client, "a2", "lib/**")
    c = await reserve(client, "a1", "src/**", project="p2")
    by_project = (await client.get(URL, params={"project": "p1"})).json()
    assert [r["id"] for r in by_project["reservations"]] == [a["id"], b["id"]]
    assert all(set(r) == WIRE for r in by_project["reservations"])
    by_agent = (await client.get(URL, params={"agent": "a1"})).json()["reservations"]
    assert [r["id"] for r in by_agent] == [a["id"], c["id"]]
    scoped = (await client.get(URL, params={"agent": "a1", "project": "p2"})).json()
    assert [r["id"] for r in scoped["reservations"]] == [c["id"]]
    assert (await client.get(URL, params={"project": "none"})).json() == {"reservations": []}
    error(await client.get(URL), 400, "VALIDATION_ERROR")
    error(await client.get(URL, params={"project": "p" * 201}), 400, "VALIDATION_ERROR")


async def test_release_by_the_holder_only(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    made = await reserve(client, "a1", "src/**", exclusive=True)
    target = f"{URL}/{made['id']}"
    error(await client.delete(target), 403, "FORBIDDEN")  # no X-Agent-ID
    error(await client.delete(target, headers={"X-Agent-ID": "a2"}), 403, "FORBIDDEN")
    error(
        await client.delete(f"{URL}/{uuid.uuid4()}", headers={"X-Agent-ID": "a1"}), 404, "NOT_FOUND"
    )
    error(await client.delete(f"{URL}/not-a-uuid", headers={"X-Agent-ID": "a1"}), 404, "NOT_FOUND")
    released = await client.delete(target, headers={"X-Agent-ID": "a1"})
    assert released.status_code == 200, released.text
    body = released.json()
    assert set(body) == WIRE | {"released_at"} and body["is_active"] is False
    _time(body["released_at"])
    # Released once: a retry is a 404; the pattern is free again.
    error(await client.delete(target, headers={"X-Agent-ID": "a1"}), 404, "NOT_FOUND")
    assert (await client.get(URL, params={"project": "p1"})).json() == {"reservations": []}
    await reserve(client, "a2", "src/main.py", exclusive=True)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT event_type, envelope -> 'payload' AS payload FROM events "
                    "WHERE subject_type = 'reservation' AND subject_id = :id ORDER BY id"
                ),
                {"id": made["id"]},
            )
        ).all()
    assert [row.event_type for row in rows] == [
        "imi.reservation.created",
        "imi.reservation.released",
    ]
    assert rows[1].payload["release_reason"] == "released"
    assert rows[1].payload["reservation_id"] == made["id"]


async def test_an_expired_reservation_is_not_live(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    made = await reserve(client, "a1", "src/**", exclusive=True, ttl_minutes=1)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE file_reservations SET created_at = now() - interval '2 minutes', "
                "expires_at = now() - interval '1 minute' WHERE id = :id"
            ),
            {"id": made["id"]},
        )
    check = await client.get(f"{URL}/check", params={"project": "p1", "pattern": "src/a"})
    assert check.json() == {"conflicts": []}
    assert (await client.get(URL, params={"project": "p1"})).json() == {"reservations": []}
    await reserve(client, "a2", "src/**", exclusive=True)
    # Its holder may still release it (recording the end); then it is gone for good.
    released = await client.delete(f"{URL}/{made['id']}", headers={"X-Agent-ID": "a1"})
    assert released.status_code == 200 and released.json()["is_active"] is False


async def test_a_restricted_key_works_in_its_project_only(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        project = await make_project(session)
        key = await create_key(session, name="agents", scope=Scope.WRITE, project_ids=[project.id])
    headers = {"authorization": f"Bearer {key.secret}"}
    mine = str(project.id)
    body = {"agent_id": "a1", "path_pattern": "src/**", "exclusive": True}
    made = await client.post(URL, json=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["project"] == mine  # omitted: the key's project
    other = await client.post(URL, json={**body, "project": "elsewhere"}, headers=headers)
    error(other, 403, "FORBIDDEN")
    listed = await client.get(URL, params={"project": "elsewhere"}, headers=headers)
    error(listed, 403, "FORBIDDEN")
    check = await client.get(f"{URL}/check", params={"pattern": "src/a"}, headers=headers)
    assert len(check.json()["conflicts"]) == 1
    # An unrestricted caller's reservation elsewhere is invisible to the key: 404, not 403.
    theirs = await reserve(client, "a1", "x/**", project="elsewhere")
    gone = await client.delete(f"{URL}/{theirs['id']}", headers={**headers, "X-Agent-ID": "a1"})
    error(gone, 404, "NOT_FOUND")
    ok = await client.delete(f"{URL}/{made.json()['id']}", headers={**headers, "X-Agent-ID": "a1"})
    assert ok.status_code == 200, ok.text


async def test_a_read_key_may_check_and_list_but_not_reserve_or_release(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        key = await create_key(session, name="reader", scope=Scope.READ)
    headers = {"authorization": f"Bearer {key.secret}"}
    made = await reserve(client, "a1", "src/**", exclusive=True)
    body = {"agent_id": "a1", "project": "p1", "path_pattern": "lib/**"}
    error(await client.post(URL, json=body, headers=headers), 403, "FORBIDDEN")
    gone = await client.delete(f"{URL}/{made['id']}", headers={**headers, "X-Agent-ID": "a1"})
    error(gone, 403, "FORBIDDEN")
    listed = await client.get(URL, params={"project": "p1"}, headers=headers)
    assert [r["id"] for r in listed.json()["reservations"]] == [made["id"]]
    check = await client.get(
        f"{URL}/check", params={"project": "p1", "pattern": "src/a"}, headers=headers
    )
    assert len(check.json()["conflicts"]) == 1


async def test_a_project_holds_at_most_its_limit_of_live_reservations(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imi.coordination import reservations

    monkeypatch.setattr(reservations, "MAX_LIVE_PER_PROJECT", 3)
    for n in range(3):
        await reserve(client, f"a{n}", f"dir{n}/**")
    refused = await client.post(
        URL, json={"agent_id": "a9", "project": "p1", "path_pattern": "other/**"}
    )
    assert refused.status_code == 409, refused.text
    assert "limit" in refused.text
    # Another project is not affected; a release makes room again.
    await reserve(client, "a9", "other/**", project="p2")
    first = (await client.get(URL, params={"project": "p1"})).json()
    held = first if isinstance(first, list) else first["reservations"]
    await client.delete(f"{URL}/{held[0]['id']}", headers={"X-Agent-ID": held[0]["agent_id"]})
    await reserve(client, "a9", "other/**")


async def test_a_check_against_hostile_patterns_is_bounded_and_safe(
    client: httpx.AsyncClient,
) -> None:
    # Shared reservations of a pattern whose comparison with the next one is expensive.
    hostile = "*a" * 16 + "a" * 479 + "b"
    for n in range(20):
        await reserve(client, f"h{n}", hostile)
    started = time.monotonic()
    answer = await client.get(
        f"{URL}/check", params={"project": "p1", "pattern": "*a" * 16 + "a" * 480}
    )
    assert answer.status_code == 200
    # Exhausted budgets answer "overlapping": the request would be refused, never let through.
    assert len(answer.json()["conflicts"]) == 20
    assert time.monotonic() - started < 10  # unbounded, 20 x ~0.34 s of CPU on the loop
