"""The ``imi`` command.

Server side (``serve``, ``mcp``, ``db``, ``keys``, ``export-schema``): they run iMi or touch
its database. Client side (``projects``, ``work``, ``link``, ``trace``, ``components``,
``activities``, ``stats``): thin HTTP clients of a running iMi (``--url``/``IMI_URL``,
``--key``/``IMI_API_KEY``). Heavy modules (SQLAlchemy, alembic, uvicorn, FastAPI) are
imported inside the commands that need them: ``imi --help`` and the client commands start
quickly.
"""

from __future__ import annotations

from typing import Annotated

import typer

from imi.cli.activities import activities_app, stats
from imi.cli.components import components_app
from imi.cli.db import db_app, export_schema
from imi.cli.keys import keys_app
from imi.cli.links import link_app
from imi.cli.projects import projects_app
from imi.cli.server import mcp, serve
from imi.cli.trace import trace_app
from imi.cli.work import work_app

app = typer.Typer(
    name="imi",
    help="iMi: projects, work in flight and how they connect, for fleets of coding agents.",
    no_args_is_help=True,
    invoke_without_command=True,  # so `imi --version` needs no command
    add_completion=False,
)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
    ] = False,
) -> None:
    if version:
        from importlib.metadata import version as package_version

        typer.echo(package_version("imi"))
        raise typer.Exit()


app.command()(serve)
app.command()(mcp)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.command("export-schema")(export_schema)
app.add_typer(projects_app, name="projects")
app.add_typer(work_app, name="work")
app.add_typer(link_app, name="link")
app.add_typer(trace_app, name="trace")
app.add_typer(components_app, name="components")
app.add_typer(activities_app, name="activities")
app.command()(stats)

__all__ = ["app"]
