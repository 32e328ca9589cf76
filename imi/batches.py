"""Batch reads behind per-request loaders: rows by id, one page of children per parent.

Each function answers a whole batch of keys in one statement whose text does not depend on
the batch size (the keys are bound as one array parameter).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Text, any_, false, func, literal, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from imi.prepared import fetch_rows

T = TypeVar("T")


class WithId(Protocol):
    id: Any


R = TypeVar("R", bound=WithId)


def among(column: Any, keys: Sequence[Any]) -> ColumnElement[bool]:
    """``column = ANY(:keys)``: one array parameter however many keys (UUIDs or strings)."""
    if not keys:
        return false()
    element_type = Text() if isinstance(keys[0], str) else PG_UUID()
    return column == any_(literal(list(keys), ARRAY(element_type)))  # type: ignore[no-any-return]


async def rows_by_id(session: AsyncSession, model: type[R], ids: Sequence[Any]) -> list[R]:
    """The rows of ``model`` with these ids (in no particular order; unknown ids are absent)."""
    stmt = select(model).where(among(col(model.id), ids))
    return list((await session.execute(stmt)).scalars())


async def reached(
    session: AsyncSession,
    keys: Sequence[Any],
    key: Any,
    target: type[T],
    joins: Sequence[tuple[Any, Any]],
    *,
    order_by: Sequence[Any],
    conditions: Sequence[Any] = (),
) -> list[tuple[Any, T]]:
    """``(key, row)`` for every ``target`` row reached from ``keys`` through ``joins``
    (``(table, on)`` in order), in ``order_by`` order: one statement for all the keys."""
    stmt = select(key, target)
    for table, on in joins:
        stmt = stmt.join(table, on)
    stmt = stmt.where(among(key, keys), *conditions).order_by(*order_by)
    return [(k, row) for k, row in (await session.execute(stmt)).all()]


@dataclass(frozen=True, slots=True)
class PageOf(Generic[T]):
    """One parent's page of children and the total number of its children."""

    items: list[T] = field(default_factory=list)
    total: int = 0


async def windowed(
    session: AsyncSession,
    model: type[T],
    parent_column: Any,
    parent_ids: Sequence[Any],
    *,
    offset: int,
    limit: int,
    order_by: tuple[Any, ...],
    conditions: Sequence[Any] = (),
) -> dict[Any, PageOf[T]]:
    """``{parent: page}`` for every parent that has rows in or past the window, in ONE
    statement (``row_number()`` per partition); a second, counting statement only for the
    parents a page past their end leaves without a row to carry the total."""
    rank = func.row_number().over(partition_by=parent_column, order_by=order_by).label("rank")
    total = func.count().over(partition_by=parent_column).label("total")
    inner = (
        select(model, rank, total, parent_column.label("parent"))
        .where(among(parent_column, parent_ids), *conditions)
        .subquery()
    )
    row_type = aliased(model, inner)
    stmt = (
        select(row_type, inner.c.total, inner.c.parent)
        .where(inner.c.rank > offset, inner.c.rank <= offset + limit)
        .order_by(inner.c.parent, inner.c.rank)
    )
    items: dict[Any, list[T]] = defaultdict(list)
    totals: dict[Any, int] = {}
    for row, count, parent in (await session.execute(stmt)).all():
        items[parent].append(row)
        totals[parent] = int(count)
    missing = [p for p in parent_ids if p not in totals]
    if missing and (offset or limit == 0):
        count_stmt = (
            select(parent_column, func.count())
            .where(among(parent_column, missing), *conditions)
            .group_by(parent_column)
        )
        for parent, count in (await session.execute(count_stmt)).all():
            totals[parent] = int(count)
    return {parent: PageOf(items.get(parent, []), total) for parent, total in totals.items()}


