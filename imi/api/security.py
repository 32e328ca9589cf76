"""Authentication of every HTTP request, before any route runs (pure ASGI).

Asks the one policy (``imi.auth.policy``) who is calling and, for the REST API, whether the
method's action is allowed (GET read, POST/PATCH/PUT write, DELETE and key management admin),
then counts the request against the caller's rate limit (per key or token, per address for
keyless local calls; shared by every worker and replica through PostgreSQL);
GraphQL checks its operations itself against the same policy. The principal is set for the
request's context, so restricted keys are scoped in every query (``imi.auth.scoping``).
WebSocket connections authenticate in their ``connection_init`` (``imi.graphql.router``), the
agents' push sockets at their handshake (``imi.api.coordination_ws``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from imi.api.limits import rate_limited_response
from imi.auth.policy import Action, authenticate, bearer_token, require
from imi.auth.principal import Principal, reset_principal, set_principal
from imi.auth.ratelimit import take
from imi.errors import DomainError, Forbidden, Unauthenticated
from imi.logging import get_logger

log = get_logger(__name__)

REST_PREFIX = "/api/v1/"
# intermute's own paths (agents, messages, inbox, threads, reservations, records): GET reads,
# every other method writes (an agent releases its own reservation with a write key).
COORDINATION_PREFIX = "/api/"
ADMIN_PATHS = ("/api/v1/keys",)
# Always served without credentials: load balancers and the pages' own assets.
OPEN_PATHS = ("/health",)
OPEN_PREFIXES = ("/static/",)
# Prometheus metrics: a read key, or none with IMI_METRICS_PUBLIC=true (for a scraper).
METRICS_PATH = "/metrics"
# The pages: open unless IMI_DOCS_PUBLIC=false, then they need a read key.
PAGE_PATHS = (
    "/",
    "/ui",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/asyncapi",
    "/asyncapi.json",
)
METHOD_ACTIONS = {
    "GET": Action.READ,
    "HEAD": Action.READ,
    "OPTIONS": Action.READ,
    "POST": Action.WRITE,
    "PATCH": Action.WRITE,
    "PUT": Action.WRITE,
    "DELETE": Action.ADMIN,
}


def rest_action(method: str, path: str) -> Action:
    """The action a REST call performs: by method, key management is always admin."""
    if path.startswith(ADMIN_PATHS):
        return Action.ADMIN
    return METHOD_ACTIONS.get(method.upper(), Action.ADMIN)


def coordination_action(method: str) -> Action:
    """The action of an intermute call: reads by GET/HEAD/OPTIONS, everything else writes."""
    return Action.READ if method.upper() in ("GET", "HEAD", "OPTIONS") else Action.WRITE


def _is_graphiql_page(scope: Scope) -> bool:
    """The GraphiQL page itself: a browser's GET of /graphql *without* a query (Strawberry
    executes a GET that carries ``query``, whatever it accepts: that is an operation)."""
    if scope["method"] != "GET" or scope["path"].rstrip("/") != "/graphql":
        return False
    if "query" in parse_qs(scope.get("query_string", b"").decode("latin-1")):
        return False
    accept = dict(scope["headers"]).get(b"accept", b"")
    return b"text/html" in accept


RATE_COUNTED = "imi.rate_counted"  # scope key: this request was counted against its limit


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        settings = scope["app"].state.settings
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if path == METRICS_PATH and settings.metrics_public:
            await self.app(scope, receive, send)
            return
        page = path in PAGE_PATHS or _is_graphiql_page(scope)
        if page and settings.docs_public:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope)
            if path.startswith(REST_PREFIX):
                require(principal, rest_action(scope["method"], path))
                if path.startswith(ADMIN_PATHS) and principal.restricted:
                    raise Forbidden("key management needs a key not restricted to projects")
            elif path.startswith(COORDINATION_PREFIX):
                require(principal, coordination_action(scope["method"]))
            elif page or path == METRICS_PATH:
                require(principal, Action.READ)
        except (Unauthenticated, Forbidden) as exc:
            await _refuse(scope, send, exc)
            return
        state = scope["app"].state
        wait = None
        # A read the failure middleware retries (a lost connection) passes here twice with
        # the same scope: it is one request, counted once.
        if not scope.get(RATE_COUNTED):
            wait = await take(
                state.engine,
                principal.rate_key,
                per_minute=settings.rate_limit_per_minute,
                burst=settings.rate_limit_burst,
            )
            scope[RATE_COUNTED] = True
        if wait is not None:
            log.info("rate limited", subject=principal.subject, path=path, retry_after=wait)
            await rate_limited_response(wait)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        token = set_principal(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            reset_principal(token)

    async def _authenticate(self, scope: Scope) -> Principal:
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization")
        client = scope.get("client")
        state = scope["app"].state
        return await authenticate(
            state.sessions,
            state.settings,
            token=bearer_token(authorization.decode("latin-1") if authorization else None),
            client_host=client[0] if client else None,
        )


STATUS = {"UNAUTHORIZED": 401, "FORBIDDEN": 403}


async def _refuse(scope: Scope, send: Send, exc: DomainError) -> None:
    status = STATUS[exc.code]
    log.info("request refused", path=scope["path"], code=exc.code, reason=exc.message)
    body: dict[str, Any]
    if scope["path"].rstrip("/") == "/graphql":
        body = {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]}
    else:
        error = {"code": exc.code, "message": exc.message, "details": exc.details}
        body = {"success": False, "error": error}
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="imi"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
