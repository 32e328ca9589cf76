"""Mounts the schema at ``/graphql``: queries, mutations, GraphiQL, graphql-transport-ws."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.requests import HTTPConnection
from starlette.responses import Response
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from imi.auth.policy import authenticate, bearer_token
from imi.auth.principal import set_principal
from imi.errors import Unauthenticated
from imi.graphql.context import Context
from imi.graphql.requests import (
    CODES,
    Refused,
    check_body,
    check_operation,
    decode_json,
    timeout_error,
)
from imi.graphql.schema import build_schema
from imi.graphql.websocket import ImiTransportWSHandler, SocketCounts, counted_subject
from imi.pages import graphiql_html
from imi.settings import Settings

# A WebSocket that never sends connection_init is closed (4408) after this long.
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)


async def get_context(connection: HTTPConnection) -> AsyncIterator[Context]:
    context = Context(connection.app.state.sessions, connection.app.state.settings)
    context.principal = connection.scope.get("state", {}).get("principal")
    try:
        yield context
    finally:
        await context.close()


class ImiGraphQLRouter(GraphQLRouter[Context, None]):
    """Strawberry's router with iMi's GraphiQL page (assets from the package, an iMi query),
    its request limits (imi/graphql/requests.py), the execution timeout, and the WebSocket
    handler with its caps (imi/graphql/websocket.py)."""

    graphql_transport_ws_handler_class = ImiTransportWSHandler

    def __init__(self, schema: BaseSchema, settings: Settings, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.settings = settings
        self.socket_counts = SocketCounts(settings)

    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:
        """Refused requests answer JSON, ``{"data": null, "errors": [...]}``, with a status."""
        try:
            return await super().run(request, context=context, root_value=root_value)
        except Refused as refused:
            return _refusal(refused.status, refused.message, refused.extensions)
        except HTTPException as exc:
            code = CODES.get(exc.status_code, "BAD_REQUEST")
            return _refusal(exc.status_code, exc.reason, {"code": code})

    def decode_json(self, data: str | bytes) -> object:
        return decode_json(data)

    def encode_json(self, data: object) -> str | bytes:
        """orjson, compact like Strawberry's default (a dashboard's answer encodes in a tenth
        of the time); a value orjson refuses (an integer past 64 bits in a JSON scalar) falls
        back to the standard encoder. Text, not bytes: WebSocket messages are sent as what
        this returns, and graphql-transport-ws clients read text frames only."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return super().encode_json(data)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            # A body that is not one request object (null, "x", 1, [] ...) is a 400 here,
            # before Strawberry reads fields of it.
            check_body(self.settings, self.parse_json(await request.get_body()))
        parsed = await super().parse_http_body(request)
        for data in parsed if isinstance(parsed, list) else [parsed]:
            check_operation(self.settings, data.query, data.variables, data.operation_name)
        return parsed

    async def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        """Queries and mutations over HTTP end after ``IMI_GRAPHQL_TIMEOUT_SECONDS``: the
        task is cancelled (the SQL in flight with it) and the answer is a TIMEOUT error."""
        seconds = self.settings.graphql_timeout_seconds
        if not seconds:
            return await super().execute_operation(*args, **kwargs)
        try:
            async with asyncio.timeout(seconds):
                return await super().execute_operation(*args, **kwargs)
        except TimeoutError:
            return ExecutionResult(data=None, errors=[timeout_error(seconds)])

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(request))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket at its connection_init: the payload carries
        ``{"authorization": "Bearer <key or JWT>"}`` (or ``{"apiKey": "<key>"}``); loopback
        callers need none in local-open mode, as over HTTP. Refused: closed with 4403."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization")
        key = params.get("apiKey") or params.get("api_key")
        request = context.request
        client = request.client if request is not None else None
        try:
            token = bearer_token(raw) if isinstance(raw, str) else None
            if token is None and isinstance(key, str) and key:
                token = key
            principal = await authenticate(
                context.sessions,
                context.settings,
                token=token,
                client_host=client.host if client else None,
            )
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"code": exc.code, "message": exc.message}) from None
        subject = counted_subject(principal)
        if subject is not None:
            self.socket_counts.claim(subject)  # ConnectionLimitReached: closed with 4429
            context.socket_subject = subject
        context.principal = principal
        set_principal(principal)  # the operations' tasks inherit it: their queries are scoped
        return UnsetType()


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return ImiGraphQLRouter(
        build_schema(settings),
        settings,
        context_getter=get_context,  # a yield dependency: closes the session
        graphql_ide="graphiql" if settings.graphql_ide else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
        include_in_schema=False,  # GraphQL has its own schema; not a REST operation
    )


def _refusal(status: int, message: str, extensions: dict[str, Any]) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": extensions}]},
        status_code=status,
    )
