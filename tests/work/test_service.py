import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.errors import Conflict, NotFound, ValidationFailed
from imi.projects.models import Project
from imi.work import queries, service
from imi.work.models import (
    CompletionType,
    GitState,
    SourceType,
    WorkCompletion,
    WorkFilter,
    WorkSource,
    WorkStart,
    WorkStatus,
)
from tests.factories import make_project
from tests.helpers import events_of, payload


async def start(session: AsyncSession, project: Project, branch: str = "feat/login", **kw: object):
    return await service.start_work(
        session,
        WorkStart(project_id=project.id, branch_name=branch, **kw),  # type: ignore[arg-type]
    )


async def test_start_work_records_item_and_events(session: AsyncSession) -> None:
    project = await make_project(session, name="widget")
    item = await start(
        session,
        project,
        "feat/user-auth",
        work_type="feat",
        owner_id="agent-coder-1",
        worktree_path="/code/widget/feat-user-auth",
        source=WorkSource(type=SourceType.AGENT_ASSIGNMENT, ref="flume-9"),
    )
    assert item.work_type == "feature"
    assert item.name == "feat-user-auth"
    assert item.status == "clean" and item.active
    assert (item.source_type, item.source_ref) == ("agent_assignment", "flume-9")
    [started] = await events_of(session, "imi.work.started")
    assert payload(started)["work_item_id"] == str(item.id)
    assert payload(started)["project_name"] == "widget"
    [v2] = await events_of(session, "imi.worktree.created")
    assert payload(v2) == {
        "worktree_id": str(item.id),
        "project_id": str(project.id),
        "project_name": "widget",
        "type": "feat",
        "name": "feat-user-auth",
        "branch_name": "feat/user-auth",
        "path": "/code/widget/feat-user-auth",
        "agent_id": "agent-coder-1",
    }


