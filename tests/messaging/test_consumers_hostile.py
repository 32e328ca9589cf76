"""Hostile messages (issue 13): nothing a producer sends may stall a consumer or go unanswered.

Poison bodies (a 5,000-digit integer, JSON nested 100,000 deep, over 1 MiB) are dead-lettered
at once and never hold the messages behind them, also across a restart; commands the database
refuses (a NUL, a value too big for its index) are answered once, not retried; a handler that
hangs is abandoned after the handler timeout and retried per the policy."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.compat.bloodbank import MAX_BODY_BYTES, MAX_JSON_DEPTH, BadMessage, Incoming
from imi.messaging.consumers import commands, consumers, handling
from imi.messaging.consumers.handling import Consumer, Outcome, Route
from imi.outbox.models import Event, ProcessedMessage
from imi.projects.models import Project
from tests.messaging.conftest import Bus
from tests.messaging.consumers_support import (
    dead_letters,
    envelope,
    running,
    tapped,
    v2_envelope,
    wait_tapped,
)
from tests.messaging.test_consumer_policy import incoming
from tests.messaging.test_consumers_parsing import parse

Sessions = async_sessionmaker[AsyncSession]

BIG_INT = b'{"event_type": "imi.cmd.register_project", "payload": {"n": ' + b"9" * 5000 + b"}}"
DEEP_ARRAY = b'{"payload": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def nested(depth: int) -> bytes:
    """A JSON object whose deepest container is ``depth`` levels down (the body is level 1)."""
    return b'{"payload": {"a": ' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}}"


@pytest.mark.parametrize(
    "body",
    [
        BIG_INT,
        DEEP_ARRAY,
        DEEP_OBJECT,
        nested(MAX_JSON_DEPTH + 1),
        b'{"payload": {"a": NaN}}',
        b'{"payload": {"a": -Infinity}}',
        b'{"payload": {"a": "' + b"x" * MAX_BODY_BYTES + b'"}}',
        # An unterminated string of escaped quotes: the depth scan stays linear.
        b"[" * 100 + b'"' + b'\\"' * 200_000 + b"\\",
    ],
    ids=["5000-digits", "deep-array", "deep-object", "depth-65", "nan", "infinity", "2mib", "q"],
)
def test_poison_bodies_are_bad_messages_quickly(body: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(BadMessage):
        parse(body)
    assert time.monotonic() - started < 2.0


def test_the_bounds_admit_what_they_promise() -> None:
    assert parse(nested(MAX_JSON_DEPTH)).payload["a"]
    # Brackets inside strings are text, not nesting.
    assert parse({"payload": {"a": "[" * 10_000}}).payload == {"a": "[" * 10_000}
    # Wide is fine, and a body just under the size bound.
    wide = {"payload": {"a": [[i] for i in range(50_000)]}}
    assert len(parse(wide).payload["a"]) == 50_000
    filler = "x" * (MAX_BODY_BYTES - 100)
    assert parse({"payload": {"a": filler}}).payload["a"] == filler
    assert parse({"payload": {"n": int("9" * 4000)}}).payload["n"] == int("9" * 4000)


async def test_a_command_with_a_nul_is_answered_once(sessions: Sessions) -> None:
    consumer = consumers(sessions)["imi.commands"]
    payload = {"remote_origin": "git@github.com:acme/nul.git", "name": "a\x00b" + "c" * 5000}
    message = incoming("imi.cmd.register_project", payload, "nul-1")
    assert await consumer.process(message) is Outcome.ANSWERED
    assert await consumer.process(message) is Outcome.DUPLICATE
    async with sessions() as s:
        [event] = (await s.execute(select(Event))).scalars()
    answer = event.envelope["payload"]
    assert event.event_type == "imi.cmd.failed"
    assert answer["error"]["code"] == "VALIDATION_ERROR"
    # The request is echoed, storable and bounded: the NUL replaced, the long name cut.
    echoed = answer["request"]["name"]
    assert echoed.startswith("a\N{REPLACEMENT CHARACTER}bccc") and len(echoed) < 1100


def oversized_key() -> Any:
    """A handler whose write the database refuses with SQLSTATE 54000 (an index row too big)."""

    async def handler(session: AsyncSession, message: Incoming) -> None:
        await session.execute(text("CREATE TEMP TABLE big_keys (k text PRIMARY KEY)"))
        await session.execute(
            text(
                "INSERT INTO big_keys SELECT string_agg(md5(random()::text), '') "
                "FROM generate_series(1, 6000)"
            )
        )

    return handler


@pytest.mark.parametrize("failure_event", ["imi.cmd.failed", None])
async def test_a_value_too_big_for_its_index_is_refused_not_retried(
    sessions: Sessions, failure_event: str | None
) -> None:
    consumer = Consumer("test.queue", [Route(("x.*",), oversized_key(), failure_event)], sessions)
    outcome = await consumer.process(incoming("x.y", {"k": "big"}, "big-1"))
    if failure_event:
        assert outcome is Outcome.ANSWERED
        async with sessions() as s:
            [event] = (await s.execute(select(Event))).scalars()
        assert event.envelope["payload"]["error"]["code"] == "VALIDATION_ERROR"
    else:
        assert outcome is Outcome.DEAD  # an event nobody answers: straight to the DLQ


async def count(sessions: Sessions, model: Any, **where: Any) -> int:
    async with sessions() as s:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int((await s.execute(stmt)).scalar_one())


async def queue_depth(bus: Bus, name: str) -> int:
    queue = await bus.channel.declare_queue(f"{bus.prefix}{name}", passive=True)
    return int(queue.declaration_result.message_count or 0)


async def wait_projects(sessions: Sessions, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (found := await count_named(sessions, names)) < len(names):
        assert time.monotonic() < deadline, f"{found}/{len(names)} projects within {timeout}s"
        await asyncio.sleep(0.05)


async def count_named(sessions: Sessions, names: list[str]) -> int:
    async with sessions() as s:
        stmt = select(func.count()).select_from(Project).where(Project.name.in_(names))  # type: ignore[attr-defined]
        return int((await s.execute(stmt)).scalar_one())


POISON = [BIG_INT, DEEP_ARRAY, DEEP_OBJECT, b'{"payload": {"a": NaN}}'] * 3  # > the prefetch


async def publish_poison_then_valid(bus: Bus, tag: str) -> list[str]:
    for index, body in enumerate(POISON):
        await bus.publish("imi.cmd.register_project", body, message_id=f"{tag}-poison-{index}")
    names = [f"{tag}-{i}" for i in range(3)]
    for name in names:
        command = {"remote_origin": f"git@github.com:acme/{name}.git", "name": name}
        await bus.publish("imi.cmd.register_project", envelope("imi.cmd.register_project", command))
    return names


async def test_poison_messages_never_stall_the_consumer(
    bus: Bus, database_url: str, sessions: Sessions
) -> None:
    async with running(bus, database_url):
        names = await publish_poison_then_valid(bus, "live")
        await wait_projects(sessions, names, timeout=10)
        dead = await dead_letters(bus, "imi.commands", len(POISON))
        assert sorted(m.message_id for m in dead) == sorted(
            f"live-poison-{i}" for i in range(len(POISON))
        )
    # Nothing stuck: once the consumer is gone nothing returns to the queue.
    assert await queue_depth(bus, "imi.commands") == 0
    assert await count(sessions, ProcessedMessage, consumer="imi.commands") == 3


async def test_poison_waiting_in_the_queue_does_not_stall_a_restart(
    bus: Bus, database_url: str, sessions: Sessions
) -> None:
    async with running(bus, database_url):
        pass  # declares the queues
    names = await publish_poison_then_valid(bus, "restart")
    assert await queue_depth(bus, "imi.commands") == len(POISON) + 3
    async with running(bus, database_url):
        await wait_projects(sessions, names, timeout=10)
        await dead_letters(bus, "imi.commands", len(POISON))
    assert await queue_depth(bus, "imi.commands") == 0


NUL_NAME = {"remote_origin": "git@github.com:acme/nul-e2e.git", "name": "nul\x00name"}


async def test_commands_the_database_refuses_are_answered_not_dead_lettered(
    bus: Bus, database_url: str, sessions: Sessions
) -> None:
    async with running(bus, database_url):
        # A project to start work on (its answer is the registered event).
        ok = {"remote_origin": "git@github.com:acme/refused.git", "name": "refused"}
        await bus.publish("imi.cmd.register_project", envelope("imi.cmd.register_project", ok))
        [(_, registered)] = await wait_tapped(bus, "imi.project.registered")
        project_id = registered["payload"]["project_id"]
        big_branch = {"project_id": project_id, "branch_name": "b" * 200_000}
        await bus.publish(
            "imi.cmd.register_project", envelope("imi.cmd.register_project", NUL_NAME)
        )
        await bus.publish("imi.cmd.start_work", envelope("imi.cmd.start_work", big_branch))
        await bus.publish(
            "imi.project.register", v2_envelope("imi.project.register", NUL_NAME, "v2-nul")
        )
        worktree = {
            "project_id": project_id,
            "type": "feature",
            "name": "big",
            "branch_name": "b" * 200_000,
            "path": "/code/refused/big",
        }
        await bus.publish(
            "imi.worktree.create", v2_envelope("imi.worktree.create", worktree, "v2-big")
        )
        failures = await wait_tapped(bus, "imi.cmd.failed", 2, timeout=10)
        assert {b["payload"]["command"] for _, b in failures} == {
            "imi.cmd.register_project",
            "imi.cmd.start_work",
        }
        for _, body in failures:
            assert body["payload"]["error"]["code"] == "VALIDATION_ERROR"
            assert len(json.dumps(body)) < 10_000  # the 200 KB input is not echoed in full
        [(message, v2_failed)] = await wait_tapped(bus, "imi.project.registration_failed")
        assert message.correlation_id == "v2-nul"
        assert v2_failed["payload"]["error"]["code"] == "VALIDATION_ERROR"
        [(_, wt_failed)] = await wait_tapped(bus, "imi.worktree.creation_failed")
        assert wt_failed["payload"]["error"]["code"] == "VALIDATION_ERROR"
        await asyncio.sleep(1.0)  # time for a retry or a second answer, if any
        assert len(tapped(bus, "imi.cmd.failed")) == 2
        assert len(tapped(bus, "imi.project.registration_failed")) == 1
        assert len(tapped(bus, "imi.worktree.creation_failed")) == 1
        for queue in ("imi.commands", "imi_commands_queue"):
            assert await queue_depth(bus, f"{queue}.dlq") == 0


async def test_a_hanging_handler_is_abandoned_and_retried_per_the_policy(
    bus: Bus, database_url: str, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, int] = {}
    real = commands.register_project

    async def slow(session: AsyncSession, data: Any, **options: Any) -> Any:
        calls[data.name] = calls.get(data.name, 0) + 1
        if data.name == "hangs":
            await asyncio.sleep(3600)
        if data.name == "waits-on-a-lock":
            await session.execute(text("SELECT pg_sleep(3600)"))
        if data.name == "slow-once" and calls[data.name] == 1:
            await asyncio.sleep(3600)
        return await real(session, data, **options)

    monkeypatch.setattr(commands, "register_project", slow)
    monkeypatch.setattr(handling, "HANDLER_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(handling, "RETRY_PAUSE_SECONDS", 0.01)
    async with running(bus, database_url):
        for name in ("hangs", "waits-on-a-lock", "slow-once", "fast"):
            command = {"remote_origin": f"git@github.com:acme/{name}.git", "name": name}
            await bus.publish(
                "imi.cmd.register_project",
                envelope("imi.cmd.register_project", command),
                message_id=name,
            )
        # The messages behind the hanging ones are handled within a few timeouts.
        await wait_projects(sessions, ["fast", "slow-once"], timeout=15)
        # The hanging ones take every delivery the queue allows, then the DLQ.
        dead = await dead_letters(bus, "imi.commands", 2, timeout=30)
        assert sorted(m.message_id for m in dead) == ["hangs", "waits-on-a-lock"]
        assert calls["hangs"] == calls["waits-on-a-lock"] == 5
        assert calls["slow-once"] == 2 and calls["fast"] == 1
        # The connections the abandoned statements held are usable again.
        command = {"remote_origin": "git@github.com:acme/after.git", "name": "after"}
        await bus.publish("imi.cmd.register_project", envelope("imi.cmd.register_project", command))
        await wait_projects(sessions, ["after"], timeout=10)
    assert await count(sessions, Project) == 3
    async with sessions() as s:
        sleeping = await s.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3600)%'")
        )
    assert sleeping == 0  # the abandoned statements were cancelled on the server too
