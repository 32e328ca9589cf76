"""Property-based fuzzing of every Mutation field (schemathesis' GraphQL support).

Documents drawn from the schema, valid ones with arbitrary inputs (NUL characters included)
and invalid ones, must never get a 5xx or an unexpected server exception ("Unexpected
error."): every failure is a GraphQL validation error or a typed error in the data.
Derandomized and bounded, so CI sends the same documents every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.app import create_app
from imi.db import create_engine, session_factory
from imi.graphql.schema import schema as strawberry_schema
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import settings as app_settings

MAX_EXAMPLES = 25
MASKED = "Unexpected error."


def _mutation_fields() -> list[str]:
    mutation_type = strawberry_schema._schema.mutation_type
    assert mutation_type is not None
    return sorted(mutation_type.fields)


@pytest.fixture(scope="module")
def mutation_schema(database_url: str) -> Iterator[Any]:
    # The fuzzer's client is not on loopback; it tests input handling, not access.
    app = create_app(app_settings(auth="off"), database_url)
    loaded = schemathesis.graphql.from_asgi("/graphql", app)
    yield loaded
    shutdown_lifespans()


async def _seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            project = await make_project(session, name="fuzz")
            await make_work_item(session, project, branch_name="feat/fuzz")
    finally:
        await engine.dispose()


@pytest.fixture
def seeded(database_url: str, engine: AsyncEngine) -> None:
    asyncio.run(_seed(database_url))


@pytest.mark.parametrize("field", _mutation_fields())
def test_mutations_never_fail_on_the_server(mutation_schema: Any, seeded: None, field: str) -> None:
    operation = mutation_schema["Mutation"][field]
    strategy = st.one_of(
        [
            operation.as_strategy(generation_mode=mode)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        document = str(case.body)
        try:
            response = case.call()
        except Exception as exc:  # the app raised instead of answering
            pytest.fail(f"{document}\n-> raised {exc!r}"[:2000])
        request = f"{document}\n-> {response.status_code} {response.text[:800]}"
        assert response.status_code < 500, request
        body = response.json()
        assert isinstance(body, dict), request
        for error in body.get("errors") or []:
            assert error.get("message") != MASKED, request
            assert "Traceback" not in error.get("message", ""), request

    fuzz()
