"""API key management over GraphQL (imi:admin, checked by ``imi.graphql.authz``):
``apiKeys``, ``createApiKey`` (answers the secret once), ``revokeApiKey``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from imi.auth.keys import KeyInfo, create_key, list_keys, parse_expiry, parse_scope, revoke_key
from imi.auth.models import ApiKey as ApiKeyRow
from imi.errors import NotFound
from imi.graphql.ids import parse_any_id
from imi.graphql.mutations.errors import (
    ConflictError,
    Info,
    NotFoundError,
    ValidationError,
    run_in_transaction,
)


@strawberry.experimental.pydantic.type(
    model=KeyInfo, all_fields=True, description="An API key (never its secret)."
)
class ApiKey:
    pass


def api_key_of(row: ApiKeyRow) -> ApiKey:
    return ApiKey.from_pydantic(KeyInfo.of(row))


@strawberry.input
class CreateApiKeyInput:
    name: str
    scope: str = strawberry.field(description="imi:read, imi:write or imi:admin.")
    project_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Restrict the key to these projects (global ids or UUIDs)."
    )
    expires: str | None = strawberry.field(
        default=None, description="30d, 12h, 90m or an ISO 8601 time."
    )


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey
    secret: str = strawberry.field(description="Shown this once: 'Authorization: Bearer ...'.")


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKey


CreateApiKeyResult = Annotated[
    CreateApiKeyPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("CreateApiKeyResult"),
]
RevokeApiKeyResult = Annotated[
    RevokeApiKeyPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("RevokeApiKeyResult"),
]


@strawberry.type
class Query:
    @strawberry.field(description="Every API key (imi:admin).")
    async def api_keys(self, info: Info) -> list[ApiKey]:
        async with info.context.read() as session:
            return [api_key_of(row) for row in await list_keys(session)]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create an API key (imi:admin); the payload holds its secret.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyResult:
        async def call(session: AsyncSession) -> CreateApiKeyPayload:
            projects = (
                [parse_any_id(p, "Project") for p in input.project_ids]
                if input.project_ids is not None
                else None
            )
            created = await create_key(
                session,
                name=input.name,
                scope=parse_scope(input.scope),
                project_ids=projects,
                expires_at=parse_expiry(input.expires) if input.expires else None,
            )
            return CreateApiKeyPayload(api_key=api_key_of(created.key), secret=created.secret)

        return await run_in_transaction(info, call, renames={"project_ids": "projectIds"})

    @strawberry.mutation(description="Revoke an API key (imi:admin); idempotent.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyResult:
        async def call(session: AsyncSession) -> RevokeApiKeyPayload:
            try:
                key_id = UUID(str(id))
            except ValueError:
                raise NotFound("api key", str(id)[:80], field="id") from None
            row = await revoke_key(session, key_id)
            return RevokeApiKeyPayload(api_key=api_key_of(row))

        return await run_in_transaction(info, call, renames={"key_id": "id"}, target="id")
