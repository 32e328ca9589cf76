"""`GET /insights/delivery`: delivery (DORA) metrics, the REST twin of `deliveryMetrics`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from imi.api.deps import Session, parse_query_id
from imi.api.envelope import Envelope, error_responses
from imi.insights import delivery

router = APIRouter(tags=["insights"])

DESCRIPTION = """
Lead time for changes (p50/p90), deployment frequency per environment, change failure rate and
time to restore, per project (`project_id`), component owner (`owner`: the `owner` key in the
metadata of the components linked to a project) or agent (`agent_id`, the work items'
owner), over `[from, to)` (at most 366 days) with a time series by `bucket` (`day` | `week`,
UTC; weeks start on Monday). The rules are in the README ("Delivery metrics"). All durations
are in seconds; percentiles are null without a sample.

Bad input (`to` not after `from`, a window longer than 366 days, an unknown bucket, a malformed
`project_id`) is 400; a project the caller cannot see is 404.
"""


@router.get(
    "/insights/delivery",
    response_model=Envelope[delivery.DeliveryMetrics],
    responses=error_responses(400, 404),
    summary="Delivery (DORA) metrics over a time window",
    description=DESCRIPTION,
)
async def delivery_metrics(
    request: Request,
    session: Session,
    from_: Annotated[datetime, Query(alias="from", description="Window start (inclusive).")],
    to: Annotated[datetime, Query(description="Window end (exclusive).")],
    project_id: Annotated[str | None, Query(max_length=64)] = None,
    owner: Annotated[str | None, Query(description="Component owner.")] = None,
    agent_id: Annotated[str | None, Query(description="Work item owner.")] = None,
    bucket: Annotated[str, Query(description="day | week")] = "day",
) -> Envelope[delivery.DeliveryMetrics]:
    query = delivery.DeliveryQuery(
        start=from_,
        end=to,
        bucket=bucket,  # type: ignore[arg-type]  # validated by the domain (400)
        project_id=parse_query_id(project_id, "project_id") if project_id else None,
        owner=owner,
        agent_id=agent_id,
    )
    rules = delivery.DeliveryRules.of(request.app.state.settings)
    return Envelope(data=await delivery.delivery_metrics(session, query, rules))
