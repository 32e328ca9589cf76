"""File reservations in GraphQL: WorkItem.reservations and Agent.reservations through loaders
(statements do not grow with the data), the reservations query and the mutations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.coordination import reservations
from imi.db import unit_of_work
from tests.coordination.conftest import GraphQL
from tests.factories import make_project, make_work_item

WORK = """
query { workItems(first: 50) { nodes { ownerId reservations { pathPattern agentId } } } }
"""


@pytest.fixture(autouse=True)
async def _no_reservations(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))
    yield
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))


async def _reserve(
    sessions: async_sessionmaker[AsyncSession], agent: str, project: str, pattern: str
) -> str:
    async with unit_of_work(sessions) as session:
        made = await reservations.reserve(
            session, agent_id=agent, project=project, path_pattern=pattern, exclusive=False
        )
    return str(made.id)


@pytest.fixture
async def seeded(sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine) -> dict[str, Any]:
    async with unit_of_work(sessions) as session:
        project = await make_project(session, name="app")
        await make_work_item(session, project, owner_id="agent-1", worktree_path="/wt/app/feat-a")
        await make_work_item(session, project, owner_id="agent-2", worktree_path="/wt/app/feat-b")
        await make_work_item(session, project, owner_id="agent-3")
    pid = str(project.id)
    ids = {
        "owner": await _reserve(sessions, "agent-1", pid, "src/**"),
        "tree": await _reserve(sessions, "agent-9", "app", "wt/app/feat-b/src/*.py"),
        "elsewhere": await _reserve(sessions, "agent-9", "other", "**"),
        "expired": await _reserve(sessions, "agent-2", pid, "docs/**"),
    }
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE file_reservations SET created_at = now() - interval '1 hour', "
                "expires_at = now() - interval '1 second' WHERE id = :id"
            ),
            {"id": ids["expired"]},
        )
    return {"project": project, "ids": ids}


def _by_owner(answer: dict[str, Any]) -> dict[str, list[str]]:
    return {
        node["ownerId"]: sorted(r["pathPattern"] for r in node["reservations"])
        for node in answer["workItems"]["nodes"]
    }


async def test_work_items_show_the_reservations_on_them_without_n_plus_one(
    graphql: GraphQL, seeded: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    answer, statements = await graphql.counted(WORK)
    assert _by_owner(answer) == {
        "agent-1": ["src/**"],  # held by the owner, in the project (by id)
        "agent-2": ["wt/app/feat-b/src/*.py"],  # overlaps the worktree, project by name
        "agent-3": [],
    }
    async with unit_of_work(sessions) as session:
        for n in range(6):
            await make_work_item(session, seeded["project"], owner_id=f"more-{n}")
    more, statements_with_more = await graphql.counted(WORK)
    assert len(more["workItems"]["nodes"]) == 9
    assert statements_with_more == statements


async def test_agents_show_their_live_reservations(
    graphql: GraphQL, seeded: dict[str, Any]
) -> None:
    query = 'query { agent(id: "agent-1") { reservations { id pathPattern isActive } } }'
    answer = await graphql.run(query)
    assert answer["agent"]["reservations"] == [
        {"id": seeded["ids"]["owner"], "pathPattern": "src/**", "isActive": True}
    ]
    expired = await graphql.run('query { agent(id: "agent-2") { reservations { id } } }')
    assert expired["agent"]["reservations"] == []


async def test_the_reservations_query(graphql: GraphQL, seeded: dict[str, Any]) -> None:
    by_agent = await graphql.run('query { reservations(agentId: "agent-9") { project } }')
    assert sorted(r["project"] for r in by_agent["reservations"]) == ["app", "other"]
    scoped = await graphql.run(
        'query { reservations(agentId: "agent-9", project: "other") { pathPattern } }'
    )
    assert scoped["reservations"] == [{"pathPattern": "**"}]
    pid = str(seeded["project"].id)
    by_project = await graphql.run(
        "query($p: String) { reservations(project: $p) { id } }", {"p": pid}
    )
    assert by_project["reservations"] == [{"id": seeded["ids"]["owner"]}]


RESERVE = """
mutation($input: ReserveFilesInput!) {
  reserveFiles(input: $input) {
    __typename
    ... on ReserveFilesPayload { reservation { id pathPattern exclusive } }
    ... on ReservationConflictError { message conflicts }
    ... on ValidationError { message field }
  }
}
"""
RELEASE = """
mutation($id: ID!, $agent: String!) {
  releaseReservation(id: $id, agentId: $agent) {
    __typename
    ... on ReserveFilesPayload { reservation { isActive releaseReason } }
    ... on MutationError { message field }
  }
}
"""


async def test_reserve_and_release_mutations(graphql: GraphQL) -> None:
    base = {"agentId": "a1", "project": "m", "pathPattern": "src/**", "exclusive": True}
    made = (await graphql.run(RESERVE, {"input": base}))["reserveFiles"]
    assert made["__typename"] == "ReserveFilesPayload"
    reservation_id = made["reservation"]["id"]
    clash = (await graphql.run(RESERVE, {"input": {**base, "agentId": "a2"}}))["reserveFiles"]
    assert clash["__typename"] == "ReservationConflictError"
    assert [c["reservation_id"] for c in clash["conflicts"]] == [reservation_id]
    bad = (await graphql.run(RESERVE, {"input": {**base, "pathPattern": "[x"}}))["reserveFiles"]
    assert bad["__typename"] == "ValidationError" and bad["field"] == "pathPattern"

    other = await graphql.run(RELEASE, {"id": reservation_id, "agent": "a2"})
    assert other["releaseReservation"]["__typename"] == "NotHolderError"
    unknown = await graphql.run(
        RELEASE, {"id": "00000000-0000-4000-8000-000000000000", "agent": "a1"}
    )
    assert unknown["releaseReservation"]["__typename"] == "NotFoundError"
    done = await graphql.run(RELEASE, {"id": reservation_id, "agent": "a1"})
    assert done["releaseReservation"] == {
        "__typename": "ReserveFilesPayload",
        "reservation": {"isActive": False, "releaseReason": "released"},
    }
    again = await graphql.run(RELEASE, {"id": reservation_id, "agent": "a1"})
    assert again["releaseReservation"]["__typename"] == "NotFoundError"
