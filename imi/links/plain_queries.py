"""Link reads from work items that return plain rows (attribute access, no ORM instance),
for readers that only shape rows into a response (the GraphQL loaders). Same statements'
meaning and order as their ``imi.links.queries`` counterparts; ``omit`` leaves attributes
out that the reader will not read (e.g. ``meta``: no JSON decoded per row)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import among, columns_except, reached_rows
from imi.links.models import Deployment, PullRequest, Ticket, TicketLink
from imi.links.queries import BY_PLANE_ID, LINK_WORK, SHIPPED_WORK, TO_DEPLOYMENT, Ids
from imi.prepared import fetch_rows

Pairs = list[tuple[uuid.UUID, Any]]


async def ticket_link_rows_of_work_items(
    session: AsyncSession, ids: Ids, omit: Collection[str] = ()
) -> Pairs:
    """``(work item id, row)`` for each linked ticket, by Plane id: the ticket's columns
    plus the link's ``kind`` and ``linked_at`` (its creation time)."""
    stmt = (
        select(
            *columns_except(Ticket, omit),
            col(TicketLink.kind).label("kind"),
            col(TicketLink.created_at).label("linked_at"),
            LINK_WORK.label("work_item_id"),
        )
        .join(TicketLink, col(TicketLink.ticket_id) == col(Ticket.id))
        .where(among(LINK_WORK, ids))
        .order_by(*BY_PLANE_ID)
    )
    return [(row.work_item_id, row) for row in await fetch_rows(session, stmt)]


async def pull_request_rows_of_work_items(
    session: AsyncSession, ids: Ids, omit: Collection[str] = ()
) -> Pairs:
    """``(work item id, row)`` for the pull requests opened from them, by number."""
    stmt = (
        select(*columns_except(PullRequest, omit))
        .where(among(col(PullRequest.work_item_id), ids))
        .order_by(col(PullRequest.number))
    )
    return [(row.work_item_id, row) for row in await fetch_rows(session, stmt)]


async def deployment_rows_of_work_items(
    session: AsyncSession, ids: Ids, omit: Collection[str] = ()
) -> Pairs:
    """``(work item id, row)`` for each deployment shipping them, newest first."""
    order = (col(Deployment.deployed_at).desc(),)
    return await reached_rows(
        session, ids, SHIPPED_WORK, Deployment, [TO_DEPLOYMENT], order_by=order, omit=omit
    )
