"""``imi keys``: create, list and revoke API keys, straight on the database.

Beside a running ``imi serve`` on the embedded database they use its server; with
``IMI_DATABASE_URL`` they use that one. The secret of a new key is printed once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from imi.cli.common import settings_with
from imi.logging import configure_logging

if TYPE_CHECKING:  # SQLAlchemy is imported when a keys command runs, not by `imi --help`
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

keys_app = typer.Typer(
    help="Manage API keys (scopes imi:read, imi:write, imi:admin).", no_args_is_help=True
)


def _run(settings: Any, call: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from imi.db import create_engine, session_factory, unit_of_work
    from imi.runtime import database

    async def go(url: str) -> T:
        engine = create_engine(url)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                return await call(session)
        finally:
            await engine.dispose()

    with database(settings, migrate=True, read_only=True) as url:
        return asyncio.run(go(url))


def _key_json(key: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    from imi.auth.keys import is_usable
    from imi.serialize import jsonable

    data: dict[str, Any] = jsonable(
        {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "scope": key.scope,
            "project_ids": key.project_ids,
            "created_at": key.created_at,
            "expires_at": key.expires_at,
            "revoked_at": key.revoked_at,
            "last_used_at": key.last_used_at,
            "active": is_usable(key, datetime.now(UTC)),
        }
    )
    return data


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.", metavar="NAME")],
    scope: Annotated[
        str, typer.Option("--scope", help="imi:read, imi:write or imi:admin.", metavar="SCOPE")
    ],
    project: Annotated[
        list[str] | None,
        typer.Option(
            "--project", help="Restrict the key to this project id (repeatable).", metavar="ID"
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="30d, 12h, 90m or an ISO 8601 time.", metavar="WHEN"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a key and print its secret (shown this once; only a hash is stored)."""
    from imi.auth.keys import create_key, parse_expiry, parse_scope
    from imi.errors import DomainError

    settings = settings_with()
    configure_logging(settings)
    try:
        projects = [uuid.UUID(p) for p in project] if project else None
    except ValueError:
        raise _fail("--project must be a project id (UUID)") from None
    try:
        created = _run(
            settings,
            lambda session: create_key(
                session,
                name=name,
                scope=parse_scope(scope),
                project_ids=projects,
                expires_at=parse_expiry(expires) if expires else None,
            ),
        )
    except DomainError as exc:
        raise _fail(exc.message) from None
    if as_json:
        typer.echo(json.dumps({**_key_json(created.key), "secret": created.secret}))
        return
    typer.echo(f"created key {created.key.id} ({created.key.name}, {created.key.scope})")
    typer.echo("secret (shown once; send it as 'Authorization: Bearer <secret>'):")
    typer.echo(created.secret)


@keys_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List keys (never their secrets)."""
    from imi.auth.keys import list_keys

    settings = settings_with()
    configure_logging(settings)
    keys = [_key_json(k) for k in _run(settings, list_keys)]
    if as_json:
        typer.echo(json.dumps(keys))
        return
    for key in keys:
        projects = ",".join(key["project_ids"]) if key["project_ids"] else "all projects"
        state = "active" if key["active"] else "revoked/expired"
        typer.echo(
            f"{key['id']}  {key['scope']:<10} {state:<15} {key['name']}  ({projects}; "
            f"expires {key['expires_at'] or 'never'}; last used {key['last_used_at'] or 'never'})"
        )


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id.", metavar="KEY_ID")]) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from imi.auth.keys import revoke_key
    from imi.errors import DomainError

    settings = settings_with()
    configure_logging(settings)
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise _fail("KEY_ID must be a key id (UUID)") from None
    try:
        key = _run(settings, lambda session: revoke_key(session, parsed))
    except DomainError as exc:
        raise _fail(exc.message) from None
    typer.echo(f"revoked key {key.id} ({key.name})")
