"""Change impact: the walk's directions, cycles, diamonds, depth bound, the three kinds of
start, in-flight work, bad input over REST and GraphQL, and project-restricted keys."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.components.models import Component, ComponentRelationship, RelationType
from imi.errors import NotFound, ValidationFailed
from imi.graphql.ids import to_global_id
from imi.insights.impact import ImpactStart, change_impact
from imi.links.models import Deployment, DeploymentWorkItem
from imi.settings import Settings
from tests.api.conftest import API, client, error, ok  # noqa: F401  (fixture)
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import GraphQL, graphql  # noqa: F401  (fixture)

Sessions = async_sessionmaker[AsyncSession]
DEP = RelationType.DEPENDS_ON
PRODUCES = RelationType.PRODUCES_EVENTS_FOR
CONSUMES = RelationType.CONSUMES_EVENTS_FROM


async def build(sessions: Sessions) -> dict[str, Any]:
    """A meta-repo `meta` with components a..h, each linked to its own project (p_a..p_h),
    except `h` (local: it lives in `meta`), and `z` unrelated.

        b depends_on a          (a -> b)
        c depends_on a          (a -> c)
        d depends_on b, d depends_on c   (diamond: d at distance 2, one path)
        a produces_events_for e (a -> e)
        f consumes_events_from e (e -> f)
        a depends_on f          (f -> a: a cycle a -> e -> f -> a)
        g depends_on d          (d -> g: distance 3)
        h depends_on g          (g -> h: distance 4)
        a depends_on z          (z -> a only: nothing of a's reaches z)
    """
    ids: dict[str, Any] = {}
    async with sessions() as s, s.begin():
        meta = await make_project(s, name="meta")
        ids["meta"] = meta.id
        for name in "abcdefgz":
            project = await make_project(s, name=f"p_{name}")
            ids[f"p_{name}"] = project.id
        for name in "abcdefghz":
            component = Component(
                parent_project_id=meta.id,
                name=name,
                linked_project_id=ids.get(f"p_{name}"),
            )
            s.add(component)
            await s.flush()
            ids[name] = component.id
        for source, target, kind in (
            ("b", "a", DEP),
            ("c", "a", DEP),
            ("d", "b", DEP),
            ("d", "c", DEP),
            ("a", "e", PRODUCES),
            ("f", "e", CONSUMES),
            ("a", "f", DEP),
            ("g", "d", DEP),
            ("h", "g", DEP),
            ("a", "z", DEP),
        ):
            s.add(
                ComponentRelationship(
                    from_component_id=ids[source], to_component_id=ids[target], relation_type=kind
                )
            )
        await s.flush()
        work_b = await make_work_item(s, await s.get_one(type(meta), ids["p_b"]))
        work_d = await make_work_item(s, await s.get_one(type(meta), ids["p_d"]))
        await make_work_item(s, await s.get_one(type(meta), ids["p_d"]), active=False)
        work_z = await make_work_item(s, await s.get_one(type(meta), ids["p_z"]))
        ids.update(work_b=work_b.id, work_d=work_d.id, work_z=work_z.id)
        deployment = Deployment(deploy_id="deploy-1", environment="production")
        s.add(deployment)
        await s.flush()
        s.add(DeploymentWorkItem(deployment_id=deployment.id, work_item_id=work_z.id))
    return ids


def by_name(result: Any) -> dict[str, Any]:
    return {c.component.name: c for c in result.components}


async def test_directions_cycle_diamond_and_depth(sessions: Sessions) -> None:
    ids = await build(sessions)
    async with sessions() as s:
        result = await change_impact(s, ImpactStart(component_id=ids["a"]))
    found = by_name(result)
    distances = {name: c.distance for name, c in found.items()}
    assert distances == {"a": 0, "b": 1, "c": 1, "e": 1, "f": 2, "d": 2, "g": 3, "h": 4}
    assert "z" not in found  # a depends on z: a change to a does not reach z
    # Diamond: d once, one shortest path (through the smaller id of b and c).
    middle = min(ids["b"], ids["c"])
    assert found["d"].path == [ids["a"], middle, ids["d"]] and found["d"].via == [DEP, DEP]
    # Events: producer -> consumer, and the consumer of a consumer's source.
    assert found["e"].via == [PRODUCES] and found["f"].via == [PRODUCES, CONSUMES]
    assert found["f"].path == [ids["a"], ids["e"], ids["f"]]
    assert found["a"].path == [ids["a"]] and found["a"].via == []  # the cycle ends at a
    assert [c.distance for c in result.components] == sorted(distances.values())

    async with sessions() as s:
        shallow = await change_impact(s, ImpactStart(component_id=ids["a"]), max_depth=2)
        from_z = await change_impact(s, ImpactStart(component_id=ids["z"]), max_depth=10)
        from_e = await change_impact(s, ImpactStart(component_id=ids["e"]), max_depth=10)
    assert set(by_name(shallow)) == {"a", "b", "c", "e", "f", "d"}
    # z: a depends on z, so a (and all a reaches, through the cycle back to a) is affected.
    assert by_name(from_z)["a"].distance == 1 and "z" in by_name(from_z)
    # e: f consumes e's events; then a depends on f, and on around the cycle (e at 0 only).
    assert by_name(from_e)["f"].distance == 1 and by_name(from_e)["a"].distance == 2
    assert by_name(from_e)["e"].distance == 0


async def test_projects_and_in_flight_work(sessions: Sessions) -> None:
    ids = await build(sessions)
    async with sessions() as s:
        result = await change_impact(s, ImpactStart(component_id=ids["a"]), max_depth=2)
    projects = {p.project.name: p.distance for p in result.projects}
    # Each component's project is its linked one; meta is nobody's (every one here is linked).
    assert projects == {"p_a": 0, "p_b": 1, "p_c": 1, "p_e": 1, "p_f": 2, "p_d": 2}
    work = {row.id for row in result.in_flight_work}
    assert work == {ids["work_b"], ids["work_d"]} and result.in_flight_total == 2
    async with sessions() as s:
        deep = await change_impact(s, ImpactStart(component_id=ids["a"]))
    # h has no linked project: it lives in meta, at h's distance.
    assert {p.project.name: p.distance for p in deep.projects}["meta"] == 4


async def test_project_and_deploy_starts(sessions: Sessions) -> None:
    ids = await build(sessions)
    async with sessions() as s:
        by_project = await change_impact(s, ImpactStart(project_id=ids["p_b"]))
        by_deploy = await change_impact(s, ImpactStart(deploy_id="deploy-1"), max_depth=1)
        lonely = await change_impact(s, ImpactStart(project_id=ids["meta"]), max_depth=1)
    assert {c.component.name: c.distance for c in by_project.components} == {
        "b": 0,
        "d": 1,
        "g": 2,
        "h": 3,
    }
    start = by_project.projects[0]
    assert start.project.id == ids["p_b"] and (start.distance, start.path) == (0, [ids["b"]])
    # The deploy shipped work on p_z: z's component, then a (z is a's dependency).
    assert {c.component.name: c.distance for c in by_deploy.components} == {"z": 0, "a": 1}
    assert {row.id for row in by_deploy.in_flight_work} == {ids["work_z"]}
    # meta contains every component: each is a start.
    assert all(c.distance == 0 for c in lonely.components) and len(lonely.components) == 9


async def test_bad_starts(sessions: Sessions) -> None:
    ids = await build(sessions)
    async with sessions() as s:
        for start in (
            ImpactStart(),
            ImpactStart(component_id=ids["a"], project_id=ids["p_a"]),
            ImpactStart(deploy_id="x" * 256),
        ):
            with pytest.raises(ValidationFailed):
                await change_impact(s, start)
        for depth in (0, 11, -1):
            with pytest.raises(ValidationFailed, match="max_depth must be between 1 and 10"):
                await change_impact(s, ImpactStart(component_id=ids["a"]), max_depth=depth)
        for start in (
            ImpactStart(component_id=uuid.uuid4()),
            ImpactStart(project_id=uuid.uuid4()),
            ImpactStart(deploy_id="no-such-deploy"),
        ):
            with pytest.raises(NotFound):
                await change_impact(s, start)


async def test_rest_impact(sessions: Sessions, client: httpx.AsyncClient) -> None:  # noqa: F811
    ids = await build(sessions)
    url = f"{API}/insights/impact"
    data: Any = ok(await client.get(url, params={"component_id": str(ids["a"]), "max_depth": 2}))
    assert data["max_depth"] == 2
    names = {c["component"]["name"]: c for c in data["components"]}
    assert names["f"]["via"] == ["produces_events_for", "consumes_events_from"]
    assert names["f"]["path"] == [str(ids["a"]), str(ids["e"]), str(ids["f"])]
    assert {w["id"] for w in data["in_flight_work"]} == {str(ids["work_b"]), str(ids["work_d"])}
    assert ok(await client.get(url, params={"deploy_id": "deploy-1"}))
    assert ok(await client.get(url, params={"project_id": str(ids["p_b"])}))
    for params in (
        {},
        {"component_id": str(ids["a"]), "deploy_id": "deploy-1"},
        {"component_id": str(ids["a"]), "max_depth": 0},
        {"component_id": str(ids["a"]), "max_depth": 11},
        {"deploy_id": "d" * 300},
    ):
        error(await client.get(url, params=params), 400, "VALIDATION_ERROR")
    for params in (
        {"component_id": str(uuid.uuid4())},
        {"component_id": "not-a-uuid"},
        {"project_id": str(uuid.uuid4())},
        {"deploy_id": "nope"},
    ):
        error(await client.get(url, params=params), 404, "NOT_FOUND")
    assert (
        await client.get(url, params={"component_id": "x", "max_depth": "y"})
    ).status_code == 422


IMPACT_QUERY = """
query($component: ID, $project: ID, $deploy: String, $depth: Int) {
  changeImpact(componentId: $component, projectId: $project, deployId: $deploy,
               maxDepth: $depth) {
    maxDepth
    components { distance path via component { name parentProject { name } } }
    projects { distance path project { name } }
    inFlightWork { id branchName project { name } }
    inFlightWorkTotal
  }
}
"""


async def test_graphql_impact(sessions: Sessions, graphql: GraphQL) -> None:  # noqa: F811
    ids = await build(sessions)
    data, count = await graphql.counted(
        IMPACT_QUERY, {"component": to_global_id("Component", ids["a"])}
    )
    answer = data["changeImpact"]
    names = {c["component"]["name"]: c for c in answer["components"]}
    assert names["h"]["distance"] == 4 and names["h"]["via"] == ["DEPENDS_ON"] * 4
    assert names["d"]["path"][0] == to_global_id("Component", ids["a"])
    assert {w["project"]["name"] for w in answer["inFlightWork"]} == {"p_b", "p_d"}
    # start, walk, projects, work; then one batch for the components' parent projects and
    # the work items' projects together: a fixed number whatever the graph's size.
    assert count == 5
    small, small_count = await graphql.counted(IMPACT_QUERY, {"deploy": "deploy-1", "depth": 1})
    assert small_count == count and small["changeImpact"]["maxDepth"] == 1
    for variables, code in (
        ({}, "VALIDATION_ERROR"),
        ({"component": str(ids["a"]), "project": str(ids["p_a"])}, "VALIDATION_ERROR"),
        ({"component": str(ids["a"]), "depth": 11}, "VALIDATION_ERROR"),
        ({"component": str(ids["a"]), "depth": 0}, "VALIDATION_ERROR"),
        ({"component": str(uuid.uuid4())}, "NOT_FOUND"),
        ({"component": "garbage"}, "NOT_FOUND"),
        ({"project": to_global_id("Component", ids["a"])}, "NOT_FOUND"),
        ({"deploy": "nope"}, "NOT_FOUND"),
    ):
        with pytest.raises(TransportQueryError) as raised:
            await graphql.run(IMPACT_QUERY, variables)
        assert raised.value.errors is not None
        assert raised.value.errors[0]["extensions"]["code"] == code, variables


async def test_restricted_key_sees_only_its_projects(
    sessions: Sessions, database_url: str, engine: Any
) -> None:
    from imi.app import create_app
    from imi.auth.keys import create_key
    from imi.auth.models import Scope

    ids = await build(sessions)
    async with sessions() as s, s.begin():
        # Every component belongs to meta: a key for meta and p_b sees them all, but of the
        # linked projects only p_b (and meta).
        key = await create_key(s, name="t", scope=Scope.READ, project_ids=[ids["meta"], ids["p_b"]])
        other = await create_key(s, name="o", scope=Scope.READ, project_ids=[ids["p_z"]])
    app = create_app(Settings(_env_file=None, rabbitmq_url=None, auth="required"), database_url)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as http,
    ):
        url = f"{API}/insights/impact"
        headers = {"authorization": f"Bearer {key.secret}"}
        data: Any = ok(await http.get(url, params={"component_id": str(ids["a"])}, headers=headers))
        assert {p["project"]["name"] for p in data["projects"]} == {"p_b", "meta"}
        assert {w["id"] for w in data["in_flight_work"]} == {str(ids["work_b"])}
        assert len(data["components"]) == 8
        # A key for p_z sees no component at all: a's is unknown to it.
        hidden = {"authorization": f"Bearer {other.secret}"}
        response = await http.get(url, params={"component_id": str(ids["a"])}, headers=hidden)
        error(response, 404, "NOT_FOUND")
        deploy = ok(await http.get(url, params={"deploy_id": "deploy-1"}, headers=hidden))
        assert deploy["components"] == [] and [
            p["project"]["name"] for p in deploy["projects"]
        ] == [  # type: ignore[index]
            "p_z"
        ]
