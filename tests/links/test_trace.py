from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from imi.errors import NotFound, ValidationFailed
from imi.links.models import (
    Deployment,
    DeploymentInput,
    LinkKind,
    PRState,
    PullRequest,
    PullRequestInput,
    Ticket,
    TicketLinkInput,
)
from imi.links.service import (
    Trace,
    link_deployment,
    link_pull_request,
    link_ticket,
    trace,
    upsert_ticket,
)
from imi.projects.models import Project
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item
from tests.links.helpers import count_statements


@dataclass
class Graph:
    project: Project
    t1: Ticket
    t2: Ticket
    w1: WorkItem
    w2: WorkItem
    w3: WorkItem
    pr1: PullRequest
    pr2: PullRequest
    pr3: PullRequest
    d1: Deployment
    d2: Deployment
    d3: Deployment


async def _pr(session: AsyncSession, work: WorkItem, n: int, state: PRState) -> PullRequest:
    data = PullRequestInput(
        work_item_id=work.id,
        pr_number=n,
        pr_url=f"https://github.com/acme/app/pull/{n}",
        pr_state=state,
    )
    return (await link_pull_request(session, data)).pull_request


async def _deploy(session: AsyncSession, deploy_id: str, *work: WorkItem) -> Deployment:
    data = DeploymentInput(
        deploy_id=deploy_id, environment="production", work_item_ids=[w.id for w in work]
    )
    return (await link_deployment(session, data)).deployment


@pytest.fixture
async def graph(session: AsyncSession) -> Graph:
    """PROJ-1 -closes-> w1, -references-> w2; PROJ-2 -> w1; w1: PR 1 (merged), deploys d1, d2;
    w2: PR 2 (open), deploy d2. Unrelated: w3 with PR 3 and deploy d3."""
    project = await make_project(session)
    w1 = await make_work_item(session, project, branch_name="feat/PROJ-1-login")
    w2 = await make_work_item(session, project, branch_name="fix/PROJ-1-typo")
    w3 = await make_work_item(session, project, branch_name="chore/other")
    t1 = (
        await link_ticket(
            session,
            TicketLinkInput(work_item_id=w1.id, plane_ticket_id="PROJ-1", kind=LinkKind.CLOSES),
        )
    ).ticket
    await link_ticket(session, TicketLinkInput(work_item_id=w2.id, plane_ticket_id="PROJ-1"))
    t2 = (
        await link_ticket(session, TicketLinkInput(work_item_id=w1.id, plane_ticket_id="PROJ-2"))
    ).ticket
    pr1 = await _pr(session, w1, 1, PRState.MERGED)
    pr2 = await _pr(session, w2, 2, PRState.OPEN)
    pr3 = await _pr(session, w3, 3, PRState.OPEN)
    d1 = await _deploy(session, "d1", w1)
    d2 = await _deploy(session, "d2", w1, w2)
    d3 = await _deploy(session, "d3", w3)
    await session.commit()
    return Graph(project, t1, t2, w1, w2, w3, pr1, pr2, pr3, d1, d2, d3)


def ids(
    entities: list[Project] | list[Ticket] | list[WorkItem] | list[PullRequest] | list[Deployment],
) -> set[str]:
    return {str(e.id) for e in entities}


def edge_set(result: Trace) -> set[tuple[str, str, str, str | None]]:
    return {(e.type, e.source, e.target, e.kind) for e in result.edges}


def key(kind: str, entity: Project | Ticket | WorkItem | PullRequest | Deployment) -> str:
    return f"{kind}:{entity.id}"


