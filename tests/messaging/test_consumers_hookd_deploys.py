"""hookd tool mutations (``tool.mutation.*``, ``hookd.tool.mutation.*``) and CI deployments
(``ci.deploy.*``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.links.models import Deployment, DeploymentWorkItem
from imi.projects.models import Project
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item
from tests.messaging.conftest import Bus
from tests.messaging.consumers_support import (
    dead_letters,
    envelope,
    event_types,
    processed_count,
    running,
    until,
    wait_processed,
)

ORIGIN = "git@github.com:acme/tools.git"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


async def seed_project(session: AsyncSession) -> Project:
    return await make_project(
        session, remote_origin=ORIGIN, remote_origin_normalized="github.com/acme/tools"
    )


async def activity(sessions: async_sessionmaker[AsyncSession], *items: WorkItem) -> list[Any]:
    async with sessions() as s:
        return [(await s.get(WorkItem, i.id)).last_activity_at for i in items]  # type: ignore[union-attr]


def hookd_body(repo: dict[str, Any] | None, tool: str = "Edit") -> dict[str, Any]:
    """hookd's flat body (no envelope)."""
    body: dict[str, Any] = {
        "event_type": f"tool.mutation.{tool.lower()}",
        "hook_type": "PostToolUse",
        "tool_name": tool,
        "agent_id": "agent-coder-1",
        "file_path": "src/app.py",
        "file_ext": ".py",
        "lines_changed": 4,
        "raw_payload": {"tool_input": {"file_path": "src/app.py"}},
        "timestamp": datetime.now(UTC).isoformat(),
        "source_pid": 4242,
        "correlation_id": "hookd-corr",
    }
    if repo is not None:
        body["repo"] = repo
    return body


async def test_tool_mutations_bump_the_matching_work_items_activity(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as s, s.begin():
        project = await seed_project(s)
        by_branch = await make_work_item(
            s, project, branch_name="feat/x", last_activity_at=LONG_AGO
        )
        by_path = await make_work_item(
            s,
            project,
            branch_name="feat/y",
            worktree_path="/code/tools/feat-y",
            last_activity_at=LONG_AGO,
        )
        idle = await make_work_item(s, project, branch_name="feat/z", last_activity_at=LONG_AGO)
    repo = {
        "git_root": "/code/tools/feat-x",
        "branch": "feat/x",
        "head_sha": "abc1234",
        "remote_url": "https://github.com/acme/tools",
    }
    async with running(bus, database_url):
        for _ in range(2):  # a duplicate is handled once
            await bus.publish("tool.mutation.edit", hookd_body(repo), message_id="hookd-1")
        # The PRD's key; no remote: matched by the worktree the tool ran in.
        no_remote = {"git_root": "/code/tools/feat-y", "branch": "feat/y", "remote_url": None}
        await bus.publish("hookd.tool.mutation.write", hookd_body(no_remote, "Write"))
        # An untracked branch: skipped. No repo at all: not a hookd body, dead-lettered.
        await bus.publish("tool.mutation.edit", hookd_body({**repo, "branch": "feat/nope"}))
        await bus.publish("tool.mutation.edit", hookd_body(None), message_id="no-repo")
        await wait_processed(sessions, "imi.mutation_events", 3)
        [dead] = await dead_letters(bus, "imi.mutation_events", 1)
        assert dead.message_id == "no-repo"
    bumped_branch, bumped_path, untouched = await activity(sessions, by_branch, by_path, idle)
    assert bumped_branch > LONG_AGO and bumped_path > LONG_AGO
    assert untouched == LONG_AGO
    assert await processed_count(sessions, "imi.mutation_events") == 3


async def shipped(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with sessions() as s:
        deploys = {d.id: d for d in (await s.execute(select(Deployment))).scalars()}
        links = (await s.execute(select(DeploymentWorkItem))).scalars().all()
    result: dict[str, Any] = {d.deploy_id: (d.status, set()) for d in deploys.values()}
    for link in links:
        result[deploys[link.deployment_id].deploy_id][1].add(link.work_item_id)
    return result


async def test_deploys_link_the_work_items_they_ship(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as s, s.begin():
        project = await seed_project(s)
        active = await make_work_item(s, project, branch_name="feat/a")
        merged = await make_work_item(
            s,
            project,
            branch_name="feat/b",
            active=False,
            completion_type="merged",
            completed_at=datetime.now(UTC),
            merge_commit_hash="1a2b3c4d5e6f",
        )
        other = await make_work_item(s, project, branch_name="feat/c")

    def deploy(key: str = "ci.deploy.completed", **payload: Any) -> dict[str, Any]:
        return envelope(key, {"environment": "production", **payload})

    async with running(bus, database_url):
        explicit = deploy(deploy_id="d1", work_item_ids=[str(other.id)], commit_hash="0" * 12)
        for _ in range(2):
            await bus.publish("ci.deploy.completed", explicit, message_id="deploy-1")
        # Branches of a repository (a finished work item counts: it was merged, then shipped).
        await bus.publish(
            "ci.deploy.completed",
            deploy(
                deploy_id="d2",
                repository="https://github.com/acme/tools",
                branches=["feat/a", "refs/heads/feat/b"],
            ),
        )
        # A full commit hash matching a stored short merge commit; status from the key.
        await bus.publish(
            "ci.deploy.failed",
            deploy(
                "ci.deploy.failed",
                deploy_id="d3",
                commit_hash="1a2b3c4d5e6f" + "7" * 28,
            ),
        )
        # Nothing matches: skipped. No environment: dead-lettered.
        await bus.publish("ci.deploy.completed", deploy(deploy_id="d4", commit_hash="deadbeef99"))
        await bus.publish(
            "ci.deploy.completed",
            envelope("ci.deploy.completed", {"deploy_id": "d5"}),
            message_id="no-env",
        )
        await wait_processed(sessions, "imi.deploy_events", 4)
        [dead] = await dead_letters(bus, "imi.deploy_events", 1)
        assert dead.message_id == "no-env"
        result = await until(lambda: shipped(sessions), lambda r: len(r) == 3)
    assert result == {
        "d1": ("succeeded", {other.id}),
        "d2": ("succeeded", {active.id, merged.id}),
        "d3": ("failed", {merged.id}),
    }
    assert (await event_types(sessions)).count("imi.deploy.completed") == 3
