"""The planned (level-wise) executor answers byte for byte as Strawberry's executor does.

Two apps on one database: one with the planned executor (the default), one without. Every
document below goes to both; the HTTP answers (status and body bytes: data, errors, paths,
null propagation, key order, value formats) must be identical, and the planned path must
have answered the documents it supports (not silently fallen back).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.app import create_app
from imi.auth.keys import create_key
from imi.auth.models import Scope
from imi.components.models import ComponentCreate
from imi.components.service import register_component
from imi.graphql import router
from imi.graphql.ids import to_global_id
from imi.graphql.pagination import cursor_at
from imi.graphql.planned.executor import PlannedExecutor
from imi.graphql.schema import build_schema
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import settings
from tests.graphql.seed_links import LinkGraph, gid, seed_link_graph

WORK = "branchName status workType ownerId aheadOfTrunk completedAt completionType lastSyncAt"
DASHBOARD = f"""
query Dashboard {{
  projects(first: 50, filter: {{active: true}}) {{
    totalCount
    nodes {{
      name
      counts {{ active uncommitted unmerged }}
      workItems(first: 20, filter: {{active: true}}) {{
        totalCount
        nodes {{
          {WORK}
          tickets {{ kind linkedAt ticket {{ planeTicketId title }} }}
          pullRequests {{ number state url }}
          deployments {{ deployId environment deployedAt }}
        }}
      }}
    }}
  }}
}}
"""
EVERYTHING = """
query Everything($first: Int, $after: String, $withPrs: Boolean!, $skipTickets: Boolean!,
                 $status: WorkStatus) {
  __typename
  all: projects { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
  projects(first: $first, after: $after) {
    edges {
      cursor
      node {
        ...ProjectFields
        __typename
        components { id name kind enabled metadata }
        workItems(first: 2, filter: {status: $status}) {
          pageInfo { hasNextPage endCursor }
          edges { cursor node { ...Work } }
        }
      }
    }
  }
}
fragment ProjectFields on Project {
  id uuid name remoteOrigin remoteOriginNormalized defaultBranch trunkPath description
  metadata active createdAt updatedAt
  alsoName: name
}
fragment Work on WorkItem {
  __typename id uuid projectId name sourceType sourceRef worktreePath hasUncommittedChanges
  uncommittedFilesCount behindTrunk lastCommitHash lastCommitMessage lastActivityAt
  mergeCommitHash mergedBy active metadata createdAt updatedAt status
  project { name counts { inFlight } }
  tickets @skip(if: $skipTickets) { kind ticket { id url state metadata __typename } }
  ... on WorkItem @include(if: $withPrs) {
    pullRequests {
      id number url title state openedAt mergedAt closedAt metadata
      workItem { branchName }
      project { name }
      tickets { planeTicketId }
      deployments { deployId }
    }
  }
  deployments { id deployId environment commitHash status deployedAt metadata }
}
"""
LINKS = """
query Links($ticket: String!, $deploy: String!, $pr: ID!, $work: ID!) {
  ticket(planeTicketId: $ticket) {
    planeTicketId workItems { branchName } pullRequests { number } deployments { deployId }
  }
  deployment(deployId: $deploy) {
    deployId workItems { branchName } pullRequests { number } tickets { planeTicketId }
  }
  pullRequest(id: $pr) { number state }
  workItem(id: $work) { branchName project { id } }
  missing: ticket(planeTicketId: "NOPE-1") { id }
  project(id: "bm90LWFuLWlk") { id }
}
"""
TRACE = """
query Trace($type: TraceEntityType!, $id: String!) {
  trace(entityType: $type, entityId: $id) {
    direction
    root { id type }
    nodes {
      id type
      entity {
        __typename
        ... on Project { name }
        ... on Ticket { planeTicketId title }
        ... on WorkItem { branchName status }
        ... on PullRequest { number state }
        ... on Deployment { deployId environment }
      }
    }
    edges { from to kind linkKind }
    workItems { branchName status }
    pullRequests { number state }
    deployments { deployId environment }
  }
}
"""


@dataclass
class Seeded:
    links: LinkGraph
    cursor: str


async def seed(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    links = await seed_link_graph(sessions)
    async with sessions() as session, session.begin():
        other = await make_project(
            session,
            name="zeta",
            description="with metadata",
            trunk_path="/srv/zeta",
            meta={"team": "core", "tags": ["a", "b"], "nested": {"n": 1.5, "t": True}},
        )
        await make_work_item(
            session,
            other,
            branch_name="feat/dirty",
            has_uncommitted_changes=True,
            uncommitted_files_count=3,
            ahead_of_trunk=2,
            last_sync_at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
            meta={"x": None},
        )
        await make_work_item(
            session,
            other,
            branch_name="feat/done",
            active=False,
            completed_at=datetime(2026, 2, 3, tzinfo=UTC),
            completion_type="merged",
            merge_commit_hash="abc123",
        )
        await register_component(
            session, ComponentCreate(project_id=other.id, name="api", path="services/api")
        )
    return Seeded(links, cursor_at(0))


@dataclass
class Both:
    planned: httpx.AsyncClient
    normal: httpx.AsyncClient
    runs: list[str]

    async def same(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = {"query": query, "variables": variables or {}}
        self.runs.clear()
        planned = await self.planned.post("/graphql", json=body, headers=headers)
        path = list(self.runs)
        normal = await self.normal.post("/graphql", json=body, headers=headers)
        assert (planned.status_code, planned.content) == (normal.status_code, normal.content)
        self.runs[:] = path
        return planned


@pytest.fixture
async def both(
    database_url: str, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Both]:
    runs: list[str] = []
    original_run = PlannedExecutor.run_planned
    original_settle = PlannedExecutor.settle

    async def run_planned(self: PlannedExecutor, plan: Any, serially: Any) -> Any:
        runs.append("planned")
        return await original_run(self, plan, serially)

    async def settle(self: PlannedExecutor) -> None:
        runs.append("fell back")
        await original_settle(self)

    monkeypatch.setattr(PlannedExecutor, "run_planned", run_planned)
    monkeypatch.setattr(PlannedExecutor, "settle", settle)
    planned_app = create_app(settings(), database_url)
    monkeypatch.setattr(router, "build_schema", partial(build_schema, planned=False))
    normal_app = create_app(settings(), database_url)
    async with (
        planned_app.router.lifespan_context(planned_app),
        normal_app.router.lifespan_context(normal_app),
    ):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://imi.test")
            for app in (planned_app, normal_app)
        ]
        async with clients[0], clients[1]:
            yield Both(clients[0], clients[1], runs)


@pytest.fixture
async def data(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    return await seed(sessions)


async def test_dashboard(both: Both, data: Seeded) -> None:
    answer = await both.same(DASHBOARD)
    assert both.runs == ["planned"]
    assert answer.json()["data"]["projects"]["totalCount"] == 2


async def test_a_restricted_key_reads_its_projects_only(
    both: Both, data: Seeded, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Row-level security applies on the request's read session, which the planned path uses.
    async with sessions() as session, session.begin():
        key = await create_key(
            session, name="one", scope=Scope.READ, project_ids=[data.links.project.id]
        )
    headers = {"authorization": f"Bearer {key.secret}"}
    answer = await both.same(DASHBOARD, headers=headers)
    assert both.runs == ["planned"]
    assert [p["name"] for p in answer.json()["data"]["projects"]["nodes"]] == ["app"]
    await both.same(TRACE, {"type": "TICKET", "id": "PROJ-1"}, headers=headers)
    assert both.runs == ["planned"]


@pytest.mark.parametrize(
    "variables",
    [
        {"withPrs": True, "skipTickets": False},
        {"withPrs": False, "skipTickets": True, "first": 1},
        {"withPrs": True, "skipTickets": False, "first": 1, "after": cursor_at(0)},
        {"withPrs": True, "skipTickets": False, "status": "UNCOMMITTED"},
        {"withPrs": True, "skipTickets": False, "first": 0},
    ],
)
async def test_fragments_aliases_directives_variables(
    both: Both, data: Seeded, variables: dict[str, Any]
) -> None:
    await both.same(EVERYTHING, variables)
    assert both.runs == ["planned"]


async def test_lookups_and_navigation(both: Both, data: Seeded) -> None:
    g = data.links
    variables = {"ticket": "PROJ-1", "deploy": "deploy-1", "pr": gid(g.pr2), "work": gid(g.w3)}
    answer = await both.same(LINKS, variables)
    assert both.runs == ["planned"]
    assert answer.json()["data"]["missing"] is None


@pytest.mark.parametrize(
    ("entity_type", "key"),
    [
        ("TICKET", "PROJ-1"),
        ("DEPLOY", "deploy-2"),
        ("BRANCH", "w2"),
        ("PR", "pr1"),
        ("TICKET", "X"),
    ],
)
async def test_trace(both: Both, data: Seeded, entity_type: str, key: str) -> None:
    g = data.links
    entity_id = {"w2": gid(g.w2), "pr1": gid(g.pr1)}.get(key, key)
    await both.same(TRACE, {"type": entity_type, "id": entity_id})
    assert both.runs == ["planned"]


@pytest.mark.parametrize(
    "query",
    [
        # Domain errors inside a level: the normal executor answers (error, path, nulls).
        "{ projects(first: 1000) { totalCount } }",
        "{ projects { nodes { name workItems(first: 5000) { totalCount } } } }",
        '{ projects { nodes { workItems(after: "bad") { totalCount } } } }',
        '{ pullRequest(url: "x", id: "y") { number } }',
    ],
)
async def test_errors_fall_back_to_the_normal_answer(both: Both, data: Seeded, query: str) -> None:
    answer = await both.same(query)
    assert answer.json()["errors"]
    assert both.runs in (["planned", "fell back"], [])


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Project") { name } }',
        '{ node(id: "x") { id } }',
        "{ projects { nodes { name timeline { totalCount } } } }",
        "{ workItems(first: 2) { nodes { activities { totalCount } } } }",
        "query Q @deprecated { projects { totalCount } }",
        "{ projects { totalCount nodes { name @deprecated } } }",
    ],
)
async def test_unplanned_documents_run_normally(both: Both, data: Seeded, query: str) -> None:
    await both.same(query)
    assert "fell back" not in both.runs


async def test_a_mutation_runs_normally(both: Both, data: Seeded) -> None:
    work = to_global_id("WorkItem", data.links.w1.id)
    mutation = """
    mutation($id: ID!) { updateGitState(input: {id: $id, aheadOfTrunk: 7}) { __typename } }
    """
    body = {"query": mutation, "variables": {"id": work}}
    answer = await both.planned.post("/graphql", json=body)
    assert answer.status_code == 200 and both.runs == []
