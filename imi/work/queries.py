"""Read side of work in flight: filtered lists, the v2 in-flight rows, working paths."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import PageOf, windowed
from imi.errors import NotFound
from imi.models_base import Page
from imi.pagination import check_window, fetch_entity_page
from imi.prepared import Prepared
from imi.projects.models import Project
from imi.work.models import WorkFilter, WorkItem
from imi.work.naming import parse_work_type

# "What is agent X working on?": the most recently active first.
RECENT_FIRST = (col(WorkItem.last_activity_at).desc(), col(WorkItem.id))


def _work_conditions(filters: WorkFilter) -> list[Any]:
    conditions: list[Any] = []
    if filters.project_id is not None:
        conditions.append(col(WorkItem.project_id) == filters.project_id)
    if filters.owner_id is not None:
        conditions.append(col(WorkItem.owner_id) == filters.owner_id)
    if filters.work_type is not None:
        conditions.append(col(WorkItem.work_type) == parse_work_type(filters.work_type).value)
    if filters.status is not None:
        conditions.append(col(WorkItem.status) == filters.status.value)
    if filters.active is not None:
        conditions.append(col(WorkItem.active).is_(filters.active))
    return conditions


async def list_work(
    session: AsyncSession, filters: WorkFilter, *, limit: int = 50, offset: int = 0
) -> Page[WorkItem]:
    """Work items, most recently active first ("what is agent X working on?")."""
    check_window(limit, offset)
    conditions = _work_conditions(filters)
    return await fetch_entity_page(
        session, WorkItem, conditions=conditions, order_by=RECENT_FIRST, limit=limit, offset=offset
    )


# What a page of work items can be taken per: each project's, or each owner's.
PARENTS = {"project": col(WorkItem.project_id), "owner": col(WorkItem.owner_id)}


async def work_pages(
    session: AsyncSession,
    parent: Literal["project", "owner"],
    parent_ids: Sequence[Any],
    filters: WorkFilter,
    *,
    offset: int,
    limit: int,
) -> dict[Any, PageOf[WorkItem]]:
    """One page of each parent's work items under ``filters``, most recently active first
    (``{project id | owner id: page}``), in one statement for all the parents."""
    return await windowed(
        session,
        WorkItem,
        PARENTS[parent],
        parent_ids,
        offset=offset,
        limit=limit,
        order_by=RECENT_FIRST,
        conditions=_work_conditions(filters),
    )


# The columns of an in-flight row (plain values, no ORM instance).
IN_FLIGHT_COLUMNS: tuple[Any, ...] = (
    col(WorkItem.id),
    col(WorkItem.name),
    col(WorkItem.project_id),
    col(Project.name).label("project_name"),
    col(WorkItem.branch_name),
    col(WorkItem.status),
    col(WorkItem.uncommitted_files_count),
    col(WorkItem.ahead_of_trunk),
    col(WorkItem.behind_trunk),
    col(WorkItem.owner_id),
    col(WorkItem.last_activity_at),
)


# The filters an in-flight list can take, by name: each names a bound parameter of the statement.
IN_FLIGHT_FILTERS: dict[str, Any] = {
    "project_id": col(WorkItem.project_id),
    "owner_id": col(WorkItem.owner_id),
    "work_type": col(WorkItem.work_type),
    "status": col(WorkItem.status),
}
_in_flight_statements: dict[tuple[str, ...], tuple[Prepared, Prepared]] = {}


def _in_flight_statement(filters: tuple[str, ...]) -> tuple[Prepared, Prepared]:
    """The page statement and the bare count for one set of filters, compiled once (at most
    one pair per subset of the four filters)."""
    pair = _in_flight_statements.get(filters)
    if pair is None:
        conditions = [IN_FLIGHT_FILTERS[name] == bindparam(name) for name in filters]
        conditions.append(col(WorkItem.active))
        total = select(func.count()).select_from(WorkItem).where(*conditions).scalar_subquery()
        page = (
            select(*IN_FLIGHT_COLUMNS, total.label("total"))
            .join(Project, col(Project.id) == col(WorkItem.project_id))
            .where(*conditions)
            .order_by(*RECENT_FIRST)
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )
        pair = _in_flight_statements[filters] = (
            Prepared(page),
            Prepared(select(total.label("total"))),
        )
    return pair


async def list_in_flight(
    session: AsyncSession, filters: WorkFilter, *, limit: int = 100, offset: int = 0
) -> Page[Any]:
    """Work in flight (FR-2.4: every active work item) with its project's name, filtered like
    :func:`list_work` (v2 ``/inflight-work``), as plain rows. ``filters.active`` is ignored:
    in flight is active.

    One statement: the page walks the in-flight index (migration 0007) and stops at ``limit``;
    the total is an uncorrelated subquery PostgreSQL runs once, counting from the same index
    (a ``count(*) OVER ()`` would make it read and join every matching row first)."""
    check_window(limit, offset)
    values: dict[str, Any] = {
        "project_id": filters.project_id,
        "owner_id": filters.owner_id,
        "work_type": parse_work_type(filters.work_type).value if filters.work_type else None,
        "status": filters.status.value if filters.status is not None else None,
    }
    params = {name: value for name, value in values.items() if value is not None}
    page, count = _in_flight_statement(tuple(params))
    rows = await page.all(session, {**params, "limit": limit, "offset": offset})
    if rows:
        return Page(rows, int(rows[0].total), limit, offset)
    total = int((await count.first(session, params)).total) if offset else 0
    return Page([], total, limit, offset)


async def working_path(
    session: AsyncSession, project_id: uuid.UUID, worktree_name: str | None = None
) -> str:
    """The trunk path of a project, or the path of its active worktree named so."""
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound("project", project_id)
    if worktree_name is None:
        if not project.trunk_path:
            raise NotFound("trunk path of project", project_id)
        return project.trunk_path
    stmt = select(col(WorkItem.worktree_path)).where(
        col(WorkItem.project_id) == project_id,
        col(WorkItem.name) == worktree_name,
        col(WorkItem.active),
    )
    path = await session.scalar(stmt)
    if not path:
        raise NotFound("worktree path", worktree_name, field="worktree_name")
    return str(path)
