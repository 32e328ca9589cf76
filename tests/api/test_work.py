import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.api.conftest import API, error, ok


async def project_id(client: httpx.AsyncClient, name: str = "app") -> str:
    response = await client.post(
        f"{API}/projects",
        json={"remote_origin": f"git@github.com:acme/{name}.git", "trunk_path": f"/code/{name}"},
    )
    return str(response.json()["data"]["id"])


async def start(
    client: httpx.AsyncClient, pid: str, branch: str = "feat/login", **kw: object
) -> dict:
    data = ok(
        await client.post(f"{API}/work", json={"project_id": pid, "branch_name": branch, **kw}), 201
    )
    assert isinstance(data, dict)
    return data


async def test_start_work_v3_with_v2_names_beside(client: httpx.AsyncClient) -> None:
    pid = await project_id(client)
    item = await start(
        client,
        pid,
        "feat/PROJ-1-login",
        work_type="feat",
        owner_id="agent-1",
        worktree_path="/code/app/feat-login",
        source={"type": "plane_ticket", "ref": "PROJ-1"},
    )
    assert item["work_type"] == "feature" and item["type_name"] == "feat"
    assert item["owner_id"] == item["agent_id"] == "agent-1"
    assert item["worktree_path"] == item["path"] == "/code/app/feat-login"
    assert item["source"] == {"type": "plane_ticket", "ref": "PROJ-1"}
    assert item["status"] == "clean" and item["name"] == "feat-PROJ-1-login"
    got = ok(await client.get(f"{API}/work/{item['id']}"))
    assert isinstance(got, dict) and got["id"] == item["id"]


async def test_start_work_errors(client: httpx.AsyncClient) -> None:
    pid = await project_id(client)
    await start(client, pid, "feat/x")
    err = error(
        await client.post(f"{API}/work", json={"project_id": pid, "branch_name": "feat/x"}),
        409,
        "CONFLICT",
    )
    assert err["details"]["field"] == "branch_name"  # type: ignore[index]
    err = error(
        await client.post(
            f"{API}/work", json={"project_id": pid, "branch_name": "f/y", "work_type": "chore"}
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "work_type"  # type: ignore[index]
    err = error(
        await client.post(
            f"{API}/work", json={"project_id": str(uuid.uuid4()), "branch_name": "b"}
        ),
        404,
        "NOT_FOUND",
    )
    assert err["details"]["field"] == "project_id"  # type: ignore[index]
    err = error(
        await client.post(f"{API}/work", json={"project_id": "nope", "branch_name": "b"}),
        422,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "project_id"  # type: ignore[index]
    err = error(
        await client.post(
            f"{API}/work", json={"project_id": pid, "branch_name": "b", "source": {"type": "email"}}
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "source.type"  # type: ignore[index]
    error(await client.get(f"{API}/work/{uuid.uuid4()}"), 404, "NOT_FOUND")
    error(await client.get(f"{API}/work/123"), 404, "NOT_FOUND")


async def test_git_state_by_id_and_by_branch(client: httpx.AsyncClient) -> None:
    pid = await project_id(client)
    item = await start(client, pid, "feat/sync")
    now = datetime.now(UTC)
    data = ok(
        await client.patch(
            f"{API}/work/{item['id']}/git-state",
            json={
                "has_uncommitted_changes": True,
                "uncommitted_files_count": 2,
                "last_sync_at": now.isoformat(),
            },
        )
    )
    assert isinstance(data, dict)
    assert data["status"] == "uncommitted" and data["applied"] is True
    assert data["updated_fields"] == ["has_uncommitted_changes", "uncommitted_files_count"]
    stale = ok(
        await client.patch(
            f"{API}/work/git-state",
            json={
                "project_id": pid,
                "branch_name": "feat/sync",
                "has_uncommitted_changes": False,
                "last_sync_at": (now - timedelta(minutes=5)).isoformat(),
            },
        )
    )
    assert (
        isinstance(stale, dict) and stale["applied"] is False and stale["status"] == "uncommitted"
    )
    by_branch = ok(
        await client.patch(
            f"{API}/work/git-state",
            json={
                "project_id": pid,
                "branch_name": "feat/sync",
                "has_uncommitted_changes": False,
                "ahead_of_trunk": 1,
            },
        )
    )
    assert isinstance(by_branch, dict) and by_branch["status"] == "ahead"
    error(
        await client.patch(
            f"{API}/work/git-state", json={"project_id": pid, "branch_name": "feat/none"}
        ),
        404,
        "NOT_FOUND",
    )
    err = error(
        await client.patch(f"{API}/work/{item['id']}/git-state", json={"ahead_of_trunk": -1}),
        422,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "ahead_of_trunk"  # type: ignore[index]
    error(await client.patch(f"{API}/work/{uuid.uuid4()}/git-state", json={}), 404, "NOT_FOUND")


async def test_complete_and_list(client: httpx.AsyncClient) -> None:
    pid = await project_id(client)
    a = await start(client, pid, "feat/a", owner_id="agent-x")
    await start(client, pid, "fix/b", owner_id="agent-y", work_type="fix")
    done = ok(
        await client.post(
            f"{API}/work/{a['id']}/complete",
            json={"completion_type": "merged", "merge_commit_hash": "abc", "merged_by": "m"},
        )
    )
    assert (
        isinstance(done, dict) and done["active"] is False and done["completion_type"] == "merged"
    )
    error(await client.post(f"{API}/work/{a['id']}/complete", json={}), 409, "CONFLICT")
    err = error(
        await client.post(f"{API}/work/{a['id']}/complete", json={"completion_type": "exploded"}),
        422,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "completion_type"  # type: ignore[index]

    listed = (await client.get(f"{API}/work", params={"project_id": pid})).json()
    assert [w["branch_name"] for w in listed["data"]] == ["fix/b"]
    assert listed["pagination"]["total"] == 1
    everything = (await client.get(f"{API}/work", params={"active": "false"})).json()
    assert [w["branch_name"] for w in everything["data"]] == ["feat/a"]
    mine = (
        await client.get(
            f"{API}/work", params={"owner_id": "agent-y", "work_type": "fix", "status": "clean"}
        )
    ).json()
    assert len(mine["data"]) == 1
    error(await client.get(f"{API}/work", params={"status": "weird"}), 422, "VALIDATION_ERROR")
    error(await client.get(f"{API}/work", params={"work_type": "weird"}), 400, "VALIDATION_ERROR")
    error(await client.get(f"{API}/work", params={"project_id": "x"}), 422, "VALIDATION_ERROR")


async def test_git_state_rejects_explicit_nulls(client: httpx.AsyncClient) -> None:
    pid = await project_id(client)
    item = await start(client, pid, "feat/nulls")
    err = error(
        await client.patch(f"{API}/work/{item['id']}/git-state", json={"ahead": None}),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "ahead_of_trunk"  # type: ignore[index]
