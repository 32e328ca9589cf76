"""Every round trip a block of code makes to PostgreSQL: statements, and transaction control.

SQLAlchemy's cursor events see the statements; BEGIN, COMMIT, ROLLBACK and a pool pre-ping go
through asyncpg's simple-query path, which its query logger reports. Together they are every
message exchange with the server, which is what a hot read pays for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class RoundTrips:
    statements: list[str] = field(default_factory=list)
    # What asyncpg ran outside prepared statements: BEGIN, COMMIT, ROLLBACK, the ping (";").
    simple: list[str] = field(default_factory=list)

    @property
    def transaction_control(self) -> list[str]:
        return [q for q in self.simple if q.split(" ", 1)[0].rstrip(";").upper() != "SELECT"]

    @property
    def total(self) -> int:
        return len(self.statements) + len(self.transaction_control)


@asynccontextmanager
async def round_trips(engine: AsyncEngine) -> AsyncIterator[RoundTrips]:
    seen = RoundTrips()
    hooked: list[Any] = []

    def on_query(record: Any) -> None:
        seen.simple.append(record.query.strip())

    def hook(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(on_query)
        hooked.append(driver)

    # The pool pings a connection before its "checkout" event: hook the idle pooled connections
    # now and new ones as they connect, so a pre-ping would be seen.
    for record in list(engine.sync_engine.pool._pool._queue._queue):  # type: ignore[attr-defined]
        if record.dbapi_connection is not None:
            hook(record.dbapi_connection)

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.statements.append(statement)

    event.listen(engine.sync_engine, "connect", hook)
    event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
    try:
        yield seen
        await asyncio.sleep(0)  # asyncpg reports queries with call_soon
        await asyncio.sleep(0)
    finally:
        event.remove(engine.sync_engine, "connect", hook)
        event.remove(engine.sync_engine, "before_cursor_execute", on_statement)
        for driver in hooked:
            driver.remove_query_logger(on_query)
