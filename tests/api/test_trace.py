"""`GET /trace/{entity_type}/{entity_id}` through HTTP, on a graph built through the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.api.schemas_links import TraceOut
from imi.links import service
from tests.api.conftest import API, error, ok


def _dict(value: object) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"{API}{path}", json=body)
    assert response.status_code in (200, 201), response.text
    return _dict(ok(response, response.status_code))


@dataclass
class Graph:
    project: str
    w1: str  # feat/PROJ-1-login: closes PROJ-1, PR 1 (merged), deploys d1 and d2
    w2: str  # fix/ui/PROJ-1-typo: references PROJ-1, PR 2 (open), deploy d2
    ticket: str
    pr1: str
    pr2: str
    d1: str
    d2: str


@pytest.fixture
async def graph(client: httpx.AsyncClient) -> Graph:
    project = await _post(client, "/projects", {"remote_origin": "git@github.com:acme/app.git"})
    pid = project["id"]
    w1 = await _post(client, "/work", {"project_id": pid, "branch_name": "feat/PROJ-1-login"})
    w2 = await _post(client, "/work", {"project_id": pid, "branch_name": "fix/ui/PROJ-1-typo"})
    # Starting work on a branch naming PROJ-1 linked it already; this makes it `closes`.
    link = await _post(
        client,
        "/links/ticket",
        {"work_item_id": w1["id"], "plane_ticket_id": "PROJ-1", "kind": "closes"},
    )
    assert link["created"] is False
    pr1 = await _post(
        client,
        "/links/pr",
        {
            "work_item_id": w1["id"],
            "pr_number": 1,
            "pr_url": "https://github.com/acme/app/pull/1",
            "pr_state": "merged",
        },
    )
    pr2 = await _post(
        client,
        "/links/pr",
        {
            "work_item_id": w2["id"],
            "pr_number": 2,
            "pr_url": "https://github.com/acme/app/pull/2",
        },
    )
    d1 = await _post(
        client,
        "/links/deploy",
        {"deploy_id": "d1", "environment": "staging", "work_item_id": w1["id"]},
    )
    d2 = await _post(
        client,
        "/links/deploy",
        {"deploy_id": "d2", "environment": "production", "work_item_ids": [w1["id"], w2["id"]]},
    )
    return Graph(
        pid, w1["id"], w2["id"], link["ticket_id"], pr1["id"], pr2["id"], d1["id"], d2["id"]
    )


def _nodes(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in data["nodes"]}


def _edges(data: dict[str, Any]) -> set[tuple[str, str, str, str | None]]:
    return {(e["kind"], e["from"], e["to"], e["link_kind"]) for e in data["edges"]}


def _check_shape(data: dict[str, Any]) -> None:
    assert set(data) == {"root", "direction", "nodes", "edges"}
    assert data["root"] == data["nodes"][0]
    ids = [n["id"] for n in data["nodes"]]
    assert len(ids) == len(set(ids))  # each node once
    for node in data["nodes"]:
        assert node["type"] in {"project", "ticket", "work_item", "pull_request", "deployment"}
        assert "data" not in node  # fields are flattened beside type and id
    for edge in data["edges"]:
        assert set(edge) == {"from", "to", "kind", "link_kind"}
        assert edge["from"] in ids and edge["to"] in ids


async def _trace(client: httpx.AsyncClient, entity_type: str, entity_id: str) -> dict[str, Any]:
    data = _dict(ok(await client.get(f"{API}/trace/{entity_type}/{entity_id}")))
    _check_shape(data)
    return data


async def test_forward_from_a_ticket(client: httpx.AsyncClient, graph: Graph) -> None:
    g = graph
    data = await _trace(client, "ticket", "PROJ-1")
    assert data["direction"] == "forward"
    root = data["root"]
    assert (root["type"], root["id"], root["plane_ticket_id"]) == ("ticket", g.ticket, "PROJ-1")

    nodes = _nodes(data)
    assert {(n["type"], i) for i, n in nodes.items()} == {
        ("ticket", g.ticket),
        ("project", g.project),
        ("work_item", g.w1),
        ("work_item", g.w2),
        ("pull_request", g.pr1),
        ("pull_request", g.pr2),
        ("deployment", g.d1),
        ("deployment", g.d2),
    }
    assert nodes[g.project]["remote_origin"] == "git@github.com:acme/app.git"
    assert nodes[g.w2]["branch_name"] == "fix/ui/PROJ-1-typo"
    assert (nodes[g.pr1]["number"], nodes[g.pr1]["state"]) == (1, "merged")
    assert nodes[g.d2]["deploy_id"] == "d2"
    assert _edges(data) == {
        ("has_work", g.project, g.w1, None),
        ("has_work", g.project, g.w2, None),
        ("links", g.ticket, g.w1, "closes"),
        ("links", g.ticket, g.w2, "references"),
        ("has_pr", g.w1, g.pr1, None),
        ("has_pr", g.w2, g.pr2, None),
        ("deployed_in", g.w1, g.d1, None),
        ("deployed_in", g.w1, g.d2, None),
        ("deployed_in", g.w2, g.d2, None),
        ("deployed_in", g.pr1, g.d1, None),
        ("deployed_in", g.pr1, g.d2, None),
        ("deployed_in", g.pr2, g.d2, None),
    }


async def test_backward_from_a_deploy(client: httpx.AsyncClient, graph: Graph) -> None:
    g = graph
    data = await _trace(client, "deploy", "d1")
    assert data["direction"] == "backward"
    assert (data["root"]["type"], data["root"]["id"]) == ("deployment", g.d1)
    # d2 also shipped w1 but is not on d1's backward chain; w2 is not either.
    assert set(_nodes(data)) == {g.d1, g.w1, g.pr1, g.ticket, g.project}
    assert _edges(data) == {
        ("has_work", g.project, g.w1, None),
        ("links", g.ticket, g.w1, "closes"),
        ("has_pr", g.w1, g.pr1, None),
        ("deployed_in", g.w1, g.d1, None),
        ("deployed_in", g.pr1, g.d1, None),
    }
    wide = await _trace(client, "deploy", "d2")
    assert set(_nodes(wide)) == {g.d2, g.w1, g.w2, g.pr1, g.pr2, g.ticket, g.project}


async def test_by_project_and_branch_with_slashes(client: httpx.AsyncClient, graph: Graph) -> None:
    g = graph
    for entity_type in ("branch", "work"):
        data = await _trace(client, entity_type, f"{g.project}:fix/ui/PROJ-1-typo")
        assert data["direction"] == "both"
        assert (data["root"]["type"], data["root"]["id"]) == ("work_item", g.w2)
        assert set(_nodes(data)) == {g.w2, g.project, g.ticket, g.pr2, g.d2}
    # The same, percent-encoded as a client library might send it.
    encoded = quote(f"{g.project}:fix/ui/PROJ-1-typo", safe="")
    data = await _trace(client, "branch", encoded)
    assert data["root"]["id"] == g.w2


async def test_by_work_item_id(client: httpx.AsyncClient, graph: Graph) -> None:
    data = await _trace(client, "branch", graph.w1)
    assert data["root"]["id"] == graph.w1
    assert {n["type"] for n in data["nodes"]} == {
        "project",
        "ticket",
        "work_item",
        "pull_request",
        "deployment",
    }


async def test_by_pr_id_and_url(client: httpx.AsyncClient, graph: Graph) -> None:
    g = graph
    url = "https://github.com/acme/app/pull/2"
    by_id = await _trace(client, "pr", g.pr2)
    by_url = await _trace(client, "pr", url)
    by_encoded_url = await _trace(client, "pr", quote(url, safe=""))
    for data in (by_id, by_url, by_encoded_url):
        assert (data["root"]["type"], data["root"]["id"]) == ("pull_request", g.pr2)
        assert set(_nodes(data)) == {g.pr2, g.w2, g.project, g.ticket, g.d2}
    assert _edges(by_id) == _edges(by_url) == _edges(by_encoded_url)


async def test_entity_type_is_case_insensitive(client: httpx.AsyncClient, graph: Graph) -> None:
    assert (await _trace(client, "TICKET", "PROJ-1"))["root"]["id"] == graph.ticket


async def test_a_deploy_across_projects_has_both_projects(client: httpx.AsyncClient) -> None:
    items = []
    projects = []
    for slug in ("api", "web"):
        project = await _post(client, "/projects", {"remote_origin": f"git@github.com:a/{slug}"})
        work = await _post(client, "/work", {"project_id": project["id"], "branch_name": "main2"})
        projects.append(project["id"])
        items.append(work["id"])
    await _post(
        client,
        "/links/deploy",
        {"deploy_id": "rel-1", "environment": "prod", "work_item_ids": items},
    )
    data = await _trace(client, "deploy", "rel-1")
    assert {i for i, n in _nodes(data).items() if n["type"] == "project"} == set(projects)
    assert {(e["from"], e["to"]) for e in data["edges"] if e["kind"] == "has_work"} == set(
        zip(projects, items, strict=True)
    )


@pytest.mark.parametrize("entity_type", ["component", "tickets", "project", "%20"])
async def test_unknown_entity_type_is_400(
    client: httpx.AsyncClient, graph: Graph, entity_type: str
) -> None:
    err = error(await client.get(f"{API}/trace/{entity_type}/PROJ-1"), 400, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == "entity_type"


@pytest.mark.parametrize(
    ("entity_type", "entity_id"),
    [
        ("ticket", "PROJ-404"),
        ("deploy", "d404"),
        ("branch", "not-a-uuid"),
        ("branch", str(uuid.uuid4())),
        ("branch", f"{uuid.uuid4()}:feat/PROJ-1-login"),
        ("branch", "PROJECT:feat/nope"),
        ("branch", "not-a-uuid:feat/x"),
        ("work", "PROJECT:"),
        ("pr", str(uuid.uuid4())),
        ("pr", "https://github.com/acme/app/pull/404"),
        ("pr", "12345678-1234"),
    ],
)
async def test_unknown_or_malformed_id_is_404(
    client: httpx.AsyncClient, graph: Graph, entity_type: str, entity_id: str
) -> None:
    entity_id = entity_id.replace("PROJECT", graph.project)
    error(await client.get(f"{API}/trace/{entity_type}/{entity_id}"), 404, "NOT_FOUND")


async def test_missing_id_is_404(client: httpx.AsyncClient) -> None:
    error(await client.get(f"{API}/trace/ticket/"), 404, "NOT_FOUND")
    # Without the trailing slash the router redirects to the path above.
    response = await client.get(f"{API}/trace/ticket", follow_redirects=True)
    error(response, 404, "NOT_FOUND")


async def test_openapi_documents_the_edge_format(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/api/v1/trace/{entity_type}/{entity_id}"]["get"]
    assert "node **ids**" in operation["description"]
    assert {"400", "404"} <= set(operation["responses"])
    edge = schema["components"]["schemas"]["TraceEdgeOut"]
    assert "from" in edge["properties"]


async def test_the_plain_row_answer_is_the_documented_model(
    client: httpx.AsyncClient,
    graph: Graph,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The hot path shapes rows itself (issue 14); its JSON is exactly TraceOut's."""
    roots = [
        ("ticket", "PROJ-1"),
        ("deploy", "d2"),
        ("pr", graph.pr1),
        ("branch", graph.w1),
    ]
    for entity_type, entity_id in roots:
        body = ok(await client.get(f"{API}/trace/{entity_type}/{quote(entity_id, safe='')}"))
        async with sessions() as session:
            trace = await service.trace(session, entity_type, entity_id)
        model = TraceOut.of(trace).model_dump(mode="json", by_alias=True)
        assert body == model, entity_type
        assert len(model["nodes"]) > 1 and model["edges"], entity_type
