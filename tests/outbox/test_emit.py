"""The outbox write: every event of one ``emit`` in one statement of one shape, in order, and an
event costs a write exactly that statement (no read of its own, no second round trip)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from imi.correlation import reset_correlation_id, set_correlation_id
from imi.outbox import PendingEvent, emit
from imi.outbox.models import Event
from imi.work.models import GitState
from imi.work.service import update_git_state
from tests.factories import make_project, make_work_item
from tests.round_trips import round_trips

Sessions = async_sessionmaker[AsyncSession]


async def test_events_of_one_emit_go_in_one_statement_in_their_order(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    item_id = uuid.uuid4()
    events = [
        PendingEvent("imi.test.first", "work_item", item_id, {"n": 1, "at": item_id}),
        PendingEvent("imi.test.second", "ticket", "T-1", {"work_item_ids": [item_id], "n": 2}),
        PendingEvent("imi.worktree.git_state_updated", "work_item", item_id, {"n": 3}, v2=True),
    ]
    token = set_correlation_id("corr-emit")
    try:
        async with round_trips(engine) as one, sessions() as s, s.begin():
            ids = await emit(s, events[0])
        async with round_trips(engine) as three, sessions() as s, s.begin():
            ids += await emit(s, *events)
    finally:
        reset_correlation_id(token)
    assert len(one.statements) == len(three.statements) == 1
    assert one.statements == three.statements  # one prepared statement whatever the count
    async with sessions() as s:
        rows = list((await s.execute(select(Event).order_by(col(Event.id)))).scalars())
    assert [r.event_id for r in rows] == ids
    assert [r.event_type for r in rows] == [
        "imi.test.first",
        "imi.test.first",
        "imi.test.second",
        "imi.worktree.git_state_updated",
    ]
    last = rows[-1]
    assert last.routing_key == last.event_type and last.subject_id == str(item_id)
    assert last.correlation_id == "corr-emit" and last.work_item_refs == [str(item_id)]
    assert rows[2].work_item_refs == [str(item_id)] and rows[2].subject_id == "T-1"
    assert last.envelope["event_id"] == str(last.event_id)
    assert last.envelope["source"]["type"] == "component"  # a v2-contract event
    assert last.envelope["metadata"] == {"correlation_id": "corr-emit", "version": "2.0.0"}
    assert rows[1].envelope["payload"] == {"n": 1, "at": str(item_id)}
    assert last.attempts == 0 and last.published_at is None and last.created_at is not None


async def test_a_git_state_event_costs_the_write_one_statement(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    async with sessions() as s, s.begin():
        item = await make_work_item(s, await make_project(s))

    async def report(state: GitState) -> list[str]:
        async with round_trips(engine) as seen, sessions() as s, s.begin():
            await update_git_state(s, state, work_item_id=item.id)
        return seen.statements

    await report(GitState(ahead_of_trunk=1))  # warm the pool and the statement caches
    with_event = await report(GitState(ahead_of_trunk=2))
    without = await report(GitState(ahead_of_trunk=2))  # nothing changes: no event
    assert len(with_event) == len(without) + 1, (with_event, without)
    assert with_event[-1].lstrip().startswith("INSERT INTO events")
