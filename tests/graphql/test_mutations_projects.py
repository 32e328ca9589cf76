"""registerProject, updateProject, deactivateProject through the real app."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from imi.graphql.ids import to_global_id
from imi.outbox.models import Event
from tests.graphql.conftest import GraphQL


def mutation(field: str, input_type: str, payload: str) -> str:
    """A mutation document selecting ``payload`` (``SomePayload { ... }``) or the error."""
    return f"""
mutation Run($input: {input_type}!) {{
  {field}(input: $input) {{
    __typename
    ... on {payload}
    ... on MutationError {{ message field }}
  }}
}}"""


REGISTER = mutation(
    "registerProject",
    "RegisterProjectInput",
    """RegisterProjectPayload {
      created reactivated
      project { id uuid name remoteOrigin defaultBranch description metadata active }
    }""",
)
UPDATE = mutation(
    "updateProject",
    "UpdateProjectInput",
    "UpdateProjectPayload { project { id name description trunkPath defaultBranch metadata } }",
)
DEACTIVATE = mutation(
    "deactivateProject",
    "DeactivateProjectInput",
    "DeactivateProjectPayload { project { id active } }",
)


async def register_project(graphql: GraphQL, **fields: Any) -> dict[str, Any]:
    """Register a project and return its node (id, uuid, ...)."""
    fields.setdefault("remoteOrigin", f"git@github.com:acme/r-{uuid.uuid4().hex[:8]}.git")
    result = await graphql.run(REGISTER, {"input": fields})
    payload = result["registerProject"]
    assert payload["__typename"] == "RegisterProjectPayload", payload
    project: dict[str, Any] = payload["project"]
    return project


async def test_register_project_creates_then_returns_the_existing_one(graphql: GraphQL) -> None:
    variables = {
        "input": {
            "remoteOrigin": "git@github.com:acme/widgets.git",
            "description": "Widgets",
            "metadata": {"team": "core"},
        }
    }
    first = (await graphql.run(REGISTER, variables))["registerProject"]
    assert first["__typename"] == "RegisterProjectPayload"
    assert (first["created"], first["reactivated"]) == (True, False)
    project = first["project"]
    assert project["name"] == "widgets"
    assert project["defaultBranch"] == "main"
    assert project["metadata"] == {"team": "core"}
    assert project["id"] == to_global_id("Project", project["uuid"])

    # Another spelling of the same origin is the same project.
    again = {"input": {"remoteOrigin": "https://github.com/acme/widgets"}}
    second = (await graphql.run(REGISTER, again))["registerProject"]
    assert (second["created"], second["reactivated"]) == (False, False)
    assert second["project"]["id"] == project["id"]


async def test_concurrent_registrations_get_one_id(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession]
) -> None:
    spellings = [
        "git@github.com:acme/race.git",
        "https://github.com/acme/race",
        "ssh://git@github.com/acme/race.git",
    ] * 3
    results = await asyncio.gather(
        *(graphql.run(REGISTER, {"input": {"remoteOrigin": s}}) for s in spellings)
    )
    payloads = [r["registerProject"] for r in results]
    assert {p["project"]["id"] for p in payloads} == {payloads[0]["project"]["id"]}
    assert sum(p["created"] for p in payloads) == 1
    async with sessions() as session:
        registered = select(func.count()).where(col(Event.event_type) == "imi.project.registered")
        assert await session.scalar(registered) == 1


async def test_register_project_validation_error(graphql: GraphQL) -> None:
    result = await graphql.run(REGISTER, {"input": {"remoteOrigin": "not a url"}})
    error = result["registerProject"]
    assert error["__typename"] == "ValidationError"
    assert error["field"] == "remoteOrigin"
    assert error["message"]

    blank = {"input": {"remoteOrigin": "git@github.com:acme/x.git", "name": "  "}}
    error = (await graphql.run(REGISTER, blank))["registerProject"]
    assert (error["__typename"], error["field"]) == ("ValidationError", "name")
    assert error["message"] == "name must not be empty"

    not_object = {"input": {"remoteOrigin": "git@github.com:acme/x.git", "metadata": [1]}}
    error = (await graphql.run(REGISTER, not_object))["registerProject"]
    assert (error["__typename"], error["field"]) == ("ValidationError", "metadata")


async def test_update_project_changes_only_the_fields_sent(graphql: GraphQL) -> None:
    project = await register_project(
        graphql, description="keep me", trunkPath="/src/x", metadata={"a": 1, "b": 2}
    )
    result = await graphql.run(
        UPDATE, {"input": {"id": project["id"], "name": "renamed", "metadata": {"b": None}}}
    )
    updated = result["updateProject"]["project"]
    assert updated["name"] == "renamed"
    assert updated["description"] == "keep me"  # absent: unchanged
    assert updated["trunkPath"] == "/src/x"
    assert updated["metadata"] == {"a": 1}

    # An explicit null clears a nullable field; a raw UUID addresses the project too.
    result = await graphql.run(UPDATE, {"input": {"id": project["uuid"], "description": None}})
    updated = result["updateProject"]["project"]
    assert updated["description"] is None
    assert updated["trunkPath"] == "/src/x"
    assert updated["name"] == "renamed"

    replaced = {"input": {"id": project["id"], "metadata": {"c": 3}, "replaceMetadata": True}}
    result = await graphql.run(UPDATE, replaced)
    assert result["updateProject"]["project"]["metadata"] == {"c": 3}


async def test_update_project_errors(graphql: GraphQL) -> None:
    project = await register_project(graphql)
    error = (await graphql.run(UPDATE, {"input": {"id": project["id"], "defaultBranch": " "}}))[
        "updateProject"
    ]
    assert error == {
        "__typename": "ValidationError",
        "message": "default_branch must not be empty",
        "field": "defaultBranch",
    }

    missing = str(uuid.uuid4())
    error = (await graphql.run(UPDATE, {"input": {"id": missing, "name": "x"}}))["updateProject"]
    assert error == {
        "__typename": "NotFoundError",
        "message": f"project {missing} not found",
        "field": "id",
    }

    for bad in ("garbage!", to_global_id("WorkItem", project["uuid"])):
        error = (await graphql.run(UPDATE, {"input": {"id": bad}}))["updateProject"]
        assert (error["__typename"], error["field"]) == ("NotFoundError", "id")
        assert bad in error["message"]


async def test_deactivate_project_is_idempotent_and_register_reactivates(
    graphql: GraphQL,
) -> None:
    project = await register_project(graphql, remoteOrigin="git@github.com:acme/old.git")
    for _ in range(2):
        result = await graphql.run(DEACTIVATE, {"input": {"id": project["id"]}})
        assert result["deactivateProject"] == {
            "__typename": "DeactivateProjectPayload",
            "project": {"id": project["id"], "active": False},
        }
    again = await graphql.run(REGISTER, {"input": {"remoteOrigin": "https://github.com/acme/old"}})
    payload = again["registerProject"]
    assert (payload["created"], payload["reactivated"]) == (False, True)
    assert payload["project"]["active"] is True

    missing = to_global_id("Project", uuid.uuid4())
    error = (await graphql.run(DEACTIVATE, {"input": {"id": missing}}))["deactivateProject"]
    assert (error["__typename"], error["field"]) == ("NotFoundError", "id")


async def test_mutation_result_is_visible_to_a_query_in_the_same_request(
    graphql: GraphQL,
) -> None:
    project = await register_project(graphql)
    result = await graphql.run(
        """
        mutation($id: ID!) {
          updateProject(input: {id: $id, name: "fresh"}) { __typename }
          deactivateProject(input: {id: $id}) {
            ... on DeactivateProjectPayload { project { name active counts { active } } }
          }
        }
        """,
        {"id": project["id"]},
    )
    assert result["deactivateProject"]["project"] == {
        "name": "fresh",
        "active": False,
        "counts": {"active": 0},
    }
