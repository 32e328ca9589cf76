"""Agent: an owner id (agent or human) with its work and its activity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from imi.graphql.activities import Activity, activities_of_agent
from imi.graphql.context import Context
from imi.graphql.loaders.agents import AgentById
from imi.graphql.loaders.work import WorkItemsByOwner
from imi.graphql.pagination import Connection, Window, connection

if TYPE_CHECKING:
    from imi.graphql.reservations import Reservation
    from imi.graphql.work import WorkItem, WorkItemFilter

Info = strawberry.Info[Context, None]


@strawberry.type(
    description="Someone who owns work or logs activity (an agent or a human), by owner id."
)
class Agent:
    id: strawberry.ID = strawberry.field(description="The owner id (`WorkItem.ownerId`).")

    @strawberry.field(description="Work owned by this agent, most recently active first.")
    async def work_items(
        self,
        info: Info,
        filter: Annotated[WorkItemFilter, strawberry.lazy("imi.graphql.work")] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[WorkItem, strawberry.lazy("imi.graphql.work")]]:
        from imi.graphql.work import WorkItem, work_query

        window = Window.of(first, after)
        page = await info.context.loaders.get(WorkItemsByOwner).one(
            (str(self.id), work_query(filter, window))
        )
        return connection(page, window, WorkItem.from_row)

    @strawberry.field(description="What this agent did, newest first.")
    async def activities(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Activity]:
        return await activities_of_agent(info, str(self.id), Window.of(first, after))

    @strawberry.field(description="The live file reservations this agent holds.")
    async def reservations(
        self, info: Info
    ) -> list[Annotated[Reservation, strawberry.lazy("imi.graphql.reservations")]]:
        from imi.graphql.reservations import agent_reservations

        return await agent_reservations(info, str(self.id))


@strawberry.type
class Query:
    @strawberry.field(
        description="An agent by owner id; null when no work item or activity carries it."
    )
    async def agent(self, info: Info, id: strawberry.ID) -> Agent | None:
        known = await info.context.loaders.get(AgentById).one(id.strip())
        return Agent(id=strawberry.ID(known)) if known else None
