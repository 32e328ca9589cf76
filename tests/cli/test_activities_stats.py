"""`imi activities log|recent` and `imi stats` against a real server."""

from __future__ import annotations

import uuid

from tests.cli.conftest import Live, failed, ok


def work(live: Live) -> str:
    project = live.data("POST", "/projects", json={"remote_origin": "https://github.com/a/b"})
    body = {"project_id": project["id"], "branch_name": "feat/x", "owner_id": "agent-1"}
    return str(live.data("POST", "/work", json=body)["id"])


def test_log_and_recent(live: Live) -> None:
    ident = work(live)
    text = ok(live, "activities", "log", "agent-1", ident, "modified", "Implemented JWT").stdout
    assert text.startswith("logged modified by agent-1 (")
    logged = ok(
        live,
        *("activities", "log", "agent-1", ident, "committed", "Commit"),
        *("--file", "src/auth/jwt.rs", "--metadata", '{"lines": 45}', "--json"),
    ).json()
    assert logged["work_item_id"] == ident and logged["file_path"] == "src/auth/jwt.rs"
    assert logged["metadata"] == {"lines": 45}

    recent = ok(live, "activities", "recent", "agent-1", "--json").json()
    assert recent == live.data("GET", "/agents/agent-1/recent-work", params={"limit": 20})
    assert [r["activity_type"] for r in recent] == ["committed", "modified"]
    table = ok(live, "activities", "recent", "agent-1", "--limit", "1").stdout
    assert "committed" in table and "feat/x" in table and "modified" not in table
    assert "no activity by agent-2" in ok(live, "activities", "recent", "agent-2").stdout


def test_log_refusals(live: Live) -> None:
    ident = work(live)
    err = failed(live, "activities", "log", "agent-1", ident, "danced", "x")
    assert err.startswith("error: VALIDATION_ERROR: Invalid activity type 'danced'")
    missing = str(uuid.uuid4())
    assert "NOT_FOUND" in failed(live, "activities", "log", "a", missing, "modified", "x")
    assert "VALIDATION_ERROR" in failed(live, "activities", "log", "a", ident, "modified", "")
    assert failed(live, "activities", "log", "a", "nope", "modified", "x", code=2)
    assert failed(live, "activities", "log", "a", ident, "modified", code=2)


def test_stats(live: Live) -> None:
    work(live)
    stats = ok(live, "stats", "--json").json()
    assert stats == live.data("GET", "/stats")
    assert (stats["total_projects"], stats["in_flight_work_items"]) == (1, 1)
    table = ok(live, "stats").stdout
    assert "in_flight_work_items" in table and "in_flight_worktrees" not in table
