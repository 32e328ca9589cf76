"""`GET /insights/impact`: what a change to a component, project or deploy may affect."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from imi.api.deps import Session, parse_id
from imi.api.envelope import Envelope, error_responses
from imi.api.schemas import ProjectOut, WorkItemOut
from imi.api.schemas_components import ComponentOut
from imi.components.models import RelationType
from imi.insights import impact

router = APIRouter(tags=["insights"])


class ImpactedComponentOut(BaseModel):
    component: ComponentOut
    distance: int = Field(description="Fewest hops from a start component (0).")
    path: list[uuid.UUID] = Field(description="Component ids of one shortest path.")
    via: list[RelationType] = Field(description="The relationship type of each hop.")


class ImpactedProjectOut(BaseModel):
    project: ProjectOut
    distance: int
    path: list[uuid.UUID] = Field(description="Its nearest component's path (empty: a start).")


class ChangeImpactOut(BaseModel):
    max_depth: int
    components: list[ImpactedComponentOut]
    projects: list[ImpactedProjectOut]
    in_flight_work: list[WorkItemOut] = Field(description="At most 500, most recent first.")
    in_flight_work_total: int

    @classmethod
    def of(cls, result: impact.ChangeImpact) -> ChangeImpactOut:
        rows: list[Any] = result.in_flight_work
        return cls(
            max_depth=result.max_depth,
            components=[
                ImpactedComponentOut(
                    component=ComponentOut.of(c.component),
                    distance=c.distance,
                    path=c.path,
                    via=c.via,
                )
                for c in result.components
            ],
            projects=[
                ImpactedProjectOut(
                    project=ProjectOut.of(p.project), distance=p.distance, path=p.path
                )
                for p in result.projects
            ],
            in_flight_work=[WorkItemOut.of(row) for row in rows],
            in_flight_work_total=result.in_flight_total,
        )


@router.get(
    "/insights/impact",
    response_model=Envelope[ChangeImpactOut],
    responses=error_responses(400, 404, 422),
    summary="Change impact: components, projects and in-flight work a change may affect",
    description="Start at exactly one of `component_id`, `project_id`, `deploy_id` (400 "
    "otherwise; 404 for an id naming nothing). Impact runs to dependents (`A depends_on B`: "
    "B affects A; `A consumes_events_from B`: B affects A) and to consumers (`A "
    "produces_events_for B`: A affects B), at most `max_depth` hops (1..10, default 5). Each "
    "component and project comes with its shortest distance and one shortest path.",
)
async def change_impact(
    session: Session,
    component_id: str | None = None,
    project_id: str | None = None,
    deploy_id: str | None = None,
    max_depth: int | None = None,
) -> Envelope[ChangeImpactOut]:
    impact.exactly_one(component_id=component_id, project_id=project_id, deploy_id=deploy_id)
    start = impact.ImpactStart(
        component_id=None if component_id is None else parse_id(component_id, "component"),
        project_id=None if project_id is None else parse_id(project_id, "project"),
        deploy_id=deploy_id,
    )
    result = await impact.change_impact(session, start, max_depth=max_depth)
    return Envelope(data=ChangeImpactOut.of(result))
