"""Agent: an owner id (agent or human) with its work and its activity."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from imi.graphql.activities import Activity, activities_of_agent
from imi.graphql.context import Context
from imi.graphql.loaders.agents import AgentById
from imi.graphql.loaders.work import WorkItemsByOwner
from imi.graphql.pagination import Connection, Window, connection

if TYPE_CHECKING:
    from imi.graphql.messages import AgentRegistration, InboxCounts
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

    @strawberry.field(
        description="Its intermute registrations (agentId or name equal to this owner id), "
        "newest first."
    )
    async def registrations(
        self, info: Info
    ) -> list[Annotated[AgentRegistration, strawberry.lazy("imi.graphql.messages")]]:
        from imi.graphql.messages import registrations

        return await registrations(info, str(self.id))

    @strawberry.field(description="Whether any registration heartbeated recently (liveness).")
    async def online(self, info: Info) -> bool:
        from imi.graphql.messages import registrations

        return any(r.online for r in await registrations(info, str(self.id)))

    @strawberry.field(description="The latest heartbeat of its registrations; null if none.")
    async def last_seen(self, info: Info) -> datetime | None:
        from imi.graphql.messages import registrations

        return max((r.last_seen for r in await registrations(info, str(self.id))), default=None)

    @strawberry.field(description="Its inbox (messages addressed to this id) in every project.")
    async def inbox(
        self, info: Info
    ) -> Annotated[InboxCounts, strawberry.lazy("imi.graphql.messages")]:
        from imi.graphql.messages import inbox_counts

        return await inbox_counts(info, str(self.id))


async def registered_owner(info: Info, owner_id: str | None) -> Agent | None:
    """``WorkItem.owner``: the agent an owner id names when a registration carries it (by
    agent id or name), else None; batched by the registrations loader (one statement for
    every work item of a level, reused by the agent's own registration fields)."""
    owner = (owner_id or "").strip()
    if not owner:
        return None
    from imi.graphql.messages import registrations

    return Agent(id=strawberry.ID(owner)) if await registrations(info, owner) else None


@strawberry.type
class Query:
    @strawberry.field(
        description="An agent by owner id; null when no work item, activity or intermute "
        "registration carries it."
    )
    async def agent(self, info: Info, id: strawberry.ID) -> Agent | None:
        known = await info.context.loaders.get(AgentById).one(id.strip())
        if known:
            return Agent(id=strawberry.ID(known))
        from imi.graphql.messages import registrations  # a registered intermute agent

        return (
            Agent(id=strawberry.ID(id.strip())) if await registrations(info, id.strip()) else None
        )
