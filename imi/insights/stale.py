"""Stale work: active work items that look forgotten, and why (``stale_queries`` has the SQL).

Thresholds come from the caller or default to the settings (``IMI_STALE_IDLE_HOURS``,
``IMI_STALE_BEHIND_TRUNK``, ``IMI_STALE_UNCOMMITTED_IDLE_HOURS``); the owner's heartbeat is
judged by the agents' own liveness window (``imi.coordination.agents.LIVENESS_SECONDS``).
A list is one statement (a page past the end costs a second, counting one).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from imi.errors import ValidationFailed
from imi.insights import stale_queries as q
from imi.models_base import Page
from imi.pagination import check_window
from imi.settings import Settings, get_settings

MAX_HOURS = 8760  # a year: the largest idle threshold accepted
MAX_BEHIND = 1_000_000


class StaleReason(StrEnum):
    IDLE = "idle"
    FAR_BEHIND_TRUNK = "far_behind_trunk"
    UNCOMMITTED_NO_ACTIVITY = "uncommitted_no_activity"
    OWNER_HEARTBEAT_STOPPED = "owner_heartbeat_stopped"


class StaleOrder(StrEnum):
    IDLE_DESC = "idle_desc"  # the longest idle first (the default)
    IDLE_ASC = "idle_asc"
    BEHIND_TRUNK_DESC = "behind_trunk_desc"  # the furthest behind first
    BEHIND_TRUNK_ASC = "behind_trunk_asc"


@dataclass(frozen=True, slots=True)
class StaleThresholds:
    idle_hours: int
    behind_trunk: int
    uncommitted_idle_hours: int

    @classmethod
    def of(
        cls,
        idle_hours: int | None = None,
        behind_trunk: int | None = None,
        uncommitted_idle_hours: int | None = None,
        settings: Settings | None = None,
    ) -> StaleThresholds:
        """The caller's thresholds, the settings' where absent; checked before any work."""
        settings = settings or get_settings()
        thresholds = cls(
            settings.stale_idle_hours if idle_hours is None else idle_hours,
            settings.stale_behind_trunk if behind_trunk is None else behind_trunk,
            settings.stale_uncommitted_idle_hours
            if uncommitted_idle_hours is None
            else uncommitted_idle_hours,
        )
        for field, value, top in (
            ("idle_hours", thresholds.idle_hours, MAX_HOURS),
            ("behind_trunk", thresholds.behind_trunk, MAX_BEHIND),
            ("uncommitted_idle_hours", thresholds.uncommitted_idle_hours, MAX_HOURS),
        ):
            if isinstance(value, bool) or not 1 <= value <= top:
                raise ValidationFailed(f"{field} must be between 1 and {top}", field=field)
        return thresholds

    def params(self) -> dict[str, Any]:
        return {
            "idle_seconds": self.idle_hours * 3600,
            "behind": self.behind_trunk,
            "uncommitted_seconds": self.uncommitted_idle_hours * 3600,
        }


@dataclass(frozen=True, slots=True)
class StaleItem:
    work_item: Any  # a plain row read like a WorkItem (attribute names, ``meta``)
    reasons: list[StaleReason]
    idle_seconds: int
    behind_trunk: int
    stale_since: datetime | None  # when the stale-work job marked it (None: not yet)


def parse_order(value: str | StaleOrder | None) -> StaleOrder:
    if value is None:
        return StaleOrder.IDLE_DESC
    try:
        return StaleOrder(value)
    except ValueError:
        allowed = ", ".join(o.value for o in StaleOrder)
        raise ValidationFailed(f"order must be one of {allowed}", field="order") from None


def item_of(row: Any) -> StaleItem:
    return StaleItem(
        work_item=row,
        reasons=[StaleReason(r) for r in row.reasons],
        idle_seconds=int(row.idle_seconds),
        behind_trunk=int(row.behind_trunk),
        stale_since=row.stale_since,
    )


async def list_stale_work(
    session: AsyncSession,
    thresholds: StaleThresholds,
    *,
    project_id: uuid.UUID | None = None,
    order: str | StaleOrder | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[StaleItem]:
    """One page of stale active work, sorted by ``order``, with the total count."""
    check_window(limit, offset)
    sort = parse_order(order)
    params = {**thresholds.params(), "project_id": project_id, "limit": limit, "offset": offset}
    rows = (await session.execute(q.PAGES[sort.value], params)).all()
    if rows:
        return Page([item_of(row) for row in rows], int(rows[0].total), limit, offset)
    total = int(await session.scalar(q.COUNT, params) or 0) if offset else 0
    return Page([], total, limit, offset)
