from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from imi.errors import Conflict, NotFound, ValidationFailed
from imi.links.models import Deployment, DeploymentInput, DeploymentWorkItem
from imi.links.service import DEPLOY_COMPLETED, DEPLOY_UPDATED, get_deployment, link_deployment
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item
from tests.links.helpers import count_rows, event_types, events_of


def deploy(*work: WorkItem | uuid.UUID, **fields: Any) -> DeploymentInput:
    ids = [w if isinstance(w, uuid.UUID) else w.id for w in work]
    values: dict[str, Any] = {"deploy_id": "deploy-1", "environment": "production"}
    values.update(fields)
    return DeploymentInput(work_item_ids=ids, **values)


async def three_work_items(session: AsyncSession) -> list[WorkItem]:
    api, web = await make_project(session), await make_project(session)
    return [
        await make_work_item(session, api),
        await make_work_item(session, api),
        await make_work_item(session, web),
    ]


async def test_one_deploy_ships_several_work_items(session: AsyncSession) -> None:
    work = await three_work_items(session)
    result = await link_deployment(session, deploy(*work, commit_hash="abc123"))

    dep = result.deployment
    assert result.created and result.changed
    assert (dep.deploy_id, dep.environment, dep.commit_hash) == ("deploy-1", "production", "abc123")
    assert dep.status == "succeeded"
    assert dep.deployed_at is not None
    assert result.added_work_item_ids == [w.id for w in work]
    assert result.work_item_ids == [w.id for w in work]
    assert await count_rows(session, DeploymentWorkItem) == 3

    [event] = await events_of(session)
    assert event.event_type == DEPLOY_COMPLETED
    assert (event.subject_type, event.subject_id) == ("deployment", str(dep.id))
    payload = event.envelope["payload"]
    assert payload["deploy_id"] == "deploy-1"
    assert payload["environment"] == "production"
    assert payload["commit_hash"] == "abc123"
    assert payload["work_item_ids"] == [str(w.id) for w in work]
    assert payload["added_work_item_ids"] == [str(w.id) for w in work]
    assert payload["project_ids"] == [str(work[0].project_id), str(work[2].project_id)]
    assert payload["created"] is True


async def test_identical_resend_changes_nothing(session: AsyncSession) -> None:
    work = await three_work_items(session)
    first = await link_deployment(session, deploy(*work))
    again = await link_deployment(session, deploy(*reversed(work)))

    assert not again.created and not again.changed
    assert again.added_work_item_ids == []
    assert sorted(again.work_item_ids) == sorted(w.id for w in work)
    assert again.deployment.id == first.deployment.id
    assert await count_rows(session, Deployment) == 1
    assert await count_rows(session, DeploymentWorkItem) == 3
    assert await event_types(session) == [DEPLOY_COMPLETED]


async def test_resend_with_more_work_items_attaches_them(session: AsyncSession) -> None:
    work = await three_work_items(session)
    await link_deployment(session, deploy(work[0]))
    more = await link_deployment(session, deploy(work[0], work[1], work[2]))

    assert not more.created and more.changed
    assert more.added_work_item_ids == [work[1].id, work[2].id]
    assert set(more.work_item_ids) == {w.id for w in work}
    assert await count_rows(session, DeploymentWorkItem) == 3
    completed = await events_of(session, DEPLOY_COMPLETED)
    assert len(completed) == 2
    payload = completed[1].envelope["payload"]
    assert payload["created"] is False
    assert payload["added_work_item_ids"] == [str(work[1].id), str(work[2].id)]
    assert set(payload["work_item_ids"]) == {str(w.id) for w in work}


async def test_duplicate_ids_in_one_call_are_attached_once(session: AsyncSession) -> None:
    [a, b, _] = await three_work_items(session)
    result = await link_deployment(session, deploy(a, b, a, b))
    assert result.added_work_item_ids == [a.id, b.id]
    assert await count_rows(session, DeploymentWorkItem) == 2


async def test_missing_work_items_name_the_first_and_write_nothing(
    session: AsyncSession,
) -> None:
    [a, *_] = await three_work_items(session)
    first_missing, second_missing = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(NotFound) as info:
        await link_deployment(session, deploy(a, first_missing, second_missing))
    assert info.value.field == "work_item_ids"
    assert info.value.details["key"] == str(first_missing)
    assert await count_rows(session, Deployment) == 0
    assert await events_of(session) == []


async def test_empty_work_item_list_is_rejected_by_the_schema() -> None:
    with pytest.raises(ValidationError):
        DeploymentInput(deploy_id="d", environment="prod", work_item_ids=[])


@pytest.mark.parametrize("field", ["deploy_id", "environment", "status"])
async def test_blank_fields_are_rejected(session: AsyncSession, field: str) -> None:
    [a, *_] = await three_work_items(session)
    with pytest.raises(ValidationFailed) as info:
        await link_deployment(session, deploy(a, **{field: "  "}))
    assert info.value.field == field
    assert await count_rows(session, Deployment) == 0


async def test_another_environment_for_the_same_deploy_is_a_conflict(
    session: AsyncSession,
) -> None:
    [a, b, _] = await three_work_items(session)
    await link_deployment(session, deploy(a))
    with pytest.raises(Conflict) as info:
        await link_deployment(session, deploy(b, environment="staging"))
    assert info.value.field == "environment"


async def test_status_update_without_new_work_emits_updated(session: AsyncSession) -> None:
    [a, *_] = await three_work_items(session)
    await link_deployment(session, deploy(a, status="in_progress"))
    # The schema's default status does not count as "set": a bare re-send keeps the stored one.
    bare = await link_deployment(session, deploy(a))
    assert bare.deployment.status == "in_progress" and not bare.changed

    done = await link_deployment(session, deploy(a, status="succeeded", commit_hash="f00"))
    assert done.changed and not done.added_work_item_ids
    assert (done.deployment.status, done.deployment.commit_hash) == ("succeeded", "f00")
    assert await event_types(session) == [DEPLOY_COMPLETED, DEPLOY_UPDATED]
    [updated] = await events_of(session, DEPLOY_UPDATED)
    assert updated.envelope["payload"]["status"] == "succeeded"
    assert updated.envelope["payload"]["work_item_ids"] == [str(a.id)]


async def test_deployed_at_is_stored_and_naive_times_are_utc(session: AsyncSession) -> None:
    [a, b, _] = await three_work_items(session)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = await link_deployment(session, deploy(a, deployed_at=at))
    assert first.deployment.deployed_at == at
    naive = await link_deployment(
        session, deploy(b, deploy_id="deploy-2", deployed_at=datetime(2026, 1, 2, 3, 4, 5))
    )
    assert naive.deployment.deployed_at == at
    same = await link_deployment(session, deploy(a, deployed_at=at.replace(tzinfo=None)))
    assert not same.changed


async def test_get_deployment(session: AsyncSession) -> None:
    [a, *_] = await three_work_items(session)
    created = (await link_deployment(session, deploy(a))).deployment
    assert (await get_deployment(session, "deploy-1")).id == created.id
    with pytest.raises(NotFound):
        await get_deployment(session, "nope")