async def test_forward_trace_from_a_ticket(session: AsyncSession, graph: Graph) -> None:
    g = graph
    result = await trace(session, "ticket", "PROJ-1")

    assert result.direction == "forward"
    assert (result.root.type, result.root.id) == ("ticket", g.t1.id)
    assert result.root.data["plane_ticket_id"] == "PROJ-1"
    assert ids(result.tickets) == ids([g.t1])  # PROJ-2 is not on PROJ-1's forward chain
    assert ids(result.projects) == ids([g.project])
    assert ids(result.work_items) == ids([g.w1, g.w2])
    assert ids(result.pull_requests) == ids([g.pr1, g.pr2])
    assert ids(result.deployments) == ids([g.d1, g.d2])
    assert edge_set(result) == {
        ("has_work", key("project", g.project), key("work_item", g.w1), None),
        ("has_work", key("project", g.project), key("work_item", g.w2), None),
        ("links", key("ticket", g.t1), key("work_item", g.w1), "closes"),
        ("links", key("ticket", g.t1), key("work_item", g.w2), "references"),
        ("has_pr", key("work_item", g.w1), key("pull_request", g.pr1), None),
        ("has_pr", key("work_item", g.w2), key("pull_request", g.pr2), None),
        ("deployed_in", key("work_item", g.w1), key("deployment", g.d1), None),
        ("deployed_in", key("work_item", g.w1), key("deployment", g.d2), None),
        ("deployed_in", key("work_item", g.w2), key("deployment", g.d2), None),
        ("deployed_in", key("pull_request", g.pr1), key("deployment", g.d1), None),
        ("deployed_in", key("pull_request", g.pr1), key("deployment", g.d2), None),
        ("deployed_in", key("pull_request", g.pr2), key("deployment", g.d2), None),
    }
    assert result.nodes[0].key == key("ticket", g.t1)
    assert {n.key for n in result.nodes} == {
        key("ticket", g.t1),
        key("project", g.project),
        key("work_item", g.w1),
        key("work_item", g.w2),
        key("pull_request", g.pr1),
        key("pull_request", g.pr2),
        key("deployment", g.d1),
        key("deployment", g.d2),
    }
    assert len(result.nodes) == 8  # no duplicates: one project node for both work items
    # Every edge joins two nodes of the trace.
    node_keys = {n.key for n in result.nodes}
    assert all(e.source in node_keys and e.target in node_keys for e in result.edges)


async def test_backward_trace_from_a_deploy(session: AsyncSession, graph: Graph) -> None:
    g = graph
    result = await trace(session, "deploy", "d1")

    assert result.direction == "backward"
    assert (result.root.type, result.root.id) == ("deployment", g.d1.id)
    assert ids(result.deployments) == ids([g.d1])  # d2 also shipped w1, but is not on the chain
    assert ids(result.work_items) == ids([g.w1])
    assert ids(result.pull_requests) == ids([g.pr1])
    assert ids(result.tickets) == ids([g.t1, g.t2])
    assert ids(result.projects) == ids([g.project])
    assert edge_set(result) == {
        ("has_work", key("project", g.project), key("work_item", g.w1), None),
        ("links", key("ticket", g.t1), key("work_item", g.w1), "closes"),
        ("links", key("ticket", g.t2), key("work_item", g.w1), "references"),
        ("has_pr", key("work_item", g.w1), key("pull_request", g.pr1), None),
        ("deployed_in", key("work_item", g.w1), key("deployment", g.d1), None),
        ("deployed_in", key("pull_request", g.pr1), key("deployment", g.d1), None),
    }

    wide = await trace(session, "deploy", "d2")
    assert ids(wide.tickets) == ids([g.t1, g.t2])
    assert ids(wide.work_items) == ids([g.w1, g.w2])
    assert ids(wide.deployments) == ids([g.d2])


async def test_trace_from_a_work_item_goes_both_ways(session: AsyncSession, graph: Graph) -> None:
    g = graph
    for entity_type in ("branch", "work", "work_item"):
        result = await trace(session, entity_type, str(g.w1.id))
        assert result.direction == "both"
        assert (result.root.type, result.root.id) == ("work_item", g.w1.id)
        assert ids(result.tickets) == ids([g.t1, g.t2])
        assert ids(result.work_items) == ids([g.w1])
        assert ids(result.pull_requests) == ids([g.pr1])
        assert ids(result.deployments) == ids([g.d1, g.d2])
        assert ids(result.projects) == ids([g.project])
        assert len(result.nodes) == 7


