"""A bounded local soak (issue 13): mixed REST, GraphQL and bus traffic with hostile input
interleaved, for a few seconds, against the whole app with its consumers. Asserts no 5xx, no
stalled consumer (every valid command took effect, every poison message is dead-lettered) and
memory that does not keep growing."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from typing import Any

import httpx
import psutil
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.projects.models import Project
from tests.messaging.conftest import Bus
from tests.messaging.consumers_support import dead_letters, envelope, until
from tests.messaging.test_relay import serving, wait_connected

DURATION = 6.0  # seconds of load per round
WORKERS = 8
API = "/api/v1"
FRAGMENT_BOMB = (
    "query { ...F0 }\n"
    + "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30))
    + "\nfragment F30 on Query { stats { totalProjects } }"
)

HOSTILE: list[tuple[str, str, Any]] = [
    ("POST", f"{API}/projects", b"{not json"),
    ("POST", f"{API}/projects", {"remote_origin": "x" * 100_000}),
    (
        "POST",
        f"{API}/projects",
        {"remote_origin": "git@github.com:a/b.git", "metadata": {"a": "\x00"}},
    ),
    ("GET", f"{API}/projects?metadata=" + "[" * 3000 + "]" * 3000, None),
    ("GET", f"{API}/projects/{'9' * 5000}", None),
    ("GET", f"{API}/projects/search?q=" + "a" * 10_000, None),
    ("POST", f"{API}/work", {"project_id": str(uuid.uuid4()), "branch_name": "../../etc"}),
    ("POST", f"{API}/activities", {"agent_id": "a"}),
    ("POST", "/graphql", b"null"),
    ("POST", "/graphql", {"query": FRAGMENT_BOMB}),
    ("POST", "/graphql", {"query": "{ projects(first: 100000) { nodes { name } } }"}),
    ("POST", "/graphql", {"query": "{" * 2000}),
]


def _request(client: httpx.AsyncClient, method: str, path: str, body: Any) -> Any:
    if isinstance(body, bytes):
        return client.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
    return client.request(method, path, json=body)


async def _worker(client: httpx.AsyncClient, number: int, until_time: float) -> list[int]:
    statuses: list[int] = []
    step = 0
    while time.monotonic() < until_time:
        step += 1
        origin = f"git@github.com:soak/w{number}-{step % 5}.git"
        valid = [
            ("POST", f"{API}/projects", {"remote_origin": origin}),
            ("GET", f"{API}/projects?limit=20", None),
            ("GET", f"{API}/inflight-work", None),
            ("GET", f"{API}/stats", None),
            (
                "POST",
                "/graphql",
                {"query": "{ projects(first: 5) { nodes { name counts { active } } } }"},
            ),
        ]
        method, path, body = valid[step % len(valid)]
        statuses.append((await _request(client, method, path, body)).status_code)
        method, path, body = HOSTILE[(step + number) % len(HOSTILE)]
        statuses.append((await _request(client, method, path, body)).status_code)
    return statuses


async def _load_round(client: httpx.AsyncClient) -> list[int]:
    deadline = time.monotonic() + DURATION
    rounds = await asyncio.gather(*(_worker(client, n, deadline) for n in range(WORKERS)))
    return [status for statuses in rounds for status in statuses]


async def test_soak_mixed_traffic_with_hostile_input(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    process = psutil.Process()
    async with serving(bus.settings, database_url) as (_, client):
        await wait_connected(client)
        # Poison and valid messages on the command queue, interleaved.
        poison = [
            b"{not json",
            b'{"payload": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            b'{"payload": {"remote_origin": ' + b"9" * 5000 + b"}}",
        ]
        for index, body in enumerate(poison):
            await bus.publish("imi.cmd.register_project", body, message_id=f"poison-{index}")
            await bus.publish(
                "imi.cmd.register_project",
                envelope(
                    "imi.cmd.register_project",
                    {"remote_origin": f"git@github.com:bus/ok{index}.git"},
                ),
            )
        first = await _load_round(client)  # warm-up: caches, pools, compiled queries
        gc.collect()
        rss_before = process.memory_info().rss
        second = await _load_round(client)
        gc.collect()
        rss_after = process.memory_info().rss

        statuses = first + second
        assert len(statuses) > 100, len(statuses)
        server_errors = [s for s in statuses if s >= 500 and s != 503]
        assert server_errors == [], f"{len(server_errors)} server errors: {set(server_errors)}"
        assert statuses.count(503) == 0
        # Every valid command took effect; every poison message was dead-lettered.

        async def bus_projects() -> int:
            async with sessions() as session:
                stmt = (
                    select(func.count())
                    .select_from(Project)
                    .where(
                        Project.remote_origin.like("git@github.com:bus/%")  # type: ignore[attr-defined]
                    )
                )
                return int((await session.execute(stmt)).scalar_one())

        assert await until(bus_projects, lambda n: n == len(poison), timeout=30) == len(poison)
        dead = await dead_letters(bus, "imi.commands", len(poison), timeout=30)
        assert sorted(m.message_id for m in dead) == [f"poison-{i}" for i in range(len(poison))]
        # Memory: the second round, as long as the first, does not keep what it allocated.
        growth_mb = (rss_after - rss_before) / 2**20
        assert growth_mb < 60, f"RSS grew {growth_mb:.0f} MB over a second round of the same load"
