"""A critical user journey's feature links (intermute's ``/api/cujs/{id}/link``, ``/unlink``,
``/links``): many features per journey, one row per ``(project, cuj_id, feature_id)``,
deleted with the journey (a foreign key). Linking again refreshes ``linked_at``.

Unlike intermute, an unknown journey is NotFound on all three (intermute links to nothing,
or lists nothing); unlinking a feature that is not linked is a success without an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.coordination import records_queries as q
from imi.coordination.records import Record, emit_change
from imi.coordination.records_kinds import CUJ
from imi.coordination.records_wire import lookup_key, record_id, rfc3339, to_wire
from imi.coordination.records_wire import project as check_project
from imi.errors import NotFound

MAX_LINKS = 1_000  # links answered for one journey

_LINK = text(
    "INSERT INTO cuj_feature_links (project, cuj_id, feature_id) "
    "VALUES (:project, :id, :feature_id) "
    "ON CONFLICT (project, cuj_id, feature_id) DO UPDATE SET linked_at = now() "
    "RETURNING linked_at"
)
_UNLINK = text(
    "DELETE FROM cuj_feature_links "
    "WHERE project = :project AND cuj_id = :id AND feature_id = :feature_id RETURNING 1"
)
_LINKS = text(
    "SELECT cuj_id, feature_id, project, linked_at FROM cuj_feature_links "
    "WHERE project = :project AND cuj_id = :id ORDER BY linked_at, feature_id LIMIT :limit"
)


async def _journey(session: AsyncSession, project: str, key: str) -> Record:
    """The journey (one deleted meanwhile fails the link's foreign key: a Conflict, 409)."""
    key = lookup_key(CUJ, key)
    row = await q.one(session, q.get_sql(CUJ), CUJ, project=check_project(project), id=key)
    if row is None:
        raise NotFound(CUJ.name, key)
    return to_wire(CUJ, row)


def _feature(body: Mapping[str, Any]) -> str:
    return record_id(body.get("feature_id"), "feature_id", required=True)


async def link(session: AsyncSession, project: str, key: str, body: Mapping[str, Any]) -> None:
    feature_id = _feature(body)
    journey = await _journey(session, project, key)
    params = {"project": journey["project"], "id": journey["id"], "feature_id": feature_id}
    linked_at = (await session.execute(_LINK, params)).scalar_one()
    await emit_change(
        session, CUJ, "linked", journey, feature_id=feature_id, linked_at=rfc3339(linked_at)
    )


async def unlink(session: AsyncSession, project: str, key: str, body: Mapping[str, Any]) -> None:
    feature_id = _feature(body)
    journey = await _journey(session, project, key)
    params = {"project": journey["project"], "id": journey["id"], "feature_id": feature_id}
    if (await session.execute(_UNLINK, params)).first() is not None:
        await emit_change(session, CUJ, "unlinked", journey, feature_id=feature_id)


async def links(session: AsyncSession, project: str, key: str) -> list[dict[str, Any]]:
    """The journey's links, oldest first: ``{cuj_id, feature_id, project, linked_at}``."""
    journey = await _journey(session, project, key)
    params = {"project": journey["project"], "id": journey["id"], "limit": MAX_LINKS}
    rows = (await session.execute(_LINKS, params)).mappings().all()
    return [{**row, "linked_at": rfc3339(row["linked_at"])} for row in rows]
