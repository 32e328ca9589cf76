"""Safety limits: depth, aliases and tokens reject abusive documents with a clear GraphQL error.

The limits come from Settings (``IMI_GRAPHQL_MAX_*``), so each is also tested at a lowered
value. Introspection stays usable (GraphiQL needs it) and GET /graphql serves GraphiQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.graphql.limits import cost_variables
from tests.graphql.conftest import settings

Client = Callable[..., Any]


@asynccontextmanager
async def client_for(database_url: str, **limits: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(**limits), database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://imi.test"
        ) as client,
    ):
        yield client


@pytest.fixture
async def default_client(
    database_url: str, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(database_url) as client:
        yield client


async def post(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    return body


def deep_query(levels: int) -> str:
    """``projects`` then ``levels`` rounds of workItems -> nodes -> project (3 levels each).

    One item per page, so the query cost (tests/graphql/test_cost.py) stays small.
    """
    inner = "name"
    for _ in range(levels):
        inner = f"workItems(first: 1) {{ nodes {{ project {{ {inner} }} }} }}"
    return f"query Deep {{ projects(first: 1) {{ nodes {{ {inner} }} }} }}"


def aliased_query(count: int) -> str:
    fields = " ".join(f"a{n}: projects {{ totalCount }}" for n in range(count))
    return f"query Aliased {{ {fields} }}"


def long_query(tokens: int) -> str:
    # `totalCount` repeated: each is one token; selections merge, so execution is trivial.
    return "query Long { projects { " + "totalCount " * tokens + "} }"


def only_error(body: dict[str, Any]) -> str:
    assert body.get("data") is None, body
    assert len(body["errors"]) == 1, body
    message: str = body["errors"][0]["message"]
    return message


async def test_accepted_queries_within_the_default_limits(
    default_client: httpx.AsyncClient,
) -> None:
    for query in (deep_query(4), aliased_query(30), long_query(400)):
        body = await post(default_client, query)
        assert "errors" not in body, body


async def test_too_deep_is_rejected(default_client: httpx.AsyncClient) -> None:
    # Default IMI_GRAPHQL_MAX_DEPTH is 15: projects, nodes + 5 x 3 levels + name is 18.
    message = only_error(await post(default_client, deep_query(5)))
    assert message == "'Deep' exceeds maximum operation depth of 15"


async def test_too_many_aliases_is_rejected(default_client: httpx.AsyncClient) -> None:
    message = only_error(await post(default_client, aliased_query(31)))
    assert message == "31 aliases found. Allowed: 30"


async def test_too_many_tokens_is_rejected(default_client: httpx.AsyncClient) -> None:
    message = only_error(await post(default_client, long_query(5000)))
    assert "more than 5000 tokens" in message


async def test_limits_follow_the_settings(database_url: str, engine: AsyncEngine) -> None:
    limits = {"graphql_max_depth": 4, "graphql_max_aliases": 2, "graphql_max_tokens": 40}
    async with client_for(database_url, **limits) as client:
        assert "errors" not in await post(client, deep_query(0))
        message = only_error(await post(client, deep_query(1)))
        assert message == "'Deep' exceeds maximum operation depth of 4"

        assert "errors" not in await post(client, aliased_query(2))
        message = only_error(await post(client, aliased_query(3)))
        assert message == "3 aliases found. Allowed: 2"

        assert "errors" not in await post(client, long_query(20))
        message = only_error(await post(client, long_query(40)))
        assert "more than 40 tokens" in message


async def test_limits_apply_to_every_operation_in_the_document(
    database_url: str, engine: AsyncEngine
) -> None:
    async with client_for(database_url, graphql_max_depth=4) as client:
        document = "query Ok { projects { totalCount } }\n" + deep_query(1)
        response = await client.post("/graphql", json={"query": document, "operationName": "Ok"})
        assert "exceeds maximum operation depth" in only_error(response.json())


GRAPHIQL_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)


async def test_graphiql_introspection_works(default_client: httpx.AsyncClient) -> None:
    body = await post(default_client, GRAPHIQL_INTROSPECTION)
    assert "errors" not in body, body
    schema = body["data"]["__schema"]
    assert schema["queryType"]["name"] == "Query"
    assert schema["subscriptionType"]["name"] == "Subscription"
    names = {t["name"] for t in schema["types"]}
    assert {"Project", "WorkItem", "Event", "Node"} <= names


async def test_introspection_is_exempt_from_the_depth_limit(
    database_url: str, engine: AsyncEngine
) -> None:
    async with client_for(database_url, graphql_max_depth=2) as client:
        body = await post(client, GRAPHIQL_INTROSPECTION)
        assert "errors" not in body, body


async def test_get_with_html_accept_serves_graphiql(default_client: httpx.AsyncClient) -> None:
    response = await default_client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


def test_validation_keys_on_the_variables_the_cost_rule_reads() -> None:
    # A trace's entity id changes with every request: the validation of one serves the next.
    assert cost_variables({"id": "PROJ-1"}) == cost_variables({"id": "PROJ-2"})
    # Page sizes, nulls and absence each cost differently: each is its own key.
    keys = [{"first": 10}, {"first": 500}, {"first": None}, {}, {"first": "10"}, {"first": True}]
    assert len({json.dumps(cost_variables(k), sort_keys=True) for k in keys}) == len(keys) - 1
    # A value that is not an Int costs the default, whatever it is ("10" and true alike).
    assert cost_variables({"first": "10"}) == cost_variables({"first": True})
