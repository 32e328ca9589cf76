"""``imi work list|start|get|git-state|complete``: work in flight (``/api/v1/work``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from imi.cli import render
from imi.cli.client import (
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    Every,
    Json,
    Key,
    Limit,
    Offset,
    Timeout,
    Url,
    connect,
    json_object,
    uuid_arg,
)

work_app = typer.Typer(help="Work items: branches and worktrees in flight.", no_args_is_help=True)

WorkId = Annotated[str, typer.Argument(help="The work item's id (a UUID).", metavar="WORK_ID")]

COLUMNS: list[render.Column] = [
    ("id", "id"),
    ("branch", "branch_name"),
    ("type", "work_type"),
    ("owner", "owner_id"),
    ("status", "status"),
    ("vs trunk", lambda w: f"+{w.get('ahead_of_trunk', 0)}/-{w.get('behind_trunk', 0)}"),
    ("last active", "last_activity_at"),
]
DONE_COLUMNS: list[render.Column] = [
    *COLUMNS[:4],
    ("completed", "completion_type"),
    ("at", "completed_at"),
]
FIELDS = [
    "id",
    "project_id",
    "branch_name",
    "name",
    "work_type",
    "source",
    "owner_id",
    "worktree_path",
    "status",
    "has_uncommitted_changes",
    "uncommitted_files_count",
    "ahead_of_trunk",
    "behind_trunk",
    "last_commit_hash",
    "last_commit_message",
    "last_sync_at",
    "active",
    "completion_type",
    "completed_at",
    "merge_commit_hash",
    "merged_by",
    "metadata",
    "created_at",
    "last_activity_at",
]


def show(item: dict[str, Any], as_json: bool, title: str | None = None) -> None:
    if as_json:
        render.emit_json(item)
    else:
        render.record(item, FIELDS, title=title)


@work_app.command("list")
def list_(
    project: Annotated[
        str | None, typer.Option("--project", help="Only this project's work.", metavar="ID")
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Only this agent's work.", metavar="AGENT")
    ] = None,
    work_type: Annotated[
        str | None, typer.Option("--type", help="feature, fix, experiment, ...", metavar="TYPE")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="uncommitted, diverged, ahead, behind or clean."),
    ] = None,
    completed: Annotated[
        bool, typer.Option("--completed", help="Completed work instead of work in flight.")
    ] = False,
    limit: Limit = 50,
    offset: Offset = 0,
    every: Every = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """List work in flight, most recently active first (GET /api/v1/work)."""
    project_id = uuid_arg(project, "project") if project is not None else None
    with connect(url, key, timeout) as api:
        items, window = api.pages(
            "/work",
            limit=limit,
            offset=offset,
            every=every,
            project_id=project_id,
            owner_id=owner,
            work_type=work_type,
            status=status,
            active=not completed,
        )
    if as_json:
        render.emit_json(items)
        return
    footer = render.paging_footer(len(items), window, every)
    if completed:
        render.table(items, DONE_COLUMNS, footer=footer, empty="no completed work")
    else:
        render.table(items, COLUMNS, footer=footer, empty="no work in flight")


@work_app.command("start")
def start(
    project_id: Annotated[str, typer.Argument(help="The project's id.", metavar="PROJECT_ID")],
    branch: Annotated[str, typer.Argument(help="The branch name.", metavar="BRANCH")],
    work_type: Annotated[
        str | None,
        typer.Option("--type", help="feature (default), fix, experiment, review, devops, aiops."),
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="The agent doing it.", metavar="AGENT")
    ] = None,
    worktree_path: Annotated[
        str | None, typer.Option("--worktree-path", help="Its checkout.", metavar="PATH")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Worktree name.")] = None,
    source_type: Annotated[
        str | None,
        typer.Option(
            "--source-type", help="plane_ticket, bloodbank_command, agent_assignment, manual."
        ),
    ] = None,
    source_ref: Annotated[
        str | None, typer.Option("--source-ref", help="e.g. the ticket key.", metavar="REF")
    ] = None,
    metadata: Annotated[
        str | None, typer.Option("--metadata", help="A JSON object.", metavar="JSON")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Start work on a branch (ticket keys in the branch name are linked)."""
    payload: dict[str, Any] = {
        "project_id": uuid_arg(project_id, "project"),
        "branch_name": branch,
    }
    source = {"type": source_type, "ref": source_ref}
    optional = {
        "work_type": work_type,
        "owner_id": owner,
        "worktree_path": worktree_path,
        "name": name,
        "source": {k: v for k, v in source.items() if v is not None} or None,
        "metadata": json_object(metadata, "--metadata"),
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    with connect(url, key, timeout) as api:
        item = api.post("/work", payload)
    show(item, as_json, title=None if as_json else f"started {item['branch_name']}")


@work_app.command("get")
def get(
    work_id: WorkId,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Show a work item with its git state."""
    ident = uuid_arg(work_id, "work item")
    with connect(url, key, timeout) as api:
        show(api.get(f"/work/{ident}"), as_json)


@work_app.command("git-state")
def git_state(
    work_id: WorkId,
    uncommitted: Annotated[
        int | None,
        typer.Option("--uncommitted", min=0, help="Uncommitted files (0: clean).", metavar="N"),
    ] = None,
    ahead: Annotated[
        int | None, typer.Option("--ahead", min=0, help="Commits ahead of trunk.", metavar="N")
    ] = None,
    behind: Annotated[
        int | None, typer.Option("--behind", min=0, help="Commits behind trunk.", metavar="N")
    ] = None,
    commit: Annotated[
        str | None, typer.Option("--commit", help="Last commit hash.", metavar="HASH")
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", help="Last commit message.", metavar="TEXT")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Report a work item's git state; the fields not given keep their stored value."""
    ident = uuid_arg(work_id, "work item")
    payload: dict[str, Any] = {}
    if uncommitted is not None:
        payload["has_uncommitted_changes"] = uncommitted > 0
        payload["uncommitted_files_count"] = uncommitted
    optional = {
        "ahead_of_trunk": ahead,
        "behind_trunk": behind,
        "last_commit_hash": commit,
        "last_commit_message": message,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    if not payload:
        raise typer.BadParameter(
            "give at least one of --uncommitted, --ahead, --behind, --commit, --message"
        )
    with connect(url, key, timeout) as api:
        result = api.patch(f"/work/{ident}/git-state", payload)
    if as_json:
        render.emit_json(result)
        return
    if not result.get("applied", True):
        render.lines(["not applied: the stored state is newer than this report"])
    show(result, as_json=False, title=f"{result['branch_name']}: {result.get('status')}")


@work_app.command("complete")
def complete(
    work_id: WorkId,
    how: Annotated[
        str, typer.Option("--as", help="merged, abandoned or superseded.", metavar="HOW")
    ] = "merged",
    merge_commit: Annotated[
        str | None, typer.Option("--merge-commit", help="The merge commit.", metavar="HASH")
    ] = None,
    merged_by: Annotated[
        str | None, typer.Option("--merged-by", help="Who merged it.", metavar="AGENT")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Complete a work item (merged, abandoned or superseded)."""
    ident = uuid_arg(work_id, "work item")
    payload: dict[str, Any] = {"completion_type": how}
    if merge_commit is not None:
        payload["merge_commit_hash"] = merge_commit
    if merged_by is not None:
        payload["merged_by"] = merged_by
    with connect(url, key, timeout) as api:
        item = api.post(f"/work/{ident}/complete", payload)
    show(item, as_json, title=None if as_json else f"completed {item['branch_name']} ({how})")
