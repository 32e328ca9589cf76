import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.errors import NotFound, ValidationFailed
from imi.projects import service
from imi.projects.models import Project, ProjectCreate, ProjectUpdate
from tests.factories import make_work_item
from tests.helpers import events_of, payload

ORIGIN = "git@github.com:acme/widget.git"


async def register(session: AsyncSession, origin: str = ORIGIN, **fields: object):
    return await service.register_project(
        session,
        ProjectCreate(remote_origin=origin, **fields),  # type: ignore[arg-type]
    )


async def test_register_creates_project_with_defaults_and_event(session: AsyncSession) -> None:
    result = await register(session, metadata={"language": "rust"})
    await session.commit()
    project = result.project
    assert result.created and not result.reactivated and not result.existed
    assert project.name == "widget"
    assert project.default_branch == "main"
    assert project.remote_origin == ORIGIN
    assert project.remote_origin_normalized == "github.com/acme/widget"
    assert project.meta == {"language": "rust"}
    assert project.active and project.created_at is not None
    [event] = await events_of(session, "imi.project.registered")
    assert event.subject_id == str(project.id)
    assert payload(event)["project_id"] == str(project.id)
    assert payload(event)["metadata"] == {"language": "rust"}
    assert event.envelope["source"]["app"] == "imi"


async def test_register_is_idempotent_across_spellings(session: AsyncSession) -> None:
    first = await register(session)
    again = await register(session, "https://github.com/Acme/widget", name="other-name")
    assert again.existed and again.project.id == first.project.id
    # The existing project is returned unchanged.
    assert again.project.name == "widget"
    assert len(await events_of(session, "imi.project.registered")) == 1


async def test_register_reactivates_soft_deleted_project(session: AsyncSession) -> None:
    first = await register(session)
    await service.deactivate_project(session, first.project.id)
    again = await register(session, "ssh://git@github.com/acme/widget.git", name="widget-v2")
    assert again.reactivated and not again.created
    assert again.project.id == first.project.id
    assert again.project.active and again.project.name == "widget-v2"
    events = await events_of(session, "imi.project.registered")
    assert [payload(e)["reactivated"] for e in events] == [False, True]


async def test_register_rejects_invalid_input(session: AsyncSession) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await register(session, "nonsense")
    assert exc.value.field == "remote_origin"
    with pytest.raises(ValidationFailed) as exc:
        await register(session, name="  ")
    assert exc.value.field == "name"
    assert await events_of(session) == []


async def test_credentials_never_stored(session: AsyncSession) -> None:
    result = await register(session, "https://ghp_s3cret@github.com/acme/widget.git")
    assert result.project.remote_origin == "https://github.com/acme/widget.git"
    [event] = await events_of(session)
    assert "s3cret" not in str(event.envelope)


async def test_fifty_concurrent_registrations_give_one_id(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    spellings = [
        "git@github.com:acme/race.git",
        "https://github.com/acme/race",
        "ssh://git@github.com/acme/race.git",
    ]

    async def one(i: int) -> uuid.UUID:
        async with sessions() as s, s.begin():
            result = await service.register_project(
                s, ProjectCreate(remote_origin=spellings[i % 3])
            )
            return result.project.id

    ids = await asyncio.gather(*(one(i) for i in range(50)))
    assert len(set(ids)) == 1
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Project)) == 1
        assert len(await events_of(s, "imi.project.registered")) == 1


async def test_get_by_id_and_origin(session: AsyncSession) -> None:
    project = (await register(session)).project
    assert (await service.get_project(session, project.id)).id == project.id
    found = await service.get_project_by_origin(session, "https://github.com/acme/widget.git")
    assert found.id == project.id
    with pytest.raises(NotFound):
        await service.get_project(session, uuid.uuid4())
    with pytest.raises(NotFound) as exc:
        await service.get_project_by_origin(session, "git@github.com:acme/missing.git")
    assert exc.value.field == "remote_origin"
    with pytest.raises(ValidationFailed):
        await service.get_project_by_origin(session, "missing")


async def test_list_paginates_and_filters(session: AsyncSession) -> None:
    for i in range(5):
        await register(
            session, f"git@github.com:acme/p{i}.git", metadata={"team": "a" if i < 3 else "b"}
        )
    gone = (await register(session, "git@github.com:acme/zz.git")).project
    await service.deactivate_project(session, gone.id)

    page = await service.list_projects(session, limit=2, offset=0)
    assert page.total == 6 and [p.name for p in page.items] == ["p0", "p1"]
    page = await service.list_projects(session, limit=2, offset=4)
    assert [p.name for p in page.items] == ["p4", "zz"]
    page = await service.list_projects(session, limit=2, offset=10)
    assert page.items == [] and page.total == 6

    assert (await service.list_projects(session, active=True)).total == 5
    assert [p.name for p in (await service.list_projects(session, active=False)).items] == ["zz"]
    team_b = await service.list_projects(session, metadata={"team": "b"})
    assert [p.name for p in team_b.items] == ["p3", "p4"]

    with pytest.raises(ValidationFailed) as exc:
        await service.list_projects(session, limit=0)
    assert exc.value.field == "limit"
    with pytest.raises(ValidationFailed) as exc:
        await service.list_projects(session, offset=-1)
    assert exc.value.field == "offset"


