"""Real RabbitMQ for event tests: a unique exchange and queue prefix per test, a tap queue
bound to everything, and a TCP proxy to simulate broker outages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest

from imi.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RABBITMQ_URL = os.environ.get("IMI_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    async def probe() -> str | None:
        try:
            connection = await aio_pika.connect(RABBITMQ_URL, timeout=5)
        except Exception as exc:
            return str(exc)
        await connection.close()
        return None

    problem = asyncio.run(probe())
    if problem:
        message = f"RabbitMQ at {RABBITMQ_URL} is unreachable: {problem}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return RABBITMQ_URL


@dataclass
class Tap:
    """A queue bound with ``#`` to the test exchange: every published message lands here."""

    queue: aio_pika.abc.AbstractQueue
    messages: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        async def collect() -> None:
            while len(self.messages) < count:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(collect(), timeout)
        return self.messages

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.messages]

    def keys(self) -> list[str]:
        return [m.routing_key or "" for m in self.messages]


@dataclass
class Bus:
    settings: Settings
    exchange: str
    prefix: str
    channel: aio_pika.abc.AbstractChannel
    tap: Tap

    async def publish(
        self, routing_key: str, body: bytes | dict[str, Any], *, message_id: str | None = None
    ) -> None:
        """Publish the way Bloodbank publishers do: persistent JSON with a message id."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        exchange = await self.channel.get_exchange(self.exchange)
        await exchange.publish(
            aio_pika.Message(
                payload,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id or str(uuid.uuid4()),
            ),
            routing_key=routing_key,
        )


@pytest.fixture
async def bus(rabbitmq_url: str) -> AsyncIterator[Bus]:
    token = uuid.uuid4().hex[:8]
    exchange_name = f"imi-test-{token}"
    prefix = f"t{token}."
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(f"{prefix}tap", exclusive=True)
    await queue.bind(exchange, "#")
    tap = Tap(queue)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        tap.messages.append(message)
        await message.ack()

    await queue.consume(on_message)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        rabbitmq_url=rabbitmq_url,
        bloodbank_exchange=exchange_name,
        queue_prefix=prefix,
    )
    try:
        yield Bus(settings, exchange_name, prefix, channel, tap)
    finally:
        # Remove what iMi declared for this test.
        from imi.messaging.topology import DLX_NAME, QUEUES

        cleanup = await connection.channel()
        for spec in QUEUES:
            for name in (f"{prefix}{spec.name}", f"{prefix}{spec.name}.dlq"):
                with contextlib.suppress(Exception):
                    await cleanup.queue_delete(name)
        for name in (exchange_name, f"{prefix}{DLX_NAME}"):
            with contextlib.suppress(Exception):
                await cleanup.exchange_delete(name)
        await connection.close()


class Proxy:
    """A TCP proxy to RabbitMQ that the test can cut and restore (a broker outage)."""

    def __init__(self, target_port: int = 5672) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.port = 0
        self._links: set[asyncio.StreamWriter] = set()

    async def reserve(self) -> int:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return self.port

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self._links):
            writer.close()
        self._links.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._links.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    proxy = Proxy()
    await proxy.reserve()
    yield proxy
    await proxy.cut()
