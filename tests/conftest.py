"""Test harness: a real PostgreSQL, migrated once per run; every database test starts empty.

``IMI_TEST_DATABASE_URL`` points at a server (a fresh database is created on it and dropped at
the end); without it the embedded PostgreSQL runs in a temporary directory.

Two kinds of isolation, chosen by the fixtures a test depends on:

- ``session`` alone: the test runs inside a transaction rolled back at its end (its commits
  are savepoints). Nothing is left behind and nothing is visible to other connections.
- ``committed_database`` (also through ``engine``, ``sessions``, ``client``, ``graphql``):
  commits are real, for the app's own pool, LISTEN/NOTIFY, consumers, the relay or concurrent
  sessions to see. The rows stay until the next database test, which empties the tables first.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from graphlib import TopologicalSorter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import fastapi.dependencies.models
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from imi.db import create_engine, session_factory
from imi.embedded import EmbeddedPostgres
from imi.logging import configure_logging
from imi.migrate import upgrade
from imi.models import metadata
from imi.settings import Settings, get_settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Tests send bursts from one loopback address; the rate limit has tests of its own, which set
# it explicitly. Every other app under test runs without one (servers started as subprocesses
# inherit this too).
os.environ.setdefault("IMI_RATE_LIMIT_PER_MINUTE", "0")
# Creating or dropping a test database waits at most this long (seconds), even on a loaded
# server: a stuck DROP must not hang the run.
ADMIN_TIMEOUT = 120.0

# Readable, cheap logs in test output (structlog's default renders rich tracebacks with locals).
configure_logging(Settings(_env_file=None, log_format="console"))


def with_database(url: str, database: str) -> str:
    """The server URL pointed at another database (socket URLs keep their ``?host=``)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """URL of a PostgreSQL server the tests may create databases on."""
    configured = os.environ.get("IMI_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    # Not pytest's tmp_path: as root the server runs as another user, and pytest resets its
    # base directory to owner-only at every session start (a concurrent run would lock us out).
    data_dir = Path(tempfile.mkdtemp(prefix="imi-test-pg-"))
    embedded = EmbeddedPostgres(data_dir)
    embedded.start()
    try:
        yield embedded.url("postgres")
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test run."""
    name = f"imi_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        try:
            conn = await asyncpg.connect(server_url, timeout=ADMIN_TIMEOUT)
        except (OSError, asyncpg.PostgresError) as exc:  # pragma: no cover - environment
            message = f"PostgreSQL at {server_url} is unreachable: {exc}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        try:
            await conn.execute(sql, timeout=ADMIN_TIMEOUT)
        finally:
            await conn.close(timeout=ADMIN_TIMEOUT)

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = with_database(server_url, name)
    upgrade(url)
    try:
        yield url
    finally:
        try:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:  # pragma: no cover
            # The run's results stand; a stray database must not hang or fail it.
            warnings.warn(f"could not drop test database {name}: {exc!r}", stacklevel=1)


@pytest.fixture(scope="session")
async def _engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The run's engine; tests reach it through ``session`` or ``engine``."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


TABLES = ", ".join(metadata.tables)
# Emptying the tables: DELETE, children first. The tables a test fills are tiny, and on them a
# DELETE takes a couple of milliseconds where a TRUNCATE (new files for every table and index,
# flushed at commit) takes 70-350 ms on a loaded machine. Identities are not restarted: no
# test depends on the events ids starting at 1 (rolled-back tests do not reset them either).
# Every table of the migrated schema, not only the SQLModel ones: the coordination tables and
# the rate limit state are created by migrations alone.
# The SQLModel tables alone, children first (for tests that empty the core tables themselves).
EMPTY = [f"DELETE FROM {table.name}" for table in reversed(metadata.sorted_tables)]
_SCHEMA_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'
"""
_FOREIGN_KEYS = """
SELECT DISTINCT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
WHERE contype = 'f' AND connamespace = 'public'::regnamespace
"""


async def emptying_statements(conn: AsyncConnection) -> tuple[str, list[str]]:
    """One query telling whether any table holds a row, and the DELETEs, children first."""
    tables = list((await conn.execute(text(_SCHEMA_TABLES))).scalars())
    children_first: TopologicalSorter[str] = TopologicalSorter({t: set() for t in tables})
    for child, parent in (await conn.execute(text(_FOREIGN_KEYS))).all():
        if child != parent:
            children_first.add(parent, child)  # the child's rows go before the parent's
    order = [t for t in children_first.static_order() if t in tables]
    any_rows = "SELECT " + " OR ".join(f'EXISTS (SELECT FROM "{t}")' for t in tables)
    return any_rows, [f'DELETE FROM "{t}"' for t in order]


_emptying: tuple[str, list[str]] | None = None


@pytest.fixture(autouse=True)
async def _empty_database(request: pytest.FixtureRequest) -> None:
    """Every database test starts from an empty, migrated schema.

    A rolled-back test leaves nothing behind, so the tables are emptied only when a row is
    there (a committing test ran before).
    """
    global _emptying
    if "_engine" not in request.fixturenames:
        return
    engine: AsyncEngine = request.getfixturevalue("_engine")
    async with engine.begin() as conn:
        if _emptying is None:
            _emptying = await emptying_statements(conn)
        any_rows, deletes = _emptying
        if await conn.scalar(text(any_rows)):
            for statement in deletes:
                await conn.execute(text(statement))


@pytest.fixture
def committed_database() -> None:
    """Opt-in: this test commits for other connections (the app's pool, LISTEN/NOTIFY, a
    consumer, concurrent sessions) to see, or needs a new transaction at each commit (``now()``
    moving on). Its ``session`` is then a plain one on the engine, and what it commits stays
    until the next database test empties the tables. ``engine`` and ``sessions`` (and so the
    app fixtures) depend on it."""


@pytest.fixture
def engine(_engine: AsyncEngine, committed_database: None) -> AsyncEngine:
    """The engine, for tests whose data must be committed (see ``committed_database``)."""
    return _engine


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def session(
    request: pytest.FixtureRequest, _engine: AsyncEngine
) -> AsyncIterator[AsyncSession]:
    """A session for one test.

    On its own, it runs inside an outer transaction rolled back at the end: ``commit()`` only
    releases a savepoint, nothing is visible to other connections, and nothing is left behind.
    When the test also depends on ``committed_database`` (through ``engine``, ``sessions``,
    ``client``, ``graphql``, ...), it is a plain session: commit to make changes visible.
    """
    if "committed_database" in request.fixturenames:
        sessions: async_sessionmaker[AsyncSession] = request.getfixturevalue("sessions")
        async with sessions() as session:
            yield session
        return
    async with _engine.connect() as conn:
        outer = await conn.begin()
        session = AsyncSession(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()


# FastAPI (0.16x) remembers whether each endpoint and dependency is a coroutine or generator
# function in three module-level lru_caches (fastapi.dependencies.models, 4096 entries each)
# holding the callables themselves. Every create_app brings about eleven closures of its own
# (Strawberry's GraphQLRouter handlers, which hold the router and so its schema; the pages' and
# AsyncAPI routes): nothing for a process serving one app, but a test run builds hundreds, and
# those caches kept the last ~370 apps' schemas alive: 4 million objects, 1 GB, and full
# collections of 3 s that stalled the servers tests run in their own event loop (WebSocket
# tests closed 4408, subscriptions timed out). test_app_release checks an app is freed once
# they are cleared (it fails, pointing here, if a FastAPI release renames or adds such caches).
FASTAPI_CALLABLE_CACHES = [
    getattr(fastapi.dependencies.models, name)
    for name in (
        "_is_gen_callable_cached",
        "_is_async_gen_callable_cached",
        "_is_coroutine_callable_cached",
    )
    if hasattr(fastapi.dependencies.models, name)
]


def release_apps() -> None:
    """Lets go of the apps built so far, as far as FastAPI's caches hold them."""
    for cache in FASTAPI_CALLABLE_CACHES:
        cache.cache_clear()


@pytest.fixture(autouse=True)
def _release_apps() -> Iterator[None]:
    """The apps a test built are garbage once it ends (autouse: torn down after its fixtures)."""
    yield
    release_apps()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
