"""The database circuit breaker (``imi.resilience``) alone, with a fake clock, and wired into
an engine's connect path (``imi.db``): what counts as a failure, what opens, probes and closes
it, and that an open breaker fails at once instead of waiting for a connect."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from imi import db
from imi.resilience import (
    DEFAULT_RETRY_AFTER_SECONDS,
    CircuitBreaker,
    CircuitOpen,
    backoff_delays,
    retry_after_seconds,
)
from imi.settings import Settings
from tests.ops.proxy import TcpProxy, database_port, via


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker(threshold: int = 3, cooldown: float = 2.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(threshold, cooldown, clock=clock), clock


def test_consecutive_failures_open_it_and_a_success_in_between_resets_the_count() -> None:
    breaker, _ = _breaker(threshold=3)
    assert not breaker.failure() and not breaker.failure()
    breaker.success()  # the count starts again
    assert not breaker.failure() and not breaker.failure()
    assert breaker.state == "closed"
    breaker.before()  # still lets connects through
    assert breaker.failure() is True  # the third in a row
    assert breaker.snapshot()["state"] == "open"
    with pytest.raises(CircuitOpen) as refused:
        breaker.before()
    assert refused.value.retry_after == pytest.approx(2.0)
    assert isinstance(refused.value, ConnectionError)  # every adapter answers it as an outage


def test_open_fails_fast_until_the_cooldown_then_lets_exactly_one_probe_through() -> None:
    breaker, clock = _breaker(threshold=1, cooldown=2.0)
    breaker.failure()
    clock.now += 1.5
    with pytest.raises(CircuitOpen) as refused:
        breaker.before()
    assert refused.value.retry_after == pytest.approx(0.5)
    clock.now += 0.5
    assert breaker.snapshot()["state"] == "half_open"
    breaker.before()  # the probe
    for _ in range(3):  # everyone else still fails fast while it runs
        with pytest.raises(CircuitOpen):
            breaker.before()
    breaker.success()
    assert breaker.state == "closed"
    breaker.before()
    breaker.before()


def test_a_failed_probe_opens_it_for_another_cooldown() -> None:
    breaker, clock = _breaker(threshold=5, cooldown=2.0)
    for _ in range(5):
        breaker.failure()
    clock.now += 2.0
    breaker.before()
    assert breaker.failure() is True  # one failure in half-open is enough
    assert breaker.snapshot() == {
        "state": "open",
        "consecutive_failures": 6,
        "retry_after_seconds": 2.0,
        "opened_total": 2,
    }
    clock.now += 1.0
    with pytest.raises(CircuitOpen):
        breaker.before()


def test_a_probe_that_ends_without_a_verdict_frees_the_slot() -> None:
    breaker, clock = _breaker(threshold=1)
    breaker.failure()
    clock.now += 2.0
    breaker.before()
    with pytest.raises(CircuitOpen):
        breaker.before()
    breaker.release_probe()  # cancelled, or bad credentials: not an outage, not a success
    breaker.before()  # the next caller probes


def test_retry_after_and_backoff_helpers() -> None:
    assert retry_after_seconds(CircuitOpen(0.2)) == 1  # never "0": a caller would hammer
    assert retry_after_seconds(CircuitOpen(1.01)) == 2
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = CircuitOpen(3.0)
    assert retry_after_seconds(wrapped) == 3
    assert retry_after_seconds(ConnectionRefusedError()) == DEFAULT_RETRY_AFTER_SECONDS
    assert backoff_delays(4, 0.5) == [0.5, 1.0, 2.0, 2.0]
    assert backoff_delays(0, 0.1) == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)


async def test_sql_errors_on_a_live_database_do_not_count(database_url: str) -> None:
    engine = db.create_engine(database_url, _settings(db_breaker_failures=1))
    breaker = db.breaker_of(engine)
    assert breaker is not None
    try:
        for statement in ("SELECT * FROM no_such_table", "SELECT 1/0", "SELECT pg_sleep(1)"):
            async with engine.connect() as conn:
                await conn.execute(text("SET statement_timeout = 50"))
                with pytest.raises(DBAPIError):
                    await conn.execute(text(statement))
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TEMP TABLE t (id int PRIMARY KEY)"))
            with pytest.raises(IntegrityError):
                await conn.execute(text("INSERT INTO t VALUES (1), (1)"))
        assert breaker.snapshot()["state"] == "closed"
        assert breaker.failures == 0
    finally:
        await engine.dispose()


async def test_refused_connects_open_it_and_then_every_connect_fails_at_once() -> None:
    settings = _settings(
        db_breaker_failures=3, db_breaker_cooldown_seconds=30, db_connect_retries=2
    )
    engine = db.create_engine(f"postgresql://postgres@127.0.0.1:{_closed_port()}/x", settings)
    breaker = db.breaker_of(engine)
    assert breaker is not None
    try:
        # One caller: its connect is tried three times (two retries), which opens the breaker.
        with pytest.raises(Exception) as first:
            async with engine.connect():
                pass
        assert db.database_unavailable(first.value)
        assert breaker.state == "open" and breaker.failures == 3

        async def attempt() -> float:
            started = time.monotonic()
            with pytest.raises(CircuitOpen):
                async with engine.connect():
                    pass
            return time.monotonic() - started

        durations = await asyncio.gather(*(attempt() for _ in range(50)))
        assert max(durations) < 1.0, max(durations)
        assert breaker.failures == 3  # refused by the breaker: not tried, not counted
    finally:
        await engine.dispose()


async def test_a_connect_timeout_is_bounded_and_not_retried() -> None:
    """A database that accepts TCP but never answers (a black hole): each connect ends at
    IMI_DB_CONNECT_TIMEOUT_SECONDS, is counted, and is not multiplied by retries."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = _settings(
        db_connect_timeout_seconds=0.5, db_connect_retries=3, db_breaker_failures=2
    )
    engine = db.create_engine(f"postgresql://postgres@127.0.0.1:{port}/x", settings)
    breaker = db.breaker_of(engine)
    assert breaker is not None
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(Exception) as failure:
                async with engine.connect():
                    pass
            assert db.database_unavailable(failure.value)
            assert time.monotonic() - started < 1.4  # one 0.5 s attempt, not four
        assert breaker.state == "open"
    finally:
        await engine.dispose()
        server.close()


