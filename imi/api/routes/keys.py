"""API key management (``imi:admin``): create (the secret is answered once), list, revoke."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Response
from pydantic import Field

from imi.api.deps import Session, parse_id
from imi.api.envelope import Envelope, error_responses
from imi.auth.keys import KeyInfo, create_key, list_keys, parse_expiry, revoke_key
from imi.auth.models import MAX_KEY_NAME, Scope
from imi.models_base import Input

router = APIRouter(tags=["keys"])


class KeyCreate(Input):
    name: str = Field(min_length=1, max_length=MAX_KEY_NAME, description="What the key is for.")
    scope: Scope = Field(description="imi:read, imi:write or imi:admin.")
    project_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=100, description="Restrict the key to these projects."
    )
    expires: str | None = Field(
        default=None, max_length=64, description="30d, 12h, 90m or an ISO 8601 time."
    )


class CreatedKeyOut(KeyInfo):
    secret: str = Field(description="Shown this once: send it as 'Authorization: Bearer ...'.")


EXAMPLE = {"name": "ci-dashboard", "scope": "imi:read", "expires": "90d"}


@router.post(
    "/keys",
    status_code=201,
    response_model=Envelope[CreatedKeyOut],
    responses=error_responses(400, 401, 403, 404, 422),
    summary="Create an API key (admin); the answer holds its secret, once",
)
async def create_api_key(
    session: Session, body: Annotated[KeyCreate, Body(examples=[EXAMPLE])]
) -> Envelope[CreatedKeyOut]:
    created = await create_key(
        session,
        name=body.name,
        scope=body.scope,
        project_ids=body.project_ids,
        expires_at=parse_expiry(body.expires) if body.expires else None,
    )
    out = KeyInfo.of(created.key)
    return Envelope(data=CreatedKeyOut(**out.model_dump(), secret=created.secret))


@router.get(
    "/keys",
    response_model=Envelope[list[KeyInfo]],
    responses=error_responses(401, 403),
    summary="List API keys (admin); never their secrets",
)
async def list_api_keys(session: Session) -> Envelope[list[KeyInfo]]:
    return Envelope(data=[KeyInfo.of(key) for key in await list_keys(session)])


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404),
    summary="Revoke an API key (admin); idempotent",
)
async def revoke_api_key(session: Session, key_id: str) -> Response:
    await revoke_key(session, parse_id(key_id, "api key"))
    return Response(status_code=204)
