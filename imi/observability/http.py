"""Counts and times every HTTP request by route *template* (``/api/v1/projects/{project_id}``,
never the raw path), method and status.

Pure ASGI, outermost, so refusals (401, 413, 429) and failures (500, 503) are counted too. The
template is the route the router matched; a request answered before routing (authentication,
body limit) is matched against the app's routes here, and one no route matches is
``unmatched``: whatever paths clients send, the label has a bounded set of values.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imi.observability.metrics import HTTP_DURATION, HTTP_REQUESTS

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = route_template(scope)
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_DURATION.labels(route, method).observe(perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The path template of the route that served (or would serve) the request."""
    fastapi_scope = scope.get("fastapi")
    # FastAPI (1.x) records the route it chose, its template with the router's prefix.
    context = (
        fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    )
    template = getattr(context, "path_format", None)
    if isinstance(template, str) and template:
        return template
    return _match(scope) or UNMATCHED


def _match(scope: Scope) -> str | None:
    """Route the request again (read-only): it was answered before routing (refused, too
    large) or by a plain Starlette route or mount, which leave no FastAPI record."""
    probe = {**scope, "fastapi": {}}
    router = getattr(scope.get("app"), "router", None)
    partial = None
    for route in getattr(router, "routes", ()):
        match, template = _route_match(route, probe)
        if match is Match.FULL:
            return template
        if match is Match.PARTIAL and partial is None:
            partial = template  # the path is right, the method is not (a 405)
    return partial


def _route_match(route: Any, probe: Scope) -> tuple[Match, str | None]:
    nested = getattr(route, "_match", None)  # FastAPI's included routers
    if nested is None:
        match, _ = route.matches(probe)
        return match, getattr(route, "path", None) or None
    try:
        match, _, inner, context = nested(probe)
        while context is None and getattr(inner, "_match", None) is not None:
            match, _, inner, context = inner._match(probe)
    except Exception:  # FastAPI's internals changed: count the request, unlabelled
        return Match.NONE, None
    template = getattr(context, "path_format", None) or getattr(inner, "path", None)
    return match, template or None