async def test_trace_by_project_and_branch(session: AsyncSession, graph: Graph) -> None:
    g = graph
    result = await trace(session, "branch", f"{g.project.id}:fix/PROJ-1-typo")
    assert result.root.id == g.w2.id
    assert ids(result.pull_requests) == ids([g.pr2])


async def test_branch_lookup_prefers_the_active_then_the_newest(session: AsyncSession) -> None:
    project = await make_project(session)
    old = await make_work_item(session, project, branch_name="feat/x", active=False)
    await session.execute(
        text("UPDATE work_items SET created_at = now() - interval '1 day' WHERE id = :id"),
        {"id": old.id},
    )
    newer = await make_work_item(session, project, branch_name="feat/x", active=False)
    assert (await trace(session, "branch", f"{project.id}:feat/x")).root.id == newer.id
    active = await make_work_item(session, project, branch_name="feat/x")
    await session.execute(
        text("UPDATE work_items SET created_at = now() - interval '2 day' WHERE id = :id"),
        {"id": active.id},
    )
    assert (await trace(session, "work", f"{project.id}:feat/x")).root.id == active.id


async def test_trace_from_a_pr_by_url_and_by_id(session: AsyncSession, graph: Graph) -> None:
    g = graph
    by_url = await trace(session, "pr", g.pr2.url)
    by_id = await trace(session, "pr", str(g.pr2.id))
    for result in (by_url, by_id):
        assert result.direction == "both"
        assert (result.root.type, result.root.id) == ("pull_request", g.pr2.id)
        assert ids(result.work_items) == ids([g.w2])
        assert ids(result.tickets) == ids([g.t1])
        assert ids(result.deployments) == ids([g.d2])
        assert ids(result.projects) == ids([g.project])
        assert ("has_work", key("project", g.project), key("work_item", g.w2), None) in (
            edge_set(result)
        )
        assert ("deployed_in", key("pull_request", g.pr2), key("deployment", g.d2), None) in (
            edge_set(result)
        )
    assert edge_set(by_url) == edge_set(by_id)


async def test_a_pr_trace_includes_sibling_prs_of_its_work_item(session: AsyncSession) -> None:
    work = await make_work_item(session, await make_project(session))
    first = await _pr(session, work, 10, PRState.CLOSED)
    second = await _pr(session, work, 11, PRState.OPEN)
    result = await trace(session, "pr", str(second.id))
    assert result.root.id == second.id
    assert ids(result.pull_requests) == ids([first, second])
    assert [n.key for n in result.nodes].count(key("pull_request", second)) == 1


async def test_a_lonely_ticket_traces_to_itself(session: AsyncSession) -> None:
    ticket = await upsert_ticket(session, plane_ticket_id="SOLO-1")
    result = await trace(session, "ticket", "SOLO-1")
    assert result.root.id == ticket.id
    assert [n.key for n in result.nodes] == [key("ticket", ticket)]
    assert ids(result.tickets) == ids([ticket])
    assert result.edges == []
    assert (result.work_items, result.pull_requests, result.deployments) == ([], [], [])
    assert result.projects == []


async def test_trace_serializes_to_json(session: AsyncSession, graph: Graph) -> None:
    body = (await trace(session, "ticket", "PROJ-1")).to_dict()
    decoded = json.loads(json.dumps(body))
    assert decoded["root"] == key("ticket", graph.t1)
    assert decoded["direction"] == "forward"
    assert {n["type"] for n in decoded["nodes"]} == {
        "project",
        "ticket",
        "work_item",
        "pull_request",
        "deployment",
    }
    assert {"type": "links", "source": key("ticket", graph.t1)}.items() <= next(
        e for e in decoded["edges"] if e["type"] == "links"
    ).items()


