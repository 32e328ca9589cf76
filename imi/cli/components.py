"""``imi components list|get|graph|import``: the components of meta-repos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text
from rich.tree import Tree

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
from imi.cli.upload import upload_with_progress

components_app = typer.Typer(
    help="Components of meta-repos and their dependency graph.", no_args_is_help=True
)

ComponentId = Annotated[
    str, typer.Argument(help="The component's id (a UUID).", metavar="COMPONENT_ID")
]
COLUMNS: list[render.Column] = [
    ("id", "id"),
    ("name", "name"),
    ("path", "path"),
    ("kind", "kind"),
    ("enabled", "enabled"),
]
FIELDS = [
    "id",
    "name",
    "path",
    "kind",
    "enabled",
    "project_id",
    "linked_project_id",
    "metadata",
    "created_at",
    "updated_at",
]
YAML_SUFFIXES = {".yaml", ".yml"}


@components_app.command("list")
def list_(
    project: Annotated[
        str | None, typer.Option("--project", help="Only this project's.", metavar="ID")
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="submodule, local or external.")
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Only enabled (or disabled).")
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
    """List components by name (GET /api/v1/components)."""
    import json

    project_id = uuid_arg(project, "project") if project is not None else None
    wanted = json_object(metadata, "--metadata")
    with connect(url, key, timeout) as api:
        items, window = api.pages(
            "/components",
            limit=limit,
            offset=offset,
            every=every,
            project_id=project_id,
            kind=kind,
            enabled=enabled,
            metadata=json.dumps(wanted) if wanted is not None else None,
        )
    if as_json:
        render.emit_json(items)
        return
    footer = render.paging_footer(len(items), window, every)
    render.table(items, COLUMNS, footer=footer, empty="no components")


@components_app.command("get")
def get(
    component_id: ComponentId,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Show a component."""
    ident = uuid_arg(component_id, "component")
    with connect(url, key, timeout) as api:
        data = api.get(f"/components/{ident}")
    if as_json:
        render.emit_json(data)
    else:
        render.record(data, FIELDS)


@components_app.command("relate")
def relate(
    from_id: Annotated[str, typer.Argument(help="The component that needs.", metavar="FROM_ID")],
    to_id: Annotated[str, typer.Argument(help="The component it needs.", metavar="TO_ID")],
    relation: Annotated[
        str,
        typer.Option("--type", help="depends_on, produces_events_for or consumes_events_from."),
    ] = "depends_on",
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Relate two components (idempotent per from, to and type)."""
    payload = {
        "from_component_id": uuid_arg(from_id, "component"),
        "to_component_id": uuid_arg(to_id, "component"),
        "relation_type": relation,
    }
    with connect(url, key, timeout) as api:
        response = api.request("POST", "/components/relationships", json=payload)
        data = api.body(response)["data"]
    if as_json:
        render.emit_json(data)
        return
    state = "related" if response.status_code == 201 else "already related"
    render.lines([f"{state}: {from_id} {data['relation_type']} {to_id}"])


def graph_tree(graph: dict[str, Any]) -> Tree:
    """The walk as a tree from the root: what each component needs (or what needs it)."""
    nodes = {str(n["id"]): n for n in graph["nodes"]}
    dependents = graph.get("direction") == "dependents"
    children: dict[str, list[tuple[str, str]]] = {}
    for edge in graph["edges"]:
        source, target = str(edge["from_component_id"]), str(edge["to_component_id"])
        parent, child = (target, source) if dependents else (source, target)
        children.setdefault(parent, []).append((child, str(edge["relation_type"])))

    def label(ident: str, relation: str | None) -> Text:
        node = nodes.get(ident, {"name": ident, "kind": "?"})
        via = f" [{relation}]" if relation else ""
        return Text(f"{node['name']} ({node.get('kind')}){via} {ident}")

    root_id = str(graph["root"])
    tree = Tree(label(root_id, None))
    shown = {root_id}

    def grow(branch: Tree, ident: str) -> None:
        for child, relation in sorted(
            children.get(ident, []), key=lambda c: nodes.get(c[0], {}).get("name", "")
        ):
            if child in shown:  # a cycle, or reached another way: named, not expanded again
                branch.add(
                    Text(f"{nodes.get(child, {}).get('name', child)} [{relation}] (see above)")
                )
                continue
            shown.add(child)
            grow(branch.add(label(child, relation)), child)

    grow(tree, root_id)
    return tree


@components_app.command("graph")
def graph(
    component_id: ComponentId,
    dependents: Annotated[
        bool, typer.Option("--dependents", help="What needs it (default: what it needs).")
    ] = False,
    depth: Annotated[int, typer.Option("--depth", min=1, help="Hops to follow.")] = 5,
    relation: Annotated[
        list[str] | None,
        typer.Option("--relation", help="Only these relation types (repeatable).", metavar="TYPE"),
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """The dependency graph around a component, as a tree."""
    ident = uuid_arg(component_id, "component")
    with connect(url, key, timeout) as api:
        data = api.get(
            f"/components/{ident}/graph",
            direction="dependents" if dependents else "dependencies",
            depth=depth,
            relation_types=relation or None,
        )
    if as_json:
        render.emit_json(data)
    else:
        render.tree(graph_tree(data))


@components_app.command("import")
def import_(
    manifest: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="components.toml or .yaml",
            metavar="FILE",
        ),
    ],
    project: Annotated[
        str, typer.Option("--project", help="The meta-repo's project id.", metavar="ID")
    ],
    manifest_format: Annotated[
        str | None,
        typer.Option("--format", help="toml or yaml (default: from the file name)."),
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Import a components manifest into a project (an upsert by name; nothing is deleted)."""
    project_id = uuid_arg(project, "project")
    kind = manifest_format or ("yaml" if manifest.suffix.lower() in YAML_SUFFIXES else "toml")
    if kind not in ("toml", "yaml"):
        raise typer.BadParameter("must be toml or yaml", param_hint="--format")
    with connect(url, key, timeout) as api:
        response = upload_with_progress(
            api,
            "/components/import",
            manifest,
            content_type=f"application/{kind}",
            params={"project_id": project_id, "format": kind},
        )
        report = api.body(response)["data"]
    if as_json:
        render.emit_json(report)
        return
    render.table(report["components"], COLUMNS, title=f"imported {manifest.name}")
    render.lines(
        [
            f"created {len(report['created'])}, updated {len(report['updated'])}, "
            f"unchanged {len(report['unchanged'])}"
        ]
    )
