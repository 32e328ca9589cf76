"""GraphQL through the real app: a `gql` client over HTTP, and a SQL statement counter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from gql import Client, GraphQLRequest
from gql.transport import httpx as gql_httpx
from gql.transport.httpx import HTTPXAsyncTransport
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.settings import Settings


@dataclass
class Statements:
    """Counts SQL statements the app's engine executes while ``counting`` is on."""

    counting: bool = False
    seen: list[str] = field(default_factory=list)

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.counting:
            self.seen.append(statement)

    @property
    def count(self) -> int:
        return len(self.seen)


@dataclass
class GraphQL:
    app: FastAPI
    client: Client
    session: Any
    statements: Statements

    async def run(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = GraphQLRequest(query, variable_values=variables)
        result: dict[str, Any] = await self.session.execute(request)
        return result

    async def counted(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], int]:
        self.statements.seen.clear()
        self.statements.counting = True
        try:
            result = await self.run(query, variables)
        finally:
            self.statements.counting = False
        return result, self.statements.count


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, rabbitmq_url=None, **overrides)


@pytest.fixture
async def graphql(database_url: str, engine: AsyncEngine) -> AsyncIterator[GraphQL]:
    app = create_app(settings(), database_url)
    async with app.router.lifespan_context(app):
        statements = Statements()
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", statements)
        # gql's transport speaks httpx2 when it is installed (the MCP SDK brings it), httpx
        # otherwise: the in-process transport must come from the same library.
        asgi = gql_httpx.httpx.ASGITransport(app=app)
        transport = HTTPXAsyncTransport(url="http://imi.test/graphql", transport=asgi)
        client = Client(transport=transport, fetch_schema_from_transport=False)
        async with client as session:
            yield GraphQL(app, client, session, statements)
