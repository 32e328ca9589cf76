"""linkTicket, linkPullRequest, linkDeployment through the real app."""

from __future__ import annotations

import uuid
from typing import Any

from imi.graphql.ids import to_global_id
from tests.graphql.conftest import GraphQL
from tests.graphql.test_mutations_projects import mutation, register_project
from tests.graphql.test_mutations_work import start_work

LINK_TICKET = mutation(
    "linkTicket",
    "LinkTicketInput",
    """LinkTicketPayload {
      kind created ticketCreated changed
      ticket { planeTicketId title url state }
      workItem { id tickets { kind ticket { planeTicketId title } } }
    }""",
)
LINK_PR = mutation(
    "linkPullRequest",
    "LinkPullRequestInput",
    """LinkPullRequestPayload {
      created previousState changed
      pullRequest { id uuid number url state title workItemId mergedAt closedAt }
    }""",
)
LINK_DEPLOY = mutation(
    "linkDeployment",
    "LinkDeploymentInput",
    """LinkDeploymentPayload {
      created changed
      deployment { deployId environment status commitHash }
      workItems { id deployments { deployId } }
      addedWorkItems { id }
    }""",
)


async def work_item(graphql: GraphQL, **fields: Any) -> dict[str, Any]:
    project = await register_project(graphql)
    return await start_work(graphql, project["id"], **fields)


async def link_ticket(graphql: GraphQL, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await graphql.run(LINK_TICKET, {"input": fields}))["linkTicket"]
    return result


async def test_link_ticket_creates_the_ticket_and_is_idempotent(graphql: GraphQL) -> None:
    item = await work_item(graphql, branchName="feat/plain")
    fields = {
        "workItemId": item["id"],
        "planeTicketId": "PROJ-7",
        "title": "Checkout",
        "kind": "CLOSES",
    }
    first = await link_ticket(graphql, **fields)
    assert first["__typename"] == "LinkTicketPayload"
    assert (first["kind"], first["created"], first["ticketCreated"], first["changed"]) == (
        "CLOSES",
        True,
        True,
        True,
    )
    assert first["ticket"]["title"] == "Checkout"
    assert first["workItem"] == {
        "id": item["id"],
        "tickets": [{"kind": "CLOSES", "ticket": {"planeTicketId": "PROJ-7", "title": "Checkout"}}],
    }

    again = await link_ticket(graphql, **{**fields, "workItemId": item["uuid"]})
    assert (again["created"], again["ticketCreated"], again["changed"]) == (False, False, False)


async def test_link_ticket_errors(graphql: GraphQL) -> None:
    item = await work_item(graphql)
    error = await link_ticket(graphql, workItemId=item["id"], planeTicketId="  ")
    assert (error["__typename"], error["field"]) == ("ValidationError", "planeTicketId")
    assert error["message"]

    missing = str(uuid.uuid4())
    error = await link_ticket(graphql, workItemId=missing, planeTicketId="PROJ-1")
    assert error == {
        "__typename": "NotFoundError",
        "message": f"work item {missing} not found",
        "field": "workItemId",
    }
    error = await link_ticket(graphql, workItemId="%%%", planeTicketId="PROJ-1")
    assert (error["__typename"], error["field"]) == ("NotFoundError", "workItemId")


async def test_link_pull_request_lifecycle(graphql: GraphQL) -> None:
    item = await work_item(graphql)
    pr = {"workItemId": item["id"], "number": 12, "url": "https://github.com/acme/x/pull/12"}
    result = (await graphql.run(LINK_PR, {"input": {**pr, "title": "Login"}}))["linkPullRequest"]
    assert result["__typename"] == "LinkPullRequestPayload"
    assert (result["created"], result["previousState"], result["changed"]) == (True, None, True)
    node = result["pullRequest"]
    assert (node["number"], node["state"], node["title"]) == (12, "OPEN", "Login")
    assert node["workItemId"] == item["uuid"]
    assert node["id"] == to_global_id("PullRequest", node["uuid"])

    merged = (await graphql.run(LINK_PR, {"input": {**pr, "state": "MERGED"}}))["linkPullRequest"]
    assert (merged["created"], merged["previousState"], merged["changed"]) == (
        False,
        "OPEN",
        True,
    )
    assert merged["pullRequest"]["state"] == "MERGED"
    assert merged["pullRequest"]["mergedAt"]

    error = (await graphql.run(LINK_PR, {"input": {**pr, "state": "OPEN"}}))["linkPullRequest"]
    assert (error["__typename"], error["field"]) == ("ConflictError", "state")
    assert "merged" in error["message"]


