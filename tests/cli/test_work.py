"""`imi work list|start|get|git-state|complete` against a real server."""

from __future__ import annotations

import uuid
from typing import Any

from tests.cli.conftest import Live, failed, ok


def project(live: Live, name: str = "app") -> str:
    body = {"remote_origin": f"https://github.com/acme/{name}"}
    return str(live.data("POST", "/projects", json=body)["id"])


def start(live: Live, project_id: str, branch: str, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = ok(live, "work", "start", project_id, branch, *args, "--json").json()
    return data


def test_start_as_fr_6_1_writes_it(live: Live) -> None:
    pid = project(live)
    shown = ok(live, "work", "start", pid, "feat/PROJ-7-login")
    assert "started feat/PROJ-7-login" in shown.stdout
    (item,) = live.data("GET", "/work", params={"project_id": pid})
    assert item["branch_name"] == "feat/PROJ-7-login" and item["work_type"] == "feature"
    assert item["id"] in shown.stdout


def test_start_with_every_option(live: Live) -> None:
    pid = project(live)
    item = start(
        live,
        pid,
        "fix/crash",
        "--type",
        "fix",
        "--owner",
        "agent-coder-1",
        "--worktree-path",
        "/code/app/fix-crash",
        "--name",
        "fix-crash",
        "--source-type",
        "plane_ticket",
        "--source-ref",
        "PROJ-9",
        "--metadata",
        '{"priority": 1}',
    )
    assert item == live.data("GET", f"/work/{item['id']}")
    assert (item["work_type"], item["owner_id"], item["name"]) == (
        "fix",
        "agent-coder-1",
        "fix-crash",
    )
    assert item["worktree_path"] == "/code/app/fix-crash"
    assert item["source"] == {"type": "plane_ticket", "ref": "PROJ-9"}
    assert item["metadata"] == {"priority": 1}


def test_list_table_json_and_filters(live: Live) -> None:
    one, two = project(live, "one"), project(live, "two")
    a = start(live, one, "feat/a", "--owner", "agent-1")
    b = start(live, two, "feat/b", "--owner", "agent-2")
    table = ok(live, "work", "list").stdout
    assert "feat/a" in table and "feat/b" in table and "agent-1" in table
    assert a["id"] in table and b["id"] in table

    assert ok(live, "work", "list", "--json").json() == live.data("GET", "/work")
    mine = ok(live, "work", "list", "--project", one, "--json").json()
    assert [w["id"] for w in mine] == [a["id"]]
    assert [w["id"] for w in ok(live, "work", "list", "--owner", "agent-2", "--json").json()] == [
        b["id"]
    ]
    assert ok(live, "work", "list", "--status", "uncommitted", "--json").json() == []
    assert "no work in flight" in ok(live, "work", "list", "--type", "review").stdout


def test_get_git_state_and_complete(live: Live) -> None:
    item = start(live, project(live), "feat/state")
    ident = item["id"]
    assert ok(live, "work", "get", ident, "--json").json() == live.data("GET", f"/work/{ident}")

    shown = ok(live, "work", "git-state", ident, "--uncommitted", "3", "--ahead", "2")
    assert "feat/state: uncommitted" in shown.stdout
    state = ok(live, "work", "git-state", ident, "--uncommitted", "0", "--json").json()
    assert state["applied"] is True and state["status"] == "ahead"
    assert (state["uncommitted_files_count"], state["ahead_of_trunk"]) == (0, 2)
    assert live.data("GET", f"/work/{ident}")["status"] == "ahead"

    done = ok(
        live,
        "work",
        "complete",
        ident,
        "--merge-commit",
        "f6e5d4c3",
        "--merged-by",
        "m-1",
        "--json",
    ).json()
    assert done["active"] is False and done["completion_type"] == "merged"
    assert done["merge_commit_hash"] == "f6e5d4c3" and done["merged_by"] == "m-1"
    assert ok(live, "work", "list", "--json").json() == []
    assert [w["id"] for w in ok(live, "work", "list", "--completed", "--json").json()] == [ident]
    done_table = ok(live, "work", "list", "--completed").stdout
    assert "feat/state" in done_table and "merged" in done_table

    other = start(live, project(live, "two"), "exp/try")
    text = ok(live, "work", "complete", other["id"], "--as", "abandoned").stdout
    assert "completed exp/try (abandoned)" in text


def test_server_refusals_exit_1_with_its_message(live: Live) -> None:
    pid = project(live)
    item = start(live, pid, "feat/one")
    err = failed(live, "work", "start", pid, "feat/one")
    assert err.startswith("error: CONFLICT: ")
    missing = str(uuid.uuid4())
    assert failed(live, "work", "start", missing, "main").startswith("error: NOT_FOUND: project")
    assert failed(live, "work", "get", missing).startswith("error: NOT_FOUND: ")
    err = failed(live, "work", "start", pid, "feat/x", "--type", "nonsense")
    assert err.startswith("error: VALIDATION_ERROR: ") and "(field: work_type)" in err
    err = failed(live, "work", "complete", item["id"], "--as", "exploded")
    assert "VALIDATION_ERROR" in err and "(field: completion_type)" in err
    err = failed(live, "work", "list", "--status", "sparkly")
    assert "VALIDATION_ERROR" in err and "status" in err

    ok(live, "work", "complete", item["id"])
    err = failed(live, "work", "git-state", item["id"], "--ahead", "1")
    assert err.startswith("error: CONFLICT: ")  # finished work keeps its final state


def test_bad_usage(live: Live) -> None:
    assert "is not a project id" in failed(live, "work", "start", "x", "main", code=2)
    assert "is not a project id" in failed(live, "work", "list", "--project", "x", code=2)
    assert "is not a work item id" in failed(live, "work", "get", "42", code=2)
    ident = str(uuid.uuid4())
    assert "at least one of" in failed(live, "work", "git-state", ident, code=2)
    assert failed(live, "work", "git-state", ident, "--ahead", "-1", code=2)
    assert failed(live, "work", "start", ident, code=2)  # BRANCH missing
