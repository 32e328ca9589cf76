"""Every coordination write reads its body one way (``compat.intermute``): whatever is not one
JSON object is a 400 naming the body, before any work (a body that is not UTF-8 was a 500 on
POST /api/reservations, found by the OpenAPI fuzz test)."""

from __future__ import annotations

import httpx
import pytest

from tests.api import conftest as api_fixtures

client = api_fixtures.client  # the in-process app (fixture)

WRITES = [
    "/api/agents",
    "/api/messages",
    "/api/reservations",
    "/api/specs",
    "/api/tasks",
]
BAD_BODIES = [
    b"\xff\xfe",  # not UTF-8
    b"{",  # not JSON
    b'{"score": NaN}',  # not JSON either
    b"[" * 100_000,  # deeper than the parser goes
    b"[]",  # JSON, not an object
    b'"text"',
]


@pytest.mark.parametrize("path", WRITES)
async def test_a_body_that_is_not_one_json_object_is_a_400(
    client: httpx.AsyncClient, path: str
) -> None:
    for body in BAD_BODIES:
        response = await client.post(
            path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, (path, body[:10], response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"]["field"] == "body"
