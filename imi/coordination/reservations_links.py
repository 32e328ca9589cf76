"""Which live reservations concern a work item (GraphQL ``WorkItem.reservations``).

The rule: a reservation shows on a work item when it is live, in the work item's project
(intermute's ``project`` is the iMi project's id, as a project-restricted key names it, or its
name), and either its holder is the work item's owner (``owner_id`` is the agent id) or its
pattern overlaps the worktree: some path under ``worktree_path`` (compared without its leading
``/``, as patterns are) matches it.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from imi.coordination import reservations_queries as q
from imi.coordination.globs import (
    MAX_PATTERN_LENGTH,
    Budget,
    Pattern,
    literal_pattern,
    parse,
    patterns_overlap,
)
from imi.coordination.reservations import Reservation
from imi.errors import ValidationFailed

PER_WORK_ITEM = 100
# Overlap steps one batch may take (a fifth of a second); past them a reservation shows.
BATCH_STEPS = 200_000


def worktree_tree(worktree_path: str | None) -> Pattern | None:
    """``<worktree_path>/**`` as a pattern; None when there is no path or it cannot be one."""
    if not worktree_path or len(worktree_path) > MAX_PATTERN_LENGTH - 3:
        return None
    try:
        return parse(literal_pattern(worktree_path.rstrip("/")) + "/**")
    except ValidationFailed:  # '..' segments, too many segments: no pattern covers it
        return None


async def live_for_work_items(
    session: AsyncSession, work_item_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Reservation]]:
    """The reservations on each work item (at most ``PER_WORK_ITEM``), in one statement."""
    out: dict[uuid.UUID, list[Reservation]] = {key: [] for key in work_item_ids}
    rows = (await session.execute(q.LIVE_FOR_WORK_ITEMS, {"ids": work_item_ids})).all()
    trees: dict[uuid.UUID, Pattern | None] = {}
    budget = Budget(BATCH_STEPS)
    for row in rows:
        found = out[row.work_item_id]
        if len(found) >= PER_WORK_ITEM:
            continue
        if row.work_item_id not in trees:
            trees[row.work_item_id] = worktree_tree(row.worktree_path)
        tree = trees[row.work_item_id]
        held = row.owner_id is not None and row.agent_id == row.owner_id
        if held or (tree is not None and patterns_overlap(tree, parse(row.path_pattern), budget)):
            found.append(Reservation.from_row(row))
    return out
