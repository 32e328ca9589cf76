"""The v2 response envelope: ``{"success": true, "data": ...}`` and its error twin."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field
from starlette.responses import Response

from imi.models_base import MAX_PAGE_SIZE, Page
from imi.serialize import dumps_json

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T


class Pagination(BaseModel):
    total: int = Field(description="Items matching the filters, over all pages.")
    limit: int = Field(description=f"Page size asked for (at most {MAX_PAGE_SIZE}).")
    offset: int


class PageEnvelope(BaseModel, Generic[T]):
    """A list: ``data`` stays an array (what v2 clients read), the window is beside it."""

    success: Literal[True] = True
    data: list[T]
    pagination: Pagination


class ErrorBody(BaseModel):
    code: Literal["VALIDATION_ERROR", "NOT_FOUND", "CONFLICT", "INTERNAL_ERROR"]
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody


def envelope_response(data: Any, status_code: int = 200) -> Response:
    """``{"success": true, "data": ...}`` for plain values (dicts of rows), encoded once.

    The hot read path: no response model re-validates what the database returned. orjson
    writes UUIDs and datetimes as pydantic does (``Z`` for UTC); what it cannot encode (an
    integer past 64 bits in someone's metadata) goes through pydantic's encoder instead.
    """
    return _json_response({"success": True, "data": data}, status_code)


def page_response(page: Page[Any], items: list[Any]) -> Response:
    """:func:`page_envelope` for plain values, encoded like :func:`envelope_response`."""
    window = {"total": page.total, "limit": page.limit, "offset": page.offset}
    return _json_response({"success": True, "data": items, "pagination": window})


def _json_response(body: dict[str, Any], status_code: int = 200) -> Response:
    return Response(dumps_json(body), status_code=status_code, media_type="application/json")


def page_envelope(page: Page[Any], items: list[T]) -> PageEnvelope[T]:
    return PageEnvelope(
        data=items,
        pagination=Pagination(total=page.total, limit=page.limit, offset=page.offset),
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the error envelope."""
    descriptions = {
        400: "Malformed input",
        401: "No valid API key or token",
        403: "The key lacks the scope or the project access",
        404: "Not found",
        409: "Conflict with existing state",
        422: "Input failed validation",
    }
    return {
        status: {"model": ErrorEnvelope, "description": descriptions.get(status, "Error")}
        for status in statuses
    }


def example(value: dict[str, Any], summary: str = "Example") -> dict[str, Any]:
    """``Body(openapi_examples=...)`` for one request example (shown in /docs)."""
    return {"default": {"summary": summary, "value": value}}
