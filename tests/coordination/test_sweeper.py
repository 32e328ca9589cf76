"""The reservation sweeper: expired and stale-agent reservations are released exactly once, with
one event each, however many sweepers (replicas) run at once; the app runs it periodically."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.app import create_app
from imi.coordination import reservations
from imi.coordination.sweeper import sweep_all
from imi.db import unit_of_work
from imi.settings import Settings

STALE = 60.0  # seconds without a heartbeat


@pytest.fixture(autouse=True)
async def _no_reservations(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))
    yield
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))


async def _agent(engine: AsyncEngine, name: str, seconds_since_heartbeat: float) -> str:
    async with engine.begin() as conn:
        agent_id = await conn.scalar(
            text(
                "INSERT INTO agents (session_id, name, project, last_seen) "
                "VALUES (:name, :name, 'p', now() - make_interval(secs => :ago)) "
                "RETURNING id::text"
            ),
            {"name": name, "ago": seconds_since_heartbeat},
        )
    return str(agent_id)


async def _reserve(
    sessions: async_sessionmaker[AsyncSession], agent_id: str, pattern: str, **fields: Any
) -> str:
    async with unit_of_work(sessions) as session:
        made = await reservations.reserve(
            session, agent_id=agent_id, project="p", path_pattern=pattern, exclusive=True, **fields
        )
    return str(made.id)


async def _expire(engine: AsyncEngine, ids: list[str]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE file_reservations SET created_at = now() - interval '2 hours', "
                "expires_at = now() - interval '1 second' WHERE id::text = ANY(:ids)"
            ),
            {"ids": ids},
        )


async def _state(engine: AsyncEngine) -> dict[str, str | None]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id::text, release_reason FROM file_reservations"))
        return {row.id: row.release_reason for row in rows}


async def _released_events(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT subject_id, envelope -> 'payload' ->> 'release_reason' AS why "
                "FROM events WHERE event_type = 'imi.reservation.released' ORDER BY id"
            )
        )
        return [(row.subject_id, row.why) for row in rows]


async def test_two_sweepers_release_each_stale_or_expired_reservation_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    fresh = await _agent(engine, "fresh", 1)
    stale = await _agent(engine, "stale", 3600)
    keep = [await _reserve(sessions, fresh, f"keep/{n}") for n in range(5)]
    stale_ids = [await _reserve(sessions, stale, f"stale/{n}") for n in range(40)]
    expired = [await _reserve(sessions, fresh, f"old/{n}") for n in range(40)]
    unregistered = await _reserve(sessions, "never-registered", "solo/**")
    gone = await _reserve(sessions, "never-registered", "gone/**")
    await _expire(engine, [*expired, gone])

    # Two replicas' sweepers at once, in small batches so they contend for the same rows.
    counts = await asyncio.gather(
        sweep_all(sessions, stale_seconds=STALE, batch=7),
        sweep_all(sessions, stale_seconds=STALE, batch=7),
    )
    assert sum(counts) == 40 + 40 + 1

    state = await _state(engine)
    assert all(state[i] == "agent_stale" for i in stale_ids)
    assert all(state[i] == "expired" for i in [*expired, gone])
    assert all(state[i] is None for i in [*keep, unregistered])
    events = await _released_events(engine)
    assert sorted(subject for subject, _ in events) == sorted([*stale_ids, *expired, gone])
    assert {subject: why for subject, why in events} == {
        i: state[i] for i in [*stale_ids, *expired, gone]
    }
    # Nothing left: a later pass releases nothing and announces nothing.
    assert await sweep_all(sessions, stale_seconds=STALE) == 0
    assert len(await _released_events(engine)) == 81


async def test_the_holder_and_a_sweeper_racing_release_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stale = await _agent(engine, "slow", 3600)
    ids = [await _reserve(sessions, stale, f"r/{n}") for n in range(20)]

    async def holder_releases() -> int:
        done = 0
        for reservation_id in ids:
            try:
                async with unit_of_work(sessions) as session:
                    await reservations.release(
                        session, reservation_id=reservation_id, caller_agent=stale, project="p"
                    )
                done += 1
            except reservations.NotFound:
                pass  # the sweeper got there first
        return done

    by_holder, by_sweeper = await asyncio.gather(
        holder_releases(), sweep_all(sessions, stale_seconds=STALE, batch=3)
    )
    assert by_holder + by_sweeper == 20
    events = await _released_events(engine)
    assert sorted(subject for subject, _ in events) == sorted(ids)


async def test_a_live_heartbeating_agent_keeps_its_reservations(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agent = await _agent(engine, "busy", STALE - 30)
    made = await _reserve(sessions, agent, "src/**")
    assert await sweep_all(sessions, stale_seconds=STALE) == 0
    assert (await _state(engine))[made] is None


@pytest.fixture
async def fast_sweeping_app(
    database_url: str, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        rabbitmq_url=None,
        reservation_sweep_seconds=0.2,
        reservation_stale_agent_seconds=STALE,
    )
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as http,
    ):
        yield http


async def test_the_app_sweeps_periodically(
    fast_sweeping_app: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = {"agent_id": "a1", "project": "p", "path_pattern": "src/**", "exclusive": True}
    made = (await fast_sweeping_app.post("/api/reservations", json=body)).json()
    await _expire(engine, [made["id"]])
    deadline = time.monotonic() + 30
    while (await _state(engine))[made["id"]] is None:
        assert time.monotonic() < deadline, "the sweeper did not release the expired reservation"
        await asyncio.sleep(0.1)
    assert (await _state(engine))[made["id"]] == "expired"
    assert await _released_events(engine) == [(made["id"], "expired")]
