"""The REST contract in the seeds' own words: field names and values copied from the PRD
(``000``, FR-2.4 and section 4) and the v2 contract (``002``, sections 1 and 6)."""

import uuid

import httpx

from tests.api.conftest import API, error, ok

# 002 section 1.1, POST /projects/register
REGISTER = {
    "name": "my-awesome-app",
    "remote_origin": "git@github.com:delorenj/my-awesome-app.git",
    "default_branch": "main",
    "trunk_path": "/home/jarad/code/my-awesome-app/trunk-main",
    "metadata": {"language": "rust", "framework": "axum", "stack": "backend"},
}
# 002 section 1.2, POST /projects/{project_id}/worktrees
WORKTREE = {
    "type": "feat",
    "name": "feat-user-auth",
    "branch_name": "feat/user-auth",
    "path": "/home/jarad/code/my-awesome-app/feat-user-auth",
    "agent_id": "agent-coder-1",
    "metadata": {"story_id": "PROJ-123", "priority": "high"},
}
# 002 section 1.4, POST /activities
ACTIVITY = {
    "agent_id": "agent-coder-1",
    "activity_type": "modified",
    "description": "Implemented JWT token validation",
    "file_path": "src/auth/jwt.rs",
    "metadata": {"lines_added": 45, "lines_removed": 12},
}


async def register(client: httpx.AsyncClient) -> str:
    data = ok(await client.post(f"{API}/projects/register", json=REGISTER), 201)
    assert isinstance(data, dict)
    return str(data["project_id"])


async def worktree(client: httpx.AsyncClient, pid: str, **overrides: object) -> dict:
    body = {**WORKTREE, **overrides}
    data = ok(await client.post(f"{API}/projects/{pid}/worktrees", json=body), 201)
    assert isinstance(data, dict)
    return data


async def inflight(client: httpx.AsyncClient, **params: str) -> list[dict]:
    data = ok(await client.get(f"{API}/inflight-work", params=params))
    assert isinstance(data, list)
    return data


async def test_a_freshly_started_branch_is_in_flight(client: httpx.AsyncClient) -> None:
    """FR-2.4: "List all active work items"; 002 lists `clean` and `behind` among the statuses
    of /inflight-work rows."""
    pid = await register(client)
    fresh = await worktree(client, pid)
    behind = await worktree(client, pid, name="fix-login", branch_name="fix/login", type="fix")
    ok(await client.patch(f"{API}/worktrees/{behind['id']}/git-state", json={"behind": 4}))

    rows = await inflight(client)
    by_id = {row["worktree_id"]: row for row in rows}
    assert by_id[fresh["id"]]["status"] == "clean"
    assert by_id[behind["id"]]["status"] == "behind"
    assert by_id[fresh["id"]]["agent_id"] == "agent-coder-1"

    # "What is agent X working on?" on the v2 path.
    assert {r["worktree_id"] for r in await inflight(client, owner_id="agent-coder-1")} == {
        behind["id"],
        fresh["id"],
    }
    assert await inflight(client, owner_id="agent-nobody") == []
    assert {r["worktree_id"] for r in await inflight(client, agent_id="agent-coder-1")} == {
        fresh["id"],
        behind["id"],
    }
    assert [r["worktree_id"] for r in await inflight(client, work_type="fix")] == [behind["id"]]
    assert [r["worktree_id"] for r in await inflight(client, work_type="feat")] == [fresh["id"]]
    assert [r["worktree_id"] for r in await inflight(client, status="clean")] == [fresh["id"]]
    assert [r["worktree_id"] for r in await inflight(client, project_id=pid, status="behind")] == [
        behind["id"]
    ]

    # Completed work is no longer in flight.
    ok(await client.post(f"{API}/worktrees/{fresh['id']}/merge", json={"merged_by": "m"}))
    assert [r["worktree_id"] for r in await inflight(client)] == [behind["id"]]


