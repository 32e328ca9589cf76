"""Work-item reads that return plain rows (attribute access, no ORM instance), for readers
that only shape rows into a response (the GraphQL loaders)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from imi.batches import PageOf, windowed_rows
from imi.work.models import WorkFilter, WorkItem
from imi.work.queries import PARENTS, RECENT_FIRST, _work_conditions


async def work_page_rows(
    session: AsyncSession,
    parent: Literal["project", "owner"],
    parent_ids: Sequence[Any],
    filters: WorkFilter,
    *,
    offset: int,
    limit: int,
    omit: Collection[str] = (),
) -> dict[Any, PageOf[Any]]:
    """:func:`imi.work.queries.work_pages` as plain rows (without the attributes in
    ``omit``): one page of each parent's work items, most recently active first, in one
    statement for all the parents."""
    return await windowed_rows(
        session,
        WorkItem,
        PARENTS[parent],
        parent_ids,
        offset=offset,
        limit=limit,
        order_by=RECENT_FIRST,
        conditions=_work_conditions(filters),
        omit=omit,
    )
