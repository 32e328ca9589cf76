"""Real `imi serve` replicas for operations tests: processes on one database and one broker.

``replicas`` starts processes (each `imi serve --workers 1` in its own process group, on a free
port) and kills whatever is left at teardown. ``cluster`` is three of them, shared by the tests
of this package (stopped after its last one): they start at once on an empty database and
migrate while racing, with one exchange and queue prefix of their own on the test RabbitMQ.
``tap`` is a queue bound with ``#`` to that exchange: everything the replicas publish lands in
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from imi.messaging.topology import DLX_NAME, QUEUES
from tests.conftest import with_database
from tests.messaging import conftest as messaging

# The console script of the venv running the tests: what `uv run imi` would execute.
IMI = str(Path(sys.executable).with_name("imi"))
# A loaded 2-core CI machine starts a replica in seconds; these bound a broken one.
READY_WITHIN = 90.0
# The broker probe of the messaging tests (skips without RabbitMQ, fails in CI), by name.
rabbitmq_url = messaging.rabbitmq_url
STOP_WITHIN = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    """Where replicas publish and consume: a per-session exchange and queue prefix."""

    url: str
    exchange: str
    prefix: str

    def env(self) -> dict[str, str]:
        return {
            "IMI_RABBITMQ_URL": self.url,
            "IMI_BLOODBANK_EXCHANGE": self.exchange,
            "IMI_QUEUE_PREFIX": self.prefix,
        }


class Replica:
    """One `imi serve` process (one worker) with its JSON log file; restartable on its port."""

    def __init__(self, name: str, log_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Replica:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("IMI_")}
        environ.update(self.env)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [IMI, "serve", "--port", str(self.port), "--workers", "1"],
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one at teardown
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        return records

    def wait_ready(self, broker: bool = True) -> dict[str, Any]:
        """Poll /health until it answers 200 (and, with ``broker``, says it is connected)."""
        deadline = time.monotonic() + READY_WITHIN
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if not self.alive():
                pytest.fail(f"{self.name} exited:\n{self.log_path.read_text(errors='replace')}")
            with contextlib.suppress(httpx.TransportError, ValueError):
                response = httpx.get(f"{self.url}/health", timeout=10)
                body = response.json()
                if response.status_code == 200 and (
                    not broker or body["broker"]["status"] == "connected"
                ):
                    return body
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"{self.name} not ready within {READY_WITHIN}s ({body}):\n{self.log_path}")

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.process.send_signal(sig)  # type: ignore[union-attr]

    def wait_exit(self, within: float = STOP_WITHIN) -> int:
        assert self.process is not None
        return self.process.wait(within)

    def kill(self) -> None:
        """SIGKILL the process group (no goodbye), and reap it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_WITHIN)


@pytest.fixture
def replicas() -> Iterator[Callable[..., Replica]]:
    """A factory: ``replicas(name, **env)`` starts `imi serve` with exactly that IMI_* env
    (plus JSON logs and no rate limit); everything started is killed at teardown."""
    started: list[Replica] = []
    with tempfile.TemporaryDirectory(prefix="imi-ops-") as logs:

        def start(name: str, **env: str) -> Replica:
            replica = Replica(name, Path(logs), _replica_env(env)).start()
            started.append(replica)
            return replica

        try:
            yield start
        finally:
            for replica in started:
                replica.kill()


def _replica_env(env: dict[str, str]) -> dict[str, str]:
    return {"IMI_LOG_FORMAT": "json", "IMI_RATE_LIMIT_PER_MINUTE": "0", **env}


async def _admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(server_url, timeout=60)
    try:
        await conn.execute(sql, timeout=120)
    finally:
        await conn.close()


@contextlib.contextmanager
def empty_database(server_url: str) -> Iterator[str]:
    """A new, empty (unmigrated) database on the test server, dropped afterwards."""
    name = f"imi_ops_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url, name)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def broker_namespace(rabbitmq_url: str) -> Iterator[Broker]:
    """A unique exchange and queue prefix; what the replicas declared is deleted afterwards."""
    token = uuid.uuid4().hex[:8]
    broker = Broker(rabbitmq_url, f"imi-ops-{token}", f"ops{token}.")

    async def declare() -> None:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            await channel.declare_exchange(
                broker.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )

    async def cleanup() -> None:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            for spec in QUEUES:
                for name in (f"{broker.prefix}{spec.name}", f"{broker.prefix}{spec.name}.dlq"):
                    with contextlib.suppress(Exception):
                        await channel.queue_delete(name)
            for name in (broker.exchange, f"{broker.prefix}{DLX_NAME}"):
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(name)

    asyncio.run(declare())
    try:
        yield broker
    finally:
        asyncio.run(cleanup())


@dataclass
class Cluster:
    """Three replicas of one iMi: one database, one broker namespace."""

    database_url: str
    broker: Broker
    members: list[Replica] = field(default_factory=list)

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url, timeout=30)
        try:
            return list(await conn.fetch(query, *args, timeout=60))
        finally:
            await conn.close()


@pytest.fixture(scope="package")
def _cluster(server_url: str, rabbitmq_url: str) -> Iterator[Cluster]:
    """Three replicas started at once on an EMPTY database, each migrating on start (the race
    the advisory lock settles)."""
    with (
        tempfile.TemporaryDirectory(prefix="imi-ops-cluster-") as logs,
        empty_database(server_url) as database_url,
        broker_namespace(rabbitmq_url) as broker,
    ):
        env = _replica_env(
            {
                "IMI_DATABASE_URL": database_url,
                "IMI_MIGRATE_ON_START": "true",
                "IMI_RELAY_POLL_SECONDS": "1",
                # "message handled" is a DEBUG record: it tells which replica consumed what.
                "IMI_LOG_LEVEL": "DEBUG",
                **broker.env(),
            }
        )
        cluster = Cluster(database_url, broker)
        cluster.members = [Replica(name, Path(logs), env) for name in ("a", "b", "c")]
        try:
            for replica in cluster.members:
                replica.start()
            for replica in cluster.members:
                replica.wait_ready()
            yield cluster
        finally:
            for replica in cluster.members:
                replica.kill()


@pytest.fixture
def cluster(_cluster: Cluster) -> Cluster:
    """The three replicas, all running: a member an earlier test stopped is started again
    (here rather than after that test, so the package's last test leaves no restart behind)."""
    stopped = [r for r in _cluster.members if not r.alive()]
    for replica in stopped:
        replica.kill()  # reaps it, and anything left of its process group
        replica.start()
    for replica in stopped:
        replica.wait_ready()
    return _cluster


@dataclass
class Tap:
    """Every message published to the cluster's exchange, in arrival order."""

    messages: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} of {count} messages within {timeout}s")
            await asyncio.sleep(0.05)

    def ids(self) -> list[str]:
        return [m.message_id or "" for m in self.messages]


@pytest.fixture
async def tap(cluster: Cluster) -> AsyncIterator[Tap]:
    connection = await aio_pika.connect(cluster.broker.url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(cluster.broker.exchange)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "#")
    tapped = Tap()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        tapped.messages.append(message)
        await message.ack()

    await queue.consume(on_message)
    try:
        yield tapped
    finally:
        await connection.close()
