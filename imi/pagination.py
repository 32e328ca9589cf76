"""List windows shared by every paginated service: validation and the page query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from imi.errors import ValidationFailed
from imi.models_base import MAX_PAGE_SIZE, Page

T = TypeVar("T")
MAX_OFFSET = 2**63 - 1  # PostgreSQL's OFFSET is a bigint; past it the driver cannot send it


def check_window(limit: int, offset: int, *, max_limit: int = MAX_PAGE_SIZE) -> None:
    if not 1 <= limit <= max_limit:
        raise ValidationFailed(f"limit must be between 1 and {max_limit}", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed(f"offset must be between 0 and {MAX_OFFSET}", field="offset")


async def fetch_page(
    session: AsyncSession,
    stmt: Select[*tuple[Any, ...]],
    *,
    count_from: Any,
    conditions: Sequence[Any],
    limit: int,
    offset: int,
) -> Page[tuple[Any, ...]]:
    """One page of ``stmt`` (already ordered) under ``conditions``, with the total matching
    count, in one statement: the count rides along as a window function. Only a page past the
    end (no row to carry it) costs a second, counting statement over ``count_from``."""
    check_window(limit, offset)
    paged = stmt.add_columns(func.count().over()).where(*conditions).limit(limit).offset(offset)
    rows = (await session.execute(paged)).all()
    if rows:
        return Page([row[:-1] for row in rows], int(rows[0][-1]), limit, offset)
    total = 0
    if offset:
        count = select(func.count()).select_from(count_from).where(*conditions)
        total = int(await session.scalar(count) or 0)
    return Page([], total, limit, offset)


async def fetch_entity_page(
    session: AsyncSession,
    model: type[T],
    *,
    conditions: Sequence[Any],
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> Page[T]:
    """One page of ``model`` rows: :func:`fetch_page` over ``SELECT model ORDER BY ...``."""
    stmt = select(model).order_by(*order_by)
    page = await fetch_page(
        session, stmt, count_from=model, conditions=conditions, limit=limit, offset=offset
    )
    return Page([row[0] for row in page.items], page.total, limit, offset)
