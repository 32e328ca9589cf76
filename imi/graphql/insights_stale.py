"""``staleWork``: active work items that look forgotten, with why (``imi.insights.stale``).

Bad input (a threshold out of range, a malformed cursor or project id, ``first`` over the
page limit) is a GraphQL error whose ``extensions.code`` is the domain's (VALIDATION_ERROR,
NOT_FOUND). Each item's ``workItem`` comes from the same statement as the list; its nested
fields go through the request's loaders.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError

from imi.errors import DomainError
from imi.graphql.context import Context
from imi.graphql.ids import parse_any_id
from imi.graphql.pagination import Connection, Window, connection
from imi.graphql.work import WorkItem
from imi.insights import stale
from imi.insights.stale import StaleOrder, StaleReason

Info = strawberry.Info[Context, None]

strawberry.enum(
    StaleReason,
    description="Why work is stale: IDLE (no activity for idleHours), FAR_BEHIND_TRUNK "
    "(behindTrunk commits or more), UNCOMMITTED_NO_ACTIVITY (uncommitted changes, no activity "
    "for uncommittedIdleHours), OWNER_HEARTBEAT_STOPPED (its owner is a registered agent with "
    "no heartbeat within the agents' liveness window).",
)
strawberry.enum(StaleOrder, description="How stale work is sorted (ties by id).")


def typed_error(exc: DomainError) -> GraphQLError:
    """A domain error as a GraphQL error carrying its code and details."""
    return GraphQLError(exc.message, extensions={"code": exc.code, **exc.details})


@strawberry.type(description="An active work item that looks stale, and why.")
class StaleWorkItem:
    work_item: WorkItem
    reasons: list[StaleReason]
    idle_seconds: int = strawberry.field(description="Seconds since its last activity.")
    behind_trunk: int
    stale_since: datetime | None = strawberry.field(
        description="When the stale-work job announced it (imi.work.stale); null until then."
    )

    @classmethod
    def of(cls, item: stale.StaleItem) -> StaleWorkItem:
        return cls(
            work_item=WorkItem.from_row(item.work_item),
            reasons=item.reasons,
            idle_seconds=item.idle_seconds,
            behind_trunk=item.behind_trunk,
            stale_since=item.stale_since,
        )


@strawberry.type(description="A page of stale work.")
class StaleWorkConnection(Connection[StaleWorkItem]):
    pass


@strawberry.type
class Query:
    @strawberry.field(
        description="Active work that looks stale (any reason); orderBy defaults to IDLE_DESC "
        "(the longest idle first). Thresholds default to the settings (IMI_STALE_*); hours "
        "1..8760, behindTrunk 1..1000000; first at most 500."
    )
    async def stale_work(
        self,
        info: Info,
        project_id: strawberry.ID | None = None,
        idle_hours: int | None = None,
        behind_trunk: int | None = None,
        uncommitted_idle_hours: int | None = None,
        first: int | None = None,
        after: str | None = None,
        order_by: StaleOrder | None = None,
    ) -> StaleWorkConnection:
        try:
            window = Window.of(first, after)
            thresholds = stale.StaleThresholds.of(
                idle_hours, behind_trunk, uncommitted_idle_hours, settings=info.context.settings
            )
            project = parse_any_id(project_id, "Project") if project_id is not None else None
            async with info.context.read() as session:
                page = await stale.list_stale_work(
                    session,
                    thresholds,
                    project_id=project,
                    order=order_by,
                    limit=max(window.limit, 1),  # first: 0 still counts the total
                    offset=window.offset,
                )
        except DomainError as exc:
            raise typed_error(exc) from None
        page_of = connection(page, window, StaleWorkItem.of)
        return StaleWorkConnection(
            edges=page_of.edges, page_info=page_of.page_info, total_count=page_of.total_count
        )
