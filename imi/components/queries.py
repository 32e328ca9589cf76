"""Batch reads of components and their relationships (dependencies both ways)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import among, reached
from imi.components.models import Component, ComponentRelationship, RelationType

Ids = Sequence[uuid.UUID]

REL_FROM = col(ComponentRelationship.from_component_id)
REL_TO = col(ComponentRelationship.to_component_id)
DEPENDS_ON = col(ComponentRelationship.relation_type) == RelationType.DEPENDS_ON.value
BY_NAME = (col(Component.name), col(Component.id))


async def components_of_projects(
    session: AsyncSession, project_ids: Ids
) -> list[tuple[uuid.UUID, Component]]:
    """``(project id, component)`` for the components of these (meta-)repositories, by name."""
    stmt = (
        select(Component)
        .where(among(col(Component.parent_project_id), project_ids))
        .order_by(col(Component.name))
    )
    return [(c.parent_project_id, c) for c in (await session.execute(stmt)).scalars()]


async def dependencies_of(
    session: AsyncSession, component_ids: Ids
) -> list[tuple[uuid.UUID, Component]]:
    """``(component id, what it depends on)`` along outgoing ``depends_on`` edges, by name."""
    joins = [(Component, col(Component.id) == REL_TO)]
    return await reached(
        session,
        component_ids,
        REL_FROM,
        Component,
        joins,
        order_by=BY_NAME,
        conditions=[DEPENDS_ON],
    )


async def dependents_of(
    session: AsyncSession, component_ids: Ids
) -> list[tuple[uuid.UUID, Component]]:
    """``(component id, what depends on it)`` along incoming ``depends_on`` edges, by name."""
    joins = [(Component, col(Component.id) == REL_FROM)]
    return await reached(
        session, component_ids, REL_TO, Component, joins, order_by=BY_NAME, conditions=[DEPENDS_ON]
    )


async def relationships_of(
    session: AsyncSession, component_ids: Ids
) -> list[ComponentRelationship]:
    """Every relationship these components take part in, outgoing and incoming, of any type."""
    stmt = (
        select(ComponentRelationship)
        .where(or_(among(REL_FROM, component_ids), among(REL_TO, component_ids)))
        .order_by(
            col(ComponentRelationship.created_at),
            col(ComponentRelationship.relation_type),
            col(ComponentRelationship.id),
        )
    )
    return list((await session.execute(stmt)).scalars())
