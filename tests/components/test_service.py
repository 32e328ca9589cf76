"""Component services: register, get, update, list, relate."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from imi.components.models import (
    Component,
    ComponentCreate,
    ComponentKind,
    ComponentUpdate,
    RelationshipCreate,
    RelationType,
)
from imi.components.service import (
    get_component,
    get_component_by_name,
    list_components,
    list_relationships,
    register_component,
    relate_components,
    update_component,
)
from imi.errors import Conflict, NotFound, ValidationFailed
from imi.models_base import MAX_PAGE_SIZE
from tests.components.helpers import count_events, event_payloads, make_component
from tests.factories import make_project

# -- register -------------------------------------------------------------------------------


async def test_register_stores_fields_and_emits_event(session: AsyncSession) -> None:
    project = await make_project(session)
    linked = await make_project(session)
    component = await register_component(
        session,
        ComponentCreate(
            project_id=project.id,
            name="  bloodbank ",
            path="bloodbank",
            kind=ComponentKind.SUBMODULE,
            enabled=False,
            linked_project_id=linked.id,
            metadata={"team": "core"},
        ),
    )
    assert component.name == "bloodbank"  # stripped
    assert component.parent_project_id == project.id
    assert component.path == "bloodbank"
    assert component.kind == "submodule"
    assert component.enabled is False
    assert component.linked_project_id == linked.id
    assert component.meta == {"team": "core"}
    assert component.created_at is not None

    [payload] = await event_payloads(session, "imi.component.registered")
    assert payload["component_id"] == str(component.id)
    assert payload["id"] == str(component.id)
    assert payload["name"] == "bloodbank"
    assert payload["kind"] == "submodule"
    assert payload["parent_project_id"] == str(project.id)
    assert payload["linked_project_id"] == str(linked.id)
    assert payload["metadata"] == {"team": "core"}


async def test_register_defaults(session: AsyncSession) -> None:
    project = await make_project(session)
    component = await register_component(
        session, ComponentCreate(project_id=project.id, name="hookd")
    )
    assert (component.kind, component.enabled, component.path, component.meta) == (
        "local",
        True,
        None,
        {},
    )


async def test_register_unknown_project(session: AsyncSession) -> None:
    with pytest.raises(NotFound) as err:
        await register_component(session, ComponentCreate(project_id=uuid.uuid4(), name="x"))
    assert err.value.field == "project_id"
    assert await count_events(session) == 0


async def test_register_unknown_linked_project(session: AsyncSession) -> None:
    project = await make_project(session)
    data = ComponentCreate(project_id=project.id, name="x", linked_project_id=uuid.uuid4())
    with pytest.raises(NotFound) as err:
        await register_component(session, data)
    assert err.value.field == "linked_project_id"


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
async def test_register_blank_name(session: AsyncSession, name: str) -> None:
    project = await make_project(session)
    with pytest.raises(ValidationFailed) as err:
        await register_component(session, ComponentCreate(project_id=project.id, name=name))
    assert err.value.field == "name"


async def test_register_duplicate_is_conflict(session: AsyncSession) -> None:
    project = await make_project(session)
    await make_component(session, project, "iMi")
    with pytest.raises(Conflict) as err:
        await make_component(session, project, " iMi ")
    assert err.value.field == "name"
    assert err.value.code == "CONFLICT"
    # The transaction is still usable, and only the first registration left an event.
    await make_component(session, project, "holyfields")
    assert await count_events(session, "imi.component.registered") == 2


async def test_register_names_are_per_project_and_case_sensitive(session: AsyncSession) -> None:
    first, second = await make_project(session), await make_project(session)
    await make_component(session, first, "iMi")
    await make_component(session, second, "iMi")
    await make_component(session, first, "imi")
    total = await session.scalar(select(func.count()).select_from(Component))
    assert total == 3


async def test_concurrent_duplicate_register(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    project = await make_project(session)
    await session.commit()
    data = ComponentCreate(project_id=project.id, name="bloodbank", kind=ComponentKind.SUBMODULE)

    async def attempt() -> Component | Conflict:
        async with sessions() as own:
            try:
                component = await register_component(own, data)
                await asyncio.sleep(0.05)  # hold the row so the other insert must wait on it
                await own.commit()
                return component
            except Conflict as exc:
                await own.rollback()
                return exc

    outcomes = await asyncio.gather(attempt(), attempt())
    winners = [o for o in outcomes if isinstance(o, Component)]
    losers = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert losers[0].field == "name"
    stmt = select(Component).where(col(Component.name) == "bloodbank")
    rows = (await session.scalars(stmt)).all()
    assert [c.id for c in rows] == [winners[0].id]
    assert await count_events(session, "imi.component.registered") == 1


# -- get ------------------------------------------------------------------------------------


async def test_get_component(session: AsyncSession) -> None:
    project = await make_project(session)
    component = await make_component(session, project, "hookd")
    assert (await get_component(session, component.id)).id == component.id
    by_name = await get_component_by_name(session, project_id=project.id, name="hookd")
    assert by_name.id == component.id


async def test_get_component_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound) as err:
        await get_component(session, uuid.uuid4())
    assert err.value.field == "component_id"
    with pytest.raises(NotFound):
        await get_component_by_name(session, project_id=uuid.uuid4(), name="nope")


# -- update ---------------------------------------------------------------------------------


async def test_update_changes_given_fields_only(
    session: AsyncSession,
    committed_database: None,  # a real commit: now() moves on for the update
) -> None:
    project = await make_project(session)
    component = await make_component(
        session, project, "hookd", path="hookd", metadata={"a": 1, "b": 2}
    )
    await session.commit()
    created_at, updated_at = component.created_at, component.updated_at

    updated = await update_component(
        session,
        component.id,
        ComponentUpdate(enabled=False, kind=ComponentKind.EXTERNAL, metadata={"b": None, "c": 3}),
    )
    assert updated.name == "hookd"
    assert updated.path == "hookd"
    assert updated.enabled is False
    assert updated.kind == "external"
    assert updated.meta == {"a": 1, "c": 3}
    assert updated.created_at == created_at
    assert updated.updated_at is not None and updated_at is not None
    assert updated.updated_at > updated_at

    [payload] = await event_payloads(session, "imi.component.updated")
    assert payload["changed_fields"] == ["enabled", "kind", "metadata"]
    assert payload["enabled"] is False
    assert payload["metadata"] == {"a": 1, "c": 3}


async def test_update_without_change_emits_nothing(session: AsyncSession) -> None:
    project = await make_project(session)
    component = await make_component(session, project, "hookd", path="p", metadata={"a": 1})
    await session.commit()
    before = component.updated_at
    same = ComponentUpdate(name="hookd", path="p", kind="local", enabled=True, metadata={"a": 1})
    updated = await update_component(session, component.id, same)
    await update_component(session, component.id, ComponentUpdate())
    await update_component(session, component.id, ComponentUpdate(metadata={"zz": None}))
    assert updated.updated_at == before
    assert await count_events(session, "imi.component.updated") == 0


async def test_update_explicit_null_clears_nullable_fields(session: AsyncSession) -> None:
    project = await make_project(session)
    linked = await make_project(session)
    component = await make_component(
        session, project, "hookd", path="hookd", linked_project_id=linked.id
    )
    updated = await update_component(
        session, component.id, ComponentUpdate(path=None, linked_project_id=None, name=None)
    )
    assert updated.path is None
    assert updated.linked_project_id is None
    assert updated.name == "hookd"  # null on a required field leaves it alone


async def test_update_rename(session: AsyncSession) -> None:
    project = await make_project(session)
    component = await make_component(session, project, "hooks")
    updated = await update_component(session, component.id, ComponentUpdate(name=" hookd "))
    assert updated.name == "hookd"
    [payload] = await event_payloads(session, "imi.component.updated")
    assert payload["changed_fields"] == ["name"]


async def test_update_rename_onto_existing_is_conflict(session: AsyncSession) -> None:
    project = await make_project(session)
    await make_component(session, project, "bloodbank")
    component = await make_component(session, project, "hookd")
    with pytest.raises(Conflict) as err:
        await update_component(session, component.id, ComponentUpdate(name="bloodbank"))
    assert err.value.field == "name"
    # The savepoint rolled back: the session still works and nothing changed.
    again = await get_component(session, component.id)
    assert again.name == "hookd"
    assert await count_events(session, "imi.component.updated") == 0
    await session.commit()


async def test_update_validation_and_not_found(session: AsyncSession) -> None:
    project = await make_project(session)
    component = await make_component(session, project, "hookd")
    with pytest.raises(ValidationFailed) as invalid:
        await update_component(session, component.id, ComponentUpdate(name="  "))
    assert invalid.value.field == "name"
    with pytest.raises(NotFound) as missing_link:
        await update_component(
            session, component.id, ComponentUpdate(linked_project_id=uuid.uuid4())
        )
    assert missing_link.value.field == "linked_project_id"
    with pytest.raises(NotFound) as missing:
        await update_component(session, uuid.uuid4(), ComponentUpdate(enabled=False))
    assert missing.value.field == "component_id"


# -- list -----------------------------------------------------------------------------------


async def _fleet(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
    meta, other = await make_project(session), await make_project(session)
    await make_component(session, meta, "holyfields", kind="submodule", metadata={"lang": "py"})
    await make_component(session, meta, "bloodbank", kind="submodule", metadata={"lang": "py"})
    await make_component(
        session, meta, "HeyMa", kind="submodule", enabled=False, metadata={"lang": "ts"}
    )
    await make_component(session, meta, "hookd", kind="local", metadata={"lang": "rs", "x": 1})
    await make_component(session, other, "agent", kind="external")
    return meta.id, other.id


async def test_list_orders_by_name_and_filters(session: AsyncSession) -> None:
    meta, other = await _fleet(session)

    page = await list_components(session)
    assert [c.name for c in page.items] == ["HeyMa", "agent", "bloodbank", "holyfields", "hookd"]
    assert page.total == 5

    mine = await list_components(session, project_id=meta)
    assert mine.total == 4
    theirs = await list_components(session, project_id=other)
    assert [c.name for c in theirs.items] == ["agent"]

    submodules = await list_components(session, kind=ComponentKind.SUBMODULE)
    assert [c.name for c in submodules.items] == ["HeyMa", "bloodbank", "holyfields"]
    local = await list_components(session, kind="local")
    assert [c.name for c in local.items] == ["hookd"]

    disabled = await list_components(session, enabled=False)
    assert [c.name for c in disabled.items] == ["HeyMa"]
    enabled_subs = await list_components(session, kind="submodule", enabled=True)
    assert [c.name for c in enabled_subs.items] == ["bloodbank", "holyfields"]

    python = await list_components(session, metadata={"lang": "py"})
    assert [c.name for c in python.items] == ["bloodbank", "holyfields"]
    assert (await list_components(session, metadata={"lang": "rs", "x": 1})).total == 1
    assert (await list_components(session, metadata={"lang": "go"})).total == 0


async def test_list_pagination(session: AsyncSession) -> None:
    await _fleet(session)
    first = await list_components(session, limit=2)
    second = await list_components(session, limit=2, offset=2)
    last = await list_components(session, limit=2, offset=4)
    beyond = await list_components(session, limit=2, offset=10)
    assert [c.name for c in first.items] == ["HeyMa", "agent"]
    assert [c.name for c in second.items] == ["bloodbank", "holyfields"]
    assert [c.name for c in last.items] == ["hookd"]
    assert beyond.items == []
    assert {p.total for p in (first, second, last, beyond)} == {5}
    assert (beyond.limit, beyond.offset) == (2, 10)
    filtered_beyond = await list_components(session, kind="local", offset=3)
    assert (filtered_beyond.items, filtered_beyond.total) == ([], 1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": MAX_PAGE_SIZE + 1}, "limit"),
        ({"offset": -1}, "offset"),
        ({"kind": "library"}, "kind"),
    ],
)
async def test_list_rejects_bad_window_and_kind(
    session: AsyncSession, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        await list_components(session, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


async def test_list_accepts_max_page_size(session: AsyncSession) -> None:
    page = await list_components(session, limit=MAX_PAGE_SIZE)
    assert (page.items, page.total) == ([], 0)


# -- relate ---------------------------------------------------------------------------------


async def test_relate_is_idempotent_per_triple(session: AsyncSession) -> None:
    project = await make_project(session)
    imi = await make_component(session, project, "iMi")
    bloodbank = await make_component(session, project, "bloodbank")
    data = RelationshipCreate(
        from_component_id=imi.id, to_component_id=bloodbank.id, metadata={"why": "events"}
    )

    rel, created = await relate_components(session, data)
    assert created is True
    assert (rel.from_component_id, rel.to_component_id) == (imi.id, bloodbank.id)
    assert rel.relation_type == "depends_on"
    assert rel.meta == {"why": "events"}
    [payload] = await event_payloads(session, "imi.component.related")
    assert payload["relationship_id"] == str(rel.id)
    assert payload["from_component_id"] == str(imi.id)
    assert payload["relation_type"] == "depends_on"

    again, created_again = await relate_components(session, data)
    assert (again.id, created_again) == (rel.id, False)
    assert await count_events(session, "imi.component.related") == 1

    other_type = RelationshipCreate(
        from_component_id=imi.id,
        to_component_id=bloodbank.id,
        relation_type=RelationType.PRODUCES_EVENTS_FOR,
    )
    third, created_third = await relate_components(session, other_type)
    assert created_third is True and third.id != rel.id
    reverse = RelationshipCreate(from_component_id=bloodbank.id, to_component_id=imi.id)
    assert (await relate_components(session, reverse))[1] is True
    assert await count_events(session, "imi.component.related") == 3


async def test_relate_validation(session: AsyncSession) -> None:
    project = await make_project(session)
    a = await make_component(session, project, "a")
    with pytest.raises(ValidationFailed) as self_rel:
        await relate_components(
            session, RelationshipCreate(from_component_id=a.id, to_component_id=a.id)
        )
    assert self_rel.value.field == "to_component_id"
    with pytest.raises(NotFound) as no_from:
        await relate_components(
            session, RelationshipCreate(from_component_id=uuid.uuid4(), to_component_id=a.id)
        )
    assert no_from.value.field == "from_component_id"
    with pytest.raises(NotFound) as no_to:
        await relate_components(
            session, RelationshipCreate(from_component_id=a.id, to_component_id=uuid.uuid4())
        )
    assert no_to.value.field == "to_component_id"
    assert await count_events(session, "imi.component.related") == 0


async def test_list_relationships(session: AsyncSession) -> None:
    project = await make_project(session)
    a, b, c = [await make_component(session, project, n) for n in ("a", "b", "c")]
    ab, _ = await relate_components(
        session, RelationshipCreate(from_component_id=a.id, to_component_id=b.id)
    )
    cb, _ = await relate_components(
        session, RelationshipCreate(from_component_id=c.id, to_component_id=b.id)
    )
    ac, _ = await relate_components(
        session, RelationshipCreate(from_component_id=a.id, to_component_id=c.id)
    )
    assert {r.id for r in await list_relationships(session, b.id)} == {ab.id, cb.id}
    assert {r.id for r in await list_relationships(session, a.id)} == {ab.id, ac.id}
    with pytest.raises(NotFound):
        await list_relationships(session, uuid.uuid4())
