"""Activity mutation: logActivity."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from imi.activities import service
from imi.activities.models import ActivityCreate, ActivityType
from imi.graphql.activities import Activity
from imi.graphql.ids import optional_id
from imi.graphql.mutations.errors import (
    ConflictError,
    Info,
    NotFoundError,
    ValidationError,
    json_object,
    run_in_transaction,
)


@strawberry.input(description="Something an agent did, optionally on a work item.")
class LogActivityInput:
    agent_id: str
    activity_type: ActivityType
    work_item_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global id or UUID; its last activity time is bumped."
    )
    description: str | None = None
    file_path: str | None = None
    metadata: JSON | None = strawberry.field(default=None, description="A JSON object.")


@strawberry.type
class LogActivityPayload:
    activity: Activity


LogActivityResult = Annotated[
    LogActivityPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("LogActivityResult"),
]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Record an agent activity.")
    async def log_activity(self, info: Info, input: LogActivityInput) -> LogActivityResult:
        async def call(session: AsyncSession) -> LogActivityPayload:
            data = ActivityCreate(
                agent_id=input.agent_id,
                work_item_id=optional_id(input.work_item_id, "WorkItem", "workItemId"),
                activity_type=input.activity_type,
                description=input.description,
                file_path=input.file_path,
                metadata=json_object(input.metadata),
            )
            row = await service.log_activity(session, data)
            return LogActivityPayload(activity=Activity.from_row(row))

        return await run_in_transaction(info, call)
