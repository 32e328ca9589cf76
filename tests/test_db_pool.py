"""The pool without a pre-ping per checkout (issue 14): busy connections are trusted, idle
ones are pinged, and a connection the server dropped is replaced before a request sees it."""

from __future__ import annotations

import asyncio

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


async def test_a_busy_connection_the_server_closed_is_replaced_without_a_ping(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reused within IDLE_PING_SECONDS: no ping (a round trip), yet a connection the driver saw
    the server close (pg_terminate_backend) is replaced at checkout, before a statement."""
    engine = db.create_engine(database_url)
    pings: list[object] = []
    try:
        async with engine.connect() as conn:
            first = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
            adapted = (await conn.get_raw_connection()).dbapi_connection
        await _terminate(database_url, first)
        for _ in range(500):  # until the driver has read the server's goodbye
            if adapted.driver_connection.is_closed():  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.01)
        monkeypatch.setattr(type(adapted), "ping", lambda self: pings.append(self))
        assert await _backend_pid(engine) != first  # no error: replaced unseen
        assert pings == []
    finally:
        await engine.dispose()
