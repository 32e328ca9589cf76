"""logActivity, and what every mutation does with input the database refuses."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError

from imi.graphql.ids import to_global_id
from imi.projects import service as project_service
from tests.graphql.conftest import GraphQL
from tests.graphql.test_mutations_projects import REGISTER, mutation, register_project
from tests.graphql.test_mutations_work import start_work

LOG = mutation(
    "logActivity",
    "LogActivityInput",
    """LogActivityPayload {
      activity { id uuid agentId workItemId activityType description filePath metadata createdAt }
    }""",
)


async def log(graphql: GraphQL, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await graphql.run(LOG, {"input": fields}))["logActivity"]
    return result


async def test_log_activity_on_a_work_item(graphql: GraphQL) -> None:
    project = await register_project(graphql)
    item = await start_work(graphql, project["id"])
    result = await log(
        graphql,
        agentId="agent-7",
        workItemId=item["id"],
        activityType="COMMITTED",
        description="Fix login",
        filePath="src/login.py",
        metadata={"sha": "abc"},
    )
    assert result["__typename"] == "LogActivityPayload"
    activity = result["activity"]
    assert activity["id"] == to_global_id("Activity", activity["uuid"])
    assert {k: activity[k] for k in ("agentId", "workItemId", "activityType", "metadata")} == {
        "agentId": "agent-7",
        "workItemId": item["uuid"],
        "activityType": "COMMITTED",
        "metadata": {"sha": "abc"},
    }
    assert activity["createdAt"]

    # Without a work item.
    result = await log(graphql, agentId="agent-7", activityType="OTHER")
    assert result["activity"]["workItemId"] is None
    assert result["activity"]["activityType"] == "OTHER"

    seen = await graphql.run(
        "query($id: ID!) { workItem(id: $id) { activities { totalCount nodes { description } } } }",
        {"id": item["id"]},
    )
    assert seen["workItem"]["activities"] == {
        "totalCount": 1,
        "nodes": [{"description": "Fix login"}],
    }


async def test_log_activity_errors(graphql: GraphQL) -> None:
    # Not an ActivityType: GraphQL rejects the variable before the resolver runs.
    with pytest.raises(TransportQueryError, match="DANCED"):
        await log(graphql, agentId="a", activityType="DANCED")
    error = await log(graphql, agentId="", activityType="CREATED")
    assert (error["__typename"], error["field"]) == ("ValidationError", "agentId")
    error = await log(graphql, agentId="  ", activityType="CREATED")
    assert error == {
        "__typename": "ValidationError",
        "message": "agent_id must not be empty",
        "field": "agentId",
    }
    missing = str(uuid.uuid4())
    error = await log(graphql, agentId="a", activityType="CREATED", workItemId=missing)
    assert error == {
        "__typename": "NotFoundError",
        "message": f"work item {missing} not found",
        "field": "workItemId",
    }
    error = await log(graphql, agentId="a", activityType="CREATED", workItemId="??")
    assert (error["__typename"], error["field"]) == ("NotFoundError", "workItemId")


async def test_a_value_the_database_refuses_is_a_validation_error(graphql: GraphQL) -> None:
    # PostgreSQL text cannot hold NUL: the error is data, the transaction rolled back.
    error = await log(graphql, agentId="a", activityType="CREATED", description="x\x00y")
    assert error == {
        "__typename": "ValidationError",
        "message": "A value is not acceptable to the database: it cannot be stored",
        "field": None,
    }
    result = await log(graphql, agentId="a", activityType="CREATED")
    assert result["__typename"] == "LogActivityPayload"


async def test_unexpected_failures_are_masked(
    graphql: GraphQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret connection string in a traceback")

    monkeypatch.setattr(project_service, "register_project", broken)
    with pytest.raises(TransportQueryError) as caught:
        await graphql.run(REGISTER, {"input": {"remoteOrigin": "git@github.com:acme/z.git"}})
    errors = caught.value.errors or []
    assert [e["message"] for e in errors] == ["Unexpected error."]
    assert "secret" not in str(caught.value)
    assert "Traceback" not in str(caught.value)
