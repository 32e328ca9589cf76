"""Finding the work item an external event is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from imi.errors import ValidationFailed
from imi.work import matching
from tests.factories import make_project, make_work_item


async def test_by_remote_in_any_spelling_and_branch(session: AsyncSession) -> None:
    project = await make_project(
        session,
        remote_origin="git@github.com:acme/m.git",
        remote_origin_normalized="github.com/acme/m",
    )
    item = await make_work_item(session, project, branch_name="feat/a")
    for remote in ("https://github.com/ACME/m", "ssh://git@github.com/acme/m.git"):
        found = await matching.work_by_remote_branch(session, remote, "feat/a")
        assert found is not None and found.id == item.id
    assert await matching.work_by_remote_branch(session, "git@github.com:acme/m.git", "x") is None
    assert await matching.work_by_remote_branch(session, "git@github.com:o/other.git", "a") is None
    with pytest.raises(ValidationFailed):
        await matching.work_by_remote_branch(session, "not a remote", "feat/a")


async def test_finished_work_only_when_asked_latest_first(session: AsyncSession) -> None:
    project = await make_project(session)
    now = datetime.now(UTC)
    await make_work_item(
        session, project, branch_name="feat/b", name="b1", active=False, completed_at=now
    )
    latest = await make_work_item(
        session,
        project,
        branch_name="feat/b",
        name="b2",
        active=False,
        completed_at=now + timedelta(minutes=1),
    )
    assert await matching.work_on_branch(session, project.id, "feat/b") is None
    found = await matching.work_on_branch(session, project.id, "feat/b", include_inactive=True)
    assert found is not None and found.id == latest.id
    active = await make_work_item(session, project, branch_name="feat/b", name="b3")
    found = await matching.work_on_branch(session, project.id, "feat/b", include_inactive=True)
    assert found is not None and found.id == active.id


async def test_by_worktree_path_ignores_a_trailing_slash(session: AsyncSession) -> None:
    project = await make_project(session)
    item = await make_work_item(session, project, worktree_path="/code/m/feat-c/")
    for path in ("/code/m/feat-c", "/code/m/feat-c/"):
        found = await matching.work_at_path(session, path)
        assert found is not None and found.id == item.id
    assert await matching.work_at_path(session, "/code/m") is None


async def test_by_commit_full_or_short(session: AsyncSession) -> None:
    project = await make_project(session)
    full = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
    last = await make_work_item(session, project, last_commit_hash=full)
    merged = await make_work_item(session, project, merge_commit_hash="ABCDEF12", active=False)
    await make_work_item(session, project, last_commit_hash="1a2b")  # too short to match
    assert [i.id for i in await matching.work_with_commit(session, full)] == [last.id]
    assert [i.id for i in await matching.work_with_commit(session, "1a2b3c4d")] == [last.id]
    found = await matching.work_with_commit(session, "abcdef12" + "0" * 32)
    assert [i.id for i in found] == [merged.id]
    assert await matching.work_with_commit(session, "1a2b") == []  # too short to ask
    other = await make_project(session)
    assert await matching.work_with_commit(session, full, project_id=other.id) == []