async def test_the_probe_closes_it_when_the_database_is_back(database_url: str) -> None:
    """Point an engine at a proxy port that refuses, open the breaker, then serve the port."""
    proxy = TcpProxy(database_port(database_url))
    proxy.port = _closed_port()
    url = via(database_url, proxy.port)
    settings = _settings(
        db_breaker_failures=1, db_breaker_cooldown_seconds=0.3, db_connect_retries=0
    )
    engine = db.create_engine(url, settings)
    breaker = db.breaker_of(engine)
    assert breaker is not None and url != database_url
    try:
        with pytest.raises(OSError) as refused:
            async with engine.connect():
                pass
        assert breaker.state == "open", repr(refused.value)
        await proxy.start()
        with pytest.raises(CircuitOpen):  # the cool-down is not over: not even tried
            async with engine.connect():
                pass
        deadline = time.monotonic() + 10
        while breaker.state == "open" and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        async with engine.connect() as conn:  # the probe
            assert await conn.scalar(text("SELECT 1")) == 1
        assert breaker.snapshot()["state"] == "closed" and breaker.failures == 0
    finally:
        await engine.dispose()
        await proxy.cut()


async def test_while_open_the_pools_live_connections_still_serve_reads(database_url: str) -> None:
    """The breaker gates new connects, not the pool: a database refusing new connections (too
    many clients, a failover in progress) still answers on the connections already open, and
    only a caller that needs a new one fails fast."""
    engine = db.create_engine(database_url, _settings(db_breaker_failures=1))
    breaker = db.breaker_of(engine)
    assert breaker is not None
    try:
        async with engine.connect() as conn:  # one live connection, back in the pool after
            await conn.scalar(text("SELECT 1"))
        breaker.failure()  # as if the next connect had been refused
        assert breaker.state == "open"
        async with engine.connect() as pooled:
            assert await pooled.scalar(text("SELECT 2")) == 2
            with pytest.raises(CircuitOpen):  # a second one at once needs a new connect
                async with engine.connect():
                    pass
        assert breaker.state == "open"  # serving from the pool proves nothing about connects
    finally:
        await engine.dispose()
