"""The query cost limit: answers too large to serve are rejected before anything runs.

Plain lists can cycle (components -> parentProject -> components ...) and connections
multiply; the cost (imi/graphql/cost.py) bounds the scalar values an answer may hold, and
IMI_GRAPHQL_MAX_COST (default 250000) caps it. Rejection is a validation error, so these
tests need no data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.graphql.cost import cost_message, document_costs
from imi.graphql.schema import schema
from imi.settings import Settings
from tests.graphql.test_limits import (
    GRAPHIQL_INTROSPECTION,
    client_for,
    only_error,
    post,
)

DEFAULT_MAX_COST = Settings.model_fields["graphql_max_cost"].default
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
DASHBOARD = next(
    block.split("```", 1)[0]
    for block in README.split("```graphql\n")[1:]
    if block.startswith("query Dashboard")
)


@pytest.fixture
async def default_client(
    database_url: str, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(database_url) as client:
        yield client


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    costs = document_costs(schema._schema, parse(query), variables)
    assert len(costs) == 1
    return next(iter(costs.values()))


def cyclic_components(rounds: int) -> str:
    """One project's components, then ``rounds`` x (parentProject -> components)."""
    inner = "components { name }"
    for _ in range(rounds):
        inner = f"components {{ parentProject {{ {inner} }} }}"
    return f"query Cyclic {{ projects(first: 1) {{ nodes {{ {inner} }} }} }}"


def nested_connections(first: int | str, fields: str = "branchName status") -> str:
    variables = "($first: Int)" if isinstance(first, str) else ""
    return (
        f"query Nested{variables} {{ projects(first: {first}) {{ nodes {{ "
        f"workItems(first: {first}) {{ nodes {{ {fields} }} }} }} }} }}"
    )


async def post_with(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_default_limit() -> None:
    assert DEFAULT_MAX_COST == 250_000


async def test_cyclic_plain_lists_are_rejected(default_client: httpx.AsyncClient) -> None:
    # 20 components assumed per plain list: 20^4 names fit, 20^5 do not (depth is only 12).
    assert cost(cyclic_components(3)) == 20**4
    assert "errors" not in await post(default_client, cyclic_components(3))
    message = only_error(await post(default_client, cyclic_components(4)))
    assert message == cost_message(20**5, DEFAULT_MAX_COST)
    assert message == (
        "Query cost 3200000 exceeds the limit of 250000; "
        "ask for fewer items (first/limit) or less nesting."
    )


async def test_nested_connections_with_a_large_first_are_rejected(
    default_client: httpx.AsyncClient,
) -> None:
    assert "errors" not in await post(default_client, nested_connections(100))
    message = only_error(await post(default_client, nested_connections(500)))
    assert message == cost_message(500 * 500 * 2, DEFAULT_MAX_COST)


async def test_first_given_through_a_variable_counts(default_client: httpx.AsyncClient) -> None:
    query = nested_connections("$first")
    assert "errors" not in await post_with(default_client, query, {"first": 100})
    message = only_error(await post_with(default_client, query, {"first": 500}))
    assert message == cost_message(500 * 500 * 2, DEFAULT_MAX_COST)
    # Absent: the variable's default, else the connection's default page size (50).
    with_default = query.replace("($first: Int)", "($first: Int = 500)")
    assert "exceeds the limit" in only_error(await post_with(default_client, with_default, {}))
    assert cost(query) == 50 * 50 * 2


async def test_the_readme_dashboard_query_passes(default_client: httpx.AsyncClient) -> None:
    # 50 projects x 20 work items x (4 fields + 5 tickets, 3 PRs and 5 deployments, each
    # with its 3 fields).
    assert cost(DASHBOARD) == 44_250 < DEFAULT_MAX_COST
    body = await post(default_client, DASHBOARD)
    assert "errors" not in body, body


WIDE_DASHBOARD = """
{ projects(first: 50) { nodes { workItems(first: 50) { nodes {
  tickets { kind ticket { planeTicketId title } }
  pullRequests { number state url }
  deployments { deployId environment deployedAt }
} } } } }
"""


async def test_a_dashboard_of_50_by_50_with_links_passes_the_default(
    default_client: httpx.AsyncClient,
) -> None:
    """A work item's tickets, PRs and deployments are estimated at the few items one work item
    has, not at the default list size: 2,500 work items x 39 values."""
    assert cost(WIDE_DASHBOARD) == 97_500 < DEFAULT_MAX_COST
    body = await post(default_client, WIDE_DASHBOARD)
    assert "errors" not in body, body
    # Lists without a size of their own still count the default 20.
    assert cost('{ deployment(deployId: "d") { workItems { branchName } } }') == 20


def test_nested_fragment_spreads_are_costed_once() -> None:
    """A fragment spread twice at every level doubles the work of a naive expansion at each
    level; costed once per fragment it stays instant (25 levels would be 2**25 spreads)."""
    levels = 25
    fragments = [f"fragment F{levels} on Project {{ name }}"]
    fragments += [f"fragment F{i} on Project {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    document = "{ projects(first: 1) { nodes { ...F0 } } }\n" + "\n".join(fragments)
    assert cost(document) == 2**levels


async def test_the_limit_follows_the_settings(database_url: str, engine: AsyncEngine) -> None:
    async with client_for(database_url, graphql_max_cost=50_000) as client:
        message = only_error(await post(client, WIDE_DASHBOARD))
        assert message == cost_message(97_500, 50_000)
        assert "errors" not in await post(client, DASHBOARD)
        assert "errors" not in await post(client, cyclic_components(2))


async def test_introspection_is_exempt(database_url: str, engine: AsyncEngine) -> None:
    assert cost(GRAPHIQL_INTROSPECTION) == 0
    async with client_for(database_url, graphql_max_cost=1) as client:
        body = await post(client, GRAPHIQL_INTROSPECTION)
        assert "errors" not in body, body
        assert "errors" in await post(client, "{ projects { totalCount } }")


def test_how_selections_are_counted() -> None:
    # A connection's `first` (default 50) multiplies its selections; nodes/edges count once.
    assert cost("{ projects(first: 10) { totalCount nodes { name } } }") == 20
    assert cost("{ projects { edges { cursor node { name } } } }") == 100
    # `first` and `limit` are clamped to the largest page the server returns.
    assert cost("{ projects(first: 100000) { totalCount } }") == 500
    assert cost('{ searchProjects(query: "a") { relevance } }') == 20
    assert cost('{ searchProjects(query: "a", limit: 3) { relevance } }') == 3
    # Aliases are resolved separately, so each counts.
    assert (
        cost("{ a: projects(first: 2) { totalCount } b: projects(first: 3) { totalCount } }") == 5
    )
    # On an interface or union: the costliest object type, with the fragments that apply to it.
    node = '{ node(id: "x") { id ... on Project { name remoteOrigin } ...W } }'
    fragment = " fragment W on WorkItem { branchName status aheadOfTrunk }"
    assert cost(node + fragment) == 4
    # Introspection costs nothing; __typename is a scalar.
    assert cost('{ __typename __type(name: "Project") { name fields { name } } }') == 1


def test_every_operation_of_a_document_is_estimated() -> None:
    document = "query Small { projects(first: 1) { totalCount } }\n" + cyclic_components(1)
    assert document_costs(schema._schema, parse(document)) == {"Small": 1, "Cyclic": 400}
