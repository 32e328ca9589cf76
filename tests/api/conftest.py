"""An HTTP client against the whole app (lifespan run), on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.settings import Settings

API = "/api/v1"


@pytest.fixture
async def client(database_url: str, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    # `engine` is requested so the database is emptied before the test.
    settings = Settings(_env_file=None, rabbitmq_url=None)  # type: ignore[call-arg]
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as http,
    ):
        yield http


def ok(response: httpx.Response, status: int = 200) -> object:
    """The ``data`` of a success envelope, after checking status and shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """The ``error`` of an error envelope, after checking status, code and shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and set(body) == {"success", "error"}, body
    assert body["error"]["code"] == code, body
    assert set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])
