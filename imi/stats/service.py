"""Registry statistics (AC-5): exact counts in one round trip."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# One statement of scalar sub-queries: exact counts, one round trip.
_STATS_SQL = text(
    """
    SELECT
      (SELECT count(*) FROM projects) AS total_projects,
      (SELECT count(*) FROM projects WHERE active) AS active_projects,
      (SELECT count(*) FROM work_items) AS total_work_items,
      (SELECT count(*) FROM work_items WHERE active) AS active_work_items,
      (SELECT count(*) FROM work_items WHERE active
        AND has_uncommitted_changes) AS uncommitted_work_items,
      (SELECT count(*) FROM work_items WHERE active AND ahead_of_trunk > 0) AS unmerged_work_items,
      (SELECT count(*) FROM work_items WHERE completed_at IS NOT NULL) AS completed_work_items,
      (SELECT count(*) FROM components) AS total_components,
      (SELECT count(*) FROM components WHERE enabled) AS enabled_components,
      (SELECT count(*) FROM component_relationships) AS component_relationships,
      (SELECT count(*) FROM tickets) AS total_tickets,
      (SELECT count(*) FROM pull_requests) AS total_pull_requests,
      (SELECT count(*) FROM pull_requests WHERE state = 'open') AS open_pull_requests,
      (SELECT count(*) FROM deployments) AS total_deployments,
      (SELECT count(*) FROM activities) AS total_activities,
      (SELECT count(*) FROM activities
        WHERE created_at > now() - interval '24 hours') AS activities_last_24h,
      (SELECT count(*) FROM events WHERE published_at IS NULL) AS unpublished_events
    """
)


class Stats(BaseModel):
    """Exact counts across the registry, declared once: REST and GraphQL show these fields.

    In flight = active (FR-2.4); the uncommitted / unmerged counts are the active work with
    uncommitted changes / commits ahead of trunk, as a project's ``worktree_counts``."""

    model_config = ConfigDict(frozen=True)

    total_projects: int
    active_projects: int
    total_work_items: int
    active_work_items: int
    in_flight_work_items: int = Field(description="Active work (= active work items, FR-2.4).")
    uncommitted_work_items: int = Field(description="Active work with uncommitted changes.")
    unmerged_work_items: int = Field(description="Active work with commits not yet on trunk.")
    completed_work_items: int
    total_components: int
    enabled_components: int
    component_relationships: int
    total_tickets: int
    total_pull_requests: int
    open_pull_requests: int
    total_deployments: int
    total_activities: int
    activities_last_24h: int = Field(description="Activities in the last 24 hours.")
    unpublished_events: int = Field(
        description="Events committed but not yet confirmed by the broker."
    )


async def get_stats(session: AsyncSession) -> Stats:
    row = (await session.execute(_STATS_SQL)).mappings().one()
    counts = {key: int(value) for key, value in row.items()}
    # In flight is active (FR-2.4): the same count, under the name readers look for.
    return Stats(**counts, in_flight_work_items=counts["active_work_items"])
