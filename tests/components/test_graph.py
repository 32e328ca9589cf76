"""The component graph: both directions, depth limit, relation type filter, cycles."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from imi.components.graph import ComponentGraph, GraphDirection, component_graph
from imi.components.models import Component, RelationshipCreate, RelationType
from imi.components.service import relate_components
from imi.errors import NotFound, ValidationFailed
from tests.components.helpers import make_component
from tests.factories import make_project


async def _relate(
    session: AsyncSession,
    a: Component,
    b: Component,
    relation_type: RelationType = RelationType.DEPENDS_ON,
) -> None:
    data = RelationshipCreate(
        from_component_id=a.id, to_component_id=b.id, relation_type=relation_type
    )
    await relate_components(session, data)


def _distances(graph: ComponentGraph) -> dict[str, int]:
    return {node.component.name: node.distance for node in graph.nodes}


def _edges(graph: ComponentGraph, names: dict[uuid.UUID, str]) -> set[tuple[str, str, str]]:
    return {
        (names[e.from_component_id], names[e.to_component_id], e.relation_type.value)
        for e in graph.edges
    }


@pytest.fixture
async def chain(session: AsyncSession) -> dict[str, Component]:
    """app -> api -> db -> disk, app -> db (shortcut), cli -> api; bus produces events for app."""
    project = await make_project(session)
    names = ("app", "api", "db", "disk", "cli", "bus")
    parts = {n: await make_component(session, project, n) for n in names}
    await _relate(session, parts["app"], parts["api"])
    await _relate(session, parts["api"], parts["db"])
    await _relate(session, parts["db"], parts["disk"])
    await _relate(session, parts["app"], parts["db"])
    await _relate(session, parts["cli"], parts["api"])
    await _relate(session, parts["bus"], parts["app"], RelationType.PRODUCES_EVENTS_FOR)
    return parts


async def test_dependencies(session: AsyncSession, chain: dict[str, Component]) -> None:
    graph = await component_graph(session, chain["app"].id, direction="dependencies")
    assert graph.root.id == chain["app"].id
    assert graph.direction is GraphDirection.DEPENDENCIES
    assert graph.nodes[0].component.id == chain["app"].id
    # db is reachable in 1 hop (shortcut) and in 2 (via api): listed once, at 1.
    assert _distances(graph) == {"app": 0, "api": 1, "db": 1, "disk": 2}
    assert [n.component.name for n in graph.nodes] == ["app", "api", "db", "disk"]
    names = {c.id: n for n, c in chain.items()}
    assert _edges(graph, names) == {
        ("app", "api", "depends_on"),
        ("app", "db", "depends_on"),
        ("api", "db", "depends_on"),
        ("db", "disk", "depends_on"),
    }


async def test_dependents(session: AsyncSession, chain: dict[str, Component]) -> None:
    graph = await component_graph(session, chain["db"].id, direction=GraphDirection.DEPENDENTS)
    assert _distances(graph) == {"db": 0, "api": 1, "app": 1, "cli": 2, "bus": 2}
    names = {c.id: n for n, c in chain.items()}
    # Edges keep their stored orientation whichever way the walk goes.
    assert _edges(graph, names) == {
        ("api", "db", "depends_on"),
        ("app", "db", "depends_on"),
        ("cli", "api", "depends_on"),
        ("app", "api", "depends_on"),
        ("bus", "app", "produces_events_for"),
    }


async def test_depth_limit(session: AsyncSession, chain: dict[str, Component]) -> None:
    one = await component_graph(session, chain["disk"].id, direction="dependents", depth=1)
    assert _distances(one) == {"disk": 0, "db": 1}
    names = {c.id: n for n, c in chain.items()}
    # Edges leaving the frontier (db <- api, db <- app) were not walked.
    assert _edges(one, names) == {("db", "disk", "depends_on")}
    two = await component_graph(session, chain["disk"].id, direction="dependents", depth=2)
    assert _distances(two) == {"disk": 0, "db": 1, "api": 2, "app": 2}
    full = await component_graph(session, chain["disk"].id, direction="dependents", depth=20)
    assert _distances(full) == {"disk": 0, "db": 1, "api": 2, "app": 2, "cli": 3, "bus": 3}


async def test_relation_type_filter(session: AsyncSession, chain: dict[str, Component]) -> None:
    deps_only = await component_graph(
        session, chain["app"].id, direction="dependents", relation_types=["depends_on"]
    )
    assert _distances(deps_only) == {"app": 0}
    assert deps_only.edges == []
    events = await component_graph(
        session,
        chain["app"].id,
        direction="dependents",
        relation_types=[RelationType.PRODUCES_EVENTS_FOR],
    )
    assert _distances(events) == {"app": 0, "bus": 1}
    everything = await component_graph(session, chain["app"].id, direction="dependents")
    assert _distances(everything) == {"app": 0, "bus": 1}


async def test_cycle_terminates_and_lists_each_once(session: AsyncSession) -> None:
    project = await make_project(session)
    a, b, c = [await make_component(session, project, n) for n in ("a", "b", "c")]
    await _relate(session, a, b)
    await _relate(session, b, c)
    await _relate(session, c, a)
    names = {x.id: x.name for x in (a, b, c)}
    for direction, expected in (
        ("dependencies", {"a": 0, "b": 1, "c": 2}),
        ("dependents", {"a": 0, "c": 1, "b": 2}),
    ):
        graph = await component_graph(session, a.id, direction=direction, depth=20)
        assert len(graph.nodes) == 3
        assert _distances(graph) == expected
        # The cycle-closing edge is part of the graph.
        assert _edges(graph, names) == {
            ("a", "b", "depends_on"),
            ("b", "c", "depends_on"),
            ("c", "a", "depends_on"),
        }


async def test_dense_cycles_stay_cheap(session: AsyncSession) -> None:
    """A complete graph of 12 nodes has astronomically many paths; the walk must not care."""
    project = await make_project(session)
    parts = [await make_component(session, project, f"n{i:02d}") for i in range(12)]
    for x in parts:
        for y in parts:
            if x is not y:
                await _relate(session, x, y)
    graph = await component_graph(session, parts[0].id, depth=20)
    assert len(graph.nodes) == 12
    assert sorted(n.distance for n in graph.nodes) == [0] + [1] * 11
    assert len(graph.edges) == 12 * 11


async def test_isolated_component(session: AsyncSession) -> None:
    project = await make_project(session)
    lonely = await make_component(session, project, "lonely")
    graph = await component_graph(session, lonely.id)
    assert [n.component.id for n in graph.nodes] == [lonely.id]
    assert graph.edges == []
    assert graph.depth == 5


async def test_statement_count_is_fixed(
    session: AsyncSession, engine: AsyncEngine, chain: dict[str, Component]
) -> None:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await component_graph(session, chain["disk"].id, direction="dependents", depth=20)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len(statements) == 2
    assert "WITH RECURSIVE" in statements[0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"depth": 0}, "depth"),
        ({"depth": 21}, "depth"),
        ({"depth": -3}, "depth"),
        ({"direction": "sideways"}, "direction"),
        ({"relation_types": []}, "relation_types"),
        ({"relation_types": ["likes"]}, "relation_types"),
    ],
)
async def test_graph_validation(
    session: AsyncSession, chain: dict[str, Component], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        await component_graph(session, chain["app"].id, **kwargs)
    assert err.value.field == field


async def test_graph_unknown_root(session: AsyncSession) -> None:
    with pytest.raises(NotFound) as err:
        await component_graph(session, uuid.uuid4())
    assert err.value.field == "component_id"
