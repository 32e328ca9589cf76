"""Every error leaves as the v2 error envelope: domain errors, FastAPI's validation errors,
unknown routes, malformed JSON and unexpected failures alike."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import to_jsonable_python
from starlette.exceptions import HTTPException

from imi.errors import DomainError
from imi.logging import get_logger

log = get_logger(__name__)

STATUS_BY_CODE = {
    "VALIDATION_ERROR": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
}

# Paths only the v2 contract defines. Its clients expect every malformed input there to be a
# 400 VALIDATION_ERROR (v2 contract section 6); the v3 paths answer a body of the wrong shape
# with 422 as documented.
REST_PREFIX = "/api/v1/"
V2_PATHS = frozenset(
    {
        "/projects/register",
        "/projects/search",
        "/projects/{project_id}/worktrees",
        "/projects/{project_id}/working-path",
        "/worktrees/{worktree_id}",
        "/worktrees/{worktree_id}/git-state",
        "/worktrees/{worktree_id}/merge",
        "/inflight-work",
        "/activities",
        "/agents/{agent_id}/recent-work",
        "/stats",
    }
)


def is_v2_request(request: Request) -> bool:
    # The matched route's path is its router's own (without the /api/v1 prefix).
    route = getattr(request.scope.get("route"), "path", None)
    return request.url.path.startswith(REST_PREFIX) and route in V2_PATHS


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    body = {
        "success": False,
        "error": {"code": code, "message": message, "details": details or {}},
    }
    return JSONResponse(to_jsonable_python(body), status_code=status)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(STATUS_BY_CODE.get(exc.code, 500), exc.code, exc.message, exc.details)


def _field_of(location: tuple[Any, ...]) -> str | None:
    # ("body", "remote_origin") -> "remote_origin"; ("query", "limit") -> "limit"
    parts = [str(p) for p in location[1:] if not isinstance(p, int)] or [str(p) for p in location]
    return ".".join(parts) if parts else None


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field_of(tuple(e.get("loc", ()))),
            "message": e.get("msg"),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": None, "message": "invalid request", "type": None}
    if first["type"] == "json_invalid":
        return error_response(
            400, "VALIDATION_ERROR", "Malformed JSON body", {"field": "body", "errors": errors}
        )
    message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    status = 400 if is_v2_request(request) else 422
    return error_response(
        status, "VALIDATION_ERROR", message, {"field": first["field"], "errors": errors}
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, "NOT_FOUND", f"No route for {request.url.path}")
    if exc.status_code == 405:
        return error_response(
            405, "VALIDATION_ERROR", f"Method {request.method} not allowed on {request.url.path}"
        )
    code = "INTERNAL_ERROR" if exc.status_code >= 500 else "VALIDATION_ERROR"
    return error_response(exc.status_code, code, str(exc.detail))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    # Database failures and unexpected exceptions: imi.api.failures.FailureMiddleware, which
    # answers without re-raising (so the keep-alive connection survives).
