"""``imi activities log|recent`` and ``imi stats``: what agents did, and the registry's counts."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from imi.cli import render
from imi.cli.client import (
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    MAX_PAGE,
    Json,
    Key,
    Timeout,
    Url,
    connect,
    json_object,
    segment,
    uuid_arg,
)

activities_app = typer.Typer(help="Agent activity on work items.", no_args_is_help=True)

RECENT_COLUMNS: list[render.Column] = [
    ("when", "created_at"),
    ("activity", "activity_type"),
    ("description", "description"),
    ("file", "file_path"),
    ("branch", "branch_name"),
    ("project", "project_name"),
]


@activities_app.command("log")
def log(
    agent: Annotated[str, typer.Argument(help="The agent's id.", metavar="AGENT")],
    work_id: Annotated[str, typer.Argument(help="The work item's id.", metavar="WORK_ID")],
    activity_type: Annotated[
        str,
        typer.Argument(
            help="created, modified, deleted, committed, pushed, merged, synced or other.",
            metavar="TYPE",
        ),
    ],
    description: Annotated[str, typer.Argument(help="What was done.", metavar="DESCRIPTION")],
    file_path: Annotated[
        str | None, typer.Option("--file", help="The file it concerns.", metavar="PATH")
    ] = None,
    metadata: Annotated[
        str | None, typer.Option("--metadata", help="A JSON object.", metavar="JSON")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Log what an agent did on a work item."""
    payload: dict[str, Any] = {
        "agent_id": agent,
        "work_item_id": uuid_arg(work_id, "work item"),
        "activity_type": activity_type,
        "description": description,
    }
    if file_path is not None:
        payload["file_path"] = file_path
    extra = json_object(metadata, "--metadata")
    if extra is not None:
        payload["metadata"] = extra
    with connect(url, key, timeout) as api:
        data = api.post("/activities", payload)
    if as_json:
        render.emit_json(data)
    else:
        render.lines([f"logged {data['activity_type']} by {data['agent_id']} ({data['id']})"])


@activities_app.command("recent")
def recent(
    agent: Annotated[str, typer.Argument(help="The agent's id.", metavar="AGENT")],
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_PAGE, help="Most activities.", metavar="N")
    ] = 20,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """An agent's latest activities, newest first."""
    with connect(url, key, timeout) as api:
        rows = api.get(f"/agents/{segment(agent)}/recent-work", limit=limit)
    if as_json:
        render.emit_json(rows)
    else:
        render.table(rows, RECENT_COLUMNS, empty=f"no activity by {agent}")


def stats(
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Registry statistics: projects, work in flight, links, components."""
    with connect(url, key, timeout) as api:
        data = api.get("/stats")
    if as_json:
        render.emit_json(data)
        return
    # The v2 duplicates (total_worktrees, ...) are left out of the table; --json has them.
    v2_names = {"total_worktrees", "active_worktrees", "in_flight_worktrees"}
    render.record({k: v for k, v in data.items() if k not in v2_names}, title="iMi statistics")
