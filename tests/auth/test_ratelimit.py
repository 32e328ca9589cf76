"""The PostgreSQL-backed rate limiter (GCRA), against the real database."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.auth import ratelimit
from imi.auth.ratelimit import bucket_name, prune, take
from imi.db import create_engine, session_factory
from tests.round_trips import round_trips

# 600/minute: one request every 0.1 s once the burst is spent, so recovery is quick to watch.
FAST = {"per_minute": 600, "burst": 5}


async def _takes(engine: AsyncEngine, bucket: str, n: int, **limits: int) -> list[float | None]:
    return [await take(engine, bucket, **limits) for _ in range(n)]


async def test_burst_allowed_then_limited_with_a_sane_wait(engine: AsyncEngine) -> None:
    results = await _takes(engine, "key:a", 7, per_minute=60, burst=5)
    assert results[:5] == [None] * 5
    waits = results[5:]
    assert all(w is not None for w in waits)
    # One request per second after the burst: the next one is due within a second.
    assert all(0 < w <= 1.0 for w in waits if w is not None), waits


async def test_other_buckets_are_not_affected(engine: AsyncEngine) -> None:
    await _takes(engine, "key:busy", 3, per_minute=60, burst=2)
    assert await take(engine, "key:busy", per_minute=60, burst=2) is not None
    assert await take(engine, "key:quiet", per_minute=60, burst=2) is None


async def test_recovers_after_the_wait(engine: AsyncEngine) -> None:
    assert await _takes(engine, "key:r", 5, **FAST) == [None] * 5
    wait = await take(engine, "key:r", **FAST)
    assert wait is not None and 0 < wait <= 0.1
    await asyncio.sleep(wait + 0.02)
    assert await take(engine, "key:r", **FAST) is None
    assert await take(engine, "key:r", **FAST) is not None  # one at a time, not a new burst


async def test_a_session_factory_works_too_and_zero_disables(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    assert await take(sessions, "key:s", per_minute=60, burst=1) is None
    assert await take(sessions, "key:s", per_minute=60, burst=1) is not None
    assert await _takes(engine, "key:off", 50, per_minute=0, burst=1) == [None] * 50


async def test_two_processes_share_one_budget(engine: AsyncEngine, database_url: str) -> None:
    other = create_engine(database_url)  # a second pool, as another worker or replica has
    try:
        first = await _takes(engine, "key:shared", 3, per_minute=60, burst=5)
        second = await _takes(other, "key:shared", 3, per_minute=60, burst=5)
    finally:
        await other.dispose()
    assert first == [None] * 3
    assert second[:2] == [None, None] and second[2] is not None


async def test_concurrent_takes_never_exceed_the_budget(
    engine: AsyncEngine, database_url: str
) -> None:
    other = create_engine(database_url)
    limits = {"per_minute": 60, "burst": 10}
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(take(e, "key:race", **limits) for e in [engine, other] * 40)
        )
        elapsed = time.monotonic() - started
    finally:
        await other.dispose()
    allowed = sum(r is None for r in results)
    # The burst, plus one per second that passed while the requests raced.
    assert 10 <= allowed <= 10 + int(elapsed) + 1, (allowed, elapsed)


async def test_long_bucket_names_are_digested(engine: AsyncEngine) -> None:
    long = "jwt:" + "x" * 5000
    assert len(bucket_name(long)) < 100 and bucket_name("key:1") == "key:1"
    assert await take(engine, long, per_minute=60, burst=1) is None
    assert await take(engine, long, per_minute=60, burst=1) is not None


async def test_expired_buckets_are_pruned(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await take(engine, "key:old", **FAST)  # TAT 0.1 s ahead
    await take(engine, "key:busy", per_minute=1, burst=1)  # TAT a minute ahead
    await asyncio.sleep(0.15)
    assert await prune(engine) >= 1
    async with engine.connect() as conn:
        left = set((await conn.scalars(text("SELECT bucket FROM rate_limits"))).all())
    assert "key:old" not in left and "key:busy" in left

    # take() prunes by itself, at most once per PRUNE_EVERY seconds per process.
    monkeypatch.setattr(ratelimit, "_next_prune", 0.0)
    await take(engine, "key:new", per_minute=1, burst=1)
    assert ratelimit._next_prune > time.monotonic()


async def test_one_round_trip_per_request(engine: AsyncEngine) -> None:
    """The decision is one autocommitted statement: no BEGIN/COMMIT around it (issue 14)."""
    await take(engine, "warm", per_minute=60, burst=5)  # the pool's first connection, the prune
    async with round_trips(engine) as seen:
        assert await take(engine, "rt", per_minute=60, burst=5) is None
    assert seen.transaction_control == [] and len(seen.statements) == 1, seen
