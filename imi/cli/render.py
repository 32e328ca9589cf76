"""How the client commands print: rich tables and trees by default, the server's JSON with
``--json``. Values are rendered as plain text (never as rich markup: a branch named
``[bold]x`` prints as typed)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]00:00)")
# Ids stay on one line (copied and pasted whole); the other columns fold when the terminal is
# narrow, each keeping room for a short word so none collapses to nothing.
MIN_WIDTH = 6
PIPE_WIDTH = 1000
# A column: its header and how to get the cell from a row (a key, or a function).
Column = tuple[str, str | Callable[[dict[str, Any]], Any]]


def console(*, stderr: bool = False) -> Console:
    # Built per call: CliRunner and pipes swap sys.stdout, and rich reads it when printing.
    out = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Piped (grep, less, a file): one line per row rather than rich's 80 columns.
        out.width = PIPE_WIDTH
    return out


def emit_json(data: Any) -> None:
    """The server's ``data``, as JSON on stdout (pretty, for people and for ``jq``)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def cell(value: Any) -> str:
    if isinstance(value, str) and TIMESTAMP.fullmatch(value):
        return f"{value[:10]} {value[11:19]}Z"  # to the second, UTC as sent
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else "-"
    return str(value)


def _get(row: dict[str, Any], source: str | Callable[[dict[str, Any]], Any]) -> Any:
    return source(row) if callable(source) else row.get(source)


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    footer: str | None = None,
    empty: str = "nothing to show",
) -> None:
    """One row per item; ``footer`` (paging) goes to stderr so stdout stays the table."""
    out = console()
    if not rows:
        out.print(Text(empty))
    else:
        grid = Table(title=title, header_style="bold", title_justify="left")
        for header, _ in columns:
            # Never truncated: a narrow terminal folds cells, so ids and URLs stay whole.
            if header == "id":
                grid.add_column(header, no_wrap=True)
            else:
                grid.add_column(header, overflow="fold", min_width=MIN_WIDTH)
        for row in rows:
            grid.add_row(*(Text(cell(_get(row, source))) for _, source in columns))
        out.print(grid)
    if footer:
        console(stderr=True).print(Text(footer, style="dim"))


def record(
    data: dict[str, Any], fields: Sequence[str] | None = None, title: str | None = None
) -> None:
    """One object as a two-column table (field, value), in ``fields`` order when given."""
    grid = Table(title=title, show_header=False, title_justify="left")
    grid.add_column("field", style="bold", no_wrap=True)
    grid.add_column("value", overflow="fold")
    for name in fields or list(data):
        if name in data:
            grid.add_row(Text(name), Text(cell(data[name])))
    console().print(grid)


def paging_footer(shown: int, window: dict[str, Any], every: bool) -> str | None:
    """``showing 51-100 of 230 (--all for every page)`` when more exist than were shown."""
    total = int(window.get("total", shown))
    if every or shown >= total:
        return None
    first = int(window.get("offset", 0)) + 1
    return (
        f"showing {first}-{first + shown - 1} of {total} (--offset/--limit to page, --all for all)"
    )


def lines(messages: Sequence[str]) -> None:
    out = console()
    for message in messages:
        out.print(Text(message))


def tree(root: Tree) -> None:
    console().print(root)
