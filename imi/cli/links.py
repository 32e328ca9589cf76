"""``imi link ticket|pr|deploy``: connect work to tickets, pull requests and deployments."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from imi.cli import render
from imi.cli.client import (
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    Client,
    Json,
    Key,
    Timeout,
    Url,
    connect,
    uuid_arg,
)

link_app = typer.Typer(
    help="Link work items to tickets, pull requests and deployments (idempotent).",
    no_args_is_help=True,
)

WorkId = Annotated[str, typer.Argument(help="The work item's id (a UUID).", metavar="WORK_ID")]


def _send(api: Client, path: str, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The link and whether this call created it (201) rather than found or moved it (200)."""
    response = api.request("POST", path, json=payload)
    return api.body(response)["data"], response.status_code == 201


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _show(data: dict[str, Any], created: bool, what: str, as_json: bool) -> None:
    if as_json:
        render.emit_json(data)
        return
    render.record(data, title=f"{what} {'created' if created else 'already there, updated'}")


@link_app.command("ticket")
def ticket(
    work_id: WorkId,
    ticket_id: Annotated[str, typer.Argument(help="Plane ticket key, e.g. PROJ-123.")],
    kind: Annotated[
        str, typer.Option("--kind", help="closes or references.", metavar="KIND")
    ] = "references",
    title: Annotated[str | None, typer.Option("--title", help="The ticket's title.")] = None,
    ticket_url: Annotated[
        str | None, typer.Option("--ticket-url", help="The ticket's URL.", metavar="URL")
    ] = None,
    state: Annotated[str | None, typer.Option("--state", help="The ticket's state.")] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Link a Plane ticket to a work item."""
    payload = {
        "work_item_id": uuid_arg(work_id, "work item"),
        "plane_ticket_id": ticket_id,
        "kind": kind,
        **_given(ticket_title=title, ticket_url=ticket_url, ticket_state=state),
    }
    with connect(url, key, timeout) as api:
        data, created = _send(api, "/links/ticket", payload)
    _show(data, created, f"link {ticket_id}", as_json)


@link_app.command("pr")
def pull_request(
    work_id: WorkId,
    number: Annotated[int, typer.Argument(min=1, help="The PR number.", metavar="NUMBER")],
    pr_url: Annotated[str, typer.Argument(help="The PR's URL.", metavar="PR_URL")],
    state: Annotated[
        str, typer.Option("--state", help="open, merged or closed.", metavar="STATE")
    ] = "open",
    title: Annotated[str | None, typer.Option("--title", help="The PR's title.")] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Link a pull request to a work item, or move it to --state."""
    payload = {
        "work_item_id": uuid_arg(work_id, "work item"),
        "pr_number": number,
        "pr_url": pr_url,
        "pr_state": state,
        **_given(pr_title=title),
    }
    with connect(url, key, timeout) as api:
        data, created = _send(api, "/links/pr", payload)
    _show(data, created, f"PR #{number}", as_json)


@link_app.command("deploy")
def deploy(
    deploy_id: Annotated[str, typer.Argument(help="The deploy's id.", metavar="DEPLOY_ID")],
    environment: Annotated[str, typer.Argument(help="e.g. production.", metavar="ENVIRONMENT")],
    work_ids: Annotated[
        list[str],
        typer.Argument(help="The work items it shipped (one or more ids).", metavar="WORK_ID..."),
    ],
    commit: Annotated[
        str | None, typer.Option("--commit", help="The deployed commit.", metavar="HASH")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Default: succeeded.", metavar="STATUS")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Record a deployment of one or more work items (idempotent on DEPLOY_ID)."""
    payload = {
        "deploy_id": deploy_id,
        "environment": environment,
        "work_item_ids": [uuid_arg(w, "work item") for w in work_ids],
        **_given(commit_hash=commit, status=status),
    }
    with connect(url, key, timeout) as api:
        data, created = _send(api, "/links/deploy", payload)
    _show(data, created, f"deploy {deploy_id}", as_json)