async def test_search_ranks_by_relevance(session: AsyncSession) -> None:
    await register(session, "git@github.com:acme/payments-service.git")
    await register(session, "git@github.com:acme/payment-gateway.git")
    await register(session, "git@github.com:other/frontend.git")
    inactive = (await register(session, "git@github.com:acme/payments-legacy.git")).project
    await service.deactivate_project(session, inactive.id)

    matches = await service.search_projects(session, "payments-service")
    assert matches[0].project.name == "payments-service"
    assert matches[0].relevance == 1.0
    names = [m.project.name for m in matches]
    assert "frontend" not in names and "payments-legacy" not in names

    fuzzy = await service.search_projects(session, "paymnt")  # a typo still finds them
    assert {m.project.name for m in fuzzy} >= {"payment-gateway"}
    assert all(0 < m.relevance <= 1 for m in fuzzy)
    assert fuzzy == sorted(fuzzy, key=lambda m: -m.relevance)

    by_owner = await service.search_projects(session, "other")  # matches the origin
    assert [m.project.name for m in by_owner] == ["frontend"]
    assert await service.search_projects(session, "zzzzqqq") == []
    with_inactive = await service.search_projects(session, "legacy", active_only=False)
    assert [m.project.name for m in with_inactive] == ["payments-legacy"]

    with pytest.raises(ValidationFailed) as exc:
        await service.search_projects(session, "  ")
    assert exc.value.field == "q"
    with pytest.raises(ValidationFailed):
        await service.search_projects(session, "pay", limit=1000)


async def test_search_treats_wildcards_literally(session: AsyncSession) -> None:
    await register(session, "git@github.com:acme/widget.git")
    assert await service.search_projects(session, "%") == []


async def test_update_merges_metadata_and_emits_changes(session: AsyncSession) -> None:
    project = (await register(session, metadata={"language": "rust", "tier": 1})).project
    updated = await service.update_project(
        session,
        project.id,
        ProjectUpdate(description="Widgets", metadata={"team": "core", "tier": None}),
    )
    assert updated.description == "Widgets"
    assert updated.meta == {"language": "rust", "team": "core"}
    [event] = await events_of(session, "imi.project.updated")
    assert payload(event)["changed_fields"] == ["description", "metadata"]

    replaced = await service.update_project(
        session, project.id, ProjectUpdate(metadata={"only": True}, replace_metadata=True)
    )
    assert replaced.meta == {"only": True}

    # No change, no event.
    await service.update_project(session, project.id, ProjectUpdate(description="Widgets"))
    assert len(await events_of(session, "imi.project.updated")) == 2

    cleared = await service.update_project(session, project.id, ProjectUpdate(description=None))
    assert cleared.description is None


async def test_update_validation_and_not_found(session: AsyncSession) -> None:
    project = (await register(session)).project
    with pytest.raises(ValidationFailed) as exc:
        await service.update_project(session, project.id, ProjectUpdate(name=""))
    assert exc.value.field == "name"
    with pytest.raises(NotFound):
        await service.update_project(session, uuid.uuid4(), ProjectUpdate(name="x"))


async def test_deactivate_cascades_to_work_items(session: AsyncSession) -> None:
    project = (await register(session)).project
    items = [await make_work_item(session, project) for _ in range(3)]
    other = (await register(session, "git@github.com:acme/other.git")).project
    untouched = await make_work_item(session, other)

    result = await service.deactivate_project(session, project.id)
    assert not result.active
    for item in [*items, untouched]:
        await session.refresh(item)
    assert not any(item.active for item in items)
    assert untouched.active
    assert {item.completion_type for item in items} == {"abandoned"}
    assert all(item.completed_at is not None for item in items)
    [event] = await events_of(session, "imi.project.deactivated")
    assert sorted(payload(event)["deactivated_work_item_ids"]) == sorted(str(i.id) for i in items)
    # One event per closed item, so consumers and subscribers see each go inactive.
    completed = await events_of(session, "imi.work.completed")
    assert sorted(e.subject_id for e in completed) == sorted(str(i.id) for i in items)
    assert all(e.subject_type == "work_item" for e in completed)
    for e in completed:
        body = payload(e)
        assert body["active"] is False and body["completion_type"] == "abandoned"
        assert body["reason"] == "project_deactivated" and body["project_name"] == project.name

    # Deactivating again changes nothing and emits nothing.
    await service.deactivate_project(session, project.id)
    assert len(await events_of(session, "imi.project.deactivated")) == 1
    assert len(await events_of(session, "imi.work.completed")) == 3
    with pytest.raises(NotFound):
        await service.deactivate_project(session, uuid.uuid4())


async def test_counts_per_project(session: AsyncSession) -> None:
    project = (await register(session)).project
    empty = (await register(session, "git@github.com:acme/empty.git")).project
    await make_work_item(session, project, has_uncommitted_changes=True)
    await make_work_item(session, project, ahead_of_trunk=2)
    await make_work_item(session, project)
    await make_work_item(session, project, active=False, ahead_of_trunk=5)

    counts = await service.project_counts(session, [project.id, empty.id])
    assert counts[project.id].model_dump() == {
        "active": 3,
        "in_flight": 3,
        "uncommitted": 1,
        "unmerged": 1,
    }
    assert set(counts[empty.id].model_dump().values()) == {0}
    assert await service.project_counts(session, []) == {}


async def test_concurrent_metadata_merges_keep_every_key(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s, s.begin():
        project = (await register(s)).project

    async def merge(key: str) -> None:
        async with sessions() as s, s.begin():
            await service.update_project(s, project.id, ProjectUpdate(metadata={key: True}))

    await asyncio.gather(*(merge(f"k{i}") for i in range(10)))
    async with sessions() as s:
        stored = await service.get_project(s, project.id)
        assert stored.meta == {f"k{i}": True for i in range(10)}


async def test_concurrent_deactivations_emit_one_event(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s, s.begin():
        project = (await register(s)).project

    async def deactivate() -> None:
        async with sessions() as s, s.begin():
            await service.deactivate_project(s, project.id)

    await asyncio.gather(*(deactivate() for _ in range(5)))
    async with sessions() as s:
        assert len(await events_of(s, "imi.project.deactivated")) == 1
