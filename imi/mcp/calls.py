"""How a tool call runs: as whom, in which transaction, and what its errors become.

A tool call is one unit of work, as one HTTP request is: a write commits when the tool's work
returns and rolls back when it raises; a read runs on the read session REST reads use. The
caller's principal is current for the call, so a project-restricted key is scoped in every
query (``imi.auth.scoping``) and the one policy decides what it may call
(``imi.auth.policy.require``): read tools need ``imi:read``, write tools ``imi:write``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.auth.policy import Action, require
from imi.auth.principal import Principal, reset_principal, set_principal
from imi.auth.scoping import read_session
from imi.correlation import new_correlation_id, reset_correlation_id, set_correlation_id
from imi.db import database_unavailable, domain_error_from_database, sqlstate, unit_of_work
from imi.errors import DomainError, ValidationFailed
from imi.logging import get_logger
from imi.mcp.results import error, failure, success
from imi.models_base import Page
from imi.resilience import DEFAULT_RETRY_AFTER_SECONDS, retry_after_seconds

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls a tool and against which database."""

    sessions: async_sessionmaker[AsyncSession]
    principal: Principal
    correlation_id: str | None = None  # the HTTP request's; a new one per call otherwise


# Each transport knows its caller: stdio a trusted local one, HTTP the request's principal.
CallerOf = Callable[[Context], Caller]


@dataclass(frozen=True, slots=True)
class Listed:
    """A page of a list tool: ``data`` is what the REST endpoint's ``data`` is."""

    data: list[Any]
    page: Page[Any]


Work = Callable[[AsyncSession], Awaitable[Any]]


class Calls:
    """What every tool module is given: run a piece of work as a read or as a write."""

    def __init__(self, caller_of: CallerOf) -> None:
        self._caller_of = caller_of

    async def read(self, ctx: Context, tool: str, work: Work) -> CallToolResult:
        return await self._run(ctx, tool, Action.READ, work)

    async def write(self, ctx: Context, tool: str, work: Work) -> CallToolResult:
        return await self._run(ctx, tool, Action.WRITE, work)

    async def _run(self, ctx: Context, tool: str, action: Action, work: Work) -> CallToolResult:
        try:
            caller = self._caller_of(ctx)
        except DomainError as exc:
            return failure(exc)
        principal_token = set_principal(caller.principal)
        correlation_token = set_correlation_id(caller.correlation_id or new_correlation_id())
        try:
            require(caller.principal, action)
            data = await _in_transaction(caller.sessions, action, work)
        except DomainError as exc:
            log.info("tool refused", tool=tool, code=exc.code, reason=exc.message)
            return failure(exc)
        except ValidationError as exc:
            return failure(validation_failed(exc))
        except Exception as exc:
            return _fault(tool, exc)
        finally:
            reset_correlation_id(correlation_token)
            reset_principal(principal_token)
        if isinstance(data, Listed):
            return success(data.data, data.page)
        return success(data)


async def _in_transaction(
    sessions: async_sessionmaker[AsyncSession], action: Action, work: Work
) -> Any:
    if action is Action.READ:
        async with read_session(sessions) as session:
            return await work(session)
    async with unit_of_work(sessions) as session:
        return await work(session)


QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout
RETRY_AFTER_SECONDS = DEFAULT_RETRY_AFTER_SECONDS


def _fault(tool: str, exc: Exception) -> CallToolResult:
    """What REST answers for the same failure (``imi.api.failures``), as a tool error; the
    traceback goes to the log, never to the caller."""
    if sqlstate(exc) == QUERY_CANCELED:
        log.warning("statement timed out", tool=tool)
        message = "The request took longer than the database statement timeout"
        return error("TIMEOUT", message, {"retry_after": RETRY_AFTER_SECONDS})
    if database_unavailable(exc):
        log.error("database unavailable", tool=tool, error=repr(exc)[:500])
        message = "The database is unavailable; try again shortly"
        return error("SERVICE_UNAVAILABLE", message, {"retry_after": retry_after_seconds(exc)})
    translated = domain_error_from_database(exc)
    if translated is not None:
        log.info("database refused the call", tool=tool, error=str(exc)[:500])
        return failure(translated)
    log.error("unhandled error", tool=tool, exc_info=exc)
    return error("INTERNAL_ERROR", "Internal server error")


def validation_failed(exc: ValidationError) -> ValidationFailed:
    """An input model's rejection, worded as REST words it: ``field: message``."""
    errors = [
        {
            "field": ".".join(str(p) for p in e["loc"] if not isinstance(p, int)) or None,
            "message": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": None, "message": "invalid input"}
    message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    return ValidationFailed(message, field=first["field"], errors=errors)


def given(**values: Any) -> dict[str, Any]:
    """The arguments a caller gave, as a request body would hold them: an optional argument
    left out is absent, not null (a service tells "not sent" from "set to null")."""
    return {key: value for key, value in values.items() if value is not None}
