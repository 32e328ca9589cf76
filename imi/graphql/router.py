"""Mounts the schema at ``/graphql``: queries, mutations, GraphiQL, graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import HTTPConnection
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from imi.graphql.context import Context
from imi.graphql.schema import build_schema
from imi.settings import Settings


async def get_context(connection: HTTPConnection) -> AsyncIterator[Context]:
    context = Context(connection.app.state.sessions, connection.app.state.settings)
    try:
        yield context
    finally:
        await context.close()


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return GraphQLRouter(
        build_schema(settings),
        context_getter=get_context,  # type: ignore[arg-type]  # a yield dependency: closes the session
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
