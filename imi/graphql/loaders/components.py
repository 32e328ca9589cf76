"""Loaders for components and their relationships (dependencies both ways)."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.components.models import Component, ComponentRelationship, RelationType
from imi.graphql.loaders import Loader, grouped

REL_FROM = col(ComponentRelationship.from_component_id)
REL_TO = col(ComponentRelationship.to_component_id)
DEPENDS_ON = col(ComponentRelationship.relation_type) == RelationType.DEPENDS_ON.value


class ComponentById(Loader[uuid.UUID, Component | None]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[Component | None]:
        stmt = select(Component).where(col(Component.id).in_(keys))
        by_id = {row.id: row for row in (await session.execute(stmt)).scalars()}
        return [by_id.get(key) for key in keys]


class ComponentsByProject(Loader[uuid.UUID, list[Component]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[Component]]:
        stmt = (
            select(Component)
            .where(col(Component.parent_project_id).in_(keys))
            .order_by(col(Component.name))
        )
        rows = (await session.execute(stmt)).scalars().all()
        return grouped([(c.parent_project_id, c) for c in rows], keys)


class DependenciesByComponent(Loader[uuid.UUID, list[Component]]):
    """What each component depends on (outgoing ``depends_on`` edges), by name."""

    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[Component]]:
        stmt = (
            select(REL_FROM, Component)
            .join(Component, col(Component.id) == REL_TO)
            .where(REL_FROM.in_(keys), DEPENDS_ON)
            .order_by(col(Component.name), col(Component.id))
        )
        return grouped([(key, c) for key, c in (await session.execute(stmt)).all()], keys)


class DependentsByComponent(Loader[uuid.UUID, list[Component]]):
    """What depends on each component (incoming ``depends_on`` edges), by name."""

    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[Component]]:
        stmt = (
            select(REL_TO, Component)
            .join(Component, col(Component.id) == REL_FROM)
            .where(REL_TO.in_(keys), DEPENDS_ON)
            .order_by(col(Component.name), col(Component.id))
        )
        return grouped([(key, c) for key, c in (await session.execute(stmt)).all()], keys)


class ComponentRelationshipsByComponent(Loader[uuid.UUID, list[ComponentRelationship]]):
    """Every relationship a component takes part in, outgoing and incoming, of any type."""

    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[ComponentRelationship]]:
        stmt = (
            select(ComponentRelationship)
            .where(or_(REL_FROM.in_(keys), REL_TO.in_(keys)))
            .order_by(
                col(ComponentRelationship.created_at),
                col(ComponentRelationship.relation_type),
                col(ComponentRelationship.id),
            )
        )
        rows = (await session.execute(stmt)).scalars().all()
        wanted = set(keys)
        pairs = [
            (end, rel)
            for rel in rows
            for end in (rel.from_component_id, rel.to_component_id)
            if end in wanted
        ]
        return grouped(pairs, keys)


class ComponentRelationshipById(Loader[uuid.UUID, ComponentRelationship | None]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[ComponentRelationship | None]:
        stmt = select(ComponentRelationship).where(col(ComponentRelationship.id).in_(keys))
        by_id = {row.id: row for row in (await session.execute(stmt)).scalars()}
        return [by_id.get(key) for key in keys]
