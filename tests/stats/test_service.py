from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.activities.models import Activity
from imi.components.models import Component
from imi.stats.service import get_stats
from tests.factories import make_project, make_work_item


async def test_empty_registry_counts_zero(session: AsyncSession) -> None:
    stats = await get_stats(session)
    assert stats.total_projects == 0 and stats.total_activities == 0


async def test_counts_are_exact(session: AsyncSession) -> None:
    a = await make_project(session)
    await make_project(session, active=False)
    await make_work_item(session, a, has_uncommitted_changes=True)
    await make_work_item(session, a, ahead_of_trunk=1)
    await make_work_item(session, a)  # active and clean: in flight all the same (FR-2.4)
    await make_work_item(session, a, active=False, ahead_of_trunk=3)
    session.add_all(
        [
            Component(parent_project_id=a.id, name="x", enabled=True),
            Component(parent_project_id=a.id, name="y", enabled=False),
            Activity(agent_id="ag", activity_type="other"),
            Activity(agent_id="ag", activity_type="other"),
        ]
    )
    await session.flush()
    await session.execute(
        text(
            "UPDATE activities SET created_at = now() - interval '2 days' "
            "WHERE id = (SELECT id FROM activities LIMIT 1)"
        )
    )
    stats = await get_stats(session)
    assert (stats.total_projects, stats.active_projects) == (2, 1)
    assert (stats.total_work_items, stats.active_work_items) == (4, 3)
    # FR-2.4: in flight = active, whatever the git state.
    assert stats.in_flight_work_items == stats.active_work_items == 3
    assert (stats.uncommitted_work_items, stats.unmerged_work_items) == (1, 1)
    assert (stats.total_components, stats.enabled_components) == (2, 1)
    assert (stats.total_activities, stats.activities_last_24h) == (2, 1)
