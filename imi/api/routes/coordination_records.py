"""intermute's orchestration records over REST: ``/api/specs``, ``/api/epics``,
``/api/stories``, ``/api/tasks``, ``/api/insights``, ``/api/sessions``, ``/api/cujs`` (not
under /api/v1), one router written from the kind table (``imi.coordination.records_kinds``).

Answers are intermute's bare JSON (a record, or a list of them: create 201, read and update
200, delete 204 with no body); errors are iMi's envelope (400 malformed JSON or a missing
field, 403 another project than the key's, 404 unknown id, 405 wrong method, 409 a duplicate
id or a stale ``version``). Bodies are parsed here, not by FastAPI, so a body of the wrong
shape is intermute's 400 rather than a 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from imi.api.deps import Session
from imi.api.routes.coordination_records_docs import (
    MODELS,
    FeatureLink,
    input_docs,
    query_docs,
    reference_docs,
    responses,
)
from imi.auth.policy import coordination_project
from imi.auth.principal import current_principal
from imi.compat.intermute import json_object
from imi.coordination import records, records_cujs
from imi.coordination.records_kinds import CUJ, DEFAULT_LIMIT, INSIGHT, KINDS, TASK, Kind
from imi.errors import Unauthenticated, ValidationFailed

router = APIRouter()
Handler = Callable[..., Awaitable[Response]]


def _project(requested: object) -> str:
    principal = current_principal()
    if principal is None:  # the auth middleware sets one for every request
        raise Unauthenticated("no authenticated caller")
    if requested is not None and not isinstance(requested, str):
        raise ValidationFailed("project must be a string", field="project")
    return coordination_project(principal, requested)


def _query_project(request: Request) -> str:
    return _project(request.query_params.get("project"))


def _body_project(request: Request, body: dict[str, Any]) -> str:
    return _project(body.get("project") or request.query_params.get("project"))


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if len(raw) > 20 or not raw.isdigit():
        raise ValidationFailed(f"{name} must be a non-negative integer", field=name)
    return int(raw)


async def _body(request: Request) -> dict[str, Any]:
    return json_object(await request.body())


def _json(content: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(content, status_code=status, headers=headers)


def _route(
    kind: Kind, path: str, handler: Handler, method: str, summary: str, **options: Any
) -> None:
    verb = handler.__name__.split("_")[0]
    noun = kind.plural if verb == "list" else kind.name
    router.add_api_route(
        path,
        handler,
        methods=[method],
        operation_id=options.pop("operation_id", f"{verb}{noun.capitalize()}"),
        tags=[f"coordination: {kind.plural}"],
        summary=summary,
        response_model=None,
        **options,
    )


def _add_kind(kind: Kind) -> None:
    model = MODELS[kind.name]
    base = f"/api/{kind.plural}"
    item = f"{base}/{{record_id}}"

    async def list_kind(request: Request, session: Session) -> Response:
        project = _query_project(request)
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
        project = _body_project(request, body)
        return _json(await records.create(session, kind, project, body), 201)

    async def get_kind(request: Request, session: Session, record_id: str) -> Response:
        return _json(await records.get(session, kind, _query_project(request), record_id))

    async def update_kind(request: Request, session: Session, record_id: str) -> Response:
        body = await _body(request)
        project = _body_project(request, body)
        return _json(await records.update(session, kind, project, record_id, body))

    async def delete_kind(request: Request, session: Session, record_id: str) -> Response:
        await records.delete(session, kind, _query_project(request), record_id)
        return Response(status_code=204)

    listed: Any = list[model]  # type: ignore[valid-type]
    _route(
        kind,
        base,
        list_kind,
        "GET",
        f"List {kind.plural} (bare JSON array, intermute's order)",
        responses=responses(200, f"The {kind.plural}", listed, 400, 401, 403),
        openapi_extra=query_docs(kind, listing=True),
    )
    _route(
        kind,
        base,
        create_kind,
        "POST",
        f"Create a {kind.name}",
        status_code=201,
        responses=responses(201, f"The new {kind.name}", model, 400, 401, 403, 409),
        openapi_extra=input_docs(kind, update=False),
    )
    _route(
        kind,
        item,
        get_kind,
        "GET",
        f"Read a {kind.name}",
        responses=responses(200, f"The {kind.name}", model, 401, 403, 404),
        openapi_extra=query_docs(kind, listing=False),
    )
    if kind.updatable:
        stale = " (409 when `version` is not the stored one)" if kind.versioned else ""
        _route(
            kind,
            item,
            update_kind,
            "PUT",
            f"Replace a {kind.name}{stale}",
            responses=responses(200, f"The {kind.name}", model, 400, 401, 403, 404, 409),
            openapi_extra=input_docs(kind, update=True),
        )
    _route(
        kind,
        item,
        delete_kind,
        "DELETE",
        f"Delete a {kind.name}",
        status_code=204,
        response_class=Response,
        responses=responses(204, "Deleted", None, 401, 403, 404),
        openapi_extra=query_docs(kind, listing=False),
    )


async def assign_task(request: Request, session: Session, record_id: str) -> Response:
    body = await _body(request)
    task = await records.assign_task(session, _query_project(request), record_id, body)
    return _json(task)


async def link_insight(request: Request, session: Session, record_id: str) -> Response:
    body = await _body(request)
    await records.link_insight(session, _query_project(request), record_id, body)
    return Response(status_code=200)


async def link_cuj(request: Request, session: Session, record_id: str) -> Response:
    body = await _body(request)
    await records_cujs.link(session, _query_project(request), record_id, body)
    return Response(status_code=200)


async def unlink_cuj(request: Request, session: Session, record_id: str) -> Response:
    body = await _body(request)
    await records_cujs.unlink(session, _query_project(request), record_id, body)
    return Response(status_code=200)


async def links_cuj(request: Request, session: Session, record_id: str) -> Response:
    return _json(await records_cujs.links(session, _query_project(request), record_id))


for _kind in KINDS:
    _add_kind(_kind)

_SUB = "{record_id}"
_route(
    TASK,
    f"/api/tasks/{_SUB}/assign",
    assign_task,
    "POST",
    "Assign a task to an agent (the task becomes running)",
    operation_id="assignTask",
    responses=responses(200, "The task", MODELS[TASK.name], 400, 401, 403, 404),
    openapi_extra=reference_docs("agent", "agent-7") | query_docs(TASK, listing=False),
)
_route(
    INSIGHT,
    f"/api/insights/{_SUB}/link",
    link_insight,
    "POST",
    "Link an insight to a spec (200, empty body)",
    operation_id="linkInsight",
    response_class=Response,
    responses=responses(200, "Linked", None, 400, 401, 403, 404),
    openapi_extra=reference_docs("spec_id", "spec-1") | query_docs(INSIGHT, listing=False),
)
for _handler, _verb, _summary in (
    (link_cuj, "link", "Link a journey to a feature (200, empty body; again: linked_at moves)"),
    (unlink_cuj, "unlink", "Unlink a journey from a feature (200, empty body)"),
):
    _route(
        CUJ,
        f"/api/cujs/{_SUB}/{_verb}",
        _handler,
        "POST",
        _summary,
        operation_id=f"{_verb}Cuj",
        response_class=Response,
        responses=responses(200, "Done", None, 400, 401, 403, 404),
        openapi_extra=reference_docs("feature_id", "feature-1") | query_docs(CUJ, listing=False),
    )
_route(
    CUJ,
    f"/api/cujs/{_SUB}/links",
    links_cuj,
    "GET",
    "A journey's feature links, oldest first (bare JSON array)",
    operation_id="listCujLinks",
    responses=responses(200, "The links", list[FeatureLink], 401, 403, 404),
    openapi_extra=query_docs(CUJ, listing=False),
)