async def test_inflight_filters_refuse_unknown_values(client: httpx.AsyncClient) -> None:
    for params, field in (
        ({"status": "dirty"}, "status"),
        ({"work_type": "chore"}, "work_type"),
        ({"project_id": "not-a-uuid"}, "project_id"),
        ({"limit": "0"}, "limit"),
    ):
        err = error(
            await client.get(f"{API}/inflight-work", params=params), 400, "VALIDATION_ERROR"
        )
        assert err["details"]["field"] == field, err  # type: ignore[index]
    err = error(
        await client.get(f"{API}/inflight-work", params={"owner_id": "a", "agent_id": "b"}),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "agent_id"  # type: ignore[index]


async def test_stats_counts_and_graphql_agree_on_in_flight(client: httpx.AsyncClient) -> None:
    pid = await register(client)
    await worktree(client, pid)  # clean
    dirty = await worktree(client, pid, name="fix-a", branch_name="fix/a", type="fix")
    ahead = await worktree(client, pid, name="fix-b", branch_name="fix/b", type="fix")
    done = await worktree(client, pid, name="fix-c", branch_name="fix/c", type="fix")
    ok(
        await client.patch(
            f"{API}/worktrees/{dirty['id']}/git-state", json={"has_uncommitted": True}
        )
    )
    ok(await client.patch(f"{API}/worktrees/{ahead['id']}/git-state", json={"ahead": 2}))
    ok(await client.post(f"{API}/worktrees/{done['id']}/merge", json={}))

    stats = ok(await client.get(f"{API}/stats"))
    assert isinstance(stats, dict)
    assert stats["active_worktrees"] == stats["in_flight_worktrees"] == 3
    assert stats["in_flight_work_items"] == 3
    assert (stats["uncommitted_work_items"], stats["unmerged_work_items"]) == (1, 1)
    counts = ok(await client.get(f"{API}/projects/{pid}"))["worktree_counts"]  # type: ignore[index]
    assert counts == {"active": 3, "in_flight": 3, "uncommitted": 1, "unmerged": 1}

    query = "{ inFlightWork { totalCount } stats { inFlightWorkItems activeWorkItems } }"
    data = (await client.post("/graphql", json={"query": query})).json()["data"]
    assert data["inFlightWork"]["totalCount"] == 3
    assert data["stats"] == {"inFlightWorkItems": 3, "activeWorkItems": 3}
    assert len(await inflight(client)) == 3


async def test_link_endpoints_take_and_answer_the_prd_names(client: httpx.AsyncClient) -> None:
    """000 section 4: ticket_links carry `ticket_title`, `ticket_url`; pr_links `pr_title`."""
    pid = await register(client)
    wt = await worktree(client, pid)
    ticket = {
        "work_item_id": wt["id"],
        "plane_ticket_id": "PROJ-123",
        "ticket_title": "User auth",
        "ticket_url": "https://plane.example.com/acme/issues/PROJ-123",
    }
    linked = ok(await client.post(f"{API}/links/ticket", json=ticket), 201)
    assert isinstance(linked, dict)
    assert linked["ticket_title"] == linked["title"] == "User auth"
    assert linked["ticket_url"] == linked["url"] == ticket["ticket_url"]
    # The short names still work and refresh the same ticket.
    again = ok(await client.post(f"{API}/links/ticket", json={**ticket, "ticket_title": "Auth"}))
    assert again["ticket_title"] == "Auth"  # type: ignore[index]
    short = {"work_item_id": wt["id"], "plane_ticket_id": "PROJ-123", "title": "Auth v2"}
    assert ok(await client.post(f"{API}/links/ticket", json=short))["ticket_title"] == "Auth v2"  # type: ignore[index]

    pr = {
        "work_item_id": wt["id"],
        "pr_number": 42,
        "pr_url": "https://github.com/delorenj/my-awesome-app/pull/42",
        "pr_state": "open",
        "pr_title": "Add authentication endpoints",
    }
    created = ok(await client.post(f"{API}/links/pr", json=pr), 201)
    assert isinstance(created, dict)
    assert created["pr_title"] == created["title"] == "Add authentication endpoints"


async def test_unknown_fields_are_refused_by_name(client: httpx.AsyncClient) -> None:
    pid = await register(client)
    wt = await worktree(client, pid)
    # v3 paths: 422 naming the field, nothing stored.
    for path, body, field in (
        ("/work", {"project_id": pid, "branch_name": "feat/x", "ownr_id": "a"}, "ownr_id"),
        ("/projects", {"remote_origin": "git@github.com:a/b.git", "trnk_path": "/x"}, "trnk_path"),
        (
            "/links/ticket",
            {"work_item_id": wt["id"], "plane_ticket_id": "PROJ-1", "ticket_titel": "t"},
            "ticket_titel",
        ),
        (
            "/links/deploy",
            {"deploy_id": "d1", "environment": "prod", "work_item_id": wt["id"], "env": "x"},
            "env",
        ),
    ):
        err = error(await client.post(f"{API}{path}", json=body), 422, "VALIDATION_ERROR")
        assert err["details"]["field"] == field, err  # type: ignore[index]
        assert field in str(err["message"])
    err = error(
        await client.patch(f"{API}/work/{wt['id']}/git-state", json={"ahaed_of_trunk": 1}),
        422,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "ahaed_of_trunk"  # type: ignore[index]
    # v2 paths: 400 (002 section 6).
    err = error(
        await client.post(f"{API}/projects/{pid}/worktrees", json={**WORKTREE, "agnet_id": "x"}),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "agnet_id"  # type: ignore[index]
    listed = ok(await client.get(f"{API}/projects/{pid}/worktrees"))
    assert [row["id"] for row in listed] == [wt["id"]]  # type: ignore[union-attr,index]


async def test_v2_worktree_shape_and_required_fields(client: httpx.AsyncClient) -> None:
    """002 section 1.2: the response carries `type_id`; `type`, `name`, `path` are required;
    a bad `type` is reported as `details.field: "type"`."""
    pid = await register(client)
    wt = await worktree(client, pid)
    assert (wt["type_id"], wt["type_name"]) == (1, "feat")
    fix = await worktree(client, pid, type="fix", name="fix-x", branch_name="fix/x")
    assert fix["type_id"] == 2
    listed = ok(await client.get(f"{API}/projects/{pid}/worktrees"))
    assert {row["type_id"] for row in listed} == {1, 2}  # type: ignore[union-attr,index]

    for missing in ("type", "name", "branch_name", "path"):
        body = {k: v for k, v in WORKTREE.items() if k != missing}
        err = error(
            await client.post(f"{API}/projects/{pid}/worktrees", json=body),
            400,
            "VALIDATION_ERROR",
        )
        assert err["details"]["field"] == missing, err  # type: ignore[index]
    err = error(
        await client.post(
            f"{API}/projects/{pid}/worktrees",
            json={**WORKTREE, "type": "bogus", "name": "b", "branch_name": "b"},
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "type"  # type: ignore[index]


async def test_v2_activities_require_worktree_and_description(client: httpx.AsyncClient) -> None:
    """002 section 1.4 (and MCP log_activity): agent_id, worktree_id, activity_type,
    description are required."""
    pid = await register(client)
    wt = await worktree(client, pid)
    body = {**ACTIVITY, "worktree_id": wt["id"]}
    created = ok(await client.post(f"{API}/activities", json=body), 201)
    assert isinstance(created, dict) and created["activity_id"]
    for missing in ("worktree_id", "description", "agent_id", "activity_type"):
        err = error(
            await client.post(
                f"{API}/activities", json={k: v for k, v in body.items() if k != missing}
            ),
            400,
            "VALIDATION_ERROR",
        )
        assert err["details"]["field"] == missing, err  # type: ignore[index]


async def test_v2_malformed_input_is_400_naming_the_field(client: httpx.AsyncClient) -> None:
    """002 section 6: VALIDATION_ERROR with a `details` object naming the field, also for an
    integer out of range."""
    pid = await register(client)
    wt = await worktree(client, pid)
    for body, field in (
        ({"uncommitted_count": 2**40}, "uncommitted_count"),
        ({"ahead": 2**31}, "ahead"),
        ({"behind": -1}, "behind"),
        ({"has_uncommitted": "perhaps"}, "has_uncommitted"),
    ):
        err = error(
            await client.patch(f"{API}/worktrees/{wt['id']}/git-state", json=body),
            400,
            "VALIDATION_ERROR",
        )
        assert err["details"]["field"] == field, err  # type: ignore[index]
    # The v3 path names it too (422: a body of the wrong shape).
    err = error(
        await client.patch(f"{API}/work/{wt['id']}/git-state", json={"ahead_of_trunk": 2**31}),
        422,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "ahead_of_trunk"  # type: ignore[index]
    err = error(
        await client.post(f"{API}/projects/register", json={"name": "x"}), 400, "VALIDATION_ERROR"
    )
    assert err["details"]["field"] == "remote_origin"  # type: ignore[index]
    err = error(
        await client.post(
            f"{API}/projects/register",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "body"  # type: ignore[index]
    missing = str(uuid.uuid4())
    error(await client.get(f"{API}/worktrees/{missing}"), 404, "NOT_FOUND")


async def test_www_host_alias_is_the_same_repository(client: httpx.AsyncClient) -> None:
    pid = await register(client)
    for alias in (
        "https://www.github.com/delorenj/my-awesome-app",
        "git@www.github.com:delorenj/my-awesome-app.git",
    ):
        again = ok(await client.post(f"{API}/projects/register", json={"remote_origin": alias}))
        assert again["project_id"] == pid  # type: ignore[index]
    found = ok(
        await client.get(
            f"{API}/projects",
            params={"remote_origin": "https://www.github.com/delorenj/my-awesome-app"},
        )
    )
    assert found["id"] == pid  # type: ignore[index]


async def test_git_state_of_completed_work_is_refused(client: httpx.AsyncClient) -> None:
    pid = await register(client)
    wt = await worktree(client, pid)
    merged = ok(
        await client.post(
            f"{API}/worktrees/{wt['id']}/merge",
            json={"merged_by": "agent-merger-1", "merge_commit_hash": "f6e5d4c3b2a1"},
        )
    )
    assert merged["active"] is False  # type: ignore[index]
    report = {"has_uncommitted": True, "uncommitted_count": 5, "ahead": 3}
    err = error(
        await client.patch(f"{API}/worktrees/{wt['id']}/git-state", json=report),
        409,
        "CONFLICT",
    )
    assert "no longer active" in str(err["message"])
    err = error(
        await client.patch(f"{API}/work/{wt['id']}/git-state", json={"ahead_of_trunk": 9}),
        409,
        "CONFLICT",
    )
    # The final state is kept.
    final = ok(await client.get(f"{API}/worktrees/{wt['id']}"))
    assert (final["ahead_of_trunk"], final["has_uncommitted_changes"]) == (0, False)  # type: ignore[index]
