"""The stale-work job: announces each work item that becomes stale with ``imi.work.stale``.

Each pass, in one transaction: the marks (``stale_work_marks``, migration 0012) of work that
is fresh again or no longer active are deleted, then newly stale work is marked with an
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` and an event is written for each row that
statement returned. A replica racing another waits on the mark's key until the other commits,
then skips it: each crossing is announced once, however many replicas run the job. Work that
stays stale is not announced again (even when its reasons change); once a pass has seen it
fresh, its next crossing is announced again. Thresholds are the settings' (``IMI_STALE_*``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.insights import stale_queries as q
from imi.insights.stale import StaleThresholds
from imi.outbox import PendingEvent, emit
from imi.periodic import PeriodicJob, in_batches, started
from imi.serialize import columns_dict
from imi.settings import Settings
from imi.work.models import WorkItem

STALE_EVENT = "imi.work.stale"
BATCH = 500  # work items marked per transaction; a pass repeats until a batch comes back short


def stale_payload(row: Any) -> dict[str, Any]:
    """Every work-item column, plus why and since when it is stale."""
    return {
        "work_item_id": row.id,
        **columns_dict(WorkItem, row),
        "project_name": row.project_name,
        "reasons": list(row.reasons),
        "idle_seconds": int(row.idle_seconds),
        "stale_since": row.stale_since,
    }


async def mark_stale(
    session: AsyncSession, thresholds: StaleThresholds, *, batch: int = BATCH
) -> tuple[int, list[Any]]:
    """One batch in the caller's transaction: (marks cleared, rows newly marked). The rows'
    ``imi.work.stale`` events are written in the same transaction."""
    params = {**thresholds.params(), "project_id": None, "batch": batch}
    result = await session.execute(q.UNMARK_FRESH, params)
    cleared = getattr(result, "rowcount", 0) or 0
    rows = list((await session.execute(q.MARK_STALE, params)).all())
    if rows:
        await emit(
            session,
            *(PendingEvent(STALE_EVENT, "work_item", row.id, stale_payload(row)) for row in rows),
        )
    return int(cleared), rows


async def check_stale_work(
    sessions: async_sessionmaker[AsyncSession], thresholds: StaleThresholds, *, batch: int = BATCH
) -> int:
    """One pass: batches (one transaction each) until one comes back short; how many items
    were newly announced."""

    async def one_batch(session: AsyncSession) -> int:
        _, rows = await mark_stale(session, thresholds, batch=batch)
        return len(rows)

    return await in_batches(sessions, one_batch, batch=batch)


def start_stale_job(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> PeriodicJob | None:
    """The running job with the settings' interval and thresholds, or None when
    ``IMI_STALE_CHECK_SECONDS`` is 0 (off)."""
    thresholds = StaleThresholds.of(settings=settings)

    async def one_pass() -> int:
        return await check_stale_work(sessions, thresholds)

    return started(PeriodicJob("stale-work-job", settings.stale_check_seconds, one_pass))
