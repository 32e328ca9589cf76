"""The v2 response envelope: ``{"success": true, "data": ...}`` and its error twin."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from imi.models_base import MAX_PAGE_SIZE, Page

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
