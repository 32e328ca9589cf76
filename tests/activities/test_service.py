import uuid
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.activities import service
from imi.activities.models import ActivityCreate, ActivityType
from imi.errors import NotFound, ValidationFailed
from tests.factories import make_project, make_work_item
from tests.helpers import events_of, payload


async def test_log_activity_bumps_work_item_and_emits(session: AsyncSession) -> None:
    project = await make_project(session, name="widget")
    item = await make_work_item(session, project, branch_name="feat/auth")
    await session.execute(
        text("UPDATE work_items SET last_activity_at = now() - interval '1 day' WHERE id = :id"),
        {"id": item.id},
    )
    activity = await service.log_activity(
        session,
        ActivityCreate(
            agent_id="agent-coder-1",
            work_item_id=item.id,
            activity_type=ActivityType.MODIFIED,
            description="Implemented JWT validation",
            file_path="src/auth/jwt.rs",
            metadata={"lines_added": 45},
        ),
    )
    assert activity.id and activity.created_at is not None
    await session.refresh(item)
    assert item.last_activity_at is not None
    assert activity.created_at - item.last_activity_at < timedelta(minutes=1)
    [event] = await events_of(session, "imi.activity.logged")
    body = payload(event)
    assert body["activity_id"] == str(activity.id)
    assert body["worktree_id"] == str(item.id)
    assert body["activity_type"] == "modified" and body["file_path"] == "src/auth/jwt.rs"


async def test_log_activity_validation(session: AsyncSession) -> None:
    with pytest.raises(NotFound) as exc:
        await service.log_activity(
            session,
            ActivityCreate(agent_id="a", work_item_id=uuid.uuid4(), activity_type="created"),
        )
    assert exc.value.field == "work_item_id"
    with pytest.raises(ValidationFailed) as vexc:
        await service.log_activity(session, ActivityCreate(agent_id="  ", activity_type="other"))
    assert vexc.value.field == "agent_id"
    with pytest.raises(ValidationError):
        ActivityCreate(agent_id="a", activity_type="danced")  # type: ignore[arg-type]
    assert await events_of(session) == []


async def test_recent_work_newest_first_with_names(session: AsyncSession) -> None:
    project = await make_project(session, name="widget")
    item = await make_work_item(session, project, branch_name="feat/auth", name="feat-auth")
    for i in range(3):
        await service.log_activity(
            session,
            ActivityCreate(
                agent_id="agent-1",
                work_item_id=item.id,
                activity_type=ActivityType.COMMITTED,
                description=f"commit {i}",
            ),
        )
    await service.log_activity(
        session, ActivityCreate(agent_id="agent-1", activity_type=ActivityType.OTHER)
    )
    await service.log_activity(
        session, ActivityCreate(agent_id="agent-2", activity_type=ActivityType.OTHER)
    )
    recent = await service.recent_work(session, "agent-1", limit=10)
    assert len(recent) == 4
    assert recent[0].activity.activity_type == "other" and recent[0].worktree_name is None
    assert [r.activity.description for r in recent[1:]] == ["commit 2", "commit 1", "commit 0"]
    assert {(r.worktree_name, r.project_name) for r in recent[1:]} == {("feat-auth", "widget")}
    assert len(await service.recent_work(session, "agent-1", limit=2)) == 2
    assert await service.recent_work(session, "nobody") == []
    with pytest.raises(ValidationFailed):
        await service.recent_work(session, "agent-1", limit=0)

    by_item = await service.list_activities(session, work_item_ids=[item.id])
    assert len(by_item) == 3
