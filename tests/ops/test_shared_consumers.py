"""Competing consumers across replicas: the three replicas of ``cluster`` share each queue,
and a message delivered twice (once to each of two replicas, say) takes effect once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter

import aio_pika

from tests.messaging.consumers_support import envelope
from tests.ops.conftest import Cluster, Tap

COMMANDS = 60  # more than one replica's prefetch (10): the queue must hand them around
QUEUE = "imi.commands"


async def wait_rows(cluster: Cluster, query: str, count: int, *args: object) -> int:
    deadline = time.monotonic() + 30
    while True:
        found = int((await cluster.sql(query, *args))[0][0])
        if found >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def handled_by(cluster: Cluster, message_ids: set[str]) -> Counter[str]:
    """Per replica, how many of ``message_ids`` its consumers handled (its DEBUG log)."""
    counts: Counter[str] = Counter()
    for replica in cluster.members:
        for record in replica.log_records():
            if record.get("event") == "message handled" and record["message_id"] in message_ids:
                counts[replica.name] += 1
    return counts


async def test_replicas_share_each_queue_and_each_message_takes_effect_once(
    cluster: Cluster, tap: Tap
) -> None:
    token = uuid.uuid4().hex[:8]
    origins = [f"git@github.com:cmd-{token}/p{i}.git" for i in range(COMMANDS)]
    message_ids = [f"cmd-{token}-{i}" for i in range(COMMANDS)]
    connection = await aio_pika.connect(cluster.broker.url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(cluster.broker.exchange)
        # Every command sent twice under one message_id (a publisher's retry): the copies
        # are spread over the replicas like the rest.
        for _copy in range(2):
            for origin, message_id in zip(origins, message_ids, strict=True):
                body = envelope("imi.cmd.register_project", {"remote_origin": origin})
                await exchange.publish(
                    aio_pika.Message(
                        json.dumps(body).encode(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=message_id,
                    ),
                    routing_key="imi.cmd.register_project",
                )

    processed = await wait_rows(
        cluster,
        "SELECT count(*) FROM processed_messages WHERE consumer = $1 AND message_id LIKE $2",
        COMMANDS,
        QUEUE,
        f"cmd-{token}-%",
    )
    assert processed == COMMANDS
    projects = await cluster.sql(
        "SELECT remote_origin FROM projects WHERE remote_origin LIKE $1", f"%cmd-{token}/%"
    )
    assert sorted(r["remote_origin"] for r in projects) == sorted(origins)
    # Let the second copies settle too (each is acked as a duplicate), then count the effects:
    # a copy handled twice would have answered a second imi.project.registered (existed=true).
    await asyncio.sleep(2.0)
    registered = await cluster.sql(
        "SELECT envelope->'payload'->>'existed' AS existed FROM events "
        "WHERE event_type = 'imi.project.registered' AND envelope->'payload'->>'remote_origin' "
        "LIKE $1",
        f"%cmd-{token}/%",
    )
    assert len(registered) == COMMANDS
    assert {r["existed"] for r in registered} == {"false"}
    handled = handled_by(cluster, set(message_ids))
    print(f"\ncommands handled per replica: {dict(handled)}")
    assert sum(handled.values()) == COMMANDS, handled
    assert len(handled) >= 2, f"one replica consumed everything: {handled}"
