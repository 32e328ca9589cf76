"""FastStream subscribers for the messages iMi consumes, one module per source.

One subscriber per queue of ``topology.QUEUES`` (durable quorum queues, manual acks, prefetch
``IMI_CONSUMER_PREFETCH``); each hands the message to its queue's ``Consumer`` (see
``handling``), which handles the window concurrently, in order per subject.
"""

from __future__ import annotations

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitRouter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.messaging import topology
from imi.messaging.consumers import commands, deploys, git, mutations, plane
from imi.messaging.consumers.handling import Consumer
from imi.settings import Settings


def consumers(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Consumer]:
    """The consumer of each queue, by queue name (without the prefix)."""
    built = [
        Consumer(
            "imi.commands",
            commands.V3_ROUTES,
            sessions,
            fallback=commands.V3_FALLBACK,
            ignore=commands.V3_IGNORED,
        ),
        Consumer("imi_commands_queue", commands.V2_ROUTES, sessions),
        Consumer("imi.plane_events", plane.ROUTES, sessions),
        Consumer("imi.git_events", git.GIT_ROUTES, sessions),
        Consumer("imi_git_sync_queue", git.SYNC_ROUTES, sessions),
        Consumer("imi.mutation_events", mutations.ROUTES, sessions),
        Consumer("imi.deploy_events", deploys.ROUTES, sessions),
    ]
    by_name = {consumer.name: consumer for consumer in built}
    assert set(by_name) == {spec.name for spec in topology.QUEUES}, "a queue has no consumer"
    return by_name


def consumer_routers(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> list[RabbitRouter]:
    """Every consumer router, bound to the configured exchange."""
    router = RabbitRouter()
    exchange = topology.exchange(settings.bloodbank_exchange)
    by_name = consumers(sessions)
    for spec in topology.QUEUES:
        subscriber = router.subscriber(
            topology.queue(spec, settings.queue_prefix),
            exchange,
            channel=Channel(prefetch_count=settings.consumer_prefetch),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            title=settings.queue_prefix + spec.name,
            description=spec.description,
        )
        subscriber(by_name[spec.name].handle)
    return [router]


async def _raw_body(message: object) -> None:
    """Consumers parse the raw body themselves (a malformed one must reach the DLQ)."""
    return None