@pytest.mark.parametrize("entity_type", ["", "project", "tickets", "component", "PRX"])
async def test_unknown_entity_type_is_a_validation_error(
    session: AsyncSession, entity_type: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        await trace(session, entity_type, "x")
    assert info.value.field == "entity_type"


async def test_entity_type_is_case_insensitive(session: AsyncSession, graph: Graph) -> None:
    assert (await trace(session, "Ticket", "PROJ-1")).root.id == graph.t1.id


@pytest.mark.parametrize(
    ("entity_type", "entity_id"),
    [
        ("ticket", "PROJ-404"),
        ("ticket", ""),
        ("deploy", "d404"),
        ("branch", "not-a-uuid"),
        ("branch", str(uuid.uuid4())),
        ("branch", "not-a-uuid:feat/x"),
        ("branch", f"{uuid.uuid4()}:feat/x"),
        ("work", f"{uuid.uuid4()}:"),
        ("pr", "not-a-uuid"),
        ("pr", str(uuid.uuid4())),
        ("pr", "https://github.com/acme/app/pull/404"),
        ("pr", "12345678-1234-1234-1234-1234567890"),
    ],
)
async def test_unknown_or_malformed_ids_are_not_found(
    session: AsyncSession, graph: Graph, entity_type: str, entity_id: str
) -> None:
    with pytest.raises(NotFound):
        await trace(session, entity_type, entity_id)


async def _chain(
    session: AsyncSession, tag: str, work_count: int, deploy_count: int
) -> list[WorkItem]:
    """One ticket -> work_count work items, each with a PR; deploys spread over them."""
    project = await make_project(session)
    work = [await make_work_item(session, project) for _ in range(work_count)]
    for n, item in enumerate(work, start=1):
        await link_ticket(session, TicketLinkInput(work_item_id=item.id, plane_ticket_id=tag))
        await link_ticket(
            session, TicketLinkInput(work_item_id=item.id, plane_ticket_id=f"{tag}-side-{n}")
        )
        data = PullRequestInput(
            work_item_id=item.id, pr_number=n, pr_url=f"https://git.example/{tag}/pull/{n}"
        )
        await link_pull_request(session, data)
    for d in range(deploy_count):
        shipped = work[d::deploy_count] or work[:1]
        await _deploy(session, f"{tag}-deploy-{d}", *shipped)
    await session.commit()
    return work


async def test_trace_uses_a_fixed_number_of_statements(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    first_work = {
        "SMALL": (await _chain(session, "SMALL", work_count=1, deploy_count=1))[0],
        "BIG": (await _chain(session, "BIG", work_count=30, deploy_count=10))[0],
    }
    await session.execute(text("SELECT 1"))  # connection checked out before counting

    counts: dict[str, list[int]] = {}
    sizes: dict[str, list[int]] = {}
    for tag in ("SMALL", "BIG"):
        small_or_big = [
            ("ticket", tag),
            ("deploy", f"{tag}-deploy-0"),
            ("pr", f"https://git.example/{tag}/pull/1"),
            ("branch", str(first_work[tag].id)),
        ]
        for entity_type, entity_id in small_or_big:
            with count_statements(engine) as statements:
                result = await trace(session, entity_type, entity_id)
            counts.setdefault(entity_type, []).append(len(statements))
            sizes.setdefault(entity_type, []).append(len(result.nodes))

    # The root (with its direct links) plus one query per kind of neighbour.
    assert counts == {"ticket": [4, 4], "deploy": [4, 4], "pr": [4, 4], "branch": [4, 4]}
    # The big forward trace really is big: 1 ticket + 1 project + 30 work items + 30 PRs
    # + 10 deploys.
    assert sizes["ticket"] == [5, 72]
    big_forward = await trace(session, "ticket", "BIG")
    # has_work, links, has_pr, 2x deployed_in
    assert len(big_forward.edges) == 30 + 30 + 30 + 30 + 30
