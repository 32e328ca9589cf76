"""Delivery metrics (DORA) per project, component owner or agent over a time window.

The rules (which deploys count as production, failed, restored; what a lead time measures) are
documented in the README ("Delivery metrics") and computed by one SQL statement
(``delivery_queries``); this module validates the input before any work and shapes the rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from imi.errors import NotFound, ValidationFailed
from imi.insights.delivery_queries import delivery_statement
from imi.models_base import MAX_ID
from imi.settings import Settings

# Longest window one call may ask for: a year of daily buckets (367 points at most).
MAX_WINDOW = timedelta(days=366)
# Deploy statuses (lower-cased) that mean the deploy failed / succeeded; anything else (e.g.
# in_progress) is neither: it counts as a deploy, never ships work, never restores service.
FAILED_STATUSES = ("failed", "rolled_back", "rolledback", "rollback", "error")
SUCCEEDED_STATUSES = ("succeeded", "success", "successful", "completed", "deployed")


class Bucket(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, starting on Monday 00:00 UTC


BUCKET_HOURS = {Bucket.DAY: 24, Bucket.WEEK: 24 * 7}


@dataclass(frozen=True)
class DeliveryRules:
    """The knobs of the rules, from the settings (IMI_DELIVERY_*)."""

    production_environments: tuple[str, ...] = ("production", "prod")
    failure_window: timedelta = timedelta(hours=24)

    @classmethod
    def of(cls, settings: Settings) -> DeliveryRules:
        return cls(
            production_environments=tuple(
                name.strip().lower()
                for name in settings.delivery_production_environments.split(",")
                if name.strip()
            ),
            failure_window=timedelta(hours=settings.delivery_failure_window_hours),
        )


@dataclass(frozen=True)
class DeliveryQuery:
    start: datetime
    end: datetime
    bucket: Bucket = Bucket.DAY
    project_id: uuid.UUID | None = None
    owner: str | None = None
    agent_id: str | None = None


class Percentiles(BaseModel):
    count: int
    p50_seconds: float | None
    p90_seconds: float | None


class EnvironmentDeploys(BaseModel):
    environment: str
    deploys: int
    per_day: float


class ChangeFailure(BaseModel):
    deploys: int
    failures: int
    rate: float | None  # None when there was no production deploy


class DeliveryPoint(BaseModel):
    bucket_start: datetime
    deploys: int
    failures: int
    lead_time_p50_seconds: float | None


class DeliveryMetrics(BaseModel):
    start: datetime
    end: datetime
    bucket: Bucket
    lead_time: Percentiles
    ticket_lead_time: Percentiles
    deployment_frequency: list[EnvironmentDeploys]
    change_failure_rate: ChangeFailure
    time_to_restore: Percentiles
    series: list[DeliveryPoint]


def _utc(value: datetime) -> datetime:
    """A naive time is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def validate(query: DeliveryQuery) -> DeliveryQuery:
    """Check every bound before the database is asked anything."""
    start, end = _utc(query.start), _utc(query.end)
    if end <= start:
        raise ValidationFailed("to must be after from", field="to")
    if end - start > MAX_WINDOW:
        raise ValidationFailed(
            f"the window may span at most {MAX_WINDOW.days} days", field="from", max_days=366
        )
    try:
        bucket = Bucket(query.bucket)
    except ValueError:
        raise ValidationFailed("bucket must be day or week", field="bucket") from None
    for field, value in (("owner", query.owner), ("agent_id", query.agent_id)):
        if value is not None and not 0 < len(value) <= MAX_ID:
            raise ValidationFailed(f"{field} must be 1 to {MAX_ID} characters", field=field)
    return DeliveryQuery(start, end, bucket, query.project_id, query.owner, query.agent_id)


def _percentiles(row: dict[str, object] | None) -> Percentiles:
    if row is None:
        return Percentiles(count=0, p50_seconds=None, p90_seconds=None)
    p50, p90 = row["p50"], row["p90"]
    return Percentiles(
        count=int(row["n"]),  # type: ignore[call-overload]
        p50_seconds=None if p50 is None else float(p50),  # type: ignore[arg-type]
        p90_seconds=None if p90 is None else float(p90),  # type: ignore[arg-type]
    )


def statement_params(query: DeliveryQuery, rules: DeliveryRules) -> dict[str, object]:
    """The statement's parameters for a validated ``query``: one per filter present."""
    params: dict[str, object] = {
        "start": query.start,
        "end": query.end,
        "bucket": query.bucket.value,
        "bucket_hours": BUCKET_HOURS[query.bucket],
        "production": list(rules.production_environments),
        "failed": list(FAILED_STATUSES),
        "succeeded": list(SUCCEEDED_STATUSES),
        "failure_window_seconds": rules.failure_window.total_seconds(),
    }
    if query.project_id is not None:
        params["project_id"] = query.project_id
    if query.agent_id is not None:
        params["agent_id"] = query.agent_id
    if query.owner is not None:
        params["owner"] = query.owner
    return params


async def delivery_metrics(
    session: AsyncSession, query: DeliveryQuery, rules: DeliveryRules | None = None
) -> DeliveryMetrics:
    """The metrics for ``query`` in one statement; NotFound for a project the caller cannot
    see (row-level security hides it exactly as if it did not exist)."""
    query = validate(query)
    rules = rules or DeliveryRules()
    statement = delivery_statement(
        project=query.project_id is not None,
        agent=query.agent_id is not None,
        owner=query.owner is not None,
    )
    params = statement_params(query, rules)
    rows = [dict(row) for row in (await session.execute(statement, params)).mappings()]
    single = {row["kind"]: row for row in rows if row["kind"] not in ("env", "series")}
    if query.project_id is not None and not single["project"]["n"]:
        raise NotFound("project", query.project_id, field="project_id")
    days = (query.end - query.start).total_seconds() / 86400
    cfr = single["cfr"]
    deploys, failures = int(cfr["n"]), int(cfr["failures"])
    return DeliveryMetrics(
        start=query.start,
        end=query.end,
        bucket=query.bucket,
        lead_time=_percentiles(single.get("lead")),
        ticket_lead_time=_percentiles(single.get("ticket")),
        time_to_restore=_percentiles(single.get("restore")),
        change_failure_rate=ChangeFailure(
            deploys=deploys, failures=failures, rate=failures / deploys if deploys else None
        ),
        deployment_frequency=sorted(
            (
                EnvironmentDeploys(
                    environment=row["environment"], deploys=row["n"], per_day=row["n"] / days
                )
                for row in rows
                if row["kind"] == "env"
            ),
            key=lambda env: (-env.deploys, env.environment),
        ),
        series=sorted(
            (
                DeliveryPoint(
                    bucket_start=row["bucket"],
                    deploys=row["n"],
                    failures=row["failures"],
                    lead_time_p50_seconds=row["p50"],
                )
                for row in rows
                if row["kind"] == "series"
            ),
            key=lambda point: point.bucket_start,
        ),
    )