async def test_v2_events_can_be_switched_off(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMI_PUBLISH_V2_EVENTS", "false")
    project = await make_project(session)
    await start(session, project)
    assert await events_of(session, "imi.worktree.created") == []
    assert len(await events_of(session, "imi.work.started")) == 1


async def test_second_active_item_on_branch_is_a_conflict(session: AsyncSession) -> None:
    project = await make_project(session)
    first = await start(session, project, "feat/login")
    with pytest.raises(Conflict) as exc:
        await start(session, project, "feat/login")
    assert exc.value.field == "branch_name"
    assert exc.value.details["existing_id"] == str(first.id)
    with pytest.raises(Conflict) as exc:
        await start(session, project, "feat/other", name="feat-login")
    assert exc.value.field == "name"
    # Another project may use the same branch; a completed item frees the branch.
    await start(session, await make_project(session), "feat/login")
    await service.complete_work(session, first.id, WorkCompletion())
    again = await start(session, project, "feat/login")
    assert again.id != first.id


async def test_concurrent_starts_on_one_branch_give_one_item(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s, s.begin():
        project = await make_project(s)

    async def one() -> str:
        async with sessions() as s, s.begin():
            try:
                await start(s, project, "feat/race")
                return "ok"
            except Conflict:
                return "conflict"

    outcomes = await asyncio.gather(*(one() for _ in range(10)))
    assert sorted(outcomes) == ["conflict"] * 9 + ["ok"]


async def test_start_work_validation(session: AsyncSession) -> None:
    project = await make_project(session)
    with pytest.raises(ValidationFailed) as exc:
        await start(session, project, work_type="chore")
    assert exc.value.field == "work_type"
    with pytest.raises(ValidationFailed) as exc:
        await start(session, project, "bad branch")
    assert exc.value.field == "branch_name"
    with pytest.raises(NotFound) as nf:
        await service.start_work(session, WorkStart(project_id=uuid.uuid4(), branch_name="feat/x"))
    assert nf.value.field == "project_id"
    project.active = False
    await session.flush()
    with pytest.raises(Conflict) as exc:
        await start(session, project)
    assert exc.value.field == "project_id"
    assert await events_of(session) == []


async def test_git_state_derives_status(session: AsyncSession) -> None:
    project = await make_project(session)
    item = await start(session, project)
    cases = [
        (GitState(has_uncommitted_changes=True, uncommitted_files_count=3), WorkStatus.UNCOMMITTED),
        (
            GitState(
                has_uncommitted_changes=False,
                uncommitted_files_count=0,
                ahead_of_trunk=2,
                behind_trunk=1,
            ),
            WorkStatus.DIVERGED,
        ),
        (GitState(behind_trunk=0), WorkStatus.AHEAD),
        (GitState(ahead_of_trunk=0, behind_trunk=4), WorkStatus.BEHIND),
        (GitState(behind_trunk=0), WorkStatus.CLEAN),
        (
            GitState(has_uncommitted_changes=True, ahead_of_trunk=1, behind_trunk=1),
            WorkStatus.UNCOMMITTED,
        ),
    ]
    for state, expected in cases:
        result = await service.update_git_state(session, state, work_item_id=item.id)
        assert result.applied and result.work_item.status == expected.value


async def test_git_state_by_project_and_branch_reports_changed_fields(
    session: AsyncSession,
) -> None:
    project = await make_project(session, name="widget")
    item = await start(session, project, "feat/sync")
    result = await service.update_git_state(
        session,
        GitState(
            has_uncommitted_changes=True,
            uncommitted_files_count=5,
            ahead_of_trunk=3,
            behind_trunk=0,
            last_commit_hash="a1b2c3",
            last_commit_message="Add endpoints",
        ),
        project_id=project.id,
        branch_name="feat/sync",
    )
    assert result.work_item.id == item.id
    assert result.updated_fields == [
        "ahead_of_trunk",
        "has_uncommitted_changes",
        "last_commit_hash",
        "last_commit_message",
        "uncommitted_files_count",
    ]
    [event] = await events_of(session, "imi.work.git_state_updated")
    assert payload(event)["status"] == "uncommitted"
    [v2] = await events_of(session, "imi.worktree.git_state_updated")
    assert payload(v2)["worktree_name"] == "feat-sync" and payload(v2)["ahead_of_trunk"] == 3

    # The same report again changes nothing: no new event.
    again = await service.update_git_state(
        session, GitState(ahead_of_trunk=3), work_item_id=item.id
    )
    assert again.applied and again.updated_fields == []
    assert len(await events_of(session, "imi.work.git_state_updated")) == 1


async def test_out_of_order_git_state_does_not_overwrite_newer(session: AsyncSession) -> None:
    project = await make_project(session)
    item = await start(session, project)
    now = datetime.now(UTC)
    newer = await service.update_git_state(
        session, GitState(ahead_of_trunk=5, last_sync_at=now), work_item_id=item.id
    )
    assert newer.applied
    stale = await service.update_git_state(
        session,
        GitState(ahead_of_trunk=1, last_sync_at=now - timedelta(minutes=1)),
        work_item_id=item.id,
    )
    assert not stale.applied and stale.updated_fields == []
    assert stale.work_item.ahead_of_trunk == 5
    assert stale.work_item.last_sync_at == now
    naive = await service.update_git_state(
        session,
        GitState(ahead_of_trunk=7, last_sync_at=(now + timedelta(seconds=1)).replace(tzinfo=None)),
        work_item_id=item.id,
    )
    assert naive.applied and naive.work_item.ahead_of_trunk == 7


async def test_git_state_addressing_errors(session: AsyncSession) -> None:
    project = await make_project(session)
    with pytest.raises(NotFound) as exc:
        await service.update_git_state(session, GitState(), work_item_id=uuid.uuid4())
    assert exc.value.field == "work_item_id"
    with pytest.raises(NotFound) as exc:
        await service.update_git_state(
            session, GitState(), project_id=project.id, branch_name="feat/none"
        )
    assert exc.value.field == "branch_name"
    with pytest.raises(ValidationFailed):
        await service.update_git_state(session, GitState(), project_id=project.id)
    with pytest.raises(ValueError):
        GitState(ahead_of_trunk=-1)
    item = await start(session, project, "feat/nulls")
    with pytest.raises(ValidationFailed) as exc:
        await service.update_git_state(
            session, GitState(has_uncommitted_changes=None), work_item_id=item.id
        )
    assert exc.value.field == "has_uncommitted_changes"


async def test_complete_work(session: AsyncSession) -> None:
    project = await make_project(session)
    item = await start(session, project)
    done = await service.complete_work(
        session,
        item.id,
        WorkCompletion(
            completion_type=CompletionType.MERGED,
            merge_commit_hash="f6e5d4",
            merged_by="agent-merger-1",
        ),
    )
    assert not done.active and done.completed_at is not None
    assert (done.completion_type, done.merge_commit_hash, done.merged_by) == (
        "merged",
        "f6e5d4",
        "agent-merger-1",
    )
    [event] = await events_of(session, "imi.work.completed")
    assert payload(event)["completion_type"] == "merged"
    [v2] = await events_of(session, "imi.worktree.merged")
    assert payload(v2)["merged_by"] == "agent-merger-1"
    with pytest.raises(Conflict):
        await service.complete_work(session, item.id, WorkCompletion())
    with pytest.raises(NotFound):
        await service.complete_work(session, uuid.uuid4(), WorkCompletion())

    abandoned = await start(session, project, "fix/x")
    await service.complete_work(
        session, abandoned.id, WorkCompletion(completion_type=CompletionType.ABANDONED)
    )
    assert len(await events_of(session, "imi.worktree.merged")) == 1


async def test_list_in_flight_filters(session: AsyncSession) -> None:
    a = await make_project(session)
    b = await make_project(session)
    mine = await start(session, a, "feat/one", owner_id="agent-x")
    await start(session, a, "fix/two", owner_id="agent-y", work_type="fix")
    theirs = await start(session, b, "feat/three", owner_id="agent-x")
    done = await start(session, b, "feat/four", owner_id="agent-x")
    await service.complete_work(session, done.id, WorkCompletion())
    await service.update_git_state(
        session, GitState(has_uncommitted_changes=True), work_item_id=mine.id
    )

    agent_x = await queries.list_work(session, WorkFilter(owner_id="agent-x"))
    assert {i.id for i in agent_x.items} == {mine.id, theirs.id} and agent_x.total == 2
    assert agent_x.items[0].id == mine.id  # most recently active first
    assert (await queries.list_work(session, WorkFilter(project_id=a.id))).total == 2
    fixes = await queries.list_work(session, WorkFilter(work_type="fix"))
    assert [i.branch_name for i in fixes.items] == ["fix/two"]
    feats = await queries.list_work(session, WorkFilter(work_type="feat"))
    assert feats.total == 2
    dirty = await queries.list_work(session, WorkFilter(status=WorkStatus.UNCOMMITTED))
    assert [i.id for i in dirty.items] == [mine.id]
    everything = await queries.list_work(session, WorkFilter(active=None))
    assert everything.total == 4
    page = await queries.list_work(session, WorkFilter(active=None), limit=3, offset=3)
    assert len(page.items) == 1 and page.total == 4
    with pytest.raises(ValidationFailed):
        await queries.list_work(session, WorkFilter(work_type="chore"))
    with pytest.raises(ValidationFailed):
        await queries.list_work(session, WorkFilter(), limit=10_000)


async def test_ticket_keys_in_branch_are_auto_linked(session: AsyncSession) -> None:
    from imi.links.service import get_ticket

    project = await make_project(session)
    item = await start(
        session,
        project,
        "feat/PROJ-123-login",
        source=WorkSource(type=SourceType.PLANE_TICKET, ref="OPS-9"),
    )
    for key in ("PROJ-123", "OPS-9"):
        ticket = await get_ticket(session, key)
        assert ticket.plane_ticket_id == key
    linked = await events_of(session, "imi.link.ticket_linked")
    assert {payload(e)["plane_ticket_id"] for e in linked} == {"PROJ-123", "OPS-9"}
    assert all(payload(e)["work_item_id"] == str(item.id) for e in linked)
    [started] = await events_of(session, "imi.work.started")
    assert payload(started)["ticket_keys"] == ["PROJ-123", "OPS-9"]


async def test_auto_link_pattern_is_configurable(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMI_TICKET_KEY_PATTERN", r"#\d+")
    project = await make_project(session)
    await start(session, project, "fix/#42-crash-PROJ-1")
    linked = await events_of(session, "imi.link.ticket_linked")
    assert [payload(e)["plane_ticket_id"] for e in linked] == ["#42"]


async def test_a_report_from_the_future_does_not_freeze_git_state(session: AsyncSession) -> None:
    project = await make_project(session)
    item = await start(session, project)
    future = datetime.now(UTC) + timedelta(days=365)
    first = await service.update_git_state(
        session, GitState(ahead_of_trunk=1, last_sync_at=future), work_item_id=item.id
    )
    assert first.work_item.last_sync_at is not None
    assert first.work_item.last_sync_at < future  # clamped to the time it was applied
    later = await service.update_git_state(
        session, GitState(ahead_of_trunk=2), work_item_id=item.id
    )
    assert later.applied and later.work_item.ahead_of_trunk == 2
