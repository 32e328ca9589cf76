"""Helpers the link services share: UUID arrays, upsert bookkeeping, work item lookups."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Table, Uuid, any_, bindparam, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel, col

from imi.errors import NotFound
from imi.work.models import WorkItem

# RETURNING this after INSERT ... ON CONFLICT DO UPDATE: true for a freshly inserted row,
# false for a row that already existed (PostgreSQL stamps xmax on the updated/locked version).
INSERTED = literal_column("(xmax = 0)", Boolean).label("inserted")

# Every statement we build re-reads rows; refresh objects already in the identity map.
FRESH: dict[str, Any] = {"populate_existing": True}


def table_of(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def any_of(column: Any, ids: Iterable[uuid.UUID]) -> ColumnElement[bool]:
    """``column = ANY(:ids)`` with one array parameter: one statement, any number of ids."""
    param = bindparam(None, list(ids), type_=ARRAY(Uuid()))
    return col(column) == any_(param)


def parse_uuid(value: object) -> uuid.UUID | None:
    """A UUID from a UUID or its string form; None when malformed."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        return None


def dedupe(values: Iterable[Any]) -> list[Any]:
    """Drop repeats, keep first-seen order."""
    return list(dict.fromkeys(values))


@dataclass(frozen=True, slots=True)
class WorkRef:
    """The few work item columns link events carry."""

    id: uuid.UUID
    project_id: uuid.UUID
    branch_name: str


async def work_refs(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WorkRef]:
    """Existing work items among ``ids``, in one query."""
    if not ids:
        return {}
    stmt = select(col(WorkItem.id), col(WorkItem.project_id), col(WorkItem.branch_name)).where(
        any_of(WorkItem.id, ids)
    )
    rows = (await session.execute(stmt)).all()
    return {row[0]: WorkRef(row[0], row[1], row[2]) for row in rows}


async def require_work_item(
    session: AsyncSession, work_item_id: uuid.UUID, *, field: str = "work_item_id"
) -> WorkRef:
    found = await work_refs(session, [work_item_id])
    if work_item_id not in found:
        raise NotFound("work item", work_item_id, field=field)
    return found[work_item_id]
