"""Events in the seeds' words, against a real RabbitMQ: the v2 envelope of 002 section 2 (a
reader written against it parses what iMi publishes), free-form correlation ids, the answer
to a register command for a known project, and numbers that overflow a column."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.projects.models import Project
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item
from tests.messaging.conftest import Bus
from tests.messaging.consumers_support import (
    dead_letters,
    envelope,
    processed_count,
    running,
    until,
    v2_envelope,
    wait_processed,
    wait_tapped,
)

ORIGIN = "git@github.com:delorenj/my-awesome-app.git"


class V2Source(BaseModel):
    host: str
    type: str
    app: str


class V2Metadata(BaseModel):
    correlation_id: str | None
    version: str


class V2Envelope(BaseModel):
    """002 section 2, "Event Envelope Structure", as a consumer written against it reads it
    (fields it does not know are ignored, as JSON readers do)."""

    model_config = ConfigDict(extra="ignore")
    event_type: str
    timestamp: datetime
    source: V2Source
    payload: dict[str, Any]
    metadata: V2Metadata


async def test_v2_events_carry_the_v2_envelope_values(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running(bus, database_url):
        await bus.publish(
            "imi.project.register",
            v2_envelope(
                "imi.project.register",
                {
                    "name": "my-awesome-app",
                    "remote_origin": ORIGIN,
                    "default_branch": "main",
                    "trunk_path": "/home/jarad/code/my-awesome-app/trunk-main",
                    "metadata": {"language": "rust"},
                },
                "abc123",  # 002's example correlation id: not a UUID
            ),
        )
        [(message, registered)] = await wait_tapped(bus, "imi.project.registered")
        # A free-form correlation id travels everywhere, correlation_ids included.
        assert message.correlation_id == "abc123"
        assert registered["correlation_ids"] == ["abc123"]
        assert registered["metadata"]["correlation_id"] == "abc123"
        # imi.project.registered is a v3 event too: Bloodbank's values.
        assert registered["source"]["type"] == "service"
        project_id = registered["payload"]["project_id"]

        await bus.publish(
            "imi.worktree.create",
            v2_envelope(
                "imi.worktree.create",
                {
                    "project_id": project_id,
                    "type": "feat",
                    "name": "feat-user-auth",
                    "branch_name": "feat/user-auth",
                    "path": "/home/jarad/code/my-awesome-app/feat-user-auth",
                    "agent_id": "agent-coder-1",
                    "metadata": {"story_id": "PROJ-123", "priority": "high"},
                },
                "req-7",
            ),
        )
        [(_, body)] = await wait_tapped(bus, "imi.worktree.created")
        created = V2Envelope.model_validate(body)
        assert created.event_type == "imi.worktree.created"
        assert (created.source.type, created.source.app) == ("component", "imi")
        assert created.metadata == V2Metadata(correlation_id="req-7", version="2.0.0")
        assert created.payload["type"] == "feat"
        assert created.payload["path"] == "/home/jarad/code/my-awesome-app/feat-user-auth"
        # The v3 event of the same change keeps Bloodbank's values.
        [(_, started)] = await wait_tapped(bus, "imi.work.started")
        assert started["source"]["type"] == "service" and started["version"] == "1.0.0"
        assert started["metadata"]["version"] == "1.0.0"


async def test_register_command_for_a_known_project_is_answered(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running(bus, database_url):
        for correlation in ("first", "second"):
            await bus.publish(
                "imi.cmd.register_project",
                envelope("imi.cmd.register_project", {"remote_origin": ORIGIN}),
                message_id=correlation,
            )
        answers = await wait_tapped(bus, "imi.project.registered", 2)
        bodies = sorted((m.correlation_id, b["payload"]) for m, b in answers)
        assert [c for c, _ in bodies] == ["first", "second"]
        first, second = (payload for _, payload in bodies)
        assert first["project_id"] == second["project_id"]
        assert (first["existed"], second["existed"]) == (False, True)
        assert second["reactivated"] is False


async def test_numbers_that_overflow_a_column_are_dead_lettered_at_once(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    path = "/home/jarad/code/my-awesome-app/feat-user-auth"
    async with sessions() as s, s.begin():
        project = await make_project(
            s, remote_origin=ORIGIN, remote_origin_normalized="github.com/delorenj/my-awesome-app"
        )
        item = await make_work_item(s, project, worktree_path=path)
    report = {"worktree_path": path, "has_uncommitted": True, "uncommitted_count": 5, "ahead": 3}
    async with running(bus, database_url):
        await bus.publish(
            "git.sync_completed",
            envelope("git.sync_completed", {**report, "ahead": 2**31}),
            message_id="overflow",
        )
        await bus.publish(
            "git.sync_completed",
            envelope("git.sync_completed", {**report, "uncommitted_count": 10**30}),
            message_id="way-overflow",
        )
        await bus.publish("git.sync_completed", envelope("git.sync_completed", report))
        dead = await dead_letters(bus, "imi_git_sync_queue", 2)
        assert sorted(m.message_id for m in dead) == ["overflow", "way-overflow"]
        # Never redelivered (no retries): dead on the first delivery.
        assert all(not (m.headers or {}).get("x-delivery-count") for m in dead)
        # The valid report behind them was applied.
        await wait_processed(sessions, "imi_git_sync_queue", 1)

        async def fresh() -> WorkItem:
            async with sessions() as s:
                found = await s.get(WorkItem, item.id)
                assert found is not None
                return found

        applied = await until(fresh, lambda i: i.ahead_of_trunk == 3)
        assert applied.uncommitted_files_count == 5
    assert await processed_count(sessions, "imi_git_sync_queue") == 1


async def test_a_command_with_an_unknown_field_is_refused_naming_it(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A misspelt field must not silently lose data: the command fails, naming the field."""
    async with running(bus, database_url):
        await bus.publish(
            "imi.cmd.register_project",
            envelope("imi.cmd.register_project", {"remote_origin": ORIGIN, "trunk_pth": "/code/x"}),
        )
        await bus.publish(
            "imi.worktree.create",
            v2_envelope(
                "imi.worktree.create",
                {
                    "project_id": "550e8400-e29b-41d4-a716-446655440000",
                    "type": "feat",
                    "name": "feat-user-auth",
                    "branch_name": "feat/user-auth",
                    "path": "/home/jarad/code/my-awesome-app/feat-user-auth",
                    "agent": "agent-coder-1",
                },
                "c-wt",
            ),
        )
        [(_, failed)] = await wait_tapped(bus, "imi.cmd.failed")
        assert failed["payload"]["error"]["code"] == "VALIDATION_ERROR"
        assert failed["payload"]["error"]["details"] == {"field": "trunk_pth"}
        [(_, v2_failed)] = await wait_tapped(bus, "imi.worktree.creation_failed")
        assert v2_failed["payload"]["error"]["details"] == {"field": "agent"}
        # The v2 failure event carries the v2 envelope values too.
        assert V2Envelope.model_validate(v2_failed).metadata.version == "2.0.0"
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Project))).scalar_one() == 0
