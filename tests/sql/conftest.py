"""SQL-function tests: a raw asyncpg connection beside the in-process REST client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.conftest import client  # noqa: F401  (the REST side of the comparisons)

# The correlation id both sides send: the REST call as a header, SQL as imi.correlation_id.
CORRELATION = "corr-sql-parity"


def plain_url(database_url: str) -> str:
    return database_url.replace("+asyncpg", "")


@pytest.fixture
async def db(database_url: str, engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A connection outside the app (autocommit), as a trusted component would hold one.
    ``engine`` is requested so the tables are emptied first and commits are real."""
    conn = await asyncpg.connect(plain_url(database_url))
    await conn.execute(f"SET imi.correlation_id = '{CORRELATION}'")
    try:
        yield conn
    finally:
        await conn.close()
