"""startWork, updateGitState, completeWork through the real app."""

from __future__ import annotations

import uuid
from typing import Any

from imi.graphql.ids import to_global_id
from tests.graphql.conftest import GraphQL
from tests.graphql.test_mutations_projects import DEACTIVATE, mutation, register_project

START = mutation(
    "startWork",
    "StartWorkInput",
    """StartWorkPayload {
      workItem {
        id uuid branchName name workType sourceType sourceRef ownerId worktreePath metadata
        status active
        project { name }
        tickets { kind ticket { planeTicketId } }
      }
    }""",
)
GIT_STATE = mutation(
    "updateGitState",
    "UpdateGitStateInput",
    """UpdateGitStatePayload {
      applied updatedFields
      workItem { id status hasUncommittedChanges uncommittedFilesCount aheadOfTrunk
                 behindTrunk lastCommitHash lastSyncAt }
    }""",
)
COMPLETE = mutation(
    "completeWork",
    "CompleteWorkInput",
    """CompleteWorkPayload {
      workItem { id active completionType mergeCommitHash mergedBy completedAt }
    }""",
)


async def start_work(graphql: GraphQL, project_id: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("branchName", f"feat/{uuid.uuid4().hex[:8]}")
    result = await graphql.run(START, {"input": {"projectId": project_id, **fields}})
    payload = result["startWork"]
    assert payload["__typename"] == "StartWorkPayload", payload
    item: dict[str, Any] = payload["workItem"]
    return item


async def test_start_work_returns_the_committed_item_with_its_links(graphql: GraphQL) -> None:
    project = await register_project(graphql, name="shop")
    item = await start_work(
        graphql,
        project["id"],
        branchName="feat/PROJ-123-login",
        workType="FIX",
        source={"type": "AGENT_ASSIGNMENT", "ref": "task-9"},
        ownerId="agent-1",
        worktreePath="/wt/login",
        metadata={"k": "v"},
    )
    assert item["branchName"] == "feat/PROJ-123-login"
    assert item["name"] == "feat-PROJ-123-login"
    assert (item["workType"], item["sourceType"], item["sourceRef"]) == (
        "FIX",
        "AGENT_ASSIGNMENT",
        "task-9",
    )
    assert (item["ownerId"], item["worktreePath"], item["metadata"]) == (
        "agent-1",
        "/wt/login",
        {"k": "v"},
    )
    assert (item["status"], item["active"]) == ("CLEAN", True)
    assert item["project"] == {"name": "shop"}
    assert item["tickets"] == [{"kind": "REFERENCES", "ticket": {"planeTicketId": "PROJ-123"}}]
    assert item["id"] == to_global_id("WorkItem", item["uuid"])

    # A raw UUID addresses the project too; defaults apply.
    other = await start_work(graphql, project["uuid"], branchName="chore")
    assert (other["workType"], other["sourceType"], other["tickets"]) == ("FEATURE", "MANUAL", [])


async def test_start_work_errors(graphql: GraphQL) -> None:
    project = await register_project(graphql)
    bad_branch = {"input": {"projectId": project["id"], "branchName": "bad..branch"}}
    error = (await graphql.run(START, bad_branch))["startWork"]
    assert error == {
        "__typename": "ValidationError",
        "message": "Invalid branch name 'bad..branch'",
        "field": "branchName",
    }

    missing = str(uuid.uuid4())
    error = (await graphql.run(START, {"input": {"projectId": missing, "branchName": "x"}}))[
        "startWork"
    ]
    assert error == {
        "__typename": "NotFoundError",
        "message": f"project {missing} not found",
        "field": "projectId",
    }
    error = (await graphql.run(START, {"input": {"projectId": "nope", "branchName": "x"}}))[
        "startWork"
    ]
    assert (error["__typename"], error["field"]) == ("NotFoundError", "projectId")

    await start_work(graphql, project["id"], branchName="feat/dup")
    again = {"input": {"projectId": project["id"], "branchName": "feat/dup"}}
    error = (await graphql.run(START, again))["startWork"]
    assert (error["__typename"], error["field"]) == ("ConflictError", "branchName")
    assert "feat/dup" in error["message"]

    await graphql.run(DEACTIVATE, {"input": {"id": project["id"]}})
    error = (await graphql.run(START, {"input": {"projectId": project["id"], "branchName": "y"}}))[
        "startWork"
    ]
    assert (error["__typename"], error["field"]) == ("ConflictError", "projectId")
    assert "deactivated" in error["message"]


async def test_update_git_state_by_id_and_by_branch(graphql: GraphQL) -> None:
    project = await register_project(graphql)
    item = await start_work(graphql, project["id"], branchName="feat/git")
    report = {"id": item["id"], "hasUncommittedChanges": True, "uncommittedFilesCount": 3}
    result = (await graphql.run(GIT_STATE, {"input": report}))["updateGitState"]
    assert result["applied"] is True
    assert result["updatedFields"] == ["hasUncommittedChanges", "uncommittedFilesCount"]
    assert result["workItem"]["status"] == "UNCOMMITTED"

    by_branch = {
        "projectId": project["id"],
        "branchName": "feat/git",
        "hasUncommittedChanges": False,
        "aheadOfTrunk": 2,
        "lastCommitHash": "abc123",
    }
    result = (await graphql.run(GIT_STATE, {"input": by_branch}))["updateGitState"]
    state = result["workItem"]
    assert result["applied"] is True
    assert (state["status"], state["uncommittedFilesCount"], state["aheadOfTrunk"]) == (
        "AHEAD",
        3,  # not sent: kept
        2,
    )
    assert state["lastCommitHash"] == "abc123"

    stale = {"id": item["uuid"], "behindTrunk": 9, "lastSyncAt": "2025-01-01T00:00:00Z"}
    result = (await graphql.run(GIT_STATE, {"input": stale}))["updateGitState"]
    assert (result["applied"], result["updatedFields"]) == (False, [])
    assert result["workItem"]["behindTrunk"] == 0


async def test_update_git_state_errors(graphql: GraphQL) -> None:
    project = await register_project(graphql)
    item = await start_work(graphql, project["id"], branchName="feat/err")

    async def error_of(report: dict[str, Any]) -> tuple[str, str | None, str]:
        result = (await graphql.run(GIT_STATE, {"input": report}))["updateGitState"]
        return result["__typename"], result["field"], result["message"]

    kind, field, _ = await error_of({"aheadOfTrunk": 1})
    assert (kind, field) == ("ValidationError", "id")
    kind, field, _ = await error_of({"id": item["id"], "branchName": "feat/err"})
    assert (kind, field) == ("ValidationError", "id")
    kind, field, message = await error_of({"id": item["id"], "uncommittedFilesCount": -1})
    assert (kind, field) == ("ValidationError", "uncommittedFilesCount")
    assert message == "uncommittedFilesCount: Input should be greater than or equal to 0"
    kind, field, message = await error_of({"id": item["id"], "hasUncommittedChanges": None})
    assert (kind, field, message) == (
        "ValidationError",
        "hasUncommittedChanges",
        "has_uncommitted_changes must not be null",
    )

    kind, field, _ = await error_of({"id": to_global_id("WorkItem", uuid.uuid4())})
    assert (kind, field) == ("NotFoundError", "id")
    kind, field, _ = await error_of({"id": project["id"]})  # a Project's id
    assert (kind, field) == ("NotFoundError", "id")
    kind, field, message = await error_of({"projectId": project["id"], "branchName": "feat/none"})
    assert (kind, field) == ("NotFoundError", "branchName")
    assert "feat/none" in message


async def test_complete_work_then_conflict(graphql: GraphQL) -> None:
    project = await register_project(graphql)
    item = await start_work(graphql, project["id"])
    done = {"id": item["id"], "mergeCommitHash": "fff000", "mergedBy": "alice"}
    result = (await graphql.run(COMPLETE, {"input": done}))["completeWork"]
    completed = result["workItem"]
    assert completed["active"] is False
    assert completed["completionType"] == "MERGED"
    assert (completed["mergeCommitHash"], completed["mergedBy"]) == ("fff000", "alice")
    assert completed["completedAt"]

    again = {"id": item["uuid"], "completionType": "ABANDONED"}
    error = (await graphql.run(COMPLETE, {"input": again}))["completeWork"]
    assert error["__typename"] == "ConflictError"
    assert error["field"] == "completionType"
    assert "already completed (merged)" in error["message"]


async def test_complete_work_not_found(graphql: GraphQL) -> None:
    missing = uuid.uuid4()
    error = (await graphql.run(COMPLETE, {"input": {"id": str(missing)}}))["completeWork"]
    assert error == {
        "__typename": "NotFoundError",
        "message": f"work item {missing} not found",
        "field": "id",
    }
