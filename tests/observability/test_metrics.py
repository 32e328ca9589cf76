"""GET /metrics after real traffic: REST, GraphQL, the relay and consumers against RabbitMQ,
a subscription; its protection; bounded labels. Counters are process-wide, so every check
is a difference between two scrapes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect

from imi.app import create_app
from imi.auth.keys import create_key
from imi.auth.models import Scope
from imi.observability.metrics import OTHER, BoundedLabel
from imi.settings import Settings
from tests.graphql.test_subscriptions import EVENTS, Subscriber
from tests.graphql.test_subscriptions import serving as serving_live
from tests.messaging.conftest import Bus
from tests.messaging.consumers_support import dead_letters, envelope, until, wait_processed
from tests.messaging.test_relay import serving, wait_connected
from tests.observability.support import label_values, value

PROJECT = "/api/v1/projects/{project_id}"


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"rabbitmq_url": None, "rate_limit_per_minute": 0}
    return Settings(_env_file=None, **{**base, **overrides})  # type: ignore[call-arg]


async def app_client(database_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(**overrides), database_url)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as http,
    ):
        yield http


@pytest.fixture
async def client(database_url: str, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async for http in app_client(database_url):
        yield http


async def scrape(http: httpx.AsyncClient, **headers: str) -> str:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


async def test_rest_requests_are_counted_by_route_template_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    created = await client.post("/api/v1/projects", json={"remote_origin": "git@x.io:a/m.git"})
    assert created.status_code == 201
    project_id = created.json()["data"]["id"]
    assert (await client.get(f"/api/v1/projects/{project_id}")).status_code == 200
    assert (await client.get(f"/api/v1/projects/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/no/such/path")).status_code == 404
    assert (await client.get("/api/v1/projects/not-a-uuid")).status_code == 404
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "imi_http_requests_total"
    assert moved(requests, route="/api/v1/projects", method="POST", status="201") == 1
    assert moved(requests, route=PROJECT, method="GET", status="200") == 1
    assert moved(requests, route=PROJECT, method="GET", status="404") == 2
    assert moved(requests, route="unmatched", method="GET", status="404") == 1
    assert moved(requests, route=PROJECT, method="GET") == 3  # the malformed id too
    # The raw paths never become labels.
    assert not any(project_id in r for r in label_values(after, requests, "route"))
    duration = "imi_http_request_duration_seconds"
    assert moved(f"{duration}_count", route=PROJECT, method="GET") == 3
    assert moved(f"{duration}_bucket", route=PROJECT, method="GET", le="+Inf") == 3
    assert moved(f"{duration}_sum", route=PROJECT, method="GET") > 0
    # Process metrics and the sampled values are there too.
    assert value(after, "process_cpu_seconds_total") > 0
    # The backlog is read at most every few seconds: the first scrape's answer (no event yet)
    # stands, then the event that waits (no broker here) shows.
    assert value(after, "imi_outbox_backlog_events") == 0
    later = await until(
        lambda: scrape(client), lambda t: value(t, "imi_outbox_backlog_events") == 1, timeout=30
    )
    assert value(later, "imi_outbox_oldest_unpublished_age_seconds") > 0
    assert value(after, "imi_db_pool_connections_idle") >= 1


async def test_a_thousand_raw_paths_make_two_route_labels(client: httpx.AsyncClient) -> None:
    before = label_values(await scrape(client), "imi_http_requests_total", "route")

    async def get(path: str) -> None:
        assert (await client.get(path)).status_code == 404

    for start in range(0, 500, 50):
        await asyncio.gather(
            *(get(f"/api/v1/projects/{uuid.uuid4()}") for _ in range(50)),
            *(get(f"/random/{start + i}/{uuid.uuid4().hex}") for i in range(50)),
        )
    after = await scrape(client)
    assert label_values(after, "imi_http_requests_total", "route") - before <= {
        PROJECT,
        "unmatched",
        "/metrics",
    }
    assert value(after, "imi_http_requests_total", route="unmatched", status="404") >= 500


async def test_graphql_operations_by_name_and_type_with_errors_and_latency(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)

    async def post(query: str, status: int = 200) -> dict[str, Any]:
        response = await client.post("/graphql", json={"query": query})
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    assert "errors" not in await post("query ListProjects { projects(first: 5) { totalCount } }")
    assert "errors" not in await post("{ projects(first: 1) { totalCount } }")
    assert (await post("query Broken { projects { noSuchField } }"))["errors"]
    long_name = "Q" * 500
    await post(f"query {long_name} {{ projects(first: 1) {{ totalCount }} }}")
    assert (await post("query Half {", status=200))["errors"]
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ops, errors = "imi_graphql_operations_total", "imi_graphql_operation_errors_total"
    assert moved(ops, operation="ListProjects", type="query") == 1
    assert moved(errors, operation="ListProjects", type="query") == 0
    assert moved(ops, operation="anonymous", type="query") == 1
    assert moved(ops, operation="Broken", type="query") == 1
    assert moved(errors, operation="Broken", type="query") == 1
    assert moved(ops, operation="Q" * 64, type="query") == 1  # names are cut
    assert moved(errors, type="unknown") == 1  # a document that does not parse
    duration = "imi_graphql_operation_duration_seconds_count"
    assert moved(duration, operation="ListProjects", type="query") == 1
    assert moved("imi_http_requests_total", route="/graphql", method="POST") == 5


async def test_metrics_need_a_read_key_unless_public(
    database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        read = (await create_key(session, name="scraper", scope=Scope.READ)).secret
    async for http in app_client(database_url, auth="required"):
        refused = await http.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"
        bad = await http.get("/metrics", headers={"Authorization": "Bearer imi_nope"})
        assert bad.status_code == 401
        text = await scrape(http, Authorization=f"Bearer {read}")
        assert "imi_http_requests_total" in text
        # The refusals were counted, under the route's template.
        assert value(text, "imi_http_requests_total", route="/metrics", status="401") >= 2
    async for http in app_client(database_url, auth="required", metrics_public=True):
        assert "imi_http_requests_total" in await scrape(http)
        assert (await http.get("/api/v1/projects")).status_code == 401  # only /metrics opens
    async for http in app_client(database_url, metrics_enabled=False):
        assert (await http.get("/metrics")).status_code == 404


async def test_published_consumed_and_dead_lettered_messages(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with serving(bus.settings, database_url) as (_, http):
        await wait_connected(http)
        before = await scrape(http)
        created = await http.post("/api/v1/projects", json={"remote_origin": "git@x.io:a/r.git"})
        assert created.status_code == 201
        await bus.tap.wait_for(1, timeout=15)
        ok = envelope("imi.cmd.register_project", {"remote_origin": "git@x.io:a/cmd.git"})
        await bus.publish("imi.cmd.register_project", ok)
        await bus.publish("imi.cmd.register_project", b"not json at all")
        await wait_processed(sessions, "imi.commands", 1, timeout=30)
        await dead_letters(bus, "imi.commands", 1, timeout=30)

        def moved(text: str, name: str, **labels: str) -> float:
            return value(text, name, **labels) - value(before, name, **labels)

        consumed = "imi_messages_consumed_total"
        after = await until(
            lambda: http.get("/metrics"),
            lambda r: (
                moved(r.text, consumed, queue="imi.commands", outcome="dead_lettered") >= 1
                and moved(r.text, consumed, queue="imi.commands", outcome="ok") >= 1
            ),
            timeout=30,
        )
        text = after.text
        assert moved(text, "imi_events_published_total", routing_key="imi.project.registered") >= 1
        assert moved(text, "imi_relay_lag_seconds_count") >= 1
        assert moved(text, "imi_events_publish_failures_total") == 0


async def test_open_subscriptions_and_sockets_are_gauged(
    database_url: str, engine: AsyncEngine
) -> None:
    app = create_app(settings(), database_url)
    async with serving_live(app) as (live, _), httpx.AsyncClient(base_url=live.http_url) as http:
        before = await scrape(http)
        subscriber = await Subscriber(live, EVENTS).start()
        agent = await connect(f"ws://127.0.0.1:{live.port}/ws/agents/metrics-agent?project=p")
        try:
            await live.until(lambda: live.hub.subscriber_count >= 2)  # the agent's socket too
            during = await scrape(http)
            agents = value(during, "imi_websocket_connections_open", endpoint="agents")
            assert agents == value(before, "imi_websocket_connections_open", endpoint="agents") + 1
            assert value(during, "imi_graphql_subscriptions_open") == (
                value(before, "imi_graphql_subscriptions_open") + 1
            )
            sockets = "imi_websocket_connections_open"
            assert value(during, sockets, endpoint="graphql") == (
                value(before, sockets, endpoint="graphql") + 1
            )
        finally:
            await subscriber.close()
            await agent.close()
        gone = await until(
            lambda: http.get("/metrics"),
            lambda r: (
                value(r.text, "imi_graphql_subscriptions_open")
                == value(before, "imi_graphql_subscriptions_open")
                and value(r.text, "imi_websocket_connections_open", endpoint="agents")
                == value(before, "imi_websocket_connections_open", endpoint="agents")
            ),
            timeout=30,
        )
        assert value(gone.text, "imi_websocket_connections_open", endpoint="graphql") == value(
            before, "imi_websocket_connections_open", endpoint="graphql"
        )
        # A subscription is counted when it ends (it is never timed: it is long-lived).
        ops = "imi_graphql_operations_total"
        assert value(gone.text, ops, operation="Events", type="subscription") == 1 + value(
            before, ops, operation="Events", type="subscription"
        )
        assert (
            value(gone.text, "imi_graphql_operation_duration_seconds_count", type="subscription")
            == 0
        )


def test_label_values_are_cut_cleaned_and_capped() -> None:
    label = BoundedLabel(limit=3)
    assert label("ListProjects") == "ListProjects"
    assert label("x" * 500) == "x" * 64
    assert label('bad"name{}\n') == "bad_name___"
    assert label("Fourth") == OTHER  # past the cap: one shared value
    assert label("ListProjects") == "ListProjects"  # values seen before keep their label
    assert label("Fifth") == OTHER
