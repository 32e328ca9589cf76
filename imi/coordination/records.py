"""Orchestration records (intermute's specs, epics, stories, tasks, insights, sessions and
CUJs): one table-driven service for the seven kinds (a CUJ's feature links: records_cujs).
Statements run in the caller's transaction, which the service never commits; every change
writes its event in it.

Rules, as intermute (``internal/http/handlers_domain.go``, ``internal/storage/sqlite/domain.go``):
- create: the client's ``id`` or a generated UUID; status defaults per kind; ``version`` 1.
  A second create of one ``(project, id)`` is a Conflict (intermute: a 500).
- update (PUT) replaces the record; the versioned kinds (all but insight, session) apply it only
  from the ``version`` the body carries (compare-and-set: a stale or missing one is a Conflict,
  409), and bump it. Unknown ids are NotFound (intermute: 409, or a silent no-op for sessions).
- delete answers the deleted record's event; unknown ids are NotFound (intermute: 204).
- references (``spec_id``, ``epic_id``, ...) are not checked, as in intermute: a record may
  name a parent that is created later, or kept elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from imi.coordination import records_queries as q
from imi.coordination.records_kinds import INSIGHT, MAX_LIMIT, MAX_SHORT, TASK, Kind
from imi.coordination.records_wire import lookup_key, record_id, record_values, text, to_wire
from imi.coordination.records_wire import project as check_project
from imi.errors import Conflict, NotFound, ValidationFailed
from imi.outbox import PendingEvent, emit
from imi.pagination import check_window

Record = dict[str, Any]

# Routing keys, written out (the AsyncAPI test reads them from this source).
EVENTS: dict[str, dict[str, str]] = {
    "spec": {
        "created": "imi.spec.created",
        "updated": "imi.spec.updated",
        "deleted": "imi.spec.deleted",
    },
    "epic": {
        "created": "imi.epic.created",
        "updated": "imi.epic.updated",
        "deleted": "imi.epic.deleted",
    },
    "story": {
        "created": "imi.story.created",
        "updated": "imi.story.updated",
        "deleted": "imi.story.deleted",
    },
    "task": {
        "created": "imi.task.created",
        "updated": "imi.task.updated",
        "assigned": "imi.task.assigned",
        "deleted": "imi.task.deleted",
    },
    "insight": {
        "created": "imi.insight.created",
        "linked": "imi.insight.linked",
        "deleted": "imi.insight.deleted",
    },
    "session": {
        "created": "imi.session.created",
        "updated": "imi.session.updated",
        "deleted": "imi.session.deleted",
    },
    "cuj": {
        "created": "imi.cuj.created",
        "updated": "imi.cuj.updated",
        "deleted": "imi.cuj.deleted",
        "linked": "imi.cuj.linked",
        "unlinked": "imi.cuj.unlinked",
    },
}
MAX_VERSION = 2**63 - 1


async def emit_change(
    session: AsyncSession, kind: Kind, change: str, record: Record, **extra: Any
) -> None:
    """The event of a change: ``{kind, project, id, record}`` (and ``extra``), per record."""
    payload = {"kind": kind.name, "project": record["project"], "id": record["id"]}
    await emit(
        session,
        PendingEvent(
            EVENTS[kind.name][change],
            f"coordination_{kind.name}",
            f"{record['project']}/{record['id']}",
            {**payload, "record": record, **extra},
        ),
    )


async def create(
    session: AsyncSession, kind: Kind, project: str, body: Mapping[str, Any]
) -> Record:
    project = check_project(project)
    new_id = record_id(body.get("id")) or str(uuid.uuid4())
    values = record_values(kind, body, creating=True)
    if kind.versioned:
        values["version"] = 1
    row = await q.one(
        session,
        q.insert_sql(kind, tuple(values)),
        kind,
        id=new_id,
        project=project,
        **q.bind(kind, values),
    )
    if row is None:
        raise Conflict(
            f"{kind.name} {new_id} already exists in project {project!r}",
            field="id",
            entity=kind.name,
            key=new_id,
        )
    record = to_wire(kind, row)
    await emit_change(session, kind, "created", record)
    return record


async def get(session: AsyncSession, kind: Kind, project: str, key: str) -> Record:
    key = lookup_key(kind, key)
    row = await q.one(session, q.get_sql(kind), kind, project=check_project(project), id=key)
    if row is None:
        raise NotFound(kind.name, key)
    return to_wire(kind, row)


async def list_records(
    session: AsyncSession,
    kind: Kind,
    project: str,
    filters: Mapping[str, str],
    *,
    limit: int,
    offset: int,
) -> tuple[list[Record], bool]:
    """One page in the kind's order, and whether more follow. An empty ``project`` lists every
    project (intermute's rule; a restricted key always has its project here)."""
    check_window(limit, offset, max_limit=MAX_LIMIT)
    project = check_project(project)
    given = {name: value for name, value in filters.items() if value}
    for name, value in given.items():
        text(value, name, MAX_SHORT)
    params = {f"f_{name}": value for name, value in given.items()}
    statement = q.list_sql(kind, not project, tuple(sorted(given)))
    rows = await q.many(
        session, statement, kind, project=project, limit=limit + 1, offset=offset, **params
    )
    return [to_wire(kind, row) for row in rows[:limit]], len(rows) > limit


def _expected_version(body: Mapping[str, Any]) -> int:
    value = body.get("version")
    if value is None:
        return 0  # Go's zero value: never a stored version, so a Conflict
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VERSION:
        raise ValidationFailed("version must be a non-negative integer", field="version")
    return value


async def update(
    session: AsyncSession, kind: Kind, project: str, key: str, body: Mapping[str, Any]
) -> Record:
    if not kind.updatable:
        raise ValidationFailed(f"{kind.plural} cannot be updated", field="id")
    key = lookup_key(kind, key)
    project = check_project(project)
    values = record_values(kind, body, creating=False)
    expected = _expected_version(body) if kind.versioned else None
    statement = q.update_sql(kind, tuple(values), expected is not None)
    params = {"project": project, "id": key, **q.bind(kind, values)}
    if expected is not None:
        params["expected"] = expected
    row = await q.one(session, statement, kind, **params)
    if row is None:
        current = await q.one(session, q.get_sql(kind), kind, project=project, id=key)
        if current is None:
            raise NotFound(kind.name, key)
        raise Conflict(
            f"{kind.name} {key} is at version {current['version']}, not {expected}: "
            "read it again and retry",
            field="version",
            current_version=current["version"],
        )
    record = to_wire(kind, row)
    await emit_change(session, kind, "updated", record)
    return record


async def delete(session: AsyncSession, kind: Kind, project: str, key: str) -> Record:
    key = lookup_key(kind, key)
    row = await q.one(session, q.delete_sql(kind), kind, project=check_project(project), id=key)
    if row is None:
        raise NotFound(kind.name, key)
    record = to_wire(kind, row)
    await emit_change(session, kind, "deleted", record)
    return record


async def assign_task(
    session: AsyncSession, project: str, key: str, body: Mapping[str, Any]
) -> Record:
    """intermute's assign: the agent takes the task, which is then running (version bumped)."""
    key = lookup_key(TASK, key)
    agent = text(body.get("agent"), "agent", MAX_SHORT, required=True)
    values = {"agent": agent, "status": "running"}
    row = await q.one(
        session,
        q.update_sql(TASK, tuple(values), False),
        TASK,
        project=check_project(project),
        id=key,
        **values,
    )
    if row is None:
        raise NotFound(TASK.name, key)
    record = to_wire(TASK, row)
    await emit_change(session, TASK, "assigned", record)
    return record


async def link_insight(
    session: AsyncSession, project: str, key: str, body: Mapping[str, Any]
) -> Record:
    key = lookup_key(INSIGHT, key)
    spec_id = record_id(body.get("spec_id"), "spec_id", required=True)
    row = await q.one(
        session,
        q.update_sql(INSIGHT, ("spec_id",), False),
        INSIGHT,
        project=check_project(project),
        id=key,
        spec_id=spec_id,
    )
    if row is None:
        raise NotFound(INSIGHT.name, key)
    record = to_wire(INSIGHT, row)
    await emit_change(session, INSIGHT, "linked", record)
    return record
