"""REST shapes of the components area."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imi.components.graph import ComponentGraph, GraphEdge, GraphNode
from imi.components.manifest import ImportReport
from imi.components.models import Component, ComponentRelationship


class ComponentOut(BaseModel):
    """A component; ``project_id`` is its parent project (``parent_project_id`` too)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "880e8400-e29b-41d4-a716-446655440003",
                "component_id": "880e8400-e29b-41d4-a716-446655440003",
                "project_id": "550e8400-e29b-41d4-a716-446655440000",
                "parent_project_id": "550e8400-e29b-41d4-a716-446655440000",
                "name": "bloodbank",
                "path": "bloodbank",
                "kind": "submodule",
                "enabled": True,
                "linked_project_id": None,
                "metadata": {},
                "created_at": "2026-01-21T14:30:22Z",
                "updated_at": "2026-01-21T14:30:22Z",
            }
        }
    )

    id: uuid.UUID
    component_id: uuid.UUID
    project_id: uuid.UUID
    parent_project_id: uuid.UUID
    name: str
    path: str | None
    kind: str = Field(description="submodule | local | external")
    enabled: bool
    linked_project_id: uuid.UUID | None
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, component: Component) -> ComponentOut:
        return cls(
            id=component.id,
            component_id=component.id,
            project_id=component.parent_project_id,
            parent_project_id=component.parent_project_id,
            name=component.name,
            path=component.path,
            kind=component.kind,
            enabled=component.enabled,
            linked_project_id=component.linked_project_id,
            metadata=component.meta,
            created_at=component.created_at,
            updated_at=component.updated_at,
        )


class RelationshipOut(BaseModel):
    id: uuid.UUID
    relationship_id: uuid.UUID
    from_component_id: uuid.UUID
    to_component_id: uuid.UUID
    relation_type: str = Field(
        description="depends_on | produces_events_for | consumes_events_from"
    )
    metadata: dict[str, Any]
    created_at: datetime | None

    @classmethod
    def of(cls, rel: ComponentRelationship) -> RelationshipOut:
        return cls(
            id=rel.id,
            relationship_id=rel.id,
            from_component_id=rel.from_component_id,
            to_component_id=rel.to_component_id,
            relation_type=rel.relation_type,
            metadata=rel.meta,
            created_at=rel.created_at,
        )


class GraphNodeOut(ComponentOut):
    distance: int = Field(description="Fewest hops from the root (the root is 0).")

    @classmethod
    def of_node(cls, node: GraphNode) -> GraphNodeOut:
        return cls(**ComponentOut.of(node.component).model_dump(), distance=node.distance)


class GraphEdgeOut(BaseModel):
    """A stored relationship, in its own from -> to orientation."""

    id: uuid.UUID
    from_component_id: uuid.UUID
    to_component_id: uuid.UUID
    relation_type: str

    @classmethod
    def of(cls, edge: GraphEdge) -> GraphEdgeOut:
        return cls(
            id=edge.id,
            from_component_id=edge.from_component_id,
            to_component_id=edge.to_component_id,
            relation_type=edge.relation_type.value,
        )


class ComponentGraphOut(BaseModel):
    root: uuid.UUID = Field(description="The component the walk started from (nodes[0]).")
    direction: str = Field(description="dependencies | dependents")
    depth: int
    nodes: list[GraphNodeOut] = Field(description="Root first, then by distance and name.")
    edges: list[GraphEdgeOut]

    @classmethod
    def of(cls, graph: ComponentGraph) -> ComponentGraphOut:
        return cls(
            root=graph.root.id,
            direction=graph.direction.value,
            depth=graph.depth,
            nodes=[GraphNodeOut.of_node(node) for node in graph.nodes],
            edges=[GraphEdgeOut.of(edge) for edge in graph.edges],
        )


class ImportReportOut(BaseModel):
    """Component names per outcome, in document order, and every component of the document."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    components: list[ComponentOut]

    @classmethod
    def of(cls, report: ImportReport) -> ImportReportOut:
        return cls(
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            components=[ComponentOut.of(c) for c in report.components],
        )
