import uuid

import httpx

from tests.api.conftest import API, error, ok
from tests.api.test_work import project_id

WORKTREE = {
    "type": "feat",
    "name": "feat-user-auth",
    "branch_name": "feat/user-auth",
    "path": "/code/app/feat-user-auth",
    "agent_id": "agent-coder-1",
    "metadata": {"story_id": "PROJ-123"},
}


async def create(client: httpx.AsyncClient, pid: str, **overrides: object) -> dict:
    data = ok(
        await client.post(f"{API}/projects/{pid}/worktrees", json={**WORKTREE, **overrides}), 201
    )
    assert isinstance(data, dict)
    return data


async def test_v2_worktree_lifecycle(client: httpx.AsyncClient) -> None:
    pid = await project_id(client, "my-awesome-app")
    wt = await create(client, pid)
    assert (wt["type_name"], wt["name"], wt["path"], wt["agent_id"]) == (
        "feat",
        "feat-user-auth",
        "/code/app/feat-user-auth",
        "agent-coder-1",
    )
    assert ok(await client.get(f"{API}/worktrees/{wt['id']}"))["id"] == wt["id"]  # type: ignore[index]

    state = ok(
        await client.patch(
            f"{API}/worktrees/{wt['id']}/git-state",
            json={
                "has_uncommitted": True,
                "uncommitted_count": 5,
                "ahead": 3,
                "behind": 0,
                "last_commit_hash": "a1b2",
            },
        )
    )
    assert state == {
        "worktree_id": wt["id"],
        "updated_fields": [
            "ahead_of_trunk",
            "has_uncommitted_changes",
            "last_commit_hash",
            "uncommitted_files_count",
        ],
        "applied": True,
    }
    inflight = (await client.get(f"{API}/inflight-work", params={"project_id": pid})).json()["data"]
    assert inflight == [
        {
            "worktree_id": wt["id"],
            "worktree_name": "feat-user-auth",
            "project_id": pid,
            "project_name": "my-awesome-app",
            "branch_name": "feat/user-auth",
            "status": "uncommitted",
            "uncommitted_count": 5,
            "ahead": 3,
            "behind": 0,
            "agent_id": "agent-coder-1",
            "last_activity": inflight[0]["last_activity"],
        }
    ]
    path = ok(
        await client.get(
            f"{API}/projects/{pid}/working-path", params={"worktree_name": "feat-user-auth"}
        )
    )
    assert path == {"path": "/code/app/feat-user-auth"}
    assert ok(await client.get(f"{API}/projects/{pid}/working-path")) == {
        "path": "/code/my-awesome-app"
    }
    counts = ok(await client.get(f"{API}/projects/{pid}"))["worktree_counts"]  # type: ignore[index]
    assert counts == {
        "active": 1,
        "in_flight": 1,
        "uncommitted": 1,
        "unmerged": 1,
    }

    merged = ok(
        await client.post(
            f"{API}/worktrees/{wt['id']}/merge", json={"merged_by": "m", "merge_commit_hash": "f6"}
        )
    )
    assert isinstance(merged, dict) and merged["active"] is False and merged["merged_at"]
    assert (await client.get(f"{API}/inflight-work")).json()["data"] == []
    error(await client.post(f"{API}/worktrees/{wt['id']}/merge", json={}), 409, "CONFLICT")


async def test_v2_worktree_errors(client: httpx.AsyncClient) -> None:
    pid = await project_id(client)
    await create(client, pid)
    err = error(
        await client.post(
            f"{API}/projects/{pid}/worktrees", json={**WORKTREE, "branch_name": "feat/other"}
        ),
        409,
        "CONFLICT",
    )
    assert err["details"]["field"] == "name"  # type: ignore[index]
    err = error(
        await client.post(f"{API}/projects/{pid}/worktrees", json={**WORKTREE, "type": "bogus"}),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "type"  # type: ignore[index]  (the name the client sent)
    error(
        await client.post(f"{API}/projects/{uuid.uuid4()}/worktrees", json=WORKTREE),
        404,
        "NOT_FOUND",
    )
    error(await client.post(f"{API}/projects/bad/worktrees", json=WORKTREE), 404, "NOT_FOUND")
    error(await client.get(f"{API}/worktrees/bad"), 404, "NOT_FOUND")
    error(
        await client.patch(f"{API}/worktrees/{uuid.uuid4()}/git-state", json={}), 404, "NOT_FOUND"
    )
    error(
        await client.get(f"{API}/projects/{pid}/working-path", params={"worktree_name": "nope"}),
        404,
        "NOT_FOUND",
    )
    error(await client.get(f"{API}/projects/{uuid.uuid4()}/working-path"), 404, "NOT_FOUND")
    error(await client.get(f"{API}/projects/{uuid.uuid4()}/worktrees"), 404, "NOT_FOUND")
    # A filter value that cannot match is bad input, not a missing resource.
    err = error(
        await client.get(f"{API}/inflight-work", params={"project_id": "bad"}),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "project_id"  # type: ignore[index]


async def test_v2_list_filters_and_delete(client: httpx.AsyncClient) -> None:
    pid = await project_id(client)
    a = await create(client, pid)
    await create(
        client, pid, name="fix-crash", branch_name="fix/crash", type="fix", agent_id="agent-2"
    )
    listed = (await client.get(f"{API}/projects/{pid}/worktrees", params={"type": "feat"})).json()[
        "data"
    ]
    assert [w["name"] for w in listed] == ["feat-user-auth"]
    by_agent = (
        await client.get(f"{API}/projects/{pid}/worktrees", params={"agent_id": "agent-2"})
    ).json()["data"]
    assert [w["name"] for w in by_agent] == ["fix-crash"]
    response = await client.delete(f"{API}/worktrees/{a['id']}")
    assert response.status_code == 204
    assert ok(await client.get(f"{API}/worktrees/{a['id']}"))["active"] is False  # type: ignore[index]
    assert (await client.delete(f"{API}/worktrees/{a['id']}")).status_code == 204
    active = (
        await client.get(f"{API}/projects/{pid}/worktrees", params={"active": "true"})
    ).json()["data"]
    assert [w["name"] for w in active] == ["fix-crash"]
    # The name is free again once the worktree is gone.
    await create(client, pid)
    error(await client.delete(f"{API}/worktrees/{uuid.uuid4()}"), 404, "NOT_FOUND")
