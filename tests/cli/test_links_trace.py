"""`imi link ticket|pr|deploy` and `imi trace ticket|branch|pr|deploy` (the tree)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.cli.conftest import Live, failed, ok

PR_URL = "https://github.com/acme/app/pull/42"


@dataclass
class Chain:
    project: str
    login: str  # feat/PROJ-1-login: closes PROJ-1, PR #42, deployed
    typo: str  # fix/PROJ-1-typo: references PROJ-1 (from its branch name)


def chain(live: Live) -> Chain:
    """A ticket with two work items, one with a PR and a deploy, made through the CLI."""
    project = live.data("POST", "/projects", json={"remote_origin": "https://github.com/acme/app"})
    pid = str(project["id"])
    login = ok(live, "work", "start", pid, "feat/PROJ-1-login", "--owner", "agent-1", "--json")
    typo = ok(live, "work", "start", pid, "fix/PROJ-1-typo", "--type", "fix", "--json")
    work, fix = login.json()["id"], typo.json()["id"]
    ok(live, "link", "ticket", work, "PROJ-1", "--kind", "closes", "--title", "Login page")
    ok(live, "link", "pr", work, "42", PR_URL, "--title", "Add login")
    ok(live, "link", "deploy", "deploy-001", "production", work, "--commit", "f6e5d4c3")
    return Chain(pid, work, fix)


def test_links_create_then_find(live: Live) -> None:
    c = chain(live)
    # The work's branch already linked PROJ-1 when it started: a re-send is an update (200).
    again = ok(live, "link", "ticket", c.login, "PROJ-1", "--kind", "closes", "--json").json()
    assert again["plane_ticket_id"] == "PROJ-1" and again["kind"] == "closes"
    text = ok(live, "link", "ticket", c.login, "PROJ-2", "--state", "todo").stdout
    assert "link PROJ-2 created" in text

    pr = ok(live, "link", "pr", c.login, "42", PR_URL, "--state", "merged", "--json").json()
    assert pr["pr_state"] == "merged" and pr["previous_state"] == "open"
    assert "PR #43 created" in ok(live, "link", "pr", c.login, "43", PR_URL + "3").stdout

    deploy = ok(live, "link", "deploy", "deploy-001", "production", c.login, c.typo, "--json")
    assert deploy.json()["added_work_item_ids"] == [c.typo]
    text = ok(live, "link", "deploy", "deploy-002", "staging", c.typo, "--status", "failed")
    assert "deploy deploy-002 created" in text.stdout


def test_link_refusals(live: Live) -> None:
    c = chain(live)
    missing = str(uuid.uuid4())
    assert failed(live, "link", "ticket", missing, "PROJ-1").startswith("error: NOT_FOUND: ")
    err = failed(live, "link", "pr", c.login, "42", PR_URL, "--state", "sideways")
    assert "VALIDATION_ERROR" in err and "pr_state" in err
    ok(live, "link", "pr", c.login, "42", PR_URL, "--state", "merged")
    err = failed(live, "link", "pr", c.login, "42", PR_URL, "--state", "open")
    assert err.startswith("error: CONFLICT: ") and "(field: pr_state)" in err
    err = failed(live, "link", "deploy", "deploy-001", "staging", c.login)
    assert err.startswith("error: CONFLICT: ")
    assert failed(live, "link", "ticket", "nope", "PROJ-1", code=2)
    assert failed(live, "link", "pr", c.login, "0", PR_URL, code=2)
    assert failed(live, "link", "deploy", "d", "production", code=2)  # no work item


def test_trace_ticket_prints_the_chain_as_a_tree(live: Live) -> None:
    c = chain(live)
    tree = ok(live, "trace", "ticket", "PROJ-1").stdout.splitlines()
    assert tree == [
        'ticket PROJ-1 "Login page"',
        f"├── closes: work feat/PROJ-1-login in app by agent-1 (feature, clean, active) {c.login}",
        f'│   └── PR #42 open "Add login" {PR_URL}',
        "│       └── deploy deploy-001 to production (succeeded) at f6e5d4c3",
        f"└── references: work fix/PROJ-1-typo in app (fix, clean, active) {c.typo}",
    ]


def test_trace_json_is_the_servers_data(live: Live) -> None:
    c = chain(live)
    for kind, ident in (
        ("ticket", "PROJ-1"),
        ("branch", c.login),
        ("branch", f"{c.project}:feat/PROJ-1-login"),
        ("pr", PR_URL),
        ("deploy", "deploy-001"),
    ):
        shown = ok(live, "trace", kind, ident, "--json").json()
        path = ident if kind != "pr" else ident.replace("/", "%2F").replace(":", "%3A")
        assert shown == live.data("GET", f"/trace/{kind}/{path}"), kind


def test_trace_from_the_other_ends(live: Live) -> None:
    c = chain(live)
    login = f"work feat/PROJ-1-login in app by agent-1 (feature, clean, active) {c.login}"
    deploy = "deploy deploy-001 to production (succeeded) at f6e5d4c3"
    pr = f'PR #42 open "Add login" {PR_URL}'
    assert ok(live, "trace", "deploy", "deploy-001").stdout.splitlines() == [
        deploy,
        f"└── {pr}",
        f"    └── {login}",
        '        └── closes: ticket PROJ-1 "Login page"',
    ]
    branch = ok(live, "trace", "branch", f"{c.project}:feat/PROJ-1-login").stdout
    assert branch.splitlines() == [
        login,
        '├── closes: ticket PROJ-1 "Login page"',
        f"└── {pr}",
        f"    └── {deploy}",
    ]
    assert ok(live, "trace", "branch", c.login).stdout == branch
    assert ok(live, "trace", "pr", PR_URL).stdout.splitlines() == [
        pr,
        f"└── {login}",
        '    ├── closes: ticket PROJ-1 "Login page"',
        f"    └── {deploy}",
    ]


def test_trace_refusals(live: Live) -> None:
    chain(live)
    err = failed(live, "trace", "ticket", "NOPE-1")
    assert err.strip() == "error: NOT_FOUND: ticket NOPE-1 not found (field: entity_id)"
    assert failed(live, "trace", "deploy", "deploy-404").startswith("error: NOT_FOUND: ")
    assert failed(live, "trace", "branch", str(uuid.uuid4())).startswith("error: NOT_FOUND: ")
    assert failed(live, "trace", "pr", "https://github.com/acme/app/pull/1").startswith(
        "error: NOT_FOUND: "
    )
    assert "must not be empty" in failed(live, "trace", "ticket", " ", code=2)
