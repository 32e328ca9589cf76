"""git consumers: ``git.push`` and ``git.pr.*`` on ``imi.git_events``, ``git.sync_completed`` on
``imi_git_sync_queue``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.links.models import PullRequest
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

ORIGIN = "git@github.com:acme/shop.git"
SHA = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"


async def seed(sessions: async_sessionmaker[AsyncSession], **work: Any) -> WorkItem:
    async with sessions() as s, s.begin():
        project = await make_project(
            s, remote_origin=ORIGIN, remote_origin_normalized="github.com/acme/shop"
        )
        return await make_work_item(s, project, **work)


async def item_of(sessions: async_sessionmaker[AsyncSession], item: WorkItem) -> WorkItem:
    async with sessions() as s:
        found = await s.get(WorkItem, item.id)
        assert found is not None
        return found


async def pull_requests(sessions: async_sessionmaker[AsyncSession]) -> list[PullRequest]:
    async with sessions() as s:
        return list((await s.execute(select(PullRequest))).scalars())


async def test_pushes_update_the_git_state_of_the_branch(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    item = await seed(sessions, branch_name="feat/cart")
    push = {
        # Another spelling of the project's origin, a full ref, GitHub-style field names.
        "repository": {"clone_url": "https://github.com/Acme/shop.git", "full_name": "acme/shop"},
        "ref": "refs/heads/feat/cart",
        "after": SHA,
        "head_commit": {"id": SHA, "message": "Add cart"},
        "ahead": 2,
        "behind": 1,
        "has_uncommitted": True,
        "uncommitted_count": 3,
    }
    async with running(bus, database_url):
        await bus.publish("git.push", envelope("git.push", push))
        found = await until(lambda: item_of(sessions, item), lambda i: i.last_commit_hash == SHA)
        assert (found.ahead_of_trunk, found.behind_trunk, found.status) == (2, 1, "uncommitted")
        assert (found.uncommitted_files_count, found.last_commit_message) == (3, "Add cart")
        # The PRD's flat shape; an untracked branch, a tag and an unknown repo are skipped.
        flat = {"remote_url": ORIGIN, "branch": "feat/cart", "head_sha": "feedbee", "ahead": 3}
        await bus.publish("git.push", envelope("git.push", flat))
        await bus.publish("git.push", envelope("git.push", {**flat, "branch": "feat/other"}))
        tag = {"remote_url": ORIGIN, "ref": "refs/tags/v1", "after": SHA}
        await bus.publish("git.push", envelope("git.push", tag))
        await bus.publish(
            "git.push", envelope("git.push", {**flat, "remote_url": "git@github.com:x/y.git"})
        )
        await bus.publish("git.push", envelope("git.push", {"branch": "main"}), message_id="bad")
        await wait_processed(sessions, "imi.git_events", 5)
        [dead] = await dead_letters(bus, "imi.git_events", 1)
        assert dead.message_id == "bad"
    found = await item_of(sessions, item)
    assert (found.last_commit_hash, found.ahead_of_trunk, found.behind_trunk) == ("feedbee", 3, 1)
    assert (await event_types(sessions)).count("imi.work.git_state_updated") == 2


async def test_pull_request_lifecycle_follows_git_pr_events(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    item = await seed(sessions, branch_name="feat/checkout")
    url = "https://github.com/acme/shop/pull/7"
    opened = {
        "repository_url": "https://github.com/acme/shop",
        "number": 7,
        "url": url,
        "head_branch": "feat/checkout",
        "title": "Checkout",
    }
    async with running(bus, database_url):
        await bus.publish("git.pr.opened", envelope("git.pr.opened", opened))
        [pr] = await until(lambda: pull_requests(sessions), lambda prs: len(prs) == 1)
        assert (pr.work_item_id, pr.number, pr.state, pr.title) == (item.id, 7, "open", "Checkout")
        # GitHub's own shape: closed with merged=true is a merge.
        github = {
            "action": "closed",
            "number": 7,
            "pull_request": {
                "html_url": url,
                "number": 7,
                "state": "closed",
                "merged": True,
                "head": {"ref": "feat/checkout"},
            },
            "repository": {"ssh_url": ORIGIN},
        }
        merged_id = "pr-merged-1"
        for _ in range(2):  # a duplicate delivery changes nothing
            await bus.publish(
                "git.pr.closed", envelope("git.pr.closed", github), message_id=merged_id
            )
        await until(lambda: pull_requests(sessions), lambda prs: prs[0].state == "merged")
        # Illegal move (merged is terminal) and a PR of an untracked branch: skipped.
        await bus.publish("git.pr.reopened", envelope("git.pr.reopened", opened))
        await bus.publish(
            "git.pr.opened",
            envelope(
                "git.pr.opened",
                {**opened, "number": 8, "url": url[:-1] + "8", "head_branch": "feat/unknown"},
            ),
        )
        await wait_processed(sessions, "imi.git_events", 4)
    assert [p.state for p in await pull_requests(sessions)] == ["merged"]
    types = await event_types(sessions)
    assert [t for t in types if t.startswith("imi.pr.")] == ["imi.pr.created", "imi.pr.merged"]


async def test_sync_reports_update_the_work_at_the_worktree_path(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    path = "/home/dev/code/shop/feat-sync"
    item = await seed(sessions, branch_name="feat/sync", worktree_path=path)
    report = {
        "worktree_path": path + "/",
        "has_uncommitted": False,
        "uncommitted_count": 0,
        "ahead": 4,
        "behind": 0,
        "last_commit_hash": "c0ffee1234",
    }
    async with running(bus, database_url):
        await bus.publish("git.sync_completed", envelope("git.sync_completed", report))
        found = await until(lambda: item_of(sessions, item), lambda i: i.ahead_of_trunk == 4)
        assert (found.last_commit_hash, found.status) == ("c0ffee1234", "ahead")
        await bus.publish(
            "git.sync_completed",
            envelope("git.sync_completed", {**report, "worktree_path": "/elsewhere"}),
        )
        await bus.publish(
            "git.sync_completed",
            envelope("git.sync_completed", {**report, "ahead": -1}),
            message_id="negative",
        )
        [dead] = await dead_letters(bus, "imi_git_sync_queue", 1)
        assert dead.message_id == "negative"
        await wait_processed(sessions, "imi_git_sync_queue", 2)
    assert await processed_count(sessions, "imi_git_sync_queue") == 2
    assert (await event_types(sessions)).count("imi.worktree.git_state_updated") == 1
