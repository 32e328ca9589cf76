"""`imi projects list|register|get|search|deactivate` against a real server."""

from __future__ import annotations

import uuid

from tests.cli.conftest import Live, failed, ok

ORIGIN = "git@github.com:delorenj/my-awesome-app.git"


def register(live: Live, origin: str = ORIGIN, *args: str) -> dict[str, object]:
    data: dict[str, object] = ok(live, "projects", "register", origin, *args, "--json").json()
    return data


def test_register_is_idempotent_and_says_which(live: Live) -> None:
    first = ok(live, "projects", "register", ORIGIN, "--trunk-path", "/code/app/trunk-main")
    assert first.stdout.startswith("registered: my-awesome-app (")
    assert "/code/app/trunk-main" in first.stdout
    again = ok(live, "projects", "register", "https://github.com/delorenj/my-awesome-app")
    assert again.stdout.startswith("already registered: my-awesome-app (")
    project = live.data("GET", "/projects", params={"remote_origin": ORIGIN})
    assert str(project["id"]) in first.stdout and str(project["id"]) in again.stdout


def test_register_json_is_the_servers_data(live: Live) -> None:
    created = register(live, ORIGIN, "--name", "app", "--metadata", '{"language": "rust"}')
    assert created["name"] == "app" and created["metadata"] == {"language": "rust"}
    assert created == live.data("GET", f"/projects/{created['id']}")


def test_list_table_and_json(live: Live) -> None:
    ids = {str(register(live, f"https://github.com/acme/repo-{n}")["id"]) for n in range(3)}
    table = ok(live, "projects", "list")
    for n in range(3):
        assert f"repo-{n}" in table.stdout
    assert "https://github.com/acme/repo-0" in table.stdout
    assert all(ident in table.stdout for ident in ids)  # ids are never folded or cut

    listed = ok(live, "projects", "list", "--json").json()
    assert listed == live.data("GET", "/projects")
    assert {p["id"] for p in listed} == ids


def test_list_pages_and_all(live: Live) -> None:
    for n in range(5):
        register(live, f"https://github.com/acme/repo-{n}")
    every = live.data("GET", "/projects", params={"limit": 500})

    page = ok(live, "projects", "list", "--limit", "2", "--offset", "1")
    assert "showing 2-3 of 5" in page.stderr  # the paging note stays off stdout
    assert (
        ok(live, "projects", "list", "--limit", "2", "--offset", "1", "--json").json()
        == (every[1:3])
    )
    # --all follows the pages (2 at a time here) to the end.
    assert ok(live, "projects", "list", "--limit", "2", "--all", "--json").json() == every
    assert ok(live, "projects", "list", "--limit", "2", "--all").stderr == ""


def test_list_filters(live: Live) -> None:
    kept = register(live, "https://github.com/acme/kept", "--metadata", '{"team": "core"}')
    gone = register(live, "https://github.com/acme/gone")
    live.rest("DELETE", f"/projects/{gone['id']}")
    inactive = ok(live, "projects", "list", "--inactive", "--json").json()
    assert [p["id"] for p in inactive] == [gone["id"]]
    core = ok(live, "projects", "list", "--metadata", '{"team": "core"}', "--json").json()
    assert [p["id"] for p in core] == [kept["id"]]


def test_get_search_and_deactivate(live: Live) -> None:
    project = register(live)
    ident = str(project["id"])
    shown = ok(live, "projects", "get", ident)
    assert "my-awesome-app" in shown.stdout and ORIGIN in shown.stdout
    assert ok(live, "projects", "get", ident, "--json").json() == live.data(
        "GET", f"/projects/{ident}"
    )

    found = ok(live, "projects", "search", "awesome", "--json").json()
    assert found == live.data("GET", "/projects/search", params={"q": "awesome"})
    assert [m["id"] for m in found] == [ident]
    assert "my-awesome-app" in ok(live, "projects", "search", "awesome").stdout
    assert "no project matches 'zzz'" in ok(live, "projects", "search", "zzz").stdout

    gone = ok(live, "projects", "deactivate", ident)
    assert gone.stdout.startswith(f"deactivated project my-awesome-app ({ident})\n")
    assert live.data("GET", f"/projects/{ident}")["active"] is False
    # Again: still deactivated, and --json shows the project as the server now has it.
    again = ok(live, "projects", "deactivate", ident, "--json").json()
    assert again == live.data("GET", f"/projects/{ident}") and again["active"] is False


def test_errors_carry_the_servers_message(live: Live) -> None:
    missing = str(uuid.uuid4())
    err = failed(live, "projects", "get", missing)
    assert err.strip() == f"error: NOT_FOUND: project {missing} not found"
    assert "NOT_FOUND" in failed(live, "projects", "deactivate", missing)

    err = failed(live, "projects", "register", "not an origin")
    assert err.startswith("error: VALIDATION_ERROR: Invalid remote origin")
    assert "(field: remote_origin)" in err
    # Over the server's bound: its message, not ours.
    assert "VALIDATION_ERROR" in failed(live, "projects", "search", "x" * 300)


def test_bad_usage_is_refused_before_any_request(live: Live) -> None:
    assert "is not a project id" in failed(live, "projects", "get", "nope", code=2)
    assert "not JSON" in failed(live, "projects", "list", "--metadata", "{", code=2)
    assert "JSON object" in failed(live, "projects", "list", "--metadata", "[1]", code=2)
    assert failed(live, "projects", "list", "--limit", "0", code=2)
    assert failed(live, "projects", "list", "--limit", "501", code=2)
    assert failed(live, "projects", "register", code=2)  # REMOTE_ORIGIN is required
    assert live.data("GET", "/projects") == []
