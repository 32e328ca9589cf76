"""Command consumers against a real RabbitMQ: v3 ``imi.cmd.*`` and v2 commands, their answers,
duplicates, dead letters and retries."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.links.models import Ticket, TicketLink
from imi.messaging.consumers import commands, handling
from imi.outbox.models import ProcessedMessage
from imi.projects.models import Project
from imi.work.models import WorkItem
from tests.messaging.conftest import Bus
from tests.messaging.consumers_support import (
    dead_letters,
    envelope,
    event_types,
    processed_count,
    running,
    tapped,
    v2_envelope,
    wait_processed,
    wait_tapped,
)

ORIGIN = "git@github.com:acme/commands.git"


async def one(sessions: async_sessionmaker[AsyncSession], model: Any, **where: Any) -> Any:
    async with sessions() as s:
        stmt = select(model).filter_by(**where)
        return (await s.execute(stmt)).scalars().first()


async def test_v3_commands_drive_the_domain_and_answer_with_its_events(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    correlation = str(uuid.uuid4())
    async with running(bus, database_url):
        await bus.publish(
            "imi.cmd.register_project",
            envelope(
                "imi.cmd.register_project",
                {"remote_origin": ORIGIN, "name": "cmds"},
                correlation_ids=[correlation],
            ),
        )
        [(message, body)] = await wait_tapped(bus, "imi.project.registered")
        # The success event is the answer, and it carries the command's correlation id.
        assert message.correlation_id == correlation
        assert body["correlation_ids"] == [correlation]
        assert body["metadata"]["correlation_id"] == correlation
        project = await one(sessions, Project, name="cmds")
        assert body["payload"]["project_id"] == str(project.id)

        start_id = str(uuid.uuid4())
        await bus.publish(
            "imi.cmd.start_work",
            envelope(
                "imi.cmd.start_work",
                {
                    "project_id": str(project.id),
                    "branch_name": "feat/PROJ-7-login",
                    "owner_id": "agent-1",
                },
            ),
            message_id=start_id,
        )
        [(_, started)] = await wait_tapped(bus, "imi.work.started")
        item = await one(sessions, WorkItem, branch_name="feat/PROJ-7-login")
        assert started["payload"]["work_item_id"] == str(item.id)
        assert (item.source_type, item.source_ref, item.owner_id) == (
            "bloodbank_command",
            start_id,
            "agent-1",
        )
        # With no correlation id of its own, a command's events correlate to the command.
        assert started["metadata"]["correlation_id"] == start_id

        await bus.publish(
            "imi.cmd.link_ticket",
            envelope(
                "imi.cmd.link_ticket",
                {
                    "work_item_id": str(item.id),
                    "plane_ticket_id": "PROJ-9",
                    "kind": "closes",
                    "title": "Login page",
                },
            ),
        )
        await wait_tapped(bus, "imi.link.ticket_linked", 2)  # PROJ-7 (branch) and PROJ-9
        ticket = await one(sessions, Ticket, plane_ticket_id="PROJ-9")
        assert ticket.title == "Login page"
        link = await one(sessions, TicketLink, ticket_id=ticket.id)
        assert link.kind == "closes"

        await bus.publish(
            "imi.cmd.complete_work",
            envelope(
                "imi.cmd.complete_work",
                {
                    "work_item_id": str(item.id),
                    "completion_type": "merged",
                    "merge_commit_hash": "abc1234def",
                    "merged_by": "agent-merger",
                },
            ),
        )
        await wait_tapped(bus, "imi.work.completed")
        await wait_tapped(bus, "imi.worktree.merged")
        async with sessions() as s:
            done = await s.get(WorkItem, item.id)
        assert done is not None and not done.active
        assert (done.completion_type, done.merge_commit_hash, done.merged_by) == (
            "merged",
            "abc1234def",
            "agent-merger",
        )
    assert "imi.cmd.failed" not in await event_types(sessions)


async def test_v2_commands_register_and_create_worktrees(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running(bus, database_url):
        await bus.publish(
            "imi.project.register",
            v2_envelope(
                "imi.project.register",
                {"remote_origin": ORIGIN, "trunk_path": "/code/commands/trunk-main"},
                "corr-v2",
            ),
        )
        [(message, body)] = await wait_tapped(bus, "imi.project.registered")
        assert message.correlation_id == "corr-v2"
        assert body["metadata"]["correlation_id"] == "corr-v2"
        project_id = body["payload"]["project_id"]
        await bus.publish(
            "imi.worktree.create",
            v2_envelope(
                "imi.worktree.create",
                {
                    "project_id": project_id,
                    "type": "feat",
                    "name": "feat-user-auth",
                    "branch_name": "feat/user-auth",
                    "path": "/code/commands/feat-user-auth",
                    "agent_id": "agent-coder-1",
                },
                "corr-wt",
            ),
        )
        [(_, created)] = await wait_tapped(bus, "imi.worktree.created")
        assert created["metadata"]["correlation_id"] == "corr-wt"
        assert created["payload"]["path"] == "/code/commands/feat-user-auth"
        item = await one(sessions, WorkItem, name="feat-user-auth")
        assert (item.work_type, item.worktree_path, item.owner_id) == (
            "feature",
            "/code/commands/feat-user-auth",
            "agent-coder-1",
        )


async def test_failed_commands_are_answered_not_dead_lettered(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bad_origin = {"remote_origin": "not a remote"}
    unknown_project = {"project_id": str(uuid.uuid4()), "branch_name": "feat/x"}
    async with running(bus, database_url):
        await bus.publish(
            "imi.cmd.register_project", envelope("imi.cmd.register_project", bad_origin)
        )
        await bus.publish("imi.cmd.start_work", envelope("imi.cmd.start_work", unknown_project))
        await bus.publish(
            "imi.cmd.complete_work", envelope("imi.cmd.complete_work", {"work_item_id": "nope"})
        )
        await bus.publish("imi.cmd.launch_rockets", envelope("imi.cmd.launch_rockets", {}))
        await bus.publish("imi.project.register", v2_envelope("imi.project.register", {}, "c1"))
        await bus.publish(
            "imi.worktree.create",
            v2_envelope(
                "imi.worktree.create",
                {
                    "project_id": str(uuid.uuid4()),
                    "type": "feat",
                    "name": "feat-y",
                    "branch_name": "feat/y",
                    "path": "/code/y",
                },
                "c2",
            ),
        )
        failures = await wait_tapped(bus, "imi.cmd.failed", 4)
        errors = {b["payload"]["command"]: b["payload"] for _, b in failures}
        assert errors["imi.cmd.register_project"]["request"] == bad_origin
        assert errors["imi.cmd.register_project"]["error"]["code"] == "VALIDATION_ERROR"
        assert "not a remote" in errors["imi.cmd.register_project"]["error"]["message"]
        assert (
            errors["imi.cmd.start_work"]["request"]["project_id"] == unknown_project["project_id"]
        )
        assert errors["imi.cmd.start_work"]["error"]["code"] == "NOT_FOUND"
        assert errors["imi.cmd.complete_work"]["error"]["code"] == "VALIDATION_ERROR"
        assert errors["imi.cmd.launch_rockets"]["error"]["code"] == "VALIDATION_ERROR"
        [(message, v2_failed)] = await wait_tapped(bus, "imi.project.registration_failed")
        assert message.correlation_id == "c1"
        assert v2_failed["payload"]["request"] == {}
        assert v2_failed["payload"]["error"]["code"] == "VALIDATION_ERROR"
        [(_, wt_failed)] = await wait_tapped(bus, "imi.worktree.creation_failed")
        assert wt_failed["payload"]["error"]["code"] == "NOT_FOUND"
        # iMi's own imi.cmd.failed matches imi.cmd.* but is never taken for a command.
        await asyncio.sleep(0.5)
        assert len(tapped(bus, "imi.cmd.failed")) == 4
        assert await processed_count(sessions, "imi.commands") == 4
        dlq = await bus.channel.declare_queue(f"{bus.prefix}imi.commands.dlq", passive=True)
        assert dlq.declaration_result.message_count == 0


async def test_a_duplicate_command_changes_nothing(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    command = envelope("imi.cmd.register_project", {"remote_origin": ORIGIN})
    failing = envelope("imi.cmd.register_project", {"remote_origin": ""})
    async with running(bus, database_url):
        for _ in range(2):
            await bus.publish("imi.cmd.register_project", command, message_id="cmd-1")
            await bus.publish("imi.cmd.register_project", failing, message_id="cmd-2")
        await wait_processed(sessions, "imi.commands", 2)
        await asyncio.sleep(0.5)  # time for the duplicates to be (not) handled
    types = await event_types(sessions)
    assert types.count("imi.project.registered") == 1
    assert types.count("imi.cmd.failed") == 1
    async with sessions() as s:
        ids = sorted((await s.execute(select(ProcessedMessage.message_id))).scalars())
    assert ids == ["cmd-1", "cmd-2"]


async def test_malformed_commands_go_straight_to_the_dead_letter_queue(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running(bus, database_url):
        await bus.publish("imi.cmd.register_project", b"{not json", message_id="bad-1")
        await bus.publish("imi.cmd.register_project", b"[1, 2]", message_id="bad-2")
        await bus.publish(
            "imi.project.register",
            {"event_type": "x", "payload": "not an object"},
            message_id="bad-3",
        )
        dead = await dead_letters(bus, "imi.commands", 2)
        assert sorted(m.message_id for m in dead) == ["bad-1", "bad-2"]
        [dead_v2] = await dead_letters(bus, "imi_commands_queue", 1)
        assert dead_v2.message_id == "bad-3"
    assert await event_types(sessions) == []
    assert await processed_count(sessions, "imi.commands") == 0


async def test_a_failing_handler_is_retried_then_dead_lettered(
    bus: Bus,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: dict[str, int] = {}
    real = commands.register_project

    async def flaky(session: AsyncSession, data: Any, **options: Any) -> Any:
        calls[data.remote_origin] = calls.get(data.remote_origin, 0) + 1
        if "broken" in data.remote_origin or calls[data.remote_origin] == 1:
            raise RuntimeError("database hiccup")
        return await real(session, data, **options)

    monkeypatch.setattr(commands, "register_project", flaky)
    monkeypatch.setattr(handling, "RETRY_PAUSE_SECONDS", 0.01)
    async with running(bus, database_url):
        await bus.publish(
            "imi.cmd.register_project",
            envelope("imi.cmd.register_project", {"remote_origin": ORIGIN}),
        )
        await bus.publish(
            "imi.cmd.register_project",
            envelope(
                "imi.cmd.register_project", {"remote_origin": "git@github.com:acme/broken.git"}
            ),
            message_id="always-fails",
        )
        # A transient failure: the retry succeeds, once.
        await wait_processed(sessions, "imi.commands", 1)
        assert calls[ORIGIN] == 2
        # A persistent one: every delivery the queue allows, then the DLQ.
        [dead] = await dead_letters(bus, "imi.commands", 1, timeout=20)
        assert dead.message_id == "always-fails"
        assert calls["git@github.com:acme/broken.git"] == 5
    types = await event_types(sessions)
    assert types == ["imi.project.registered"]