def plain_columns(model: type[Any]) -> tuple[Any, ...]:
    """The model's columns labelled with their attribute names (``meta`` for the ``metadata``
    column): selected instead of the entity, each result row reads like the ORM instance
    (``row.meta``, ``row.status``) without one being built, tracked or validated. Built once
    per model (labels are immutable; hot reads would otherwise rebuild them per statement)."""
    return prefixed_columns(model, "")


def columns_except(model: type[Any], omit: Collection[str]) -> tuple[Any, ...]:
    """:func:`plain_columns` without the attributes named in ``omit`` (a reader that never
    reads ``meta`` need not have every row's JSON decoded)."""
    columns = plain_columns(model)
    return tuple(c for c in columns if c.key not in omit) if omit else columns


_LABELLED: dict[tuple[type[Any], str], tuple[Any, ...]] = {}


def prefixed_columns(model: type[Any], prefix: str) -> tuple[Any, ...]:
    """:func:`plain_columns` labelled ``<prefix><attribute>``: a second entity's columns on
    the same row, read back with :func:`record_of`."""
    columns = _LABELLED.get((model, prefix))
    if columns is None:
        columns = _LABELLED[(model, prefix)] = tuple(
            prop.columns[0].label(prefix + prop.key) for prop in sa_inspect(model).column_attrs
        )
    return columns


def record_of(row: Any, model: type[Any], prefix: str) -> SimpleNamespace:
    """The ``prefix``-labelled columns of ``row`` as an object read like ``model``'s instances."""
    return SimpleNamespace(
        **{prop.key: getattr(row, prefix + prop.key) for prop in sa_inspect(model).column_attrs}
    )


async def reached_rows(
    session: AsyncSession,
    keys: Sequence[Any],
    key: Any,
    target: type[Any],
    joins: Sequence[tuple[Any, Any]],
    *,
    order_by: Sequence[Any],
    omit: Collection[str] = (),
) -> list[tuple[Any, Any]]:
    """:func:`reached` with plain rows (:func:`columns_except` ``omit``) for the ``target``
    rows."""
    stmt = select(key.label("parent_key"), *columns_except(target, omit))
    for table, on in joins:
        stmt = stmt.join(table, on)
    stmt = stmt.where(among(key, keys)).order_by(*order_by)
    return [(row.parent_key, row) for row in await fetch_rows(session, stmt)]


async def windowed_rows(
    session: AsyncSession,
    model: type[Any],
    parent_column: Any,
    parent_ids: Sequence[Any],
    *,
    offset: int,
    limit: int,
    order_by: tuple[Any, ...],
    conditions: Sequence[Any] = (),
    omit: Collection[str] = (),
) -> dict[Any, PageOf[Any]]:
    """:func:`windowed` with plain rows (:func:`columns_except` ``omit``): the same pages,
    the same totals, the same statement count."""
    rank = func.row_number().over(partition_by=parent_column, order_by=order_by).label("rank")
    total = func.count().over(partition_by=parent_column).label("total")
    columns = columns_except(model, omit)
    inner = (
        select(*columns, rank, total, parent_column.label("parent"))
        .where(among(parent_column, parent_ids), *conditions)
        .subquery()
    )
    stmt = (
        select(*(inner.c[column.key] for column in columns), inner.c.total, inner.c.parent)
        .where(inner.c.rank > offset, inner.c.rank <= offset + limit)
        .order_by(inner.c.parent, inner.c.rank)
    )
    items: dict[Any, list[Any]] = defaultdict(list)
    totals: dict[Any, int] = {}
    for row in await fetch_rows(session, stmt):
        items[row.parent].append(row)
        totals[row.parent] = int(row.total)
    missing = [p for p in parent_ids if p not in totals]
    if missing and (offset or limit == 0):
        count_stmt = (
            select(parent_column, func.count())
            .where(among(parent_column, missing), *conditions)
            .group_by(parent_column)
        )
        for parent, count in (await session.execute(count_stmt)).all():
            totals[parent] = int(count)
    return {parent: PageOf(items.get(parent, []), total) for parent, total in totals.items()}
