"""Shared helpers for the component tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.components.models import Component, ComponentCreate, ComponentKind
from imi.components.service import register_component
from imi.projects.models import Project


async def count_events(session: AsyncSession, event_type: str | None = None) -> int:
    sql = "SELECT count(*) FROM events"
    params: dict[str, Any] = {}
    if event_type is not None:
        sql += " WHERE event_type = :t"
        params["t"] = event_type
    return int((await session.execute(text(sql), params)).scalar_one())


async def event_payloads(session: AsyncSession, event_type: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text("SELECT envelope FROM events WHERE event_type = :t ORDER BY id"), {"t": event_type}
    )
    return [row[0]["payload"] for row in rows]


async def make_component(
    session: AsyncSession, project: Project, name: str, **fields: Any
) -> Component:
    fields.setdefault("kind", ComponentKind.LOCAL)
    return await register_component(
        session, ComponentCreate(project_id=project.id, name=name, **fields)
    )
