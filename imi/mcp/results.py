"""Tool results: the JSON the REST endpoint answers with, and its error envelope."""

from __future__ import annotations

import json
from typing import Any

import orjson
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from imi.errors import DomainError
from imi.models_base import Page
from imi.serialize import dumps_json


def plain(data: Any) -> Any:
    """``data`` as JSON values, encoded as REST encodes it (orjson for rows, pydantic for
    models; UTC times end in ``Z``), so a tool and its endpoint give equal JSON."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list) and data and isinstance(data[0], BaseModel):
        return [item.model_dump(mode="json") for item in data]
    return orjson.loads(dumps_json(data))


def _text(value: Any) -> list[TextContent]:
    return [TextContent(type="text", text=json.dumps(value, ensure_ascii=False))]


def success(data: Any, page: Page[Any] | None = None) -> CallToolResult:
    """The endpoint's ``data`` as the tool's text; an object is its structured content too.

    A list's window (``pagination`` of the REST body) travels in the result's ``_meta``.
    """
    value = plain(data)
    meta = None
    if page is not None:
        meta = {"pagination": {"total": page.total, "limit": page.limit, "offset": page.offset}}
    structured = value if isinstance(value, dict) else None
    return CallToolResult(content=_text(value), structured_content=structured, _meta=meta)


def failure(exc: DomainError) -> CallToolResult:
    """A tool error carrying the REST error envelope: same code, message and details."""
    return error(exc.code, exc.message, exc.details)


def error(code: str, message: str, details: dict[str, Any] | None = None) -> CallToolResult:
    body = {"success": False, "error": {"code": code, "message": message, "details": details or {}}}
    value = to_jsonable_python(body)
    return CallToolResult(content=_text(value), structured_content=value, is_error=True)
