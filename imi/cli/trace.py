"""``imi trace ticket|branch|pr|deploy``: the link graph around one node, printed as a tree.

The server answers ``{root, direction, nodes, edges}``. The tree walks the edges from the root
(depth first, each node once) along the chain ticket -> work item -> PR -> deploy, or back
up it from a deploy; projects are not nodes of the tree but named on their work items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.text import Text
from rich.tree import Tree

from imi.cli import render
from imi.cli.client import (
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    Json,
    Key,
    Timeout,
    Url,
    connect,
    segment,
)

trace_app = typer.Typer(
    help="Follow a ticket, branch, PR or deploy through its links.", no_args_is_help=True
)

# Position along the chain; children are visited in this order (reversed going backward).
RANK = {"ticket": 0, "work_item": 1, "pull_request": 2, "deployment": 3}


def _ticket(n: dict[str, Any]) -> str:
    title = f' "{n["title"]}"' if n.get("title") else ""
    state = f" [{n['state']}]" if n.get("state") else ""
    return f"ticket {n.get('plane_ticket_id')}{title}{state}"


def _work_item(n: dict[str, Any], project: str | None) -> str:
    facts = [n.get("work_type"), n.get("status"), "active" if n.get("active") else "completed"]
    where = f" in {project}" if project else ""
    owner = f" by {n['owner_id']}" if n.get("owner_id") else ""
    summary = ", ".join(str(f) for f in facts if f)
    return f"work {n.get('branch_name')}{where}{owner} ({summary}) {n.get('id')}"


def _pull_request(n: dict[str, Any]) -> str:
    title = f' "{n["title"]}"' if n.get("title") else ""
    return f"PR #{n.get('number')} {n.get('state')}{title} {n.get('url')}"


def _deployment(n: dict[str, Any]) -> str:
    commit = f" at {n['commit_hash']}" if n.get("commit_hash") else ""
    return f"deploy {n.get('deploy_id')} to {n.get('environment')} ({n.get('status')}){commit}"


def _other(n: dict[str, Any]) -> str:
    return f"{n.get('type')} {n.get('id')}"


def build_tree(trace: dict[str, Any]) -> Tree:
    """The trace as a rich Tree rooted at ``trace['root']``."""
    nodes = {str(n["id"]): n for n in trace["nodes"]}
    projects = {i: n.get("name") for i, n in nodes.items() if n["type"] == "project"}
    project_of: dict[str, str | None] = {}
    neighbours: dict[str, list[tuple[str, str | None]]] = {i: [] for i in nodes}
    for edge in trace["edges"]:
        source, target = str(edge["from"]), str(edge["to"])
        if source in projects:
            project_of[target] = projects[source]
            continue
        if source in nodes and target in nodes:
            neighbours[source].append((target, edge.get("link_kind")))
            neighbours[target].append((source, edge.get("link_kind")))
    backward = trace.get("direction") == "backward"

    def label(ident: str, link_kind: str | None) -> Text:
        node = nodes[ident]
        labels: dict[str, Callable[[dict[str, Any]], str]] = {
            "ticket": _ticket,
            "work_item": lambda n: _work_item(n, project_of.get(ident)),
            "pull_request": _pull_request,
            "deployment": _deployment,
        }
        describe = labels.get(node["type"], _other)
        text = describe(node)
        return Text(f"{link_kind}: {text}" if link_kind else text)

    def order(item: tuple[str, str | None]) -> tuple[int, str]:
        rank = RANK.get(nodes[item[0]]["type"], 9)
        return (-rank if backward else rank, label(*item).plain)

    root_id = str(trace["root"]["id"])
    seen = {root_id}
    root = Tree(label(root_id, None))

    def grow(branch: Tree, ident: str) -> None:
        for child, link_kind in sorted(neighbours[ident], key=order):
            if child in seen:
                continue
            seen.add(child)
            grow(branch.add(label(child, link_kind)), child)

    grow(root, root_id)
    # Whatever no edge reached (not expected) is still shown, not silently dropped.
    for ident, node in nodes.items():
        if ident not in seen and node["type"] != "project":
            root.add(label(ident, None))
    return root


def _trace(kind: str, ident: str, url: str, key: str | None, timeout: float, as_json: bool) -> None:
    if not ident.strip():
        raise typer.BadParameter("must not be empty")
    with connect(url, key, timeout) as api:
        data = api.get(f"/trace/{kind}/{segment(ident)}")
    if as_json:
        render.emit_json(data)
    else:
        render.tree(build_tree(data))


@trace_app.command("ticket")
def ticket(
    ticket_id: Annotated[str, typer.Argument(help="Plane ticket key, e.g. PROJ-123.")],
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """A ticket -> its work items -> their PRs -> the deploys that shipped them."""
    _trace("ticket", ticket_id, url, key, timeout, as_json)


@trace_app.command("branch")
def branch(
    work: Annotated[
        str,
        typer.Argument(
            help="A work item id, or PROJECT_ID:BRANCH (the branch may contain slashes).",
            metavar="WORK_ID|PROJECT_ID:BRANCH",
        ),
    ],
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """A work item with its tickets, PRs and deploys."""
    _trace("branch", work, url, key, timeout, as_json)


@trace_app.command("pr")
def pull_request(
    pr: Annotated[str, typer.Argument(help="The PR's id or URL.", metavar="PR_ID|PR_URL")],
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """A pull request with its work item, tickets and deploys."""
    _trace("pr", pr, url, key, timeout, as_json)


@trace_app.command("deploy")
def deploy(
    deploy_id: Annotated[str, typer.Argument(help="The deploy's id.", metavar="DEPLOY_ID")],
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Back from a deploy: the work and PRs it shipped, and their tickets."""
    _trace("deploy", deploy_id, url, key, timeout, as_json)
