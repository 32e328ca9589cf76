"""`POST /links/ticket`, `/links/pr`, `/links/deploy` through HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import API, error, ok


async def _project(client: httpx.AsyncClient, slug: str = "app") -> dict[str, Any]:
    body = {"remote_origin": f"git@github.com:acme/{slug}.git"}
    data = ok(await client.post(f"{API}/projects", json=body), 201)
    assert isinstance(data, dict)
    return data


async def _work(client: httpx.AsyncClient, project_id: str, branch: str) -> str:
    body = {"project_id": project_id, "branch_name": branch}
    data = ok(await client.post(f"{API}/work", json=body), 201)
    assert isinstance(data, dict)
    return str(data["id"])


@pytest.fixture
async def work_id(client: httpx.AsyncClient) -> str:
    project = await _project(client)
    return await _work(client, project["id"], "feat/login")


def _dict(value: object) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


# --- tickets -------------------------------------------------------------------------------


async def test_link_ticket_creates_then_answers_200(
    client: httpx.AsyncClient, work_id: str
) -> None:
    body = {
        "work_item_id": work_id,
        "plane_ticket_id": "PROJ-123",
        "title": "Login page",
        "url": "https://plane.example.com/PROJ-123",
        "state": "todo",
        "metadata": {"source": "agent"},
    }
    first = _dict(ok(await client.post(f"{API}/links/ticket", json=body), 201))
    assert first["plane_ticket_id"] == "PROJ-123"
    assert (first["title"], first["url"], first["state"]) == (
        "Login page",
        "https://plane.example.com/PROJ-123",
        "todo",
    )
    assert first["work_item_id"] == work_id
    assert first["kind"] == "references"
    assert first["id"] == first["link_id"]
    assert first["ticket_id"] != first["link_id"]
    assert first["metadata"] == {"source": "agent"}
    assert (first["created"], first["ticket_created"], first["changed"]) == (True, True, True)

    again = _dict(ok(await client.post(f"{API}/links/ticket", json=body), 200))
    assert (again["created"], again["changed"]) == (False, False)
    assert (again["link_id"], again["ticket_id"]) == (first["link_id"], first["ticket_id"])

    moved = {**body, "kind": "closes", "state": "in_progress"}
    changed = _dict(ok(await client.post(f"{API}/links/ticket", json=moved), 200))
    assert (changed["kind"], changed["state"], changed["changed"]) == (
        "closes",
        "in_progress",
        True,
    )


async def test_one_ticket_links_many_work_items(client: httpx.AsyncClient, work_id: str) -> None:
    project_id = _dict(ok(await client.get(f"{API}/work/{work_id}")))["project_id"]
    other = await _work(client, project_id, "fix/login-typo")
    first = _dict(
        ok(
            await client.post(
                f"{API}/links/ticket", json={"work_item_id": work_id, "plane_ticket_id": "T-1"}
            ),
            201,
        )
    )
    second = _dict(
        ok(
            await client.post(
                f"{API}/links/ticket", json={"work_item_id": other, "plane_ticket_id": "T-1"}
            ),
            201,
        )
    )
    assert first["ticket_id"] == second["ticket_id"]
    assert second["ticket_created"] is False


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"plane_ticket_id": "PROJ-1"}, 422, "work_item_id"),
        ({"work_item_id": "not-a-uuid", "plane_ticket_id": "PROJ-1"}, 422, "work_item_id"),
        ({"work_item_id": "WORK"}, 422, "plane_ticket_id"),
        ({"work_item_id": "WORK", "plane_ticket_id": "   "}, 400, "plane_ticket_id"),
        ({"work_item_id": "WORK", "plane_ticket_id": "P-1", "kind": "fixes"}, 422, "kind"),
        ({"work_item_id": "WORK", "plane_ticket_id": "P-1", "metadata": [1]}, 422, "metadata"),
    ],
)
async def test_link_ticket_rejects_bad_input(
    client: httpx.AsyncClient, work_id: str, body: dict[str, Any], status: int, field: str
) -> None:
    body = {k: work_id if v == "WORK" else v for k, v in body.items()}
    err = error(await client.post(f"{API}/links/ticket", json=body), status, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == field


async def test_link_ticket_to_unknown_work_item_is_404(client: httpx.AsyncClient) -> None:
    body = {"work_item_id": str(uuid.uuid4()), "plane_ticket_id": "PROJ-1"}
    err = error(await client.post(f"{API}/links/ticket", json=body), 404, "NOT_FOUND")
    assert _dict(err["details"])["field"] == "work_item_id"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    for path in ("ticket", "pr", "deploy"):
        response = await client.post(
            f"{API}/links/{path}", content=b"{nope", headers={"content-type": "application/json"}
        )
        err = error(response, 400, "VALIDATION_ERROR")
        assert _dict(err["details"])["field"] == "body"


# --- pull requests -------------------------------------------------------------------------

PR_URL = "https://github.com/acme/app/pull/7"


def _pr(work_id: str, state: str = "open", **extra: Any) -> dict[str, Any]:
    return {"work_item_id": work_id, "pr_number": 7, "pr_url": PR_URL, "pr_state": state, **extra}


async def test_pr_lifecycle(client: httpx.AsyncClient, work_id: str) -> None:
    created = _dict(ok(await client.post(f"{API}/links/pr", json=_pr(work_id, title="Login")), 201))
    assert (created["pr_number"], created["pr_url"], created["pr_state"]) == (7, PR_URL, "open")
    assert (created["number"], created["url"], created["state"]) == (7, PR_URL, "open")
    assert created["previous_state"] is None
    assert (created["created"], created["changed"], created["title"]) == (True, True, "Login")
    assert created["work_item_id"] == work_id
    assert created["opened_at"] is not None

    resend = _dict(ok(await client.post(f"{API}/links/pr", json=_pr(work_id)), 200))
    assert (resend["id"], resend["created"], resend["changed"]) == (created["id"], False, False)
    assert resend["previous_state"] == "open"

    merged = _dict(ok(await client.post(f"{API}/links/pr", json=_pr(work_id, "merged")), 200))
    assert (merged["pr_state"], merged["previous_state"], merged["changed"]) == (
        "merged",
        "open",
        True,
    )
    assert merged["merged_at"] is not None

    # merged is terminal
    err = error(await client.post(f"{API}/links/pr", json=_pr(work_id, "open")), 409, "CONFLICT")
    details = _dict(err["details"])
    assert details["field"] == "pr_state"
    assert (details["current_state"], details["requested_state"]) == ("merged", "open")
    # ...and the failed request changed nothing
    again = _dict(ok(await client.post(f"{API}/links/pr", json=_pr(work_id, "merged")), 200))
    assert (again["pr_state"], again["changed"]) == ("merged", False)


async def test_pr_close_and_reopen(client: httpx.AsyncClient, work_id: str) -> None:
    ok(await client.post(f"{API}/links/pr", json=_pr(work_id)), 201)
    closed = _dict(ok(await client.post(f"{API}/links/pr", json=_pr(work_id, "closed")), 200))
    assert (closed["pr_state"], closed["closed_at"] is not None) == ("closed", True)
    reopened = _dict(ok(await client.post(f"{API}/links/pr", json=_pr(work_id, "open")), 200))
    assert (reopened["pr_state"], reopened["previous_state"]) == ("open", "closed")
    assert reopened["closed_at"] is None


async def test_pr_first_seen_merged_is_created(client: httpx.AsyncClient, work_id: str) -> None:
    created = _dict(ok(await client.post(f"{API}/links/pr", json=_pr(work_id, "merged")), 201))
    assert (created["pr_state"], created["previous_state"]) == ("merged", None)


async def test_pr_of_another_work_item_is_a_conflict(
    client: httpx.AsyncClient, work_id: str
) -> None:
    project_id = _dict(ok(await client.get(f"{API}/work/{work_id}")))["project_id"]
    other = await _work(client, project_id, "feat/other")
    ok(await client.post(f"{API}/links/pr", json=_pr(work_id)), 201)
    err = error(await client.post(f"{API}/links/pr", json=_pr(other)), 409, "CONFLICT")
    assert _dict(err["details"])["field"] == "work_item_id"
    renumbered = {**_pr(work_id), "pr_number": 8}
    err = error(await client.post(f"{API}/links/pr", json=renumbered), 409, "CONFLICT")
    assert _dict(err["details"])["field"] == "pr_number"


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"pr_url": "not a url"}, 400, "pr_url"),
        ({"pr_url": "ftp://example.com/pull/7"}, 400, "pr_url"),
        ({"pr_number": 0}, 422, "pr_number"),
        ({"pr_number": 2**40}, 422, "pr_number"),
        ({"pr_number": "seven"}, 422, "pr_number"),
        ({"pr_state": "draft"}, 422, "pr_state"),
        ({"work_item_id": None}, 422, "work_item_id"),
    ],
)
async def test_pr_rejects_bad_input(
    client: httpx.AsyncClient, work_id: str, changes: dict[str, Any], status: int, field: str
) -> None:
    body = {**_pr(work_id), **changes}
    err = error(await client.post(f"{API}/links/pr", json=body), status, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == field


async def test_pr_for_unknown_work_item_is_404(client: httpx.AsyncClient) -> None:
    err = error(await client.post(f"{API}/links/pr", json=_pr(str(uuid.uuid4()))), 404, "NOT_FOUND")
    assert _dict(err["details"])["field"] == "work_item_id"


# --- deployments ---------------------------------------------------------------------------


async def test_deploy_one_then_more_work_items(client: httpx.AsyncClient, work_id: str) -> None:
    project_id = _dict(ok(await client.get(f"{API}/work/{work_id}")))["project_id"]
    other = await _work(client, project_id, "feat/other")
    body = {
        "deploy_id": "deploy-1",
        "environment": "production",
        "commit_hash": "abc123",
        "work_item_id": work_id,
        "deployed_at": "2026-01-21T14:30:22Z",
        "metadata": {"ci": "github"},
    }
    created = _dict(ok(await client.post(f"{API}/links/deploy", json=body), 201))
    assert (created["deploy_id"], created["environment"], created["commit_hash"]) == (
        "deploy-1",
        "production",
        "abc123",
    )
    assert created["work_item_ids"] == created["added_work_item_ids"] == [work_id]
    assert (created["status"], created["created"], created["changed"]) == ("succeeded", True, True)
    assert created["deployed_at"].startswith("2026-01-21T14:30:22")
    assert created["metadata"] == {"ci": "github"}
    assert created["id"] == created["deployment_id"]

    resend = _dict(ok(await client.post(f"{API}/links/deploy", json=body), 200))
    assert (resend["id"], resend["created"], resend["changed"]) == (created["id"], False, False)
    assert resend["added_work_item_ids"] == []

    more = {"deploy_id": "deploy-1", "environment": "production", "work_item_ids": [work_id, other]}
    grown = _dict(ok(await client.post(f"{API}/links/deploy", json=more), 200))
    assert grown["work_item_ids"] == [work_id, other]
    assert grown["added_work_item_ids"] == [other]
    assert grown["commit_hash"] == "abc123"  # not sent: kept

    failed = {**more, "status": "failed"}
    updated = _dict(ok(await client.post(f"{API}/links/deploy", json=failed), 200))
    assert (updated["status"], updated["changed"]) == ("failed", True)


async def test_deploy_of_several_work_items_at_once(
    client: httpx.AsyncClient, work_id: str
) -> None:
    project_id = _dict(ok(await client.get(f"{API}/work/{work_id}")))["project_id"]
    other = await _work(client, project_id, "feat/other")
    body = {"deploy_id": "d-2", "environment": "staging", "work_item_ids": [work_id, other]}
    created = _dict(ok(await client.post(f"{API}/links/deploy", json=body), 201))
    assert created["work_item_ids"] == [work_id, other]


async def test_deploy_to_another_environment_is_a_conflict(
    client: httpx.AsyncClient, work_id: str
) -> None:
    body = {"deploy_id": "d-1", "environment": "staging", "work_item_id": work_id}
    ok(await client.post(f"{API}/links/deploy", json=body), 201)
    err = error(
        await client.post(f"{API}/links/deploy", json={**body, "environment": "production"}),
        409,
        "CONFLICT",
    )
    assert _dict(err["details"])["field"] == "environment"


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({}, 400, "work_item_id"),  # neither work_item_id nor work_item_ids
        ({"work_item_id": "WORK", "work_item_ids": ["WORK"]}, 400, "work_item_ids"),
        ({"work_item_ids": []}, 422, "work_item_ids"),
        ({"work_item_ids": ["nope"]}, 422, "work_item_ids"),
        ({"work_item_id": "nope"}, 422, "work_item_id"),
        ({"work_item_id": "WORK", "deploy_id": " "}, 400, "deploy_id"),
        ({"work_item_id": "WORK", "environment": ""}, 400, "environment"),
        ({"work_item_id": "WORK", "status": ""}, 400, "status"),
        ({"work_item_id": "WORK", "deployed_at": "yesterday"}, 422, "deployed_at"),
        # Bounds of the domain input, checked at the edge (a fuzzer found these as 500s).
        ({"work_item_id": "WORK", "metadata": {"k\u0000": {}}}, 422, "metadata"),
        ({"work_item_id": "WORK", "deploy_id": "d" * 300}, 422, "deploy_id"),
        ({"work_item_id": "WORK", "environment": "e" * 300}, 422, "environment"),
        ({"work_item_ids": ["WORK"] * 1001}, 422, "work_item_ids"),
    ],
)
async def test_deploy_rejects_bad_input(
    client: httpx.AsyncClient, work_id: str, changes: dict[str, Any], status: int, field: str
) -> None:
    def fill(value: Any) -> Any:
        if value == "WORK":
            return work_id
        return [fill(v) for v in value] if isinstance(value, list) else value

    body = {"deploy_id": "d-1", "environment": "prod", **{k: fill(v) for k, v in changes.items()}}
    err = error(await client.post(f"{API}/links/deploy", json=body), status, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == field


@pytest.mark.parametrize("key", ["work_item_id", "work_item_ids"])
async def test_deploy_of_unknown_work_item_is_404(
    client: httpx.AsyncClient, work_id: str, key: str
) -> None:
    missing = str(uuid.uuid4())
    value: Any = missing if key == "work_item_id" else [work_id, missing]
    body = {"deploy_id": "d-1", "environment": "prod", key: value}
    err = error(await client.post(f"{API}/links/deploy", json=body), 404, "NOT_FOUND")
    assert _dict(err["details"])["field"] == key
    # nothing was recorded
    retry = {"deploy_id": "d-1", "environment": "prod", "work_item_id": work_id}
    ok(await client.post(f"{API}/links/deploy", json=retry), 201)
