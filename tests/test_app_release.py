"""An app built, served and shut down is garbage: nothing keeps it (or its schema) alive.

The test run builds hundreds of apps; when something held on to them (FastAPI's callable caches
did, see ``release_apps``), the process grew to millions of objects and its full collections
took seconds, stalling the servers tests run in their own event loop.
"""

from __future__ import annotations

import gc
import weakref

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.graphql.router import ImiGraphQLRouter
from imi.settings import Settings
from tests.conftest import release_apps


async def _served_once(database_url: str) -> list[weakref.ref[object]]:
    """Builds an app, serves a health check and a GraphQL query, stops it: weak references
    to what it built (the app, its GraphQL router and schema, its engine)."""
    app = create_app(Settings(_env_file=None, rabbitmq_url=None), database_url)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
    ):
        assert (await client.get("/health")).status_code == 200
        answer = await client.post("/graphql", json={"query": "{ __typename }"})
        assert answer.json() == {"data": {"__typename": "Query"}}
        engine = app.state.engine
    router = next(
        route.original_router  # type: ignore[attr-defined]
        for route in app.router.routes
        if isinstance(getattr(route, "original_router", None), ImiGraphQLRouter)
    )
    return [weakref.ref(x) for x in (app, router, router.schema, engine)]


async def test_a_stopped_app_is_garbage(database_url: str, engine: AsyncEngine) -> None:
    # `engine`: an empty database, so /health finds no backlog to report.
    refs = await _served_once(database_url)
    release_apps()
    gc.collect()
    assert [ref() for ref in refs] == [None] * len(refs)
