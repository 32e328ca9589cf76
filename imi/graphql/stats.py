"""Stats: registry-wide counts (one statement), the domain's fields as they are."""

from __future__ import annotations

import strawberry

from imi.graphql.context import Context
from imi.stats import service

Info = strawberry.Info[Context, None]


@strawberry.experimental.pydantic.type(
    model=service.Stats,
    all_fields=True,
    description='Exact counts across the registry. "In flight" = active work (FR-2.4); '
    "uncommittedWorkItems / unmergedWorkItems count the active work with uncommitted changes / "
    "commits not on trunk.",
)
class Stats:
    pass


@strawberry.type
class Query:
    @strawberry.field(description="Registry statistics.")
    async def stats(self, info: Info) -> Stats:
        async with info.context.read() as session:
            stats = await service.get_stats(session)
        return Stats.from_pydantic(stats)
