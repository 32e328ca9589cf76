"""Project registry: register (idempotent, race-safe), look up, search, update, deactivate."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import case, func, literal, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import among, plain_columns
from imi.errors import NotFound, ValidationFailed
from imi.models_base import MAX_SEARCH, Page
from imi.outbox import PendingEvent, emit
from imi.pagination import check_window, fetch_entity_page
from imi.prepared import fetch_rows
from imi.projects.models import (
    Project,
    ProjectCounts,
    ProjectCreate,
    ProjectMatch,
    ProjectUpdate,
    RegisterResult,
)
from imi.projects.origin import normalize_remote_origin, repository_name, strip_credentials
from imi.serialize import row_dict
from imi.work.models import WorkItem
from imi.work.service import abandon_project_work

SEARCH_MAX_LIMIT = 100
# Below this trigram relevance a fuzzy match is noise, unless it is a plain substring match.
SEARCH_MIN_RELEVANCE = 0.2


def project_payload(project: Project, **extra: Any) -> dict[str, Any]:
    return {"project_id": project.id, **row_dict(project), **extra}


def _require_text(value: str | None, field: str) -> str | None:
    if value is not None and not value.strip():
        raise ValidationFailed(f"{field} must not be empty", field=field)
    return value.strip() if value is not None else None


async def register_project(
    session: AsyncSession, data: ProjectCreate, *, announce_existing: bool = False
) -> RegisterResult:
    """Register a repository, or return the project that already has its origin.

    One ``INSERT .. ON CONFLICT`` decides atomically, so concurrent registrations of one origin
    (in any spelling) all get the same id. A soft-deleted project is re-activated with the new
    details; an active one is returned unchanged. ``imi.project.registered`` is emitted for a
    new or re-activated project, and for an existing one too with ``announce_existing`` (a
    command's sender waits for that answer), then with ``existed: true``.
    """
    normalized = normalize_remote_origin(data.remote_origin)
    name = _require_text(data.name, "name") or repository_name(normalized)
    default_branch = _require_text(data.default_branch, "default_branch") or "main"
    values = {
        "name": name,
        "remote_origin": strip_credentials(data.remote_origin),
        "remote_origin_normalized": normalized,
        "default_branch": default_branch,
        "trunk_path": data.trunk_path,
        "description": data.description,
        "meta": data.metadata,
    }
    insert_stmt = insert(Project).values(**values)
    excluded = insert_stmt.excluded
    stmt: Any = insert_stmt.on_conflict_do_update(
        index_elements=[Project.remote_origin_normalized],
        set_={
            "active": True,
            "name": excluded.name,
            "remote_origin": excluded.remote_origin,
            "default_branch": excluded.default_branch,
            "trunk_path": excluded.trunk_path,
            "description": excluded.description,
            "metadata": excluded.metadata,
            "updated_at": func.now(),
        },
        where=~col(Project.active),
    ).returning(Project, literal_column("xmax = 0").label("inserted"))
    row = (await session.execute(stmt, execution_options={"populate_existing": True})).one_or_none()
    if row is None:
        existing = await get_project_by_normalized_origin(session, normalized)
        if announce_existing:
            await emit(session, _registered_event(existing, reactivated=False, existed=True))
        return RegisterResult(project=existing, created=False, reactivated=False)
    project, inserted = row
    await emit(session, _registered_event(project, reactivated=not inserted, existed=False))
    return RegisterResult(project=project, created=inserted, reactivated=not inserted)


def _registered_event(project: Project, *, reactivated: bool, existed: bool) -> PendingEvent:
    payload = project_payload(project, reactivated=reactivated, existed=existed)
    return PendingEvent("imi.project.registered", "project", project.id, payload)


async def get_project(session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound("project", project_id)
    return project


async def _locked(session: AsyncSession, project_id: uuid.UUID) -> Project:
    stmt = select(Project).where(col(Project.id) == project_id).with_for_update()
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    project = result.scalar_one_or_none()
    if project is None:
        raise NotFound("project", project_id)
    return project


async def find_project_by_remote(session: AsyncSession, remote_origin: str) -> Project | None:
    """The project of a remote origin in any spelling; ValidationFailed for a malformed one."""
    return await _by_normalized_origin(session, normalize_remote_origin(remote_origin))


async def _by_normalized_origin(session: AsyncSession, normalized: str) -> Project | None:
    stmt = select(Project).where(col(Project.remote_origin_normalized) == normalized)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_project_by_normalized_origin(session: AsyncSession, normalized: str) -> Project:
    project = await _by_normalized_origin(session, normalized)
    if project is None:
        raise NotFound("project", normalized, field="remote_origin")
    return project


async def get_project_by_origin(session: AsyncSession, remote_origin: str) -> Project:
    """Look a project up by its remote origin in any equivalent spelling."""
    return await get_project_by_normalized_origin(session, normalize_remote_origin(remote_origin))


async def list_projects(
    session: AsyncSession,
    *,
    active: bool | None = None,
    metadata: dict[str, Any] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Project]:
    """Projects by name; ``metadata`` filters by JSONB containment (``@>``)."""
    check_window(limit, offset)
    conditions = []
    if active is not None:
        conditions.append(col(Project.active).is_(active))
    if metadata:
        conditions.append(col(Project.meta).op("@>")(literal(metadata, JSONB)))
    order = (col(Project.name), col(Project.id))
    return await fetch_entity_page(
        session, Project, conditions=conditions, order_by=order, limit=limit, offset=offset
    )


async def search_projects(
    session: AsyncSession, query: str, *, limit: int = 20, active_only: bool = True
) -> list[ProjectMatch]:
    """Fuzzy search on name and origin (pg_trgm), best match first, relevance in [0, 1]."""
    query = (query or "").strip()
    if not query:
        raise ValidationFailed("search query must not be empty", field="q")
    if len(query) > MAX_SEARCH:
        # Trigram scoring grows with the text's length: a long one could hold a backend.
        raise ValidationFailed(
            f"search query must be at most {MAX_SEARCH} characters", field="q", limit=MAX_SEARCH
        )
    check_window(limit, 0, max_limit=SEARCH_MAX_LIMIT)
    q = query.lower()
    name = func.lower(col(Project.name))
    origin = col(Project.remote_origin_normalized)
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # An exact name is the best possible answer; otherwise the best trigram score.
    score = case(
        (name == q, 1.0),
        else_=func.greatest(
            func.similarity(name, q),
            func.word_similarity(q, name),
            func.word_similarity(q, origin),
        ),
    ).label("relevance")
    stmt = (
        select(*plain_columns(Project), score)
        .where(
            or_(
                name.like(pattern),
                origin.like(pattern),
                func.word_similarity(q, name) >= SEARCH_MIN_RELEVANCE,
                func.word_similarity(q, origin) >= SEARCH_MIN_RELEVANCE,
            ),
            *([col(Project.active)] if active_only else []),
        )
        .order_by(score.desc(), col(Project.name))
        .limit(limit)
    )
    rows = await fetch_rows(session, stmt)
    return [ProjectMatch(project=row, relevance=round(float(row.relevance), 4)) for row in rows]


async def project_counts(
    session: AsyncSession, project_ids: list[uuid.UUID]
) -> dict[uuid.UUID, ProjectCounts]:
    """Work counts for many projects in one query (every id gets an entry)."""
    if not project_ids:
        return {}
    active = col(WorkItem.active)
    stmt = (
        select(
            col(WorkItem.project_id),
            func.count().filter(active),
            func.count().filter(active & col(WorkItem.has_uncommitted_changes)),
            func.count().filter(active & (col(WorkItem.ahead_of_trunk) > 0)),
        )
        .where(among(col(WorkItem.project_id), project_ids))
        .group_by(col(WorkItem.project_id))
    )
    counts = {pid: ProjectCounts() for pid in project_ids}
    for pid, n_active, n_uncommitted, n_unmerged in await fetch_rows(session, stmt):
        counts[pid] = ProjectCounts(
            active=n_active, in_flight=n_active, uncommitted=n_uncommitted, unmerged=n_unmerged
        )
    return counts


async def update_project(
    session: AsyncSession, project_id: uuid.UUID, data: ProjectUpdate
) -> Project:
    """Change the given fields. Metadata merges key by key (null removes a key) unless
    ``replace_metadata`` is set. Emits ``imi.project.updated`` only when something changed."""
    # Row lock: concurrent merges of metadata apply one after the other, none is lost.
    project = await _locked(session, project_id)
    changes: dict[str, Any] = {}
    for field in ("name", "default_branch"):
        value = _require_text(getattr(data, field), field)
        if value is not None and value != getattr(project, field):
            changes[field] = value
    for field in ("description", "trunk_path"):
        if field in data.model_fields_set and getattr(data, field) != getattr(project, field):
            changes[field] = getattr(data, field)
    if data.metadata is not None:
        if data.replace_metadata:
            merged = dict(data.metadata)
        else:
            merged = {**project.meta, **data.metadata}
            merged = {k: v for k, v in merged.items() if v is not None}
        if merged != project.meta:
            changes["meta"] = merged
    if not changes:
        return project
    stmt = (
        update(Project)
        .where(col(Project.id) == project_id)
        .values(**changes, updated_at=func.now())
        .returning(Project)
    )
    project = (
        await session.execute(stmt, execution_options={"populate_existing": True})
    ).scalar_one()
    changed = sorted("metadata" if k == "meta" else k for k in changes)
    await emit(
        session,
        PendingEvent(
            "imi.project.updated",
            "project",
            project.id,
            project_payload(project, changed_fields=changed),
        ),
    )
    return project


async def deactivate_project(session: AsyncSession, project_id: uuid.UUID) -> Project:
    """Soft-delete a project and close every active work item on it as abandoned (each with
    its ``imi.work.completed``). Idempotent."""
    project = await _locked(session, project_id)
    if not project.active:
        return project
    stmt = (
        update(Project)
        .where(col(Project.id) == project_id)
        .values(active=False, updated_at=func.now())
        .returning(Project)
    )
    project = (
        await session.execute(stmt, execution_options={"populate_existing": True})
    ).scalar_one()
    closed = await abandon_project_work(session, project)
    await emit(
        session,
        PendingEvent(
            "imi.project.deactivated",
            "project",
            project.id,
            project_payload(project, deactivated_work_item_ids=closed),
        ),
    )
    return project
