"""The component dependency graph around one component, walked by a recursive CTE."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Integer, Uuid, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.components.models import Component, ComponentRelationship, RelationType
from imi.errors import NotFound, ValidationFailed

MAX_GRAPH_DEPTH = 20


class GraphDirection(StrEnum):
    DEPENDENCIES = "dependencies"  # follow edges from -> to: what the root needs
    DEPENDENTS = "dependents"  # follow edges to -> from: what needs the root


@dataclass(frozen=True, slots=True)
class GraphNode:
    component: Component
    distance: int  # fewest hops from the root (the root itself is 0)


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """A stored relationship, always in its own from -> to orientation."""

    id: uuid.UUID
    from_component_id: uuid.UUID
    to_component_id: uuid.UUID
    relation_type: RelationType


@dataclass(frozen=True, slots=True)
class ComponentGraph:
    root: Component
    direction: GraphDirection
    depth: int
    nodes: list[GraphNode]  # the root first, then by distance and name; each component once
    edges: list[GraphEdge]  # every walked edge, including those that close a cycle


def _direction(direction: str) -> GraphDirection:
    try:
        return GraphDirection(direction)
    except ValueError:
        allowed = ", ".join(d.value for d in GraphDirection)
        raise ValidationFailed(f"direction must be one of {allowed}", field="direction") from None


def _relation_types(values: Sequence[RelationType | str] | None) -> list[str]:
    if values is None:
        return [t.value for t in RelationType]
    if not values:
        raise ValidationFailed("relation_types must not be empty", field="relation_types")
    try:
        return sorted({RelationType(v).value for v in values})
    except ValueError:
        allowed = ", ".join(t.value for t in RelationType)
        raise ValidationFailed(
            f"relation_types must be among {allowed}", field="relation_types"
        ) from None


async def component_graph(
    session: AsyncSession,
    component_id: uuid.UUID,
    *,
    direction: GraphDirection | str = GraphDirection.DEPENDENCIES,
    depth: int = 5,
    relation_types: Sequence[RelationType | str] | None = None,
) -> ComponentGraph:
    """Components reachable from ``component_id`` within ``depth`` hops, and the edges walked.

    One recursive CTE finds the nodes and their shortest distance; it keeps one row per
    (component, distance) (``UNION``, not ``UNION ALL``) and stops at ``depth``, so cycles end
    and the work is bounded by depth x edges. A second statement loads the edges.
    """
    walk_direction = _direction(direction)
    if isinstance(depth, bool) or not 1 <= depth <= MAX_GRAPH_DEPTH:
        raise ValidationFailed(f"depth must be between 1 and {MAX_GRAPH_DEPTH}", field="depth")
    types = _relation_types(relation_types)

    rel_from = col(ComponentRelationship.from_component_id)
    rel_to = col(ComponentRelationship.to_component_id)
    rel_type = col(ComponentRelationship.relation_type)
    source, target = (
        (rel_from, rel_to) if walk_direction is GraphDirection.DEPENDENCIES else (rel_to, rel_from)
    )

    walk = select(
        literal(component_id, Uuid).label("component_id"),
        literal(0, Integer).label("distance"),
    ).cte("walk", recursive=True)
    step = (
        select(target.label("component_id"), (walk.c.distance + 1).label("distance"))
        .select_from(walk)
        .join(ComponentRelationship, source == walk.c.component_id)
        .where(walk.c.distance < depth, rel_type.in_(types))
    )
    walk = walk.union(step)
    nearest = (
        select(walk.c.component_id, func.min(walk.c.distance).label("distance"))
        .group_by(walk.c.component_id)
        .subquery("nearest")
    )
    stmt = (
        select(Component, nearest.c.distance)
        .join(nearest, col(Component.id) == nearest.c.component_id)
        .order_by(nearest.c.distance, col(Component.name), col(Component.id))
    )
    rows = (await session.execute(stmt)).all()
    nodes = [GraphNode(component, int(distance)) for component, distance in rows]
    if not nodes or nodes[0].distance != 0:
        raise NotFound("component", component_id, field="component_id")

    inner = [n.component.id for n in nodes if n.distance < depth]
    reached = [n.component.id for n in nodes]
    edge_stmt = (
        select(ComponentRelationship)
        .where(source.in_(inner), target.in_(reached), rel_type.in_(types))
        .order_by(rel_from, rel_to, rel_type)
    )
    edges = [
        GraphEdge(r.id, r.from_component_id, r.to_component_id, RelationType(r.relation_type))
        for r in (await session.scalars(edge_stmt)).all()
    ]
    return ComponentGraph(nodes[0].component, walk_direction, depth, nodes, edges)
