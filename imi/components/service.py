"""Components of a meta-repo: register, look up, update, list, and relate them.

The dependency graph lives in :mod:`imi.components.graph`, manifest import in
:mod:`imi.components.manifest`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import among
from imi.components.models import (
    Component,
    ComponentCreate,
    ComponentKind,
    ComponentRelationship,
    ComponentUpdate,
    RelationshipCreate,
)
from imi.errors import Conflict, NotFound, ValidationFailed
from imi.models_base import Page
from imi.outbox import PendingEvent, emit
from imi.pagination import check_window, fetch_entity_page
from imi.projects.models import Project
from imi.serialize import row_dict

UNIQUE_NAME = "uq_components_project_name"


def component_payload(component: Component, **extra: Any) -> dict[str, Any]:
    return {"component_id": component.id, **row_dict(component), **extra}


def relationship_payload(rel: ComponentRelationship) -> dict[str, Any]:
    return {"relationship_id": rel.id, **row_dict(rel)}


def clean_name(name: str | None, field: str = "name") -> str:
    """A component name with surrounding blanks removed; blank names are refused."""
    if name is None or not name.strip():
        raise ValidationFailed(f"{field} must not be empty", field=field)
    return name.strip()


async def require_project(session: AsyncSession, project_id: uuid.UUID, field: str) -> None:
    found = await session.scalar(select(col(Project.id)).where(col(Project.id) == project_id))
    if found is None:
        raise NotFound("project", project_id, field=field)


def _name_conflict(project_id: uuid.UUID, name: str) -> Conflict:
    return Conflict(
        f"project {project_id} already has a component named {name!r}",
        field="name",
        project_id=str(project_id),
        name=name,
    )


async def register_component(session: AsyncSession, data: ComponentCreate) -> Component:
    """Create a component under its parent project; names are unique per project.

    ``INSERT .. ON CONFLICT DO NOTHING`` makes a concurrent duplicate lose cleanly with
    :class:`Conflict` (it waits for the winner's commit instead of failing on the constraint).
    """
    name = clean_name(data.name)
    await require_project(session, data.project_id, "project_id")
    if data.linked_project_id is not None:
        await require_project(session, data.linked_project_id, "linked_project_id")
    stmt = (
        insert(Component)
        .values(
            id=uuid.uuid4(),
            parent_project_id=data.project_id,
            name=name,
            path=data.path,
            kind=ComponentKind(data.kind).value,
            enabled=data.enabled,
            linked_project_id=data.linked_project_id,
            meta=data.metadata,
        )
        .on_conflict_do_nothing(constraint=UNIQUE_NAME)
        .returning(Component)
    )
    component = (
        await session.execute(stmt, execution_options={"populate_existing": True})
    ).scalar_one_or_none()
    if component is None:
        raise _name_conflict(data.project_id, name)
    await emit(
        session,
        PendingEvent(
            "imi.component.registered", "component", component.id, component_payload(component)
        ),
    )
    return component


async def get_component(
    session: AsyncSession, component_id: uuid.UUID, *, for_update: bool = False
) -> Component:
    component = await session.get(
        Component, component_id, with_for_update=for_update, populate_existing=for_update
    )
    if component is None:
        raise NotFound("component", component_id, field="component_id")
    return component


async def get_component_by_name(
    session: AsyncSession, *, project_id: uuid.UUID, name: str
) -> Component:
    stmt = select(Component).where(
        col(Component.parent_project_id) == project_id, col(Component.name) == name
    )
    component = (await session.execute(stmt)).scalar_one_or_none()
    if component is None:
        raise NotFound("component", name, field="name")
    return component


def _changes(component: Component, data: ComponentUpdate) -> dict[str, Any]:
    """Column values ``data`` changes. An explicit null clears the nullable fields (path,
    linked_project_id) and leaves the others (name, kind, enabled) as they are."""
    given = data.model_fields_set
    changes: dict[str, Any] = {}
    if data.name is not None:
        name = clean_name(data.name)
        if name != component.name:
            changes["name"] = name
    if data.kind is not None and ComponentKind(data.kind).value != component.kind:
        changes["kind"] = ComponentKind(data.kind).value
    if data.enabled is not None and data.enabled != component.enabled:
        changes["enabled"] = data.enabled
    for field in ("path", "linked_project_id"):
        if field in given and getattr(data, field) != getattr(component, field):
            changes[field] = getattr(data, field)
    if data.metadata is not None:
        merged = {k: v for k, v in {**component.meta, **data.metadata}.items() if v is not None}
        if merged != component.meta:
            changes["meta"] = merged
    return changes


async def update_component(
    session: AsyncSession, component_id: uuid.UUID, data: ComponentUpdate
) -> Component:
    """Change the given fields; absent fields stay. Metadata merges key by key (a key set to
    null is removed). Renaming onto a sibling's name is a :class:`Conflict`. Emits
    ``imi.component.updated`` (with ``changed_fields``) only when something changed."""
    # Row lock: concurrent metadata merges apply one after the other, none is lost.
    component = await get_component(session, component_id, for_update=True)
    changes = _changes(component, data)
    if not changes:
        return component
    if changes.get("linked_project_id") is not None:
        await require_project(session, changes["linked_project_id"], "linked_project_id")
    stmt = (
        update(Component)
        .where(col(Component.id) == component_id)
        .values(**changes, updated_at=func.now())
        .returning(Component)
    )
    try:
        async with session.begin_nested():
            component = (
                await session.execute(stmt, execution_options={"populate_existing": True})
            ).scalar_one()
    except IntegrityError as exc:
        if UNIQUE_NAME in str(exc.orig):
            raise _name_conflict(component.parent_project_id, changes["name"]) from None
        raise
    changed = sorted("metadata" if k == "meta" else k for k in changes)
    await emit(
        session,
        PendingEvent(
            "imi.component.updated",
            "component",
            component.id,
            component_payload(component, changed_fields=changed),
        ),
    )
    return component


async def list_components(
    session: AsyncSession,
    *,
    project_id: uuid.UUID | None = None,
    kind: ComponentKind | str | None = None,
    enabled: bool | None = None,
    metadata: dict[str, Any] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Component]:
    """Components by name (then id); ``metadata`` filters by JSONB containment (``@>``)."""
    check_window(limit, offset)
    conditions = []
    if project_id is not None:
        conditions.append(col(Component.parent_project_id) == project_id)
    if kind is not None:
        try:
            conditions.append(col(Component.kind) == ComponentKind(kind).value)
        except ValueError:
            allowed = ", ".join(k.value for k in ComponentKind)
            raise ValidationFailed(f"kind must be one of {allowed}", field="kind") from None
    if enabled is not None:
        conditions.append(col(Component.enabled).is_(enabled))
    if metadata:
        conditions.append(col(Component.meta).op("@>")(literal(metadata, JSONB)))
    order = (col(Component.name), col(Component.id))
    return await fetch_entity_page(
        session, Component, conditions=conditions, order_by=order, limit=limit, offset=offset
    )


async def relate_components(
    session: AsyncSession, data: RelationshipCreate
) -> tuple[ComponentRelationship, bool]:
    """Record ``from -[type]-> to``; returns ``(relationship, created)``.

    Idempotent per (from, to, type): an existing triple is returned with ``created=False``
    and no event. Components of different projects may be related.
    """
    if data.from_component_id == data.to_component_id:
        raise ValidationFailed("a component cannot be related to itself", field="to_component_id")
    wanted = [data.from_component_id, data.to_component_id]
    found = set(
        await session.scalars(select(col(Component.id)).where(among(col(Component.id), wanted)))
    )
    for field, component_id in zip(("from_component_id", "to_component_id"), wanted, strict=True):
        if component_id not in found:
            raise NotFound("component", component_id, field=field)
    triple = {
        "from_component_id": data.from_component_id,
        "to_component_id": data.to_component_id,
        "relation_type": data.relation_type.value,
    }
    stmt = (
        insert(ComponentRelationship)
        .values(id=uuid.uuid4(), meta=data.metadata, **triple)
        .on_conflict_do_nothing(constraint="uq_component_relationships_triple")
        .returning(ComponentRelationship)
    )
    rel = (await session.execute(stmt)).scalar_one_or_none()
    if rel is None:
        existing = select(ComponentRelationship).filter_by(**triple)
        return (await session.execute(existing)).scalar_one(), False
    await emit(
        session,
        PendingEvent(
            "imi.component.related",
            "component",
            rel.from_component_id,
            relationship_payload(rel),
        ),
    )
    return rel, True


async def list_relationships(
    session: AsyncSession, component_id: uuid.UUID
) -> list[ComponentRelationship]:
    """Every relationship the component takes part in, outgoing and incoming."""
    await get_component(session, component_id)
    stmt = (
        select(ComponentRelationship)
        .where(
            or_(
                col(ComponentRelationship.from_component_id) == component_id,
                col(ComponentRelationship.to_component_id) == component_id,
            )
        )
        .order_by(
            col(ComponentRelationship.created_at),
            col(ComponentRelationship.relation_type),
            col(ComponentRelationship.id),
        )
    )
    return list((await session.scalars(stmt)).all())
