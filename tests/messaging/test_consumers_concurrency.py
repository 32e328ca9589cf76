"""A consumer handles its prefetch window concurrently, through RabbitMQ: each subject's messages
still take effect in arrival order, a duplicate still has one effect, and a poison message is
dead-lettered without holding up the messages around it."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import defaultdict
from typing import Any

import aio_pika
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from imi.outbox.models import Event
from imi.work import matching
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item
from tests.messaging.conftest import Bus
from tests.messaging.consumers_support import dead_letters, running, wait_processed

QUEUE = "imi_git_sync_queue"
Sessions = async_sessionmaker[AsyncSession]


async def seed(sessions: Sessions, count: int) -> list[WorkItem]:
    async with sessions() as s, s.begin():
        project = await make_project(s)
        return [
            await make_work_item(s, project, worktree_path=f"/work/{uuid.uuid4().hex}/{n}")
            for n in range(count)
        ]


async def publish_all(bus: Bus, messages: list[tuple[bytes | dict[str, Any], str | None]]) -> None:
    """Publish in this order, back to back (the exchange looked up once), so the queue fills
    faster than it drains and the consumer's whole prefetch window is in flight."""
    exchange = await bus.channel.get_exchange(bus.exchange)
    for body, message_id in messages:
        await exchange.publish(
            aio_pika.Message(
                body if isinstance(body, bytes) else json.dumps(body).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id or str(uuid.uuid4()),
            ),
            routing_key="git.sync_completed",
        )


def report(path: str, ahead: int) -> dict[str, object]:
    # A flat body without a sync time: each report is as new as its handling, so the order in
    # which reports are applied is the order in which they were handled.
    return {"worktree_path": path, "ahead": ahead, "behind": 0, "has_uncommitted": False}


async def ahead_events(sessions: Sessions) -> dict[str, list[int]]:
    """Each work item's ``ahead_of_trunk`` values in the order its events committed."""
    async with sessions() as s:
        rows = (
            await s.execute(
                select(col(Event.subject_id), col(Event.envelope))
                .where(col(Event.event_type) == "imi.work.git_state_updated")
                .order_by(col(Event.id))
            )
        ).all()
    values: dict[str, list[int]] = defaultdict(list)
    for subject_id, envelope in rows:
        values[subject_id].append(envelope["payload"]["ahead_of_trunk"])
    return values


async def current_ahead(sessions: Sessions, items: list[WorkItem]) -> dict[str, int | None]:
    async with sessions() as s:
        found = (
            await s.execute(select(WorkItem).where(col(WorkItem.id).in_([i.id for i in items])))
        ).scalars()
        return {str(item.id): item.ahead_of_trunk for item in found}


@pytest.fixture
def jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handlers pause a random moment before they lock the work item, so a message that is not
    held back would overtake the one before it (the database's lock queue keeps order too)."""
    lookup = matching.work_at_path
    rng = random.Random(14)

    async def jittered(session: AsyncSession, worktree_path: str) -> Any:
        await asyncio.sleep(rng.random() * 0.005)
        return await lookup(session, worktree_path)

    monkeypatch.setattr(matching, "work_at_path", jittered)


@pytest.mark.usefixtures("jitter")
async def test_interleaved_reports_end_at_each_items_last_in_order(
    bus: Bus, database_url: str, sessions: Sessions
) -> None:
    items = await seed(sessions, 5)
    sent: dict[str, list[int]] = defaultdict(list)
    messages: list[tuple[bytes | dict[str, Any], str | None]] = []
    rng = random.Random(5)
    for n in range(200):
        item = rng.choice(items)  # interleaved, with runs of one item now and then
        sent[str(item.id)].append(n + 1)
        messages.append((report(str(item.worktree_path), n + 1), None))
    async with running(bus, database_url):
        await publish_all(bus, messages)
        await wait_processed(sessions, QUEUE, 200, timeout=90)
    assert await ahead_events(sessions) == sent
    assert await current_ahead(sessions, items) == {key: values[-1] for key, values in sent.items()}


async def test_duplicates_handled_side_by_side_take_effect_once(
    bus: Bus, database_url: str, sessions: Sessions
) -> None:
    items = await seed(sessions, 4)
    messages: list[tuple[bytes | dict[str, Any], str | None]] = []
    for k in range(30):
        # Two copies of one message, about different work items (so they are not ordered
        # after each other but run at once): the first to claim its id wins.
        for copy in range(2):
            path = str(items[(k + copy) % 4].worktree_path)
            messages.append((report(path, 1000 + k), f"dup-{k}"))
    # One last report per work item: handled after every copy about that item (its subject's
    # order), so once they are processed every copy has been handled.
    messages += [(report(str(item.worktree_path), 5000), None) for item in items]
    async with running(bus, database_url):
        await publish_all(bus, messages)
        await wait_processed(sessions, QUEUE, 34, timeout=90)
    applied = [value for values in (await ahead_events(sessions)).values() for value in values]
    assert sorted(applied) == [1000 + k for k in range(30)] + [5000] * 4


@pytest.mark.usefixtures("jitter")
async def test_a_poison_message_in_the_window_is_dead_lettered_and_holds_nothing_up(
    bus: Bus, database_url: str, sessions: Sessions
) -> None:
    items = await seed(sessions, 3)
    sent: dict[str, list[int]] = defaultdict(list)
    poison = {
        10: b"{not json",
        25: b'{"worktree_path": 42}',
        # About a work item the good reports around it also concern: out of range.
        40: f'{{"worktree_path": "{items[1].worktree_path}", "ahead": -5}}'.encode(),
    }
    messages: list[tuple[bytes | dict[str, Any], str | None]] = []
    for n in range(60):
        if n in poison:
            messages.append((poison[n], f"poison-{n}"))
        item = items[n % 3]
        sent[str(item.id)].append(n + 1)
        messages.append((report(str(item.worktree_path), n + 1), None))
    async with running(bus, database_url):
        await publish_all(bus, messages)
        await wait_processed(sessions, QUEUE, 60, timeout=90)
        dead = await dead_letters(bus, QUEUE, 3, timeout=30)
    assert sorted(m.message_id for m in dead) == ["poison-10", "poison-25", "poison-40"]
    assert await ahead_events(sessions) == sent
    assert await current_ahead(sessions, items) == {key: values[-1] for key, values in sent.items()}
