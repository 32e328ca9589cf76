"""One page of children per parent in ONE statement (``row_number()`` per partition)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from imi.graphql.pagination import Window

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageOf(Generic[T]):
    items: list[T] = field(default_factory=list)
    total: int = 0


async def windowed(
    session: AsyncSession,
    model: type[T],
    parent_column: Any,
    parent_ids: list[Any],
    window: Window,
    order_by: tuple[Any, ...],
    conditions: list[Any] | None = None,
) -> dict[Any, PageOf[T]]:
    """``{parent: page}`` for every parent that has rows in or past the window."""
    conditions = conditions or []
    rank = func.row_number().over(partition_by=parent_column, order_by=order_by).label("rank")
    total = func.count().over(partition_by=parent_column).label("total")
    inner = (
        select(model, rank, total, parent_column.label("parent"))
        .where(parent_column.in_(parent_ids), *conditions)
        .subquery()
    )
    row_type = aliased(model, inner)
    stmt = (
        select(row_type, inner.c.total, inner.c.parent)
        .where(inner.c.rank > window.offset, inner.c.rank <= window.offset + window.limit)
        .order_by(inner.c.parent, inner.c.rank)
    )
    items: dict[Any, list[T]] = defaultdict(list)
    totals: dict[Any, int] = {}
    for row, count, parent in (await session.execute(stmt)).all():
        items[parent].append(row)
        totals[parent] = int(count)
    missing = [p for p in parent_ids if p not in totals]
    if missing and (window.offset or window.limit == 0):
        # Past the last page no row carries the total: count those parents.
        count_stmt = (
            select(parent_column, func.count())
            .where(parent_column.in_(missing), *conditions)
            .group_by(parent_column)
        )
        for parent, count in (await session.execute(count_stmt)).all():
            totals[parent] = int(count)
    return {parent: PageOf(items.get(parent, []), total) for parent, total in totals.items()}
