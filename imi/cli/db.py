"""``imi db upgrade|current`` and ``imi export-schema``: the schema, SQL and GraphQL."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from imi.cli.common import friendly_errors, graceful_signals, settings_with
from imi.logging import configure_logging

db_app = typer.Typer(help="Inspect and migrate the database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Option("--revision", help="Target revision.", metavar="REVISION")
    ] = "head",
) -> None:
    """Apply migrations up to a revision (the newest by default)."""
    from imi.runtime import database

    settings = settings_with()
    configure_logging(settings)
    with (
        graceful_signals(),
        friendly_errors(),
        database(settings, migrate=True, revision=revision),
    ):
        pass


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the newest one this code knows."""
    from imi.migrate import head_revision
    from imi.runtime import database

    settings = settings_with()
    configure_logging(settings)
    with (
        graceful_signals(),
        friendly_errors(),
        database(settings, migrate=False, read_only=True) as url,
    ):
        current = asyncio.run(_current_revision(url))
    head = head_revision()
    typer.echo(f"revision: {current or 'none'}")
    typer.echo(f"head: {head}")
    typer.echo("up to date" if current == head else "migrations pending: run `imi db upgrade`")


async def _current_revision(url: str) -> str | None:
    from imi.db import create_engine, schema_revision

    engine = create_engine(url)
    try:
        return await schema_revision(engine)
    finally:
        await engine.dispose()


def export_schema() -> None:
    """Print the GraphQL schema (SDL); schema.graphql in the repository is this output."""
    from imi.graphql.schema import schema

    typer.echo(schema.as_str())
