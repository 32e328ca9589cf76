"""The process's link to Bloodbank: a FastStream RabbitBroker, its topology, and the relay.

Started with the app. The broker connects in the background with back-off, so the API serves
(and events wait in the outbox) while RabbitMQ is unreachable; once connected, aio-pika's
robust connection re-establishes itself after outages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Literal

from faststream.rabbit import RabbitBroker, RabbitRouter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.logging import get_logger
from imi.messaging import topology
from imi.messaging.relay import OutboxRelay
from imi.settings import Settings

log = get_logger(__name__)

BrokerState = Literal["connected", "disconnected", "disabled"]
MAX_BACKOFF_SECONDS = 30.0


class EventBus:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        routers: Sequence[RabbitRouter] = (),
        database_url: str | None = None,
    ) -> None:
        assert settings.rabbitmq_url, "EventBus needs IMI_RABBITMQ_URL"
        self.settings = settings
        self.broker = RabbitBroker(
            settings.rabbitmq_url,
            fail_fast=True,
            reconnect_interval=2.0,
            graceful_timeout=float(settings.shutdown_timeout),
            logger=None,
        )
        for router in routers:
            self.broker.include_router(router)
        self.exchange = topology.exchange(settings.bloodbank_exchange)
        self.relay = OutboxRelay(self, sessions, settings, database_url)
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect (in the background) and start the relay."""
        self._task = asyncio.create_task(self._connect_forever(), name="imi-broker-connect")
        await self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.broker.stop()
        self.connected.clear()

    async def _connect_forever(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.broker.start()
                await self._declare_topology()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broker unreachable; retrying", error=str(exc), retry_in=delay)
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                continue
            log.info("broker connected", exchange=self.exchange.name)
            self.connected.set()
            return

    async def _declare_topology(self) -> None:
        """Exchanges, the extra bindings FastStream's one-key subscribers lack, and the DLQs."""
        prefix = self.settings.queue_prefix
        exchange = await self.broker.declare_exchange(self.exchange)
        dlx = await self.broker.declare_exchange(topology.dead_letter_exchange(prefix))
        for spec in topology.QUEUES:
            queue = await self.broker.declare_queue(topology.queue(spec, prefix))
            for key in spec.bindings:
                await queue.bind(exchange, routing_key=key)
            dlq = await self.broker.declare_queue(topology.dead_letter_queue(spec, prefix))
            await dlq.bind(dlx, routing_key=prefix + spec.name)

    async def state(self) -> BrokerState:
        if not self.connected.is_set():
            return "disconnected"
        try:
            alive = await self.broker.ping(timeout=1.0)
        except Exception:
            alive = False
        return "connected" if alive else "disconnected"
