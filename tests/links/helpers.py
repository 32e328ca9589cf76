"""Shared assertions for the links tests: event and row counts, statement counting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import SQLModel, col

from imi.outbox.models import Event


async def events_of(session: AsyncSession, event_type: str | None = None) -> list[Event]:
    stmt = select(Event).order_by(col(Event.id))
    if event_type is not None:
        stmt = stmt.where(col(Event.event_type) == event_type)
    return list((await session.scalars(stmt)).all())


async def event_types(session: AsyncSession) -> list[str]:
    return [e.event_type for e in await events_of(session)]


async def count_rows(session: AsyncSession, model: type[SQLModel]) -> int:
    table = model.__table__  # type: ignore[attr-defined]
    return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Collect every SQL statement sent to the database inside the block."""
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
