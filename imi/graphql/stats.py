"""Stats: registry-wide counts (one statement)."""

from __future__ import annotations

from dataclasses import asdict

import strawberry

from imi.graphql.context import Context
from imi.stats.service import get_stats

Info = strawberry.Info[Context, None]


@strawberry.type(
    description='Exact counts across the registry. "In flight" = active work (FR-2.4); '
    "uncommittedWorkItems / unmergedWorkItems count the active work with uncommitted changes / "
    "commits not on trunk."
)
class Stats:
    total_projects: int
    active_projects: int
    total_work_items: int
    active_work_items: int
    in_flight_work_items: int = strawberry.field(description="Active work (= activeWorkItems).")
    uncommitted_work_items: int = strawberry.field(
        description="Active work with uncommitted changes."
    )
    unmerged_work_items: int = strawberry.field(
        description="Active work with commits not yet on trunk."
    )
    completed_work_items: int
    total_components: int
    enabled_components: int
    component_relationships: int
    total_tickets: int
    total_pull_requests: int
    open_pull_requests: int
    total_deployments: int
    total_activities: int
    activities_last_24h: int = strawberry.field(description="Activities in the last 24 hours.")
    unpublished_events: int = strawberry.field(
        description="Events committed but not yet confirmed by the broker."
    )


@strawberry.type
class Query:
    @strawberry.field(description="Registry statistics.")
    async def stats(self, info: Info) -> Stats:
        async with info.context.read() as session:
            stats = await get_stats(session)
        return Stats(**asdict(stats))
