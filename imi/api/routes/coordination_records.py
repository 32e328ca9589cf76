"""intermute's orchestration records over REST: ``/api/specs``, ``/api/epics``,
``/api/stories``, ``/api/tasks``, ``/api/insights``, ``/api/sessions`` (not under /api/v1),
one router written from the kind table (``imi.coordination.records_kinds``).

Answers are intermute's bare JSON (a record, or a list of them: create 201, read and update
200, delete 204 with no body); errors are iMi's envelope (400 malformed JSON or a missing
field, 403 another project than the key's, 404 unknown id, 405 wrong method, 409 a duplicate
id or a stale ``version``). Bodies are parsed here, not by FastAPI, so a body of the wrong
shape is intermute's 400 rather than a 422.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, create_model

from imi.api.deps import Session
from imi.api.envelope import error_responses
from imi.auth.policy import coordination_project
from imi.auth.principal import current_principal
from imi.coordination import records
from imi.coordination.records_kinds import (
    DEFAULT_LIMIT,
    INSIGHT,
    KINDS,
    MAX_LIMIT,
    MAX_LIST_ITEMS,
    TASK,
    Field,
    Kind,
)
from imi.coordination.records_wire import parse_body
from imi.errors import Unauthenticated, ValidationFailed

router = APIRouter()
EXAMPLE_TIME = "2026-11-27T12:00:00.123456Z"


def _project(requested: object) -> str:
    principal = current_principal()
    if principal is None:  # the auth middleware sets one for every request
        raise Unauthenticated("no authenticated caller")
    if requested is not None and not isinstance(requested, str):
        raise ValidationFailed("project must be a string", field="project")
    return coordination_project(principal, requested)


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if len(raw) > 20 or not raw.isdigit():
        raise ValidationFailed(f"{name} must be a non-negative integer", field=name)
    return int(raw)


async def _body(request: Request) -> dict[str, Any]:
    return parse_body(await request.body())


def _json(content: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(content, status_code=status, headers=headers)


# --- OpenAPI: each kind's shapes, from the same table ---------------------------------------


def _python_type(spec: Field) -> Any:
    return {"text": str, "list": list[str], "number": float}[spec.type]


def example_record(kind: Kind) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"{kind.name}-1", "project": "my-project"}
    out |= {spec.name: spec.example for spec in kind.fields}
    if kind.versioned:
        out["version"] = 1
    out[kind.created_column] = EXAMPLE_TIME
    if kind.has_updated_at:
        out["updated_at"] = EXAMPLE_TIME
    return out


def _record_model(kind: Kind) -> type[BaseModel]:
    fields: dict[str, Any] = {"id": (str, ...), "project": (str, ...)}
    for spec in kind.fields:
        kind_type = _python_type(spec)
        fields[spec.name] = (kind_type | None, None) if spec.omit_empty else (kind_type, ...)
    if kind.versioned:
        fields["version"] = (int, ...)
    fields[kind.created_column] = (str, ...)
    if kind.has_updated_at:
        fields["updated_at"] = (str, ...)
    config = ConfigDict(json_schema_extra={"examples": [example_record(kind)]})
    name = f"{kind.name.capitalize()}Record"
    return cast(type[BaseModel], create_model(name, __config__=config, **fields))


def _input_schema(kind: Kind, *, update: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": {"type": "string", "maxLength": 200, "description": "generated when absent"},
        "project": {"type": "string", "description": "'' when absent; a restricted key's own"},
    }
    for spec in kind.fields:
        shapes: dict[str, dict[str, Any]] = {
            "text": {"type": "string", "maxLength": spec.max_length},
            "list": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST_ITEMS},
            "number": {"type": "number"},
        }
        schema = shapes[spec.type]
        if spec.choices:
            schema = {**schema, "enum": list(spec.choices), "default": spec.default}
        properties[spec.name] = schema
    if kind.versioned and update:
        properties["version"] = {
            "type": "integer",
            "description": "the version read; the update applies only from it (else 409)",
        }
    required = [s.name for s in kind.fields if s.required]
    example = {k: v for k, v in example_record(kind).items() if k in properties}
    if not update:
        example.pop("version", None)
    body = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body, "example": example}},
        }
    }


def _query_docs(kind: Kind, *, listing: bool) -> dict[str, Any]:
    names = ["project", *kind.filters] if listing else ["project"]
    params = [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names
    ]
    if listing:
        params += [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                "description": f"page size, default {DEFAULT_LIMIT}",
            },
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        ]
    return {"parameters": params}


# --- the routes ------------------------------------------------------------------------------


def _responses(
    status: int, description: str, model: Any = None, *errors: int
) -> dict[int | str, dict[str, Any]]:
    success: dict[str, Any] = {"description": description}
    if model is not None:
        success["model"] = model
    return {status: success, **error_responses(*errors)}


def _add_kind(kind: Kind) -> None:
    model = MODELS[kind.name]
    base = f"/api/{kind.plural}"
    item = f"{base}/{{record_id}}"
    tags: list[str | Any] = [f"coordination: {kind.plural}"]

    async def list_kind(request: Request, session: Session) -> Response:
        project = _project(request.query_params.get("project"))
        filters = {name: request.query_params.get(name, "") for name in kind.filters}
        limit = _int(request, "limit", DEFAULT_LIMIT)
        offset = _int(request, "offset", 0)
        found, more = await records.list_records(
            session, kind, project, filters, limit=limit, offset=offset
        )
        headers = None
        if more:
            following = request.url.include_query_params(offset=offset + limit, limit=limit)
            headers = {"link": f'<{following}>; rel="next"'}
        return _json(found, headers=headers)

    async def create_kind(request: Request, session: Session) -> Response:
        body = await _body(request)
        project = _project(body.get("project") or request.query_params.get("project"))
        return _json(await records.create(session, kind, project, body), 201)

    async def get_kind(request: Request, session: Session, record_id: str) -> Response:
        project = _project(request.query_params.get("project"))
        return _json(await records.get(session, kind, project, record_id))

    async def update_kind(request: Request, session: Session, record_id: str) -> Response:
        body = await _body(request)
        project = _project(body.get("project") or request.query_params.get("project"))
        return _json(await records.update(session, kind, project, record_id, body))

    async def delete_kind(request: Request, session: Session, record_id: str) -> Response:
        project = _project(request.query_params.get("project"))
        await records.delete(session, kind, project, record_id)
        return Response(status_code=204)

    router.add_api_route(
        base,
        list_kind,
        operation_id=f"list{kind.plural.capitalize()}",
        methods=["GET"],
        tags=tags,
        summary=f"List {kind.plural} (bare JSON array, intermute's order)",
        response_model=None,
        responses=_responses(200, f"The {kind.plural}", list[model], 400, 401, 403),  # type: ignore[valid-type]
        openapi_extra=_query_docs(kind, listing=True),
    )
    router.add_api_route(
        base,
        create_kind,
        operation_id=f"create{kind.name.capitalize()}",
        methods=["POST"],
        status_code=201,
        tags=tags,
        summary=f"Create a {kind.name}",
        response_model=None,
        responses=_responses(201, f"The new {kind.name}", model, 400, 401, 403, 409),
        openapi_extra=_input_schema(kind, update=False),
    )
    router.add_api_route(
        item,
        get_kind,
        operation_id=f"get{kind.name.capitalize()}",
        methods=["GET"],
        tags=tags,
        summary=f"Read a {kind.name}",
        response_model=None,
        responses=_responses(200, f"The {kind.name}", model, 401, 403, 404),
        openapi_extra=_query_docs(kind, listing=False),
    )
    if kind.updatable:
        conflict = "409 when `version` is not the stored one" if kind.versioned else ""
        router.add_api_route(
            item,
            update_kind,
            operation_id=f"update{kind.name.capitalize()}",
            methods=["PUT"],
            tags=tags,
            summary=f"Replace a {kind.name} {conflict}".strip(),
            response_model=None,
            responses=_responses(200, f"The {kind.name}", model, 400, 401, 403, 404, 409),
            openapi_extra=_input_schema(kind, update=True),
        )
    router.add_api_route(
        item,
        delete_kind,
        operation_id=f"delete{kind.name.capitalize()}",
        methods=["DELETE"],
        status_code=204,
        tags=tags,
        summary=f"Delete a {kind.name}",
        response_class=Response,
        responses=_responses(204, "Deleted", None, 401, 403, 404),
        openapi_extra=_query_docs(kind, listing=False),
    )


async def assign_task(request: Request, session: Session, record_id: str) -> Response:
    body = await _body(request)
    project = _project(request.query_params.get("project"))
    return _json(await records.assign_task(session, project, record_id, body))


async def link_insight(request: Request, session: Session, record_id: str) -> Response:
    body = await _body(request)
    project = _project(request.query_params.get("project"))
    await records.link_insight(session, project, record_id, body)
    return Response(status_code=200)


MODELS = {kind.name: _record_model(kind) for kind in KINDS}
for _kind in KINDS:
    _add_kind(_kind)

router.add_api_route(
    f"/api/{TASK.plural}/{{record_id}}/assign",
    assign_task,
    methods=["POST"],
    tags=["coordination: tasks"],
    summary="Assign a task to an agent (the task becomes running)",
    response_model=None,
    responses=_responses(200, "The task", MODELS[TASK.name], 400, 401, 403, 404),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"agent": {"type": "string", "maxLength": 200}},
                        "required": ["agent"],
                    },
                    "example": {"agent": "agent-7"},
                }
            },
        },
        **_query_docs(TASK, listing=False),
    },
)
router.add_api_route(
    f"/api/{INSIGHT.plural}/{{record_id}}/link",
    link_insight,
    methods=["POST"],
    tags=["coordination: insights"],
    summary="Link an insight to a spec (200, empty body)",
    response_class=Response,
    responses=_responses(200, "Linked", None, 400, 401, 403, 404),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"spec_id": {"type": "string", "maxLength": 200}},
                        "required": ["spec_id"],
                    },
                    "example": {"spec_id": "spec-1"},
                }
            },
        },
        **_query_docs(INSIGHT, listing=False),
    },
)
