"""Mounts the schema at ``/graphql``: queries, mutations, GraphiQL, graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from imi.auth.policy import authenticate, bearer_token
from imi.auth.principal import set_principal
from imi.errors import Unauthenticated
from imi.graphql.context import Context
from imi.graphql.schema import build_schema
from imi.pages import graphiql_html
from imi.settings import Settings


async def get_context(connection: HTTPConnection) -> AsyncIterator[Context]:
    context = Context(connection.app.state.sessions, connection.app.state.settings)
    context.principal = connection.scope.get("state", {}).get("principal")
    try:
        yield context
    finally:
        await context.close()


class ImiGraphQLRouter(GraphQLRouter[Context, None]):
    """Strawberry's router with iMi's GraphiQL page: assets from the package, an iMi query."""

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
        context.principal = principal
        set_principal(principal)  # the operations' tasks inherit it: their queries are scoped
        return UnsetType()


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return ImiGraphQLRouter(
        build_schema(settings),
        context_getter=get_context,  # type: ignore[arg-type]  # a yield dependency: closes the session
        graphql_ide="graphiql" if settings.graphql_ide else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        include_in_schema=False,  # GraphQL has its own schema; not a REST operation
    )
