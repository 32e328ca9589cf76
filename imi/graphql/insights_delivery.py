"""`deliveryMetrics`: DORA metrics from iMi's own links (rules: imi/insights/delivery.py)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from graphql import GraphQLError

from imi.errors import DomainError
from imi.graphql.context import Context
from imi.graphql.ids import optional_id
from imi.insights import delivery

Info = strawberry.Info[Context, None]


@strawberry.enum(description="Width of a delivery metrics time-series point (UTC).")
class MetricsBucket(Enum):
    DAY = "day"
    WEEK = "week"  # ISO weeks: Monday 00:00 UTC


@strawberry.experimental.pydantic.type(
    model=delivery.Percentiles,
    all_fields=True,
    description="A duration distribution: sample count and percentile_cont p50/p90 in seconds "
    "(null when there is no sample).",
)
class Percentiles:
    pass


@strawberry.experimental.pydantic.type(
    model=delivery.EnvironmentDeploys,
    all_fields=True,
    description="Deploys to one environment in the window, and per day of the window.",
)
class EnvironmentDeploys:
    pass


@strawberry.experimental.pydantic.type(
    model=delivery.ChangeFailure,
    all_fields=True,
    description="Production deploys in the window, those judged failed, and failures / deploys "
    "(null without deploys).",
)
class ChangeFailure:
    pass


@strawberry.experimental.pydantic.type(
    model=delivery.DeliveryPoint,
    all_fields=True,
    description="One bucket: production deploys, failed ones, and the p50 lead time of the "
    "work first shipped to production in it.",
)
class DeliveryPoint:
    pass


@strawberry.type(description="Delivery (DORA) metrics over [from, to); rules in the README.")
class DeliveryMetrics:
    lead_time: Percentiles = strawberry.field(
        description="Work start (or first commit, if earlier) -> first successful production "
        "deploy shipping the work item."
    )
    ticket_lead_time: Percentiles = strawberry.field(
        description="First ticket link -> first successful production deploy of the work item."
    )
    deployment_frequency: list[EnvironmentDeploys]
    change_failure_rate: ChangeFailure
    time_to_restore: Percentiles = strawberry.field(
        description="Failed production deploy -> next successful production deploy of the same "
        "project and environment (unrestored failures are not counted)."
    )
    series: list[DeliveryPoint]

    @classmethod
    def of(cls, metrics: delivery.DeliveryMetrics) -> DeliveryMetrics:
        return cls(
            lead_time=Percentiles.from_pydantic(metrics.lead_time),
            ticket_lead_time=Percentiles.from_pydantic(metrics.ticket_lead_time),
            deployment_frequency=[
                EnvironmentDeploys.from_pydantic(env) for env in metrics.deployment_frequency
            ],
            change_failure_rate=ChangeFailure.from_pydantic(metrics.change_failure_rate),
            time_to_restore=Percentiles.from_pydantic(metrics.time_to_restore),
            series=[DeliveryPoint.from_pydantic(point) for point in metrics.series],
        )


@strawberry.type
class Query:
    @strawberry.field(
        description="Delivery metrics per project, component owner (`owner`: the `owner` in "
        "the metadata of components linked to a project) or agent (work item owner), over "
        "[from, to) (at most 366 days), with a time series by bucket. One SQL statement."
    )
    async def delivery_metrics(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        project_id: strawberry.ID | None = None,
        owner: str | None = None,
        agent_id: str | None = None,
        bucket: MetricsBucket | None = MetricsBucket.DAY,
    ) -> DeliveryMetrics:
        try:
            query = delivery.DeliveryQuery(
                start=from_,
                end=to,
                bucket=delivery.Bucket((bucket or MetricsBucket.DAY).value),
                project_id=optional_id(project_id, "Project", "projectId"),
                owner=owner,
                agent_id=agent_id,
            )
            rules = delivery.DeliveryRules.of(info.context.settings)
            delivery.validate(query)  # before a session is opened
            async with info.context.read() as session:
                metrics = await delivery.delivery_metrics(session, query, rules)
        except DomainError as exc:
            # A typed error: extensions.code (VALIDATION_ERROR, NOT_FOUND) and the details.
            raise GraphQLError(exc.message, extensions={"code": exc.code, **exc.details}) from None
        return DeliveryMetrics.of(metrics)
