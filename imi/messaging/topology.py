"""Bloodbank topology iMi declares: the topic exchange, its queues, bindings and dead letters.

Queues are quorum queues so RabbitMQ itself bounds redeliveries (``x-delivery-limit``): a
handler that keeps failing has its message dead-lettered to ``<queue>.dlq`` through the
``imi.dlx`` exchange. Unparseable messages are rejected without requeue and land there at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

DLX_NAME = "imi.dlx"
# Deliveries of one message before RabbitMQ dead-letters it (the first try + retries).
MAX_DELIVERIES = 5


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    bindings: tuple[str, ...]
    description: str


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("imi.commands", ("imi.cmd.*",), "v3 commands (PRD FR-4.3)"),
    QueueSpec(
        "imi_commands_queue",
        ("imi.project.register", "imi.worktree.create"),
        "v2 contract commands",
    ),
    QueueSpec(
        "imi.plane_events",
        ("plane.ticket.*", "webhook.plane.*"),
        "Plane tickets (PRD names and the webhook relay's)",
    ),
    QueueSpec("imi.git_events", ("git.push", "git.pr.*"), "git pushes and pull requests"),
    QueueSpec("imi_git_sync_queue", ("git.sync_completed",), "v2 git sync reports"),
    QueueSpec(
        "imi.mutation_events",
        ("tool.mutation.*", "hookd.tool.mutation.*"),
        "hookd tool mutations (real key and the PRD's)",
    ),
    QueueSpec("imi.deploy_events", ("ci.deploy.*",), "CI/CD deployments"),
)


def exchange(name: str) -> RabbitExchange:
    return RabbitExchange(name, type=ExchangeType.TOPIC, durable=True)


def dead_letter_exchange(prefix: str = "") -> RabbitExchange:
    return RabbitExchange(prefix + DLX_NAME, type=ExchangeType.DIRECT, durable=True)


def queue(spec: QueueSpec, prefix: str = "") -> RabbitQueue:
    """The consuming queue, bound with its first key (the others are bound at start)."""
    return RabbitQueue(
        prefix + spec.name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=spec.bindings[0],
        arguments={
            "x-dead-letter-exchange": prefix + DLX_NAME,
            "x-dead-letter-routing-key": prefix + spec.name,
            "x-delivery-limit": MAX_DELIVERIES - 1,
        },
    )


def dead_letter_queue(spec: QueueSpec, prefix: str = "") -> RabbitQueue:
    name = prefix + spec.name
    return RabbitQueue(f"{name}.dlq", durable=True, routing_key=name, queue_type=QueueType.CLASSIC)
