"""Project mutations: registerProject, updateProject, deactivateProject."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from imi.graphql.ids import parse_id
from imi.graphql.mutations.errors import (
    ConflictError,
    Info,
    NotFoundError,
    ValidationError,
    json_object,
    run_in_transaction,
    sent,
)
from imi.graphql.projects import Project
from imi.projects import service
from imi.projects.models import ProjectCreate, ProjectUpdate


@strawberry.input(description="A repository to register; idempotent on the remote origin.")
class RegisterProjectInput:
    remote_origin: str = strawberry.field(
        description="Any spelling (ssh, https, scp-like); matched on its normalized form."
    )
    name: str | None = strawberry.field(
        default=None, description="Defaults to the repository name of the origin."
    )
    default_branch: str | None = strawberry.field(default=None, description="Defaults to main.")
    trunk_path: str | None = None
    description: str | None = None
    metadata: JSON | None = strawberry.field(default=None, description="A JSON object.")


@strawberry.type
class RegisterProjectPayload:
    project: Project
    created: bool = strawberry.field(description="A new project was inserted.")
    reactivated: bool = strawberry.field(description="A deactivated project came back.")


@strawberry.input(description="Fields to change; a field left out stays as it is.")
class UpdateProjectInput:
    id: strawberry.ID = strawberry.field(description="Global id or UUID of the project.")
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it."
    )
    default_branch: str | None = strawberry.UNSET
    trunk_path: str | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it."
    )
    metadata: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Merged key by key (a null value removes the key) unless replaceMetadata.",
    )
    replace_metadata: bool = False


@strawberry.type
class UpdateProjectPayload:
    project: Project


@strawberry.input(description="Soft-delete a project and close its active work; idempotent.")
class DeactivateProjectInput:
    id: strawberry.ID = strawberry.field(description="Global id or UUID of the project.")


@strawberry.type
class DeactivateProjectPayload:
    project: Project


RegisterProjectResult = Annotated[
    RegisterProjectPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("RegisterProjectResult"),
]
UpdateProjectResult = Annotated[
    UpdateProjectPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("UpdateProjectResult"),
]
DeactivateProjectResult = Annotated[
    DeactivateProjectPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("DeactivateProjectResult"),
]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a repository, or return the one it already is.")
    async def register_project(
        self, info: Info, input: RegisterProjectInput
    ) -> RegisterProjectResult:
        async def call(session: AsyncSession) -> RegisterProjectPayload:
            fields = sent(input, exclude={"metadata"})
            data = ProjectCreate(
                **{k: v for k, v in fields.items() if v is not None},
                metadata=json_object(input.metadata),
            )
            result = await service.register_project(session, data)
            return RegisterProjectPayload(
                project=Project.from_row(result.project),
                created=result.created,
                reactivated=result.reactivated,
            )

        return await run_in_transaction(info, call)

    @strawberry.mutation(description="Change a project's details.")
    async def update_project(self, info: Info, input: UpdateProjectInput) -> UpdateProjectResult:
        async def call(session: AsyncSession) -> UpdateProjectPayload:
            project_id = parse_id(input.id, "Project", "id")
            data = ProjectUpdate(**sent(input, exclude={"id"}))
            row = await service.update_project(session, project_id, data)
            return UpdateProjectPayload(project=Project.from_row(row))

        return await run_in_transaction(info, call, target="id")

    @strawberry.mutation(description="Deactivate a project and its active work items.")
    async def deactivate_project(
        self, info: Info, input: DeactivateProjectInput
    ) -> DeactivateProjectResult:
        async def call(session: AsyncSession) -> DeactivateProjectPayload:
            row = await service.deactivate_project(session, parse_id(input.id, "Project", "id"))
            return DeactivateProjectPayload(project=Project.from_row(row))

        return await run_in_transaction(info, call, target="id")
