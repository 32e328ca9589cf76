"""Hot reads at the floor (issue 14): one round trip to PostgreSQL per read where one will do.

No pre-ping, no BEGIN/COMMIT around a read, a project and its counts in one statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.settings import Settings
from tests.api.conftest import API, ok
from tests.round_trips import round_trips

ORIGIN = "git@github.com:acme/rt.git"


@pytest.fixture
async def app(database_url: str, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    settings = Settings(_env_file=None, rabbitmq_url=None)
    app = create_app(settings, database_url)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client:
        yield client


async def _project(http: httpx.AsyncClient) -> dict[str, object]:
    data = ok(await http.post(f"{API}/projects", json={"remote_origin": ORIGIN}), 201)
    assert isinstance(data, dict)
    await http.post(f"{API}/work", json={"project_id": data["id"], "branch_name": "feature/a"})
    return data


async def test_project_by_id_is_one_statement_without_transaction(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    project = await _project(http)
    await http.get(f"{API}/projects/{project['id']}")  # warm the pool and caches
    async with round_trips(app.state.engine) as seen:
        data = ok(await http.get(f"{API}/projects/{project['id']}"))
    assert isinstance(data, dict) and data["worktree_counts"]["active"] == 1
    assert seen.transaction_control == [], seen
    assert len(seen.statements) == 1, seen.statements


async def test_project_by_origin_is_one_statement_without_transaction(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    await _project(http)
    async with round_trips(app.state.engine) as seen:
        data = ok(await http.get(f"{API}/projects", params={"remote_origin": ORIGIN}))
    assert isinstance(data, dict) and data["remote_origin"] == ORIGIN
    assert seen.transaction_control == [], seen
    assert len(seen.statements) == 1, seen.statements


async def test_a_write_still_runs_in_one_transaction(app: FastAPI, http: httpx.AsyncClient) -> None:
    project = await _project(http)
    async with round_trips(app.state.engine) as seen:
        ok(await http.patch(f"{API}/projects/{project['id']}", json={"description": "d"}))
    assert seen.transaction_control[0].upper().startswith("BEGIN"), seen
    assert seen.transaction_control[-1].upper().startswith("COMMIT"), seen


async def test_fast_reads_answer_exactly_what_the_model_path_answers(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    """The plain-row path and the pydantic path (the list) write the same JSON text."""
    project = await _project(http)
    await http.patch(
        f"{API}/projects/{project['id']}",
        json={"metadata": {"big": 2**70, "nested": {"ü": [1.5, None, True]}}},
    )
    listed = await http.get(f"{API}/projects")
    by_id = await http.get(f"{API}/projects/{project['id']}")
    by_origin = await http.get(f"{API}/projects", params={"remote_origin": ORIGIN})
    listed_data = listed.json()["data"][0]
    assert by_id.json()["data"] == listed_data == by_origin.json()["data"]
    assert listed_data["metadata"]["big"] == 2**70  # past orjson's range: the fallback
    # Same datetime spelling as pydantic's (Z for UTC).
    assert f'"created_at":"{listed_data["created_at"]}"' in by_id.text
    assert by_id.headers["content-type"] == "application/json"


async def test_in_flight_work_is_one_statement_with_its_total(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    project = await _project(http)
    for branch in ("feature/b", "feature/c"):
        await http.post(f"{API}/work", json={"project_id": project["id"], "branch_name": branch})
    params = {"project_id": str(project["id"]), "limit": "2"}
    async with round_trips(app.state.engine) as seen:
        response = await http.get(f"{API}/inflight-work", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pagination"] == {"total": 3, "limit": 2, "offset": 0}
    assert [row["branch_name"] for row in body["data"]] == ["feature/c", "feature/b"]
    assert set(body["data"][0]) == {
        "worktree_id", "worktree_name", "project_id", "project_name", "branch_name", "status",
        "uncommitted_count", "ahead", "behind", "agent_id", "last_activity",
    }  # fmt: skip
    assert seen.transaction_control == [] and len(seen.statements) == 1, seen
    past_end = await http.get(f"{API}/inflight-work", params={**params, "offset": "5"})
    assert past_end.json()["pagination"]["total"] == 3 and past_end.json()["data"] == []
