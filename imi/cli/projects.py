"""``imi projects list|register|get|search|deactivate``: ``/api/v1/projects``."""

from __future__ import annotations

import json
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

projects_app = typer.Typer(help="Registered repositories (projects).", no_args_is_help=True)

ProjectId = Annotated[str, typer.Argument(help="The project's id (a UUID).", metavar="PROJECT_ID")]

COLUMNS: list[render.Column] = [
    ("id", "id"),
    ("name", "name"),
    ("remote origin", "remote_origin"),
    ("branch", "default_branch"),
    ("active", "active"),
    ("in flight", lambda p: (p.get("worktree_counts") or {}).get("in_flight")),
]
FIELDS = [
    "id",
    "name",
    "remote_origin",
    "default_branch",
    "trunk_path",
    "description",
    "metadata",
    "active",
    "worktree_counts",
    "created_at",
    "updated_at",
]


def show(project: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.emit_json(project)
    else:
        render.record(project, FIELDS)


@projects_app.command("list")
def list_(
    active: Annotated[
        bool | None,
        typer.Option("--active/--inactive", help="Only active (or deactivated) projects."),
    ] = None,
    metadata: Annotated[
        str | None,
        typer.Option("--metadata", help="JSON object the metadata must contain.", metavar="JSON"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    every: Every = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """List projects by name (GET /api/v1/projects)."""
    wanted = json_object(metadata, "--metadata")
    with connect(url, key, timeout) as api:
        items, window = api.pages(
            "/projects",
            limit=limit,
            offset=offset,
            every=every,
            active=active,
            metadata=json.dumps(wanted) if wanted is not None else None,
        )
    if as_json:
        render.emit_json(items)
        return
    footer = render.paging_footer(len(items), window, every)
    render.table(items, COLUMNS, footer=footer, empty="no projects")


@projects_app.command("register")
def register(
    remote_origin: Annotated[
        str,
        typer.Argument(
            help="git@host:owner/repo.git, https://, ssh://, ...", metavar="REMOTE_ORIGIN"
        ),
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Default: the repository name.")
    ] = None,
    default_branch: Annotated[
        str | None, typer.Option("--default-branch", help="Default: main.", metavar="BRANCH")
    ] = None,
    trunk_path: Annotated[
        str | None, typer.Option("--trunk-path", help="The trunk checkout.", metavar="PATH")
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    metadata: Annotated[
        str | None, typer.Option("--metadata", help="A JSON object.", metavar="JSON")
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Register a repository (idempotent: the same origin answers the same project)."""
    payload: dict[str, Any] = {"remote_origin": remote_origin}
    optional = {
        "name": name,
        "default_branch": default_branch,
        "trunk_path": trunk_path,
        "description": description,
        "metadata": json_object(metadata, "--metadata"),
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    with connect(url, key, timeout) as api:
        response = api.request("POST", "/projects", json=payload)
        project = api.body(response)["data"]
    if not as_json:
        verb = "registered" if response.status_code == 201 else "already registered"
        render.lines([f"{verb}: {project['name']} ({project['id']})"])
    show(project, as_json)


@projects_app.command("get")
def get(
    project_id: ProjectId,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Show a project with its work counts."""
    ident = uuid_arg(project_id, "project")
    with connect(url, key, timeout) as api:
        show(api.get(f"/projects/{ident}"), as_json)


@projects_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Text in the name or origin.", metavar="QUERY")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most matches.", metavar="N")] = 20,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Fuzzy search by name or remote origin, best match first."""
    with connect(url, key, timeout) as api:
        matches = api.get("/projects/search", q=query, limit=limit)
    if as_json:
        render.emit_json(matches)
        return
    columns: list[render.Column] = [
        ("id", "id"),
        ("name", "name"),
        ("remote origin", "remote_origin"),
        ("relevance", lambda m: f"{m.get('relevance', 0):.2f}"),
        ("active", "active"),
    ]
    render.table(matches, columns, empty=f"no project matches {query!r}")


@projects_app.command("deactivate")
def deactivate(
    project_id: ProjectId,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Deactivate a project (soft delete; its active work is closed as abandoned)."""
    ident = uuid_arg(project_id, "project")
    with connect(url, key, timeout) as api:
        api.call("DELETE", f"/projects/{ident}")  # 204: no body, so read back what it did
        project = api.get(f"/projects/{ident}")
    if not as_json:
        render.lines([f"deactivated project {project['name']} ({ident})"])
    show(project, as_json)
