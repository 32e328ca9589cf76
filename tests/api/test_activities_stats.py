import uuid

import httpx

from tests.api.conftest import API, error, ok
from tests.api.test_work import project_id, start


async def test_log_activity_and_recent_work(client: httpx.AsyncClient) -> None:
    pid = await project_id(client, "my-awesome-app")
    item = await start(client, pid, "feat/auth")
    body = {
        "agent_id": "agent-coder-1",
        "worktree_id": item["id"],
        "activity_type": "modified",
        "description": "Implemented JWT token validation",
        "file_path": "src/auth/jwt.rs",
        "metadata": {"lines_added": 45},
    }
    logged = ok(await client.post(f"{API}/activities", json=body), 201)
    assert isinstance(logged, dict) and logged["activity_id"] and logged["created_at"]
    assert logged["worktree_id"] == logged["work_item_id"] == item["id"]
    recent = ok(await client.get(f"{API}/agents/agent-coder-1/recent-work", params={"limit": 5}))
    assert isinstance(recent, list) and len(recent) == 1
    assert (
        recent[0]["worktree_name"] == "feat-auth" and recent[0]["project_name"] == "my-awesome-app"
    )
    assert ok(await client.get(f"{API}/agents/nobody/recent-work")) == []


async def test_activity_errors(client: httpx.AsyncClient) -> None:
    wt = str(uuid.uuid4())
    err = error(
        await client.post(
            f"{API}/activities",
            json={
                "agent_id": "a",
                "activity_type": "danced",
                "worktree_id": wt,
                "description": "d",
            },
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "activity_type"  # type: ignore[index]
    error(
        await client.post(
            f"{API}/activities",
            json={"agent_id": "a", "activity_type": "other", "worktree_id": wt, "description": "d"},
        ),
        404,
        "NOT_FOUND",
    )
    # v2 section 6: malformed input on a v2 path is a 400 naming the field.
    err = error(
        await client.post(
            f"{API}/activities",
            json={"activity_type": "other", "worktree_id": wt, "description": "d"},
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "agent_id"  # type: ignore[index]
    error(
        await client.get(f"{API}/agents/a/recent-work", params={"limit": 0}),
        400,
        "VALIDATION_ERROR",
    )


async def test_stats_carry_v2_and_v3_counts(client: httpx.AsyncClient) -> None:
    pid = await project_id(client)
    item = await start(client, pid, "feat/a")
    await client.patch(f"{API}/work/{item['id']}/git-state", json={"ahead_of_trunk": 1})
    activity = {"agent_id": "a", "activity_type": "other", "worktree_id": item["id"]}
    ok(await client.post(f"{API}/activities", json={**activity, "description": "d"}), 201)
    stats = ok(await client.get(f"{API}/stats"))
    assert isinstance(stats, dict)
    assert stats["total_projects"] == stats["active_projects"] == 1
    assert stats["total_worktrees"] == stats["total_work_items"] == 1
    assert stats["in_flight_worktrees"] == 1
    assert stats["total_activities"] == stats["activities_last_24h"] == 1
    assert stats["total_components"] == 0
