"""Three `imi serve` replicas on one PostgreSQL and one RabbitMQ (the session's ``cluster``):
migrations raced at start, every event published exactly once and in order per subject, a
subscription on one replica fed by a write through another."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import defaultdict
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from graphql import GraphQLError

from imi.migrate import head_revision
from tests.ops.checks import all_published, last_event_id
from tests.ops.conftest import Cluster, Tap

PROJECTS = 30
ROUNDS = 9  # PATCHes per project: 30 registrations + 270 updates = 300 writes


def assert_exactly_once_in_order(rows: list[Any], tap: Tap) -> None:
    """The tap got each committed event once (by message_id = event_id), nothing else of
    ours, and each subject's events in commit (``events.id``) order."""
    committed = [r["event_id"] for r in rows]
    ours = set(committed)
    seen = [mid for mid in tap.ids() if mid in ours]
    duplicates = {mid for mid in seen if seen.count(mid) > 1}
    assert not duplicates, f"{len(duplicates)} events published more than once"
    assert set(seen) == ours, f"{len(ours - set(seen))} committed events never arrived"
    by_subject: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_subject[row["subject"]].append(row["event_id"])
    subject_of = {r["event_id"]: r["subject"] for r in rows}
    arrived: dict[str, list[str]] = defaultdict(list)
    for mid in seen:
        arrived[subject_of[mid]].append(mid)
    assert arrived == by_subject


async def test_replicas_raced_their_migrations_at_start(cluster: Cluster) -> None:
    """Three processes started at once on an empty database with IMI_MIGRATE_ON_START: all came
    up, and the schema is at head, migrated once (one version row, each table once)."""
    revisions = await cluster.sql("SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in revisions] == [head_revision()]
    async with httpx.AsyncClient(timeout=30) as http:
        for replica in cluster.members:
            body = (await http.get(f"{replica.url}/health")).json()
            assert body["database"]["revision"] == head_revision()
            assert body["broker"]["status"] == "connected"
    first_steps = 0
    for replica in cluster.members:
        records = replica.log_records()
        failures = [r for r in records if r.get("level") in {"error", "critical"}]
        assert not failures, failures
        # Each ran its migration step; the lock let one of them apply the revisions.
        assert any(r.get("event") == "database migrated" for r in records)
        first_steps += sum(str(r.get("event")).startswith("Running upgrade  -> ") for r in records)
    assert first_steps == 1


async def test_writes_through_all_replicas_publish_each_event_once_in_order(
    cluster: Cluster, tap: Tap
) -> None:
    start = await last_event_id(cluster)
    token = uuid.uuid4().hex[:8]
    # Idle connections are dropped well before uvicorn's 5 s keep-alive ends: reusing one the
    # server closes at that very moment fails the request (httpx.ReadError, seen once in CI).
    limits = httpx.Limits(keepalive_expiry=1.0)
    clients = [
        httpx.AsyncClient(base_url=r.url, timeout=60, limits=limits) for r in cluster.members
    ]
    try:

        async def write(i: int) -> None:
            """One project's life, each write through the next replica (round-robin)."""
            origin = f"git@github.com:scale-{token}/p{i}.git"
            created = await clients[i % 3].post("/api/v1/projects", json={"remote_origin": origin})
            assert created.status_code == 201, created.text
            project = created.json()["data"]["id"]
            for n in range(ROUNDS):
                patched = await clients[(i + n + 1) % 3].patch(
                    f"/api/v1/projects/{project}", json={"description": f"v{n}"}
                )
                assert patched.status_code == 200, patched.text

        await asyncio.gather(*(write(i) for i in range(PROJECTS)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    rows = await all_published(cluster, start)
    assert len(rows) == PROJECTS * (1 + ROUNDS)
    await tap.wait_for(len(rows))
    await asyncio.sleep(1.0)  # a duplicate would arrive right behind the original
    assert_exactly_once_in_order(rows, tap)
    # The updates carry their version: each project's descriptions arrive v0, v1, ... v8.
    descriptions: dict[str, list[str]] = defaultdict(list)
    for message in tap.messages:
        body = json.loads(message.body)
        if message.routing_key == "imi.project.updated":
            payload = body["payload"]
            descriptions[payload["project_id"]].append(payload["description"])
    ours = [d for d in descriptions.values() if len(d) == ROUNDS]
    assert len(ours) == PROJECTS
    assert all(d == [f"v{n}" for n in range(ROUNDS)] for d in ours), ours[:3]


EVENTS = "subscription { events { eventId eventType subjectId } }"


async def test_subscription_on_one_replica_sees_a_write_through_another(
    cluster: Cluster,
) -> None:
    a, b = cluster.members[0], cluster.members[1]
    results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def listen() -> None:
        transport = WebsocketsTransport(
            url=f"ws://127.0.0.1:{a.port}/graphql",
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        async with Client(transport=transport) as session:
            async for result in session.subscribe(GraphQLRequest(EVENTS)):
                await results.put(result)

    listener = asyncio.create_task(listen())
    written: set[str] = set()
    token = uuid.uuid4().hex[:8]
    try:
        async with httpx.AsyncClient(base_url=b.url, timeout=30) as http:
            # The subscription's registration on A is not observable from here: write through
            # B until A delivers (each write is a new project, so any delivery names one).
            deadline = time.monotonic() + 30
            while True:
                assert time.monotonic() < deadline, "nothing reached the subscriber on A"
                if listener.done():
                    raise AssertionError(f"subscription ended: {listener.exception()!r}")
                origin = f"git@github.com:sub-{token}/p{len(written)}.git"
                response = await http.post("/api/v1/projects", json={"remote_origin": origin})
                assert response.status_code == 201, response.text
                written.add(response.json()["data"]["id"])
                try:
                    event = (await asyncio.wait_for(results.get(), 1.0))["events"]
                    break
                except TimeoutError:
                    continue
        assert event["eventType"] == "imi.project.registered"
        assert event["subjectId"] in written
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, GraphQLError):
            await listener
