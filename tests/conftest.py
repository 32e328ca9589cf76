"""Test harness: a real PostgreSQL, migrated once per run, emptied before every test.

``IMI_TEST_DATABASE_URL`` points at a server (a fresh database is created on it and dropped at
the end); without it the embedded PostgreSQL runs in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.db import create_engine, session_factory
from imi.embedded import EmbeddedPostgres
from imi.logging import configure_logging
from imi.migrate import upgrade
from imi.models import metadata
from imi.settings import Settings, get_settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Creating or dropping a test database waits at most this long (seconds), even on a loaded
# server: a stuck DROP must not hang the run.
ADMIN_TIMEOUT = 120.0

# Readable, cheap logs in test output (structlog's default renders rich tracebacks with locals).
configure_logging(Settings(_env_file=None, log_format="console"))


def _with_database(url: str, database: str) -> str:
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
    url = _with_database(server_url, name)
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
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


TABLES = ", ".join(metadata.tables)


@pytest.fixture(autouse=True)
async def _empty_database(request: pytest.FixtureRequest) -> None:
    """Every database test starts from an empty, migrated schema."""
    if "engine" not in request.fixturenames:
        return
    engine: AsyncEngine = request.getfixturevalue("engine")
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for one test; commit explicitly to make changes visible to others."""
    async with sessions() as session:
        yield session


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
