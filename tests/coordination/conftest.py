"""What the coordination tests share: GraphQL over plain HTTP against an in-process app, with
the app engine's statements counted on demand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from tests.graphql.conftest import Statements, settings


class GraphQL:
    """Plain POSTs to /graphql; ``counted`` also says how many statements the query sent."""

    def __init__(self, http: httpx.AsyncClient, statements: Statements) -> None:
        self.http = http
        self.statements = statements

    async def run(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

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


@pytest.fixture
async def graphql(database_url: str, engine: AsyncEngine) -> AsyncIterator[GraphQL]:
    app = create_app(settings(), database_url)
    async with app.router.lifespan_context(app):
        statements = Statements()
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", statements)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://imi.test") as http:
            yield GraphQL(http, statements)
