"""The pool without a pre-ping per checkout (issue 14): busy connections are trusted, idle
ones are pinged, and a connection the server dropped is replaced before a request sees it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from imi import db


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _terminate(database_url: str, pid: int) -> None:
    other = db.create_engine(database_url)
    try:
        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


async def test_an_idle_connection_the_server_dropped_is_replaced_unseen(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(database_url)
    try:
        first = await _backend_pid(engine)
        await _terminate(database_url, first)
        monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every pooled connection is "idle"
        assert await _backend_pid(engine) != first  # pinged, found dead, replaced
    finally:
        await engine.dispose()


async def test_a_busy_connection_is_not_pinged(database_url: str) -> None:
    """Reused within IDLE_PING_SECONDS: no ping, so a dropped one fails its next statement
    (and the pool invalidates it; the HTTP adapter retries a read once)."""
    engine = db.create_engine(database_url)
    try:
        first = await _backend_pid(engine)
        await _terminate(database_url, first)
        with pytest.raises(Exception) as failure:
            await _backend_pid(engine)
        assert db.database_unavailable(failure.value)
        assert await _backend_pid(engine) != first  # the pool let the dead one go
    finally:
        await engine.dispose()
