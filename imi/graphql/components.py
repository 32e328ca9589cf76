"""Component and ComponentRelationship types, their navigation, and the component queries."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from imi.components import service
from imi.components.graph import MAX_GRAPH_DEPTH, GraphDirection, component_graph
from imi.components.graph import ComponentGraph as GraphResult
from imi.components.models import ComponentKind, RelationType
from imi.graphql.context import Context
from imi.graphql.ids import find_id, parse_any_id
from imi.graphql.loaders.components import (
    ComponentById,
    ComponentRelationshipById,
    ComponentRelationshipsByComponent,
    DependenciesByComponent,
    DependentsByComponent,
)
from imi.graphql.loaders.projects import ProjectById
from imi.graphql.node import Node, node_resolver
from imi.graphql.pagination import Connection, Window, list_connection
from imi.graphql.rows import FromRow

if TYPE_CHECKING:
    from imi.graphql.projects import Project

Info = strawberry.Info[Context, None]
LazyProject = Annotated["Project", strawberry.lazy("imi.graphql.projects")]

strawberry.enum(
    GraphDirection,
    description="DEPENDENCIES follows edges from -> to (what the root needs); "
    "DEPENDENTS follows them backwards (what needs the root).",
)


async def _project(info: Info, project_id: UUID | None) -> Project | None:
    from imi.graphql.projects import Project

    if project_id is None:
        return None
    row = await info.context.loaders.get(ProjectById).one(project_id)
    return Project.from_row(row) if row else None


async def _component(info: Info, component_id: UUID) -> Component:
    row = await info.context.loaders.get(ComponentById).one(component_id)
    assert row is not None  # foreign key
    return Component.from_row(row)


@strawberry.type(description="A component of a meta-repository.")
class Component(Node, FromRow):
    uuid: UUID
    parent_project_id: UUID
    name: str
    path: str | None
    kind: ComponentKind
    enabled: bool
    linked_project_id: UUID | None
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @strawberry.field(description="The (meta-)repository this component belongs to.")
    async def parent_project(self, info: Info) -> LazyProject:
        project = await _project(info, self.parent_project_id)
        assert project is not None  # foreign key
        return project

    @strawberry.field(description="The project this component's code lives in, when registered.")
    async def linked_project(self, info: Info) -> LazyProject | None:
        return await _project(info, self.linked_project_id)

    @strawberry.field(description="Components this one depends on (DEPENDS_ON edges out), by name.")
    async def depends_on(self, info: Info) -> list[Component]:
        rows = await info.context.loaders.get(DependenciesByComponent).one(self.uuid)
        return [Component.from_row(row) for row in rows]

    @strawberry.field(description="Components that depend on this one (DEPENDS_ON edges in).")
    async def dependents(self, info: Info) -> list[Component]:
        rows = await info.context.loaders.get(DependentsByComponent).one(self.uuid)
        return [Component.from_row(row) for row in rows]

    @strawberry.field(description="Every relationship of any type, outgoing and incoming.")
    async def relationships(self, info: Info) -> list[ComponentRelationship]:
        rows = await info.context.loaders.get(ComponentRelationshipsByComponent).one(self.uuid)
        return [ComponentRelationship.from_row(row) for row in rows]


@strawberry.type(description="A typed edge `from -[relationType]-> to` between two components.")
class ComponentRelationship(Node, FromRow):
    uuid: UUID
    from_component_id: UUID
    to_component_id: UUID
    relation_type: RelationType
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @strawberry.field(name="from")
    async def source(self, info: Info) -> Component:
        return await _component(info, self.from_component_id)

    @strawberry.field(name="to")
    async def target(self, info: Info) -> Component:
        return await _component(info, self.to_component_id)


@strawberry.type(description="A component reached by a graph walk.")
class ComponentGraphNode:
    component: Component
    distance: int = strawberry.field(description="Fewest hops from the root (the root is 0).")


@strawberry.type(description="A walked relationship, in its own from -> to orientation.")
class ComponentGraphEdge:
    id: strawberry.ID = strawberry.field(description="The ComponentRelationship's global id.")
    source: Component = strawberry.field(name="from")
    target: Component = strawberry.field(name="to")
    relation_type: RelationType


@strawberry.type(description="The components reachable from a root within `depth` hops.")
class ComponentGraph:
    root: Component
    direction: GraphDirection
    depth: int
    nodes: list[ComponentGraphNode] = strawberry.field(
        description="The root first, then by distance and name; each component once."
    )
    edges: list[ComponentGraphEdge]

    @classmethod
    def from_domain(cls, graph: GraphResult) -> ComponentGraph:
        nodes = {n.component.id: Component.from_row(n.component) for n in graph.nodes}
        return cls(
            root=nodes[graph.root.id],
            direction=graph.direction,
            depth=graph.depth,
            nodes=[
                ComponentGraphNode(component=nodes[n.component.id], distance=n.distance)
                for n in graph.nodes
            ],
            edges=[
                ComponentGraphEdge(
                    id=Node.global_id("ComponentRelationship", e.id),
                    source=nodes[e.from_component_id],
                    target=nodes[e.to_component_id],
                    relation_type=e.relation_type,
                )
                for e in graph.edges
            ],
        )


@node_resolver("Component")
async def load_component(info: Info, component_id: UUID) -> Component | None:
    row = await info.context.loaders.get(ComponentById).one(component_id)
    return Component.from_row(row) if row else None


@node_resolver("ComponentRelationship")
async def load_relationship(info: Info, relationship_id: UUID) -> ComponentRelationship | None:
    row = await info.context.loaders.get(ComponentRelationshipById).one(relationship_id)
    return ComponentRelationship.from_row(row) if row else None


@strawberry.type
class Query:
    @strawberry.field(description="A component by global id or UUID; null when unknown.")
    async def component(self, info: Info, id: strawberry.ID) -> Component | None:
        component_id = find_id(id, "Component")
        return await load_component(info, component_id) if component_id else None

    @strawberry.field(description="Components by name, optionally of one project, kind, state.")
    async def components(
        self,
        info: Info,
        project_id: strawberry.ID | None = None,
        kind: ComponentKind | None = None,
        enabled: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Component]:
        project = parse_any_id(project_id, "Project") if project_id is not None else None
        fetch = partial(service.list_components, project_id=project, kind=kind, enabled=enabled)
        return await list_connection(
            info.context, Window.of(first, after), fetch, Component.from_row
        )

    @strawberry.field(
        description="Components reachable from `componentId` within `depth` "
        f"(1..{MAX_GRAPH_DEPTH}) hops, with the edges walked; null when the component is unknown."
    )
    async def component_graph(
        self,
        info: Info,
        component_id: strawberry.ID,
        direction: GraphDirection = GraphDirection.DEPENDENCIES,
        depth: int = 5,
        relation_types: list[RelationType] | None = None,
    ) -> ComponentGraph | None:
        root = find_id(component_id, "Component")
        if root is None:
            return None
        graph = await info.context.find(
            lambda s: component_graph(
                s, root, direction=direction, depth=depth, relation_types=relation_types
            )
        )
        return ComponentGraph.from_domain(graph) if graph else None
