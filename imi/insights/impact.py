"""Change impact: what a change to a component, a project or a deploy may affect.

A change starts at components (distance 0): the component itself; a project's components
(those it contains, ``parent_project_id``, and those it is, ``linked_project_id``); a
deploy's shipped work items' projects' components. One recursive walk
(``impact_queries.WALK``, directions documented there) finds every component reached within
``max_depth`` hops, its shortest distance, and one shortest path with the relationship types
along it (``via``). A component's project is where its code lives: ``linked_project_id`` when
set, otherwise its parent. A project's distance and path are its nearest component's; the
start's own projects are at distance 0 (path empty when none of its components leads there).
In-flight work is the active work items of every impacted project, in one statement.

Four statements per call whatever the graph's size: start, walk, projects, work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import among, plain_columns
from imi.components.models import RelationType
from imi.errors import NotFound, ValidationFailed
from imi.insights import impact_queries as q
from imi.projects.models import Project
from imi.work.models import WorkItem

DEFAULT_DEPTH = 5
MAX_DEPTH = 10
MAX_IN_FLIGHT = 500  # active work items listed (most recently active first); the total is given
MAX_DEPLOY_ID = 255


@dataclass(frozen=True, slots=True)
class ImpactStart:
    component_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    deploy_id: str | None = None


@dataclass(frozen=True, slots=True)
class ImpactedComponent:
    component: Any  # a plain row read like a Component
    distance: int
    path: list[uuid.UUID]  # component ids from a start component to this one (both included)
    via: list[RelationType]  # the relationship of each hop of ``path`` (len(path) - 1)


@dataclass(frozen=True, slots=True)
class ImpactedProject:
    project: Any  # a plain row read like a Project
    distance: int
    path: list[uuid.UUID]  # its nearest component's path (empty for a start project)


@dataclass(frozen=True, slots=True)
class ChangeImpact:
    max_depth: int
    components: list[ImpactedComponent]  # by distance, then name
    projects: list[ImpactedProject]  # by distance, then name
    in_flight_work: list[Any] = field(default_factory=list)  # plain WorkItem rows
    in_flight_total: int = 0  # all active work on those projects (the list stops at 500)


def exactly_one(**starts: object) -> None:
    """Exactly one of the start arguments is given (not None)."""
    given = sorted(name for name, value in starts.items() if value is not None)
    if len(given) != 1:
        raise ValidationFailed(
            "give exactly one of component_id, project_id, deploy_id", field="start", given=given
        )


def check_start(start: ImpactStart, max_depth: int | None) -> int:
    """Exactly one start, a depth in range: checked before any work; returns the depth."""
    exactly_one(
        component_id=start.component_id, project_id=start.project_id, deploy_id=start.deploy_id
    )
    if start.deploy_id is not None and not 1 <= len(start.deploy_id) <= MAX_DEPLOY_ID:
        raise ValidationFailed(
            f"deploy_id must be 1 to {MAX_DEPLOY_ID} characters", field="deploy_id"
        )
    depth = DEFAULT_DEPTH if max_depth is None else max_depth
    if isinstance(depth, bool) or not 1 <= depth <= MAX_DEPTH:
        raise ValidationFailed(f"max_depth must be between 1 and {MAX_DEPTH}", field="max_depth")
    return depth


async def _start(session: AsyncSession, start: ImpactStart) -> tuple[list[Any], list[Any]]:
    key: object
    if start.component_id is not None:
        stmt, key, entity, name = q.START_COMPONENT, start.component_id, "component", "component_id"
    elif start.project_id is not None:
        stmt, key, entity, name = q.START_PROJECT, start.project_id, "project", "project_id"
    else:
        stmt, key, entity, name = q.START_DEPLOY, start.deploy_id, "deployment", "deploy_id"
    row = (await session.execute(stmt, {"id": key})).one()
    if not row.found:
        raise NotFound(entity, key, field=name)
    return list(row.components), list(row.projects)


def _paths(rows: list[Any]) -> list[ImpactedComponent]:
    """Each reached component with its path, following predecessors (each one hop nearer)."""
    by_id = {row.id: row for row in rows}
    paths: dict[uuid.UUID, tuple[list[uuid.UUID], list[RelationType]]] = {}
    for row in rows:  # by distance: a predecessor's path is known before it is needed
        if row.predecessor is None or row.predecessor not in paths:
            paths[row.id] = ([row.id], [])
        else:
            ids, via = paths[row.predecessor]
            paths[row.id] = ([*ids, row.id], [*via, RelationType(row.via)])
    return [
        ImpactedComponent(by_id[cid], int(by_id[cid].distance), ids, via)
        for cid, (ids, via) in paths.items()
    ]


def _component_project(component: Any) -> uuid.UUID:
    linked: uuid.UUID | None = component.linked_project_id
    return linked if linked is not None else component.parent_project_id


async def change_impact(
    session: AsyncSession, start: ImpactStart, *, max_depth: int | None = None
) -> ChangeImpact:
    """What a change at ``start`` may affect within ``max_depth`` hops (default 5, max 10)."""
    depth = check_start(start, max_depth)
    starts, start_projects = await _start(session, start)
    rows = list(
        (await session.execute(q.WALK, {"starts": starts, "max_depth": depth})).all()
        if starts
        else []
    )
    components = _paths(rows)

    nearest: dict[uuid.UUID, tuple[int, list[uuid.UUID]]] = {p: (0, []) for p in start_projects}
    for item in components:
        project_id = _component_project(item.component)
        known = nearest.get(project_id)
        # Nearer, or as near with a path where a start project had none.
        if known is None or (item.distance, bool(known[1])) < (known[0], True):
            nearest[project_id] = (item.distance, item.path)
    project_rows = {}
    if nearest:
        stmt = select(*plain_columns(Project)).where(among(col(Project.id), list(nearest)))
        project_rows = {row.id: row for row in (await session.execute(stmt)).all()}
    projects = sorted(
        (
            ImpactedProject(project_rows[pid], distance, path)
            for pid, (distance, path) in nearest.items()
            if pid in project_rows  # hidden from a project-restricted caller
        ),
        key=lambda p: (p.distance, p.project.name, p.project.id),
    )
    work, total = await _in_flight(session, [p.project.id for p in projects])
    return ChangeImpact(depth, components, projects, work, total)


async def _in_flight(session: AsyncSession, project_ids: list[uuid.UUID]) -> tuple[list[Any], int]:
    """The active work items of ``project_ids``, most recently active first, in one
    statement (``project_id = ANY(:ids)``), with their total."""
    if not project_ids:
        return [], 0
    stmt = (
        select(*plain_columns(WorkItem), func.count().over().label("total"))
        .where(among(col(WorkItem.project_id), project_ids), col(WorkItem.active))
        .order_by(col(WorkItem.last_activity_at).desc(), col(WorkItem.id))
        .limit(MAX_IN_FLIGHT)
    )
    rows = list((await session.execute(stmt)).all())
    return rows, int(rows[0].total) if rows else 0
