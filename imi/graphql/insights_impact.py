"""``changeImpact``: what a change to a component, a project or a deploy may affect
(``imi.insights.impact``: directions, distances and paths are documented there).

Exactly one of ``componentId``, ``projectId``, ``deployId``; ``maxDepth`` 1..10 (default 5).
Bad input is a GraphQL error with ``extensions.code`` VALIDATION_ERROR; an id naming nothing
(or nothing the caller may see) is NOT_FOUND. The answer's rows come from the domain's four
statements; nested fields (a component's projects, a work item's links) go through loaders.
"""

from __future__ import annotations

import strawberry

from imi.components.models import RelationType
from imi.errors import DomainError
from imi.graphql.components import Component
from imi.graphql.context import Context
from imi.graphql.ids import parse_any_id, to_global_id
from imi.graphql.insights_stale import typed_error
from imi.graphql.projects import Project
from imi.graphql.work import WorkItem
from imi.insights import impact
from imi.insights.impact import ImpactStart

Info = strawberry.Info[Context, None]


@strawberry.type(description="A component a change reaches, and how.")
class ImpactedComponent:
    component: Component
    distance: int = strawberry.field(description="Fewest hops from a start component (0).")
    path: list[strawberry.ID] = strawberry.field(
        description="Component global ids of one shortest path, start first, this one last."
    )
    via: list[RelationType] = strawberry.field(
        description="The relationship type of each hop of `path`."
    )


@strawberry.type(description="A project a change reaches: where an impacted component lives.")
class ImpactedProject:
    project: Project
    distance: int
    path: list[strawberry.ID] = strawberry.field(
        description="The path of its nearest component (empty for a start project)."
    )


@strawberry.type(description="What a change may affect.")
class ChangeImpact:
    max_depth: int
    components: list[ImpactedComponent]
    projects: list[ImpactedProject]
    in_flight_work: list[WorkItem] = strawberry.field(
        description="Active work on the impacted projects, most recently active first "
        "(at most 500; see inFlightWorkTotal)."
    )
    in_flight_work_total: int

    @classmethod
    def of(cls, result: impact.ChangeImpact) -> ChangeImpact:
        def ids(path: list[object]) -> list[strawberry.ID]:
            return [strawberry.ID(to_global_id("Component", str(i))) for i in path]

        return cls(
            max_depth=result.max_depth,
            components=[
                ImpactedComponent(
                    component=Component.from_row(c.component),
                    distance=c.distance,
                    path=ids(list(c.path)),
                    via=c.via,
                )
                for c in result.components
            ],
            projects=[
                ImpactedProject(
                    project=Project.from_row(p.project), distance=p.distance, path=ids(list(p.path))
                )
                for p in result.projects
            ],
            in_flight_work=[WorkItem.from_row(row) for row in result.in_flight_work],
            in_flight_work_total=result.in_flight_total,
        )


@strawberry.type
class Query:
    @strawberry.field(
        description="Components, projects and in-flight work a change may affect: start at "
        "exactly one of componentId, projectId, deployId (a deploy id); maxDepth 1..10, "
        "default 5. Impact runs to dependents (depends_on, consumes_events_from backwards) "
        "and to consumers (produces_events_for forwards)."
    )
    async def change_impact(
        self,
        info: Info,
        component_id: strawberry.ID | None = None,
        project_id: strawberry.ID | None = None,
        deploy_id: str | None = None,
        max_depth: int | None = None,
    ) -> ChangeImpact:
        try:
            # Which starts were given is checked before any id is parsed.
            impact.exactly_one(
                component_id=component_id, project_id=project_id, deploy_id=deploy_id
            )
            start = ImpactStart(
                component_id=None
                if component_id is None
                else parse_any_id(component_id, "Component"),
                project_id=None if project_id is None else parse_any_id(project_id, "Project"),
                deploy_id=deploy_id,
            )
            impact.check_start(start, max_depth)  # before any statement
            async with info.context.read() as session:
                result = await impact.change_impact(session, start, max_depth=max_depth)
        except DomainError as exc:
            raise typed_error(exc) from None
        return ChangeImpact.of(result)
