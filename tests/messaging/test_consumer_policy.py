"""The consumers' routing and outcome policy without a broker: ``Consumer.process`` called
directly with parsed messages, against the real database. The end-to-end tests beside this
file show the same through RabbitMQ (acks, dead letters, retries)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.compat.bloodbank import BadMessage, Incoming, parse_message
from imi.errors import Conflict, NotFound, ValidationFailed
from imi.messaging.consumers import commands, consumers
from imi.messaging.consumers.handling import Consumer, Outcome, Route, Skip
from imi.outbox.models import Event, ProcessedMessage
from imi.projects.models import Project
from imi.work.models import WorkItem

Sessions = async_sessionmaker[AsyncSession]


def incoming(routing_key: str, payload: dict[str, Any], message_id: str | None = None) -> Incoming:
    body = json.dumps({"event_type": routing_key, "payload": payload}).encode()
    return parse_message(body, routing_key=routing_key, amqp_message_id=message_id)


async def count(sessions: Sessions, model: Any) -> int:
    async with sessions() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def event_types(sessions: Sessions) -> list[str]:
    async with sessions() as s:
        return list((await s.execute(select(Event.event_type).order_by(Event.id))).scalars())  # type: ignore[arg-type]


def raising(exc: BaseException) -> Any:
    async def handler(session: AsyncSession, message: Incoming) -> None:
        raise exc

    return handler


async def test_every_queue_has_its_consumer(sessions: Sessions) -> None:
    built = consumers(sessions)
    assert "imi.commands" in built and "imi_git_sync_queue" in built
    commands_consumer = built["imi.commands"]
    assert commands_consumer.route("imi.cmd.start_work") is not None
    assert commands_consumer.route("imi.cmd.launch_rockets") is commands.V3_FALLBACK
    assert built["imi.git_events"].route("git.pr.merged") is not None
    assert built["imi.git_events"].route("git.tag") is None


async def test_a_command_runs_once_whatever_the_redeliveries(sessions: Sessions) -> None:
    consumer = consumers(sessions)["imi.commands"]
    message = incoming(
        "imi.cmd.register_project", {"remote_origin": "git@github.com:acme/once.git"}, "m-1"
    )
    assert await consumer.process(message) is Outcome.DONE
    assert await consumer.process(message) is Outcome.DUPLICATE
    assert await count(sessions, Project) == 1
    assert await event_types(sessions) == ["imi.project.registered"]


async def test_a_failed_command_is_answered_with_the_field(sessions: Sessions) -> None:
    consumer = consumers(sessions)["imi.commands"]
    bad = incoming("imi.cmd.start_work", {"project_id": str(uuid.uuid4()), "brnch": "x"})
    assert await consumer.process(bad) is Outcome.ANSWERED
    async with sessions() as s:
        [event] = (await s.execute(select(Event))).scalars()
    assert event.event_type == "imi.cmd.failed"
    error = event.envelope["payload"]["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["details"]["field"] == "branch_name"
    # Answered once: the same message again is a duplicate.
    assert await consumer.process(bad) is Outcome.DUPLICATE
    assert await count(sessions, Event) == 1
    # Our own answer on a wildcard-bound key is not a command.
    assert await consumer.process(incoming("imi.cmd.failed", {})) is Outcome.SKIPPED


@pytest.mark.parametrize(
    ("raised", "outcome", "recorded"),
    [
        (BadMessage("no"), Outcome.DEAD, 0),
        (ValidationFailed("a value that can never be stored"), Outcome.DEAD, 0),
        (Skip("nothing to update"), Outcome.SKIPPED, 1),
        (NotFound("work item", "x"), Outcome.SKIPPED, 1),
        (Conflict("illegal transition"), Outcome.SKIPPED, 1),
    ],
)
async def test_outcomes_of_an_event_handler(
    sessions: Sessions, raised: BaseException, outcome: Outcome, recorded: int
) -> None:
    consumer = Consumer("test.queue", [Route(("x.*",), raising(raised))], sessions)
    assert await consumer.process(incoming("x.y", {"a": 1})) is outcome
    assert await count(sessions, ProcessedMessage) == recorded
    assert await count(sessions, Event) == 0


async def test_an_unexpected_failure_propagates_for_a_retry(sessions: Sessions) -> None:
    consumer = Consumer(
        "test.queue", [Route(("x.*",), raising(RuntimeError("db hiccup")))], sessions
    )
    with pytest.raises(RuntimeError):
        await consumer.process(incoming("x.y", {"a": 1}, "retry-me"))
    # Nothing recorded: the redelivery is handled afresh.
    assert await count(sessions, ProcessedMessage) == 0


async def test_a_key_no_route_names_is_recorded_and_skipped(sessions: Sessions) -> None:
    consumer = Consumer("test.queue", [Route(("x.y",), raising(RuntimeError()))], sessions)
    assert await consumer.process(incoming("x.z", {})) is Outcome.SKIPPED
    assert await count(sessions, ProcessedMessage) == 1


async def test_an_event_is_recorded_with_its_events_and_a_duplicate_rolls_back(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    from tests.factories import make_project, make_work_item
    from tests.round_trips import round_trips

    async with sessions() as s, s.begin():
        item = await make_work_item(s, await make_project(s), worktree_path="/w/rt")
    consumer = consumers(sessions)["imi_git_sync_queue"]
    report = incoming("git.sync_completed", {"worktree_path": "/w/rt", "ahead": 3}, "m-rt")
    async with round_trips(engine) as seen:
        assert await consumer.process(report) is Outcome.DONE
    # The record rides in the events' statement: no statement of its own.
    writes = [s for s in seen.statements if "processed_messages" in s]
    assert len(writes) == 1 and "INSERT INTO events" in writes[0]
    # The same message again (another body): recognized after its effect, which is rolled back.
    again = incoming("git.sync_completed", {"worktree_path": "/w/rt", "ahead": 9}, "m-rt")
    assert await consumer.process(again) is Outcome.DUPLICATE
    async with sessions() as s:
        stored = await s.get(WorkItem, item.id)
    assert stored is not None and stored.ahead_of_trunk == 3
    assert await count(sessions, ProcessedMessage) == 1
    assert await event_types(sessions) == [
        "imi.work.git_state_updated",
        "imi.worktree.git_state_updated",
    ]
    # A message that changes nothing writes no event: it is recorded on its own.
    same = incoming("git.sync_completed", {"worktree_path": "/w/rt", "ahead": 3}, "m-rt-2")
    assert await consumer.process(same) is Outcome.DONE
    assert await consumer.process(same) is Outcome.DUPLICATE
    assert await count(sessions, ProcessedMessage) == 2
