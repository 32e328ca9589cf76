"""Concurrent reservation requests through the API, on two app instances (two replicas) sharing
one database: the per-project advisory lock makes every conflict decision as if serial."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.coordination.globs import overlap
from imi.settings import Settings

URL = "/api/reservations"
AGENTS = 50
# Every one of these matches src/main.py: any two overlap.
OVERLAPPING = ("src/**", "src/*.py", "**/main.py", "src/main.*", "s?c/m*", "[rs]rc/**", "**")


@pytest.fixture
async def replicas(
    database_url: str, engine: AsyncEngine
) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))
    # Small pools: two replicas must not take more connections than the test server spares.
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, rabbitmq_url=None, db_pool_size=5, db_max_overflow=10
    )
    apps = [create_app(settings, database_url) for _ in range(2)]
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://imi.test",
            timeout=60,
        )
        for app in apps
    ]
    async with (
        apps[0].router.lifespan_context(apps[0]),
        apps[1].router.lifespan_context(apps[1]),
        clients[0],
        clients[1],
    ):
        yield clients
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))


async def _race(
    replicas: list[httpx.AsyncClient], bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    start = asyncio.Event()

    async def one(i: int, body: dict[str, Any]) -> httpx.Response:
        await start.wait()
        return await replicas[i % 2].post(URL, json=body)

    tasks = [asyncio.create_task(one(i, body)) for i, body in enumerate(bodies)]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.gather(*tasks))


async def _live(engine: AsyncEngine, project: str) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT id::text, agent_id, path_pattern, exclusive FROM file_reservations "
                "WHERE project = :p AND released_at IS NULL AND expires_at > now()"
            ),
            {"p": project},
        )
        return list(result.all())


async def test_fifty_agents_racing_for_one_set_of_files_one_wins(
    replicas: list[httpx.AsyncClient], engine: AsyncEngine
) -> None:
    bodies = [
        {
            "agent_id": f"agent-{i}",
            "project": "race",
            "path_pattern": OVERLAPPING[i % len(OVERLAPPING)],
            "exclusive": True,
        }
        for i in range(AGENTS)
    ]
    responses = await _race(replicas, bodies)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (AGENTS - 1), statuses
    [winner] = [r.json() for r in responses if r.status_code == 201]
    for loser in (r.json() for r in responses if r.status_code == 409):
        assert [c["reservation_id"] for c in loser["conflicts"]] == [winner["id"]]
    assert [row.id for row in await _live(engine, "race")] == [winner["id"]]
    async with engine.connect() as conn:
        created = await conn.scalar(
            text("SELECT count(*) FROM events WHERE event_type = 'imi.reservation.created'")
        )
    assert created == 1


async def test_fifty_agents_in_five_contested_trees_one_wins_each(
    replicas: list[httpx.AsyncClient], engine: AsyncEngine
) -> None:
    bodies = [
        {
            "agent_id": f"agent-{i}",
            "project": "trees",
            "path_pattern": f"tree{i % 5}/" + OVERLAPPING[i % len(OVERLAPPING)],
            "exclusive": True,
        }
        for i in range(AGENTS)
    ]
    responses = await _race(replicas, bodies)
    winners = [r.json() for r in responses if r.status_code == 201]
    assert sum(r.status_code == 409 for r in responses) == AGENTS - 5
    assert sorted(w["path_pattern"].split("/")[0] for w in winners) == [
        f"tree{n}" for n in range(5)
    ]
    assert len(await _live(engine, "trees")) == 5


async def test_mixed_shared_and_exclusive_requests_leave_no_conflicting_pair(
    replicas: list[httpx.AsyncClient], engine: AsyncEngine
) -> None:
    rng = random.Random(1616)
    patterns = ["a/**", "a/*.py", "a/b/*", "b/**", "**/*.md", "a/b/c.py", "b/[xy].txt", "c/*"]
    bodies = [
        {
            "agent_id": f"agent-{i}",
            "project": "mixed",
            "path_pattern": rng.choice(patterns),
            "exclusive": rng.random() < 0.4,
        }
        for i in range(AGENTS)
    ]
    responses = await _race(replicas, bodies)
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]
    live = await _live(engine, "mixed")
    assert len(live) == sum(r.status_code == 201 for r in responses) > 0
    for one, other in itertools.combinations(live, 2):
        if one.exclusive or other.exclusive:
            assert not overlap(one.path_pattern, other.path_pattern), (one, other)
    # Every refusal names a reservation that was created and really conflicts with it.
    created = {r.json()["id"]: r.json() for r in responses if r.status_code == 201}
    for body, response in zip(bodies, responses, strict=True):
        if response.status_code == 409:
            conflicts = response.json()["conflicts"]
            assert conflicts
            for conflict in conflicts:
                held = created[conflict["reservation_id"]]
                assert body["exclusive"] or held["exclusive"]
                assert overlap(body["path_pattern"], held["path_pattern"])
