"""Mounts the schema at ``/graphql``: queries, mutations, GraphiQL, graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.requests import HTTPConnection
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from imi.graphql.context import Context
from imi.graphql.schema import build_schema
from imi.pages import graphiql_html
from imi.settings import Settings


async def get_context(connection: HTTPConnection) -> AsyncIterator[Context]:
    context = Context(connection.app.state.sessions, connection.app.state.settings)
    try:
        yield context
    finally:
        await context.close()


class ImiGraphQLRouter(GraphQLRouter[Context, None]):
    """Strawberry's router with iMi's GraphiQL page: assets from the package, an iMi query."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(request))


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return ImiGraphQLRouter(
        build_schema(settings),
        context_getter=get_context,  # type: ignore[arg-type]  # a yield dependency: closes the session
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        include_in_schema=False,  # GraphQL has its own schema; not a REST operation
    )
