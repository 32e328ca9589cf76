"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis).

For each operation, schemathesis sends its coverage cases (boundary and type-violating values
for every parameter and body field), then draws requests from the schema: the schema's own
examples, valid requests and invalid ones. No answer may be a 5xx, and every ``/api/v1``
answer except a 204 is the JSON envelope with ``success`` matching the status. Derandomized,
with a bounded number of examples per operation and no shrinking, so CI sends the same
requests every run and a failure reports the request that failed (as a curl command).

The database holds the project, work item and components whose ids the schema's examples use,
so the example requests reach the success paths too.

(schemathesis' pytest plugin does not run under pytest 9, so the Hypothesis test is built here
from each operation's strategies.)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import text

from imi.app import create_app
from imi.components.models import Component
from imi.db import create_engine, session_factory
from imi.settings import Settings
from tests.api.conftest import API
from tests.conftest import TABLES
from tests.factories import make_project, make_work_item

MAX_EXAMPLES = 25
METHODS = {"get", "post", "put", "patch", "delete"}
# The ids the routes' OpenAPI examples use.
PROJECT_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
WORK_ITEM_ID = uuid.UUID("660e8400-e29b-41d4-a716-446655440001")
COMPONENT_IDS = [
    uuid.UUID("880e8400-e29b-41d4-a716-446655440003"),
    uuid.UUID("880e8400-e29b-41d4-a716-446655440004"),
]


def _settings() -> Settings:
    # The fuzzer's client is not on loopback; it tests input handling, not access (the auth
    # tests do that), so the app runs with authentication off.
    return Settings(_env_file=None, rabbitmq_url=None, auth="off")


def _operations() -> list[tuple[str, str]]:
    # Building the app connects to nothing, so the schema is known at collection time.
    paths = create_app(_settings(), "postgresql://fuzz@localhost/fuzz").openapi()["paths"]
    return [(method, path) for path, item in paths.items() for method in item if method in METHODS]


async def _seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            await session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
            project = await make_project(
                session,
                id=PROJECT_ID,
                name="my-awesome-app",
                remote_origin="git@github.com:delorenj/my-awesome-app.git",
                remote_origin_normalized="github.com/delorenj/my-awesome-app",
            )
            await make_work_item(
                session, project, id=WORK_ITEM_ID, branch_name="feat/PROJ-123-login"
            )
            for component_id, name in zip(COMPONENT_IDS, ("bloodbank", "iMi"), strict=True):
                session.add(Component(id=component_id, parent_project_id=project.id, name=name))
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def api_schema(database_url: str) -> Iterator[Any]:
    # No per-test truncation here (the tests do not ask for `engine`): what one operation's
    # requests create, the next ones may find. Later modules empty the database again.
    asyncio.run(_seed(database_url))
    app = create_app(_settings(), database_url)
    # Loading the schema starts the app's lifespan in schemathesis' event loop thread, where
    # every request of the module then runs.
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()  # disposes of the app's engine


# The manifest import's body is the TOML document itself: send the drawn text as is.
schemathesis.serializer.alias("application/toml", "text/plain")


def _strategy(operation: Any) -> st.SearchStrategy[schemathesis.Case[Any]]:
    strategies = [
        operation.as_strategy(generation_mode=mode)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    # An example that cannot become a request is not this test's finding.
    with contextlib.suppress(Exception):
        strategies += operation.get_strategies_from_examples()
    return st.one_of(strategies)


def _coverage_cases(operation: Any) -> list[schemathesis.Case[Any]]:
    """schemathesis' coverage phase: boundary and type-violating values for every parameter and
    body field, enumerated deterministically (no randomness)."""
    schema = operation.schema
    config = schema.config.generation_for(operation=operation, phase="coverage")
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return list(
        schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config)
    )


def _problem(case: schemathesis.Case[Any]) -> str | None:
    """What is wrong with the app's answer to ``case``, as a reproducible request; None if ok."""
    try:
        response = case.call()
    except Exception as exc:  # the app raised: Starlette answered 500, then re-raised
        return f"{case.as_curl_command()}\n-> raised {exc!r}"[:2000]
    request = f"{case.as_curl_command()}\n-> {response.status_code} {response.text[:500]}"
    if response.status_code >= 500:
        return request
    if case.path.startswith(API) and response.status_code != 204:
        try:
            body = response.json()
        except ValueError:
            return f"not JSON: {request}"
        if not isinstance(body, dict) or body.get("success") is not (response.status_code < 400):
            return f"not the envelope: {request}"
    return None


OPERATIONS = _operations()


@pytest.mark.parametrize(
    ("method", "path"), OPERATIONS, ids=[f"{m.upper()} {p}" for m, p in OPERATIONS]
)
def test_no_server_errors(api_schema: Any, method: str, path: str) -> None:
    operation = api_schema[path][method.upper()]
    problems = [p for case in _coverage_cases(operation) if (p := _problem(case))]
    assert not problems, f"{len(problems)} bad answers, e.g.:\n\n" + "\n\n".join(problems[:5])

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the request as sent
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation))
    def fuzz(case: schemathesis.Case[Any]) -> None:
        problem = _problem(case)
        assert problem is None, problem

    fuzz()