async def test_link_pull_request_errors(graphql: GraphQL) -> None:
    item = await work_item(graphql)
    other = await work_item(graphql)
    url = "https://github.com/acme/y/pull/3"

    async def error_of(**fields: Any) -> tuple[str, str | None]:
        base = {"workItemId": item["id"], "number": 3, "url": url}
        result = (await graphql.run(LINK_PR, {"input": {**base, **fields}}))["linkPullRequest"]
        return result["__typename"], result.get("field")

    assert await error_of(url="ftp://nowhere") == ("ValidationError", "url")
    assert await error_of(number=0) == ("ValidationError", "number")
    assert await error_of(workItemId=str(uuid.uuid4())) == ("NotFoundError", "workItemId")
    assert await error_of() == ("LinkPullRequestPayload", None)  # recorded for `item`
    assert await error_of(workItemId=other["id"]) == ("ConflictError", "workItemId")
    assert await error_of(number=4) == ("ConflictError", "number")


async def test_link_deployment_ships_many_work_items(graphql: GraphQL) -> None:
    first = await work_item(graphql)
    second = await work_item(graphql)
    deploy = {"deployId": "d-1", "environment": "prod", "workItemIds": [first["id"]]}
    result = (await graphql.run(LINK_DEPLOY, {"input": {**deploy, "commitHash": "abc"}}))[
        "linkDeployment"
    ]
    assert result["__typename"] == "LinkDeploymentPayload"
    assert (result["created"], result["changed"]) == (True, True)
    assert result["deployment"] == {
        "deployId": "d-1",
        "environment": "prod",
        "status": "succeeded",
        "commitHash": "abc",
    }
    assert result["workItems"] == [{"id": first["id"], "deployments": [{"deployId": "d-1"}]}]
    assert result["addedWorkItems"] == [{"id": first["id"]}]

    more = {**deploy, "workItemIds": [first["uuid"], second["id"]], "status": "failed"}
    result = (await graphql.run(LINK_DEPLOY, {"input": more}))["linkDeployment"]
    assert (result["created"], result["changed"]) == (False, True)
    assert result["deployment"]["status"] == "failed"
    assert [w["id"] for w in result["workItems"]] == [first["id"], second["id"]]
    assert result["addedWorkItems"] == [{"id": second["id"]}]

    # Re-sending without a status keeps the stored one.
    result = (await graphql.run(LINK_DEPLOY, {"input": deploy}))["linkDeployment"]
    assert (result["changed"], result["deployment"]["status"]) == (False, "failed")


async def test_link_deployment_errors(graphql: GraphQL) -> None:
    item = await work_item(graphql)

    async def error_of(**fields: Any) -> tuple[str, str | None]:
        base = {"deployId": "d-9", "environment": "prod", "workItemIds": [item["id"]]}
        result = (await graphql.run(LINK_DEPLOY, {"input": {**base, **fields}}))["linkDeployment"]
        return result["__typename"], result.get("field")

    assert await error_of(environment=" ") == ("ValidationError", "environment")
    assert await error_of(workItemIds=[]) == ("ValidationError", "workItemIds")
    assert await error_of(workItemIds=[str(uuid.uuid4())]) == ("NotFoundError", "workItemIds")
    assert await error_of(workItemIds=["junk"]) == ("NotFoundError", "workItemIds")
    assert await error_of() == ("LinkDeploymentPayload", None)
    assert await error_of(environment="staging") == ("ConflictError", "environment")
