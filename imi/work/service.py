"""Work in flight: start, git state, completion, queries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import among
from imi.errors import Conflict, NotFound, ValidationFailed
from imi.outbox import PendingEvent, emit
from imi.projects.models import Project
from imi.serialize import row_dict
from imi.settings import get_settings
from imi.work.models import (
    GIT_STATE_FIELDS,
    REQUIRED_GIT_FIELDS,
    CompletionType,
    GitState,
    GitStateResult,
    SourceType,
    WorkCompletion,
    WorkItem,
    WorkStart,
)
from imi.work.naming import (
    check_branch_name,
    check_worktree_name,
    check_worktree_path,
    parse_work_type,
    ticket_keys,
    worktree_name,
)
from imi.work.v2 import v2_created_payload, v2_git_state_payload, v2_merged_payload

# A branch name naming more tickets than this is not a branch name; link the first ones.
MAX_AUTO_LINKS = 20


def work_payload(item: WorkItem, **extra: Any) -> dict[str, Any]:
    return {"work_item_id": item.id, **row_dict(item), **extra}


async def _project_for_work(session: AsyncSession, project_id: uuid.UUID) -> Project:
    """The project, share-locked until the work's transaction ends: a concurrent deactivation
    (which locks it for update) waits for this work to commit and then closes it too, or this
    waits for the deactivation and sees the project inactive. Never active work on an
    inactive project."""
    stmt = select(Project).where(col(Project.id) == project_id).with_for_update(read=True)
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    project = result.scalar_one_or_none()
    if project is None:
        raise NotFound("project", project_id, field="project_id")
    if not project.active:
        raise Conflict(f"project {project_id} is deactivated", field="project_id")
    return project


async def start_work(session: AsyncSession, data: WorkStart) -> WorkItem:
    """Register a branch in flight. A second active item on the same branch (or worktree name)
    of a project is a Conflict. Ticket keys in the branch name (and a Plane source ref) are
    linked to the new item as ``references``."""
    work_type = parse_work_type(data.work_type)
    branch = check_branch_name(data.branch_name)
    name = check_worktree_name(data.name or worktree_name(branch))
    path = check_worktree_path(data.worktree_path)
    project = await _project_for_work(session, data.project_id)
    stmt = (
        insert(WorkItem)
        .values(
            project_id=project.id,
            branch_name=branch,
            name=name,
            work_type=work_type.value,
            source_type=data.source.type.value,
            source_ref=data.source.ref,
            owner_id=data.owner_id,
            worktree_path=path,
            meta=data.metadata,
        )
        .on_conflict_do_nothing()
        .returning(WorkItem)
    )
    item = (await session.execute(stmt)).scalar_one_or_none()
    if item is None:
        raise await _start_conflict(session, project.id, branch, name)

    source_ticket = data.source.ref if data.source.type is SourceType.PLANE_TICKET else None
    keys = ticket_keys(get_settings().ticket_key_pattern, branch, source_ticket)[:MAX_AUTO_LINKS]
    if source_ticket and source_ticket not in keys:
        keys.append(source_ticket)
    if keys:
        from imi.links.service import link_ticket_keys

        await link_ticket_keys(session, item, keys)
    await emit(
        session,
        PendingEvent(
            "imi.work.started",
            "work_item",
            item.id,
            work_payload(item, project_name=project.name, ticket_keys=keys),
        ),
        PendingEvent(
            "imi.worktree.created", "work_item", item.id, v2_created_payload(item, project), v2=True
        ),
    )
    return item


async def _start_conflict(
    session: AsyncSession, project_id: uuid.UUID, branch: str, name: str
) -> Conflict:
    stmt = select(WorkItem).where(
        col(WorkItem.project_id) == project_id,
        col(WorkItem.active),
        (col(WorkItem.branch_name) == branch) | (col(WorkItem.name) == name),
    )
    existing = (await session.execute(stmt)).scalars().first()
    if existing is not None and existing.branch_name == branch:
        return Conflict(
            f"branch {branch!r} already has active work {existing.id}",
            field="branch_name",
            existing_id=str(existing.id),
        )
    return Conflict(
        f"an active worktree named {name!r} already exists",
        field="name",
        existing_id=str(existing.id) if existing else None,
    )


async def get_work_item(session: AsyncSession, work_item_id: uuid.UUID) -> WorkItem:
    item = await session.get(WorkItem, work_item_id)
    if item is None:
        raise NotFound("work item", work_item_id)
    return item


async def update_git_state(
    session: AsyncSession,
    state: GitState,
    *,
    work_item_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    branch_name: str | None = None,
) -> GitStateResult:
    """Apply a git-state report to a work item addressed by id or by (project, branch).

    Reports are ordered by ``last_sync_at``: one older than the stored sync is ignored
    (``applied`` False), so a late, out-of-order report never overwrites newer state. A report
    on completed (inactive) work is a Conflict: its state is final.
    """
    item, project = await _lock_reported_item(session, work_item_id, project_id, branch_name)
    synced_at = _sync_time(state)
    if item.last_sync_at is not None and synced_at < item.last_sync_at:
        return GitStateResult(work_item=item, applied=False, updated_fields=[])
    changed = _changed_git_fields(item, state)
    item = await _write_git_state(session, item.id, changed, synced_at)
    if changed:
        await _emit_git_state(session, item, project, sorted(changed))
    return GitStateResult(work_item=item, applied=True, updated_fields=sorted(changed))


async def _lock_reported_item(
    session: AsyncSession,
    work_item_id: uuid.UUID | None,
    project_id: uuid.UUID | None,
    branch_name: str | None,
) -> tuple[WorkItem, Project]:
    """The addressed work item, row-locked so concurrent reports apply one after the other,
    and its project (not locked), read in the same statement: the events need its name."""
    target = select(WorkItem, Project).join(Project, col(Project.id) == col(WorkItem.project_id))
    if work_item_id is None:
        if project_id is None or not branch_name:
            raise ValidationFailed(
                "address the work item by id or by project_id and branch_name",
                field="work_item_id",
            )
        target = target.where(
            col(WorkItem.project_id) == project_id,
            col(WorkItem.branch_name) == branch_name,
            col(WorkItem.active),
        )
    else:
        target = target.where(col(WorkItem.id) == work_item_id)
    row = (
        await session.execute(
            target.with_for_update(of=WorkItem), execution_options={"populate_existing": True}
        )
    ).one_or_none()
    if row is None:
        key = work_item_id or f"{project_id}:{branch_name}"
        raise NotFound("work item", key, field="work_item_id" if work_item_id else "branch_name")
    item, project = row
    if not item.active:
        # Finished work keeps the state it ended with; a late report must not rewrite it.
        how = item.completion_type or "deactivated"
        raise Conflict(
            f"work item {item.id} is no longer active ({how}); its git state is final",
            field="work_item_id",
        )
    return item, project


def _sync_time(state: GitState) -> datetime:
    """When the report was read: as sent (naive is UTC), never later than now (a clock ahead
    of ours must not make every later report look stale), now when not sent."""
    now = datetime.now(UTC)
    synced_at = state.last_sync_at or now
    if synced_at.tzinfo is None:
        synced_at = synced_at.replace(tzinfo=UTC)
    return min(synced_at, now)


def _changed_git_fields(item: WorkItem, state: GitState) -> dict[str, Any]:
    given = state.model_dump(include=set(GIT_STATE_FIELDS), exclude_unset=True)
    for field in REQUIRED_GIT_FIELDS:
        if field in given and given[field] is None:
            raise ValidationFailed(f"{field} must not be null", field=field)
    return {k: v for k, v in given.items() if getattr(item, k) != v}


async def _write_git_state(
    session: AsyncSession, item_id: uuid.UUID, changed: dict[str, Any], synced_at: datetime
) -> WorkItem:
    stmt = (
        update(WorkItem)
        .where(col(WorkItem.id) == item_id)
        .values(
            **changed,
            last_sync_at=synced_at,
            last_activity_at=func.clock_timestamp(),
            updated_at=func.now(),
        )
        .returning(WorkItem)
    )
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    return result.scalar_one()


async def _emit_git_state(
    session: AsyncSession, item: WorkItem, project: Project, updated: list[str]
) -> None:
    await emit(
        session,
        PendingEvent(
            "imi.work.git_state_updated",
            "work_item",
            item.id,
            work_payload(item, project_name=project.name, updated_fields=updated),
        ),
        PendingEvent(
            "imi.worktree.git_state_updated",
            "work_item",
            item.id,
            v2_git_state_payload(item, project),
            v2=True,
        ),
    )


async def complete_work(
    session: AsyncSession, work_item_id: uuid.UUID, data: WorkCompletion
) -> WorkItem:
    """Close a work item as merged, abandoned or superseded. Completing twice is a Conflict."""
    stmt = (
        update(WorkItem)
        .where(col(WorkItem.id) == work_item_id, col(WorkItem.completed_at).is_(None))
        .values(
            active=False,
            completed_at=func.now(),
            completion_type=data.completion_type.value,
            merge_commit_hash=data.merge_commit_hash,
            merged_by=data.merged_by,
            updated_at=func.now(),
            last_activity_at=func.clock_timestamp(),
        )
        .returning(WorkItem)
    )
    item = (
        await session.execute(stmt, execution_options={"populate_existing": True})
    ).scalar_one_or_none()
    if item is None:
        existing = await get_work_item(session, work_item_id)
        raise Conflict(
            f"work item {work_item_id} was already completed ({existing.completion_type})",
            field="completion_type",
        )
    project = await session.get(Project, item.project_id)
    assert project is not None
    events = [
        PendingEvent(
            "imi.work.completed",
            "work_item",
            item.id,
            work_payload(item, project_name=project.name),
        )
    ]
    if data.completion_type is CompletionType.MERGED:
        events.append(
            PendingEvent(
                "imi.worktree.merged",
                "work_item",
                item.id,
                v2_merged_payload(item, project),
                v2=True,
            )
        )
    await emit(session, *events)
    return item


async def touch_work_items(session: AsyncSession, work_item_ids: list[uuid.UUID]) -> None:
    """Record activity on work items (agent activity, tool mutations)."""
    if work_item_ids:
        await session.execute(
            update(WorkItem)
            .where(among(col(WorkItem.id), work_item_ids))
            .values(last_activity_at=func.clock_timestamp())
        )


async def abandon_project_work(session: AsyncSession, project: Project) -> list[uuid.UUID]:
    """Close every active work item of a (deactivated) project as abandoned, in one statement,
    with an ``imi.work.completed`` event per item (``reason: project_deactivated``) so
    consumers and subscribers see each one go inactive. Returns their ids."""
    stmt = (
        update(WorkItem)
        .where(col(WorkItem.project_id) == project.id, col(WorkItem.active))
        .values(
            active=False,
            completed_at=func.coalesce(col(WorkItem.completed_at), func.now()),
            completion_type=func.coalesce(
                col(WorkItem.completion_type), CompletionType.ABANDONED.value
            ),
            updated_at=func.now(),
            last_activity_at=func.clock_timestamp(),
        )
        .returning(WorkItem)
    )
    items = list(
        (await session.execute(stmt, execution_options={"populate_existing": True})).scalars()
    )
    await emit(
        session,
        *(
            PendingEvent(
                "imi.work.completed",
                "work_item",
                item.id,
                work_payload(item, project_name=project.name, reason="project_deactivated"),
            )
            for item in items
        ),
    )
    return [item.id for item in items]


async def remove_work(session: AsyncSession, work_item_id: uuid.UUID) -> WorkItem:
    """v2 ``DELETE /worktrees/{id}``: an active item is closed as abandoned. Idempotent."""
    item = await get_work_item(session, work_item_id)
    if not item.active:
        return item
    try:
        return await complete_work(
            session, work_item_id, WorkCompletion(completion_type=CompletionType.ABANDONED)
        )
    except Conflict:
        # Completed but still active (re-activated by hand): just switch it off.
        await session.execute(
            update(WorkItem).where(col(WorkItem.id) == work_item_id).values(active=False)
        )
        return await get_work_item(session, work_item_id)