# Requests fuzzing found answering 500 once, kept as fixed examples.
HUGE = 9369253770659888992  # past PostgreSQL's bigint


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/projects?offset={HUGE}", 400),
        (f"/work?offset={HUGE}", 400),
        (f"/projects/PROJECT/worktrees?offset={HUGE}", 400),
        (f"/components?offset={HUGE}", 422),
    ],
)
async def test_offsets_past_bigint_are_rejected(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    project = await client.post(f"{API}/projects", json={"remote_origin": "git@h.io:o/r"})
    path = path.replace("PROJECT", project.json()["data"]["id"])
    response = await client.get(f"{API}{path}")
    assert response.status_code == status, response.text
    assert response.json()["error"]["details"]["field"] == "offset"


async def test_the_largest_offset_is_an_empty_page(client: httpx.AsyncClient) -> None:
    for area in ("projects", "work", "components"):
        response = await client.get(f"{API}/{area}", params={"offset": 2**63 - 1})
        assert response.status_code == 200, response.text
        assert response.json()["data"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/projects", '{"remote_origin": "git@github.com:a/b\\u0000.git"}'),
        ("POST", "/links/ticket", '{"work_item_id": "WORK", "plane_ticket_id": "A\\u0000B"}'),
        (
            "POST",
            "/links/deploy",
            '{"deploy_id": "d\\u0000", "environment": "x", "work_item_id": "WORK"}',
        ),
        ("POST", "/components", '{"project_id": "PROJECT", "name": "a\\u0000"}'),
        (
            "POST",
            "/links/ticket",
            '{"work_item_id": "WORK", "plane_ticket_id": "A", "metadata": {"x": NaN}}',
        ),
        ("GET", "/trace/ticket/%00", None),
        ("GET", "/trace/deploy/a%00b", None),
    ],
)
async def test_unstorable_values_are_rejected(
    client: httpx.AsyncClient, method: str, path: str, body: str | None
) -> None:
    # PostgreSQL stores no NUL character and JSON no NaN: bad input, not a server fault.
    project = (await client.post(f"{API}/projects", json={"remote_origin": "git@h.io:o/r"})).json()
    work = await client.post(
        f"{API}/work", json={"project_id": project["data"]["id"], "branch_name": "feat/x"}
    )
    if body is not None:
        body = body.replace("WORK", work.json()["data"]["id"])
        body = body.replace("PROJECT", project["data"]["id"])
    response = await client.request(
        method, f"{API}{path}", content=body, headers={"content-type": "application/json"}
    )
    # 400 when PostgreSQL refuses the value, 422 when input validation catches it first.
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
