"""components, component(id:), componentGraph, component navigation, and node(id:)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.components.models import (
    Component,
    ComponentCreate,
    ComponentKind,
    RelationshipCreate,
    RelationType,
)
from imi.components.service import register_component, relate_components
from imi.graphql.ids import to_global_id
from imi.projects.models import Project
from tests.factories import make_project
from tests.graphql.conftest import GraphQL


def cid(component: Component) -> str:
    return to_global_id("Component", component.id)


@dataclass
class Components:
    meta: Project
    lib: Project
    api: Component  # depends on core (and produces events for worker)
    worker: Component  # depends on core, disabled, external
    core: Component  # depends on util; linked to the `lib` project
    util: Component
    rel_api_core: uuid.UUID


async def add(session: AsyncSession, project: Project, name: str, **fields: Any) -> Component:
    return await register_component(
        session, ComponentCreate(project_id=project.id, name=name, **fields)
    )


async def relate(
    session: AsyncSession,
    source: Component,
    target: Component,
    relation: RelationType = RelationType.DEPENDS_ON,
    **metadata: Any,
) -> uuid.UUID:
    data = RelationshipCreate(
        from_component_id=source.id,
        to_component_id=target.id,
        relation_type=relation,
        metadata=metadata,
    )
    return (await relate_components(session, data))[0].id


@pytest.fixture
async def c(sessions: async_sessionmaker[AsyncSession]) -> Components:
    async with sessions() as session, session.begin():
        meta = await make_project(session, name="meta")
        lib = await make_project(session, name="lib")
        api = await add(session, meta, "api", kind=ComponentKind.SUBMODULE, path="svc/api")
        worker = await add(session, meta, "worker", kind=ComponentKind.EXTERNAL, enabled=False)
        core = await add(session, meta, "core", linked_project_id=lib.id)
        util = await add(session, meta, "util")
        rel = await relate(session, api, core, why="imports")
        await relate(session, worker, core)
        await relate(session, core, util)
        await relate(session, api, worker, RelationType.PRODUCES_EVENTS_FOR)
    return Components(meta, lib, api, worker, core, util, rel)


COMPONENTS = """
query ($projectId: ID, $kind: ComponentKind, $enabled: Boolean, $first: Int, $after: String) {
  components(projectId: $projectId, kind: $kind, enabled: $enabled, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    nodes { id name kind enabled path }
  }
}
"""


async def names(graphql: GraphQL, **variables: Any) -> list[str]:
    result = await graphql.run(COMPONENTS, variables)
    return [n["name"] for n in result["components"]["nodes"]]


async def test_components_filters(graphql: GraphQL, c: Components) -> None:
    assert await names(graphql) == ["api", "core", "util", "worker"]
    assert await names(graphql, projectId=to_global_id("Project", c.meta.id)) == [
        "api",
        "core",
        "util",
        "worker",
    ]
    assert await names(graphql, projectId=str(c.lib.id)) == []
    assert await names(graphql, kind="EXTERNAL") == ["worker"]
    assert await names(graphql, enabled=False) == ["worker"]
    assert await names(graphql, enabled=True, kind="LOCAL") == ["core", "util"]


async def test_components_pagination(graphql: GraphQL, c: Components) -> None:
    first = (await graphql.run(COMPONENTS, {"first": 3}))["components"]
    assert first["totalCount"] == 4
    assert [n["name"] for n in first["nodes"]] == ["api", "core", "util"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False

    after = first["pageInfo"]["endCursor"]
    rest = (await graphql.run(COMPONENTS, {"first": 3, "after": after}))["components"]
    assert [n["name"] for n in rest["nodes"]] == ["worker"]
    assert rest["totalCount"] == 4
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True

    none = (await graphql.run(COMPONENTS, {"first": 0}))["components"]
    assert (none["nodes"], none["totalCount"]) == ([], 4)
    with pytest.raises(TransportQueryError, match="invalid cursor"):
        await graphql.run(COMPONENTS, {"after": "bogus"})


NAVIGATION = """
query ($id: ID!) {
  component(id: $id) {
    id name
    parentProject { name }
    linkedProject { name }
    dependsOn { name dependsOn { name } }
    dependents { name dependents { name } }
    relationships { id relationType metadata from { name } to { name } }
  }
}
"""


async def component(graphql: GraphQL, component_id: str) -> Any:
    return (await graphql.run(NAVIGATION, {"id": component_id}))["component"]


async def test_component_navigation_both_ways(graphql: GraphQL, c: Components) -> None:
    core = await component(graphql, cid(c.core))
    assert core["parentProject"] == {"name": "meta"}
    assert core["linkedProject"] == {"name": "lib"}
    assert core["dependsOn"] == [{"name": "util", "dependsOn": []}]
    assert core["dependents"] == [
        {"name": "api", "dependents": []},
        {"name": "worker", "dependents": []},
    ]
    assert {(r["from"]["name"], r["to"]["name"]) for r in core["relationships"]} == {
        ("api", "core"),
        ("worker", "core"),
        ("core", "util"),
    }

    api = await component(graphql, str(c.api.id))  # a raw UUID works too
    assert api["linkedProject"] is None
    assert api["dependsOn"] == [{"name": "core", "dependsOn": [{"name": "util"}]}]
    rels = {(r["relationType"], r["to"]["name"]): r for r in api["relationships"]}
    assert set(rels) == {("DEPENDS_ON", "core"), ("PRODUCES_EVENTS_FOR", "worker")}
    depends = rels[("DEPENDS_ON", "core")]
    assert depends["id"] == to_global_id("ComponentRelationship", c.rel_api_core)
    assert depends["metadata"] == {"why": "imports"}
    # PRODUCES_EVENTS_FOR is a relationship, not a dependency.
    util = await component(graphql, cid(c.util))
    assert util["dependents"] == [
        {"name": "core", "dependents": [{"name": "api"}, {"name": "worker"}]}
    ]

    assert await component(graphql, str(uuid.uuid4())) is None
    assert await component(graphql, "nonsense") is None


GRAPH = """
query ($id: ID!, $direction: GraphDirection, $depth: Int, $types: [RelationType!]) {
  componentGraph(componentId: $id, direction: $direction, depth: $depth, relationTypes: $types) {
    root { name }
    direction depth
    nodes { distance component { name } }
    edges { id relationType from { name } to { name } }
  }
}
"""


async def graph(graphql: GraphQL, **variables: Any) -> Any:
    return (await graphql.run(GRAPH, variables))["componentGraph"]


def walked(result: Any) -> tuple[list[tuple[str, int]], set[tuple[str, str, str]]]:
    nodes = [(n["component"]["name"], n["distance"]) for n in result["nodes"]]
    edges = {(e["from"]["name"], e["to"]["name"], e["relationType"]) for e in result["edges"]}
    return nodes, edges


async def test_component_graph_dependencies_with_depth(graphql: GraphQL, c: Components) -> None:
    result = await graph(graphql, id=cid(c.api), depth=1, types=["DEPENDS_ON"])
    assert (result["root"], result["direction"], result["depth"]) == (
        {"name": "api"},
        "DEPENDENCIES",
        1,
    )
    assert walked(result) == ([("api", 0), ("core", 1)], {("api", "core", "DEPENDS_ON")})

    deep = await graph(graphql, id=cid(c.api), depth=3)
    nodes, edges = walked(deep)
    assert nodes == [("api", 0), ("core", 1), ("worker", 1), ("util", 2)]
    assert edges == {
        ("api", "core", "DEPENDS_ON"),
        ("api", "worker", "PRODUCES_EVENTS_FOR"),
        ("worker", "core", "DEPENDS_ON"),
        ("core", "util", "DEPENDS_ON"),
    }


async def test_component_graph_dependents(graphql: GraphQL, c: Components) -> None:
    one = await graph(graphql, id=cid(c.util), direction="DEPENDENTS", depth=1)
    assert one["direction"] == "DEPENDENTS"
    assert walked(one) == ([("util", 0), ("core", 1)], {("core", "util", "DEPENDS_ON")})

    all_up = await graph(graphql, id=str(c.util.id), direction="DEPENDENTS")
    nodes, edges = walked(all_up)
    assert nodes == [("util", 0), ("core", 1), ("api", 2), ("worker", 2)]
    assert ("api", "worker", "PRODUCES_EVENTS_FOR") in edges  # api reaches worker at depth 2


async def test_component_graph_unknown_and_invalid(graphql: GraphQL, c: Components) -> None:
    assert await graph(graphql, id=str(uuid.uuid4())) is None
    assert await graph(graphql, id="nonsense") is None
    assert await graph(graphql, id=to_global_id("Project", c.meta.id)) is None
    with pytest.raises(TransportQueryError, match="depth must be between"):
        await graph(graphql, id=cid(c.api), depth=0)


NODE = """
query ($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Component { name }
    ... on ComponentRelationship { relationType from { name } to { name } }
  }
}
"""


async def test_node_resolves_components_and_relationships(graphql: GraphQL, c: Components) -> None:
    node = (await graphql.run(NODE, {"id": cid(c.core)}))["node"]
    assert node == {"__typename": "Component", "id": cid(c.core), "name": "core"}
    rel_id = to_global_id("ComponentRelationship", c.rel_api_core)
    rel = (await graphql.run(NODE, {"id": rel_id}))["node"]
    assert rel == {
        "__typename": "ComponentRelationship",
        "id": rel_id,
        "relationType": "DEPENDS_ON",
        "from": {"name": "api"},
        "to": {"name": "core"},
    }
    for type_name in ("Component", "ComponentRelationship"):
        unknown = to_global_id(type_name, uuid.uuid4())
        assert (await graphql.run(NODE, {"id": unknown}))["node"] is None


async def test_project_components_navigate_to_their_dependencies(
    graphql: GraphQL, c: Components
) -> None:
    query = "query ($id: ID!) { project(id: $id) { components { name dependsOn { name } } } }"
    result = await graphql.run(query, {"id": str(c.meta.id)})
    assert result["project"]["components"] == [
        {"name": "api", "dependsOn": [{"name": "core"}]},
        {"name": "core", "dependsOn": [{"name": "util"}]},
        {"name": "util", "dependsOn": []},
        {"name": "worker", "dependsOn": [{"name": "core"}]},
    ]
