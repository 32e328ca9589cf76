"""Property-based fuzzing of every Query field (schemathesis' GraphQL support).

For each field, schemathesis (through hypothesis-graphql) draws documents from the introspected
schema: valid ones with arbitrary arguments and selections, and invalid ones. No answer may be
a 5xx, and no error may be an unexpected server exception, masked ("Unexpected error.") or not:
every error a client sees is a GraphQL validation error or a domain error. The database holds
a small linked graph, so nested selections resolve over real rows. Derandomized and bounded,
so CI sends the same documents every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.db import create_engine, session_factory
from imi.graphql.guards import NUL_MESSAGE
from imi.graphql.schema import schema as strawberry_schema
from imi.links.models import Deployment, DeploymentWorkItem, PullRequest, Ticket, TicketLink
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import GraphQL
from tests.graphql.conftest import settings as app_settings

MAX_EXAMPLES = 25
MASKED = "Unexpected error."


def _query_fields() -> list[str]:
    query_type = strawberry_schema._schema.query_type
    assert query_type is not None
    return sorted(query_type.fields)


@pytest.fixture(scope="module")
def graphql_schema(database_url: str) -> Iterator[Any]:
    # Loading the schema starts the app's lifespan in schemathesis' event loop thread, where
    # every request of the module then runs.
    # The fuzzer's client is not on loopback; it tests input handling, not access.
    app = create_app(app_settings(auth="off"), database_url)
    loaded = schemathesis.graphql.from_asgi("/graphql", app)
    # NUL characters in string arguments are covered by test_nul_in_string_arguments below,
    # field by field; drawn here they would stop each field's run at its first such finding.
    loaded.config.generation.update(allow_x00=False)
    yield loaded
    shutdown_lifespans()  # disposes of the app's engine


async def _seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for p in range(2):
                project = await make_project(session, name=f"fuzz-{p}")
                for i in range(3):
                    item = await make_work_item(session, project, branch_name=f"feat/{p}-{i}")
                    ticket = Ticket(plane_ticket_id=f"FUZZ-{p}{i}", title="t")
                    deployment = Deployment(deploy_id=f"deploy-{p}-{i}", environment="prod")
                    session.add_all([ticket, deployment])
                    await session.flush()
                    session.add_all(
                        [
                            TicketLink(ticket_id=ticket.id, work_item_id=item.id),
                            PullRequest(
                                project_id=project.id,
                                work_item_id=item.id,
                                number=i + 1,
                                url=f"https://github.com/acme/fuzz-{p}/pull/{i + 1}",
                            ),
                            DeploymentWorkItem(deployment_id=deployment.id, work_item_id=item.id),
                        ]
                    )
    finally:
        await engine.dispose()


@pytest.fixture
def seeded(database_url: str, engine: AsyncEngine) -> None:
    """A small graph (``engine`` first: the tables were just emptied for this test)."""
    asyncio.run(_seed(database_url))


def _strategy(operation: Any) -> st.SearchStrategy[Any]:
    return st.one_of(
        [
            operation.as_strategy(generation_mode=mode)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
    )


def _check(case: Any) -> dict[str, Any]:
    document = case.body if isinstance(case.body, str) else repr(case.body)
    try:
        response = case.call()
    except Exception as exc:  # the app raised instead of answering
        pytest.fail(f"{document}\n-> raised {exc!r}"[:2000])
    request = f"{document}\n-> {response.status_code} {response.text[:800]}"
    assert response.status_code < 500, request
    body = response.json()
    assert isinstance(body, dict), request
    for error in body.get("errors") or []:
        assert error.get("message") != MASKED, request
        assert "Traceback" not in error.get("message", ""), request
    return body


@pytest.mark.parametrize("field", _query_fields())
def test_query_fields_never_fail_on_the_server(
    graphql_schema: Any, seeded: None, field: str
) -> None:
    operation = graphql_schema["Query"][field]

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation))
    def fuzz(case: Any) -> None:
        _check(case)

    fuzz()


# PostgreSQL stores no NUL in text: a query argument carrying one is answered with a clear
# client error before any SQL runs (imi/graphql/guards.py), never a masked database error.
NUL_LOOKUPS = {
    "node": 'node(id: "a\\u0000") { id }',
    "project": 'project(id: "a\\u0000") { id }',
    "projectByRemoteOrigin": 'projectByRemoteOrigin(remoteOrigin: "git@h.com:a/b\\u0000") { id }',
    "searchProjects": 'searchProjects(query: "fuzz\\u0000") { relevance }',
    "workItem": 'workItem(id: "a\\u0000") { id }',
    "workItems": 'workItems(filter: {ownerId: "a\\u0000"}) { totalCount }',
    "inFlightWork": 'inFlightWork(ownerId: "a\\u0000") { totalCount }',
    "ticket": 'ticket(planeTicketId: "FUZZ-1\\u0000") { id }',
    "pullRequest": 'pullRequest(url: "https://github.com/acme/x/pull/1\\u0000") { id }',
    "deployment": 'deployment(deployId: "deploy\\u0000") { id }',
    "trace": 'trace(entityType: TICKET, entityId: "FUZZ-1\\u0000") { direction }',
    "agent": 'agent(id: "a\\u0000") { id }',
}


@pytest.mark.parametrize("field", sorted(NUL_LOOKUPS))
def test_nul_in_string_arguments(graphql_schema: Any, seeded: None, field: str) -> None:
    case = graphql_schema["Query"][field].Case(body=f"{{ {NUL_LOOKUPS[field]} }}")
    body = _check(case)
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [NUL_MESSAGE]


async def test_nul_in_variables_is_rejected_too(graphql: GraphQL) -> None:
    transport = httpx.ASGITransport(app=graphql.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client:
        query = "query T($key: String!) { ticket(planeTicketId: $key) { id } }"
        response = await client.post(
            "/graphql", json={"query": query, "variables": {"key": "FUZZ-1\x00"}}
        )
        assert response.json() == {"data": None, "errors": [{"message": NUL_MESSAGE}]}
        response = await client.post(
            "/graphql", json={"query": query, "variables": {"key": "FUZZ-1"}}
        )
        assert response.json() == {"data": {"ticket": None}}
