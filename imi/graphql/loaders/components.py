"""Loaders for components and their relationships (dependencies both ways)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from imi.components import queries
from imi.components.models import Component, ComponentRelationship
from imi.graphql.loaders import ById, Grouped, Loader, Related, grouped


class ComponentById(ById[Component], model=Component):
    pass


class ComponentRelationshipById(ById[ComponentRelationship], model=ComponentRelationship):
    pass


class ComponentsByProject(Grouped[Component], query=queries.components_of_projects):
    pass


class DependenciesByComponent(Related[Component], query=queries.dependencies_of):
    """What each component depends on (outgoing ``depends_on`` edges), by name."""


class DependentsByComponent(Related[Component], query=queries.dependents_of):
    """What depends on each component (incoming ``depends_on`` edges), by name."""


class ComponentRelationshipsByComponent(Loader[uuid.UUID, list[ComponentRelationship]]):
    """Every relationship a component takes part in, outgoing and incoming, of any type."""

    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[ComponentRelationship]]:
        wanted = set(keys)
        pairs = [
            (end, rel)
            for rel in await queries.relationships_of(session, keys)
            for end in (rel.from_component_id, rel.to_component_id)
            if end in wanted
        ]
        return grouped(pairs, keys)
