"""Request-scoped dependencies: one transaction per request, id parsing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from imi.auth.scoping import read_session
from imi.db import unit_of_work
from imi.errors import NotFound, ValidationFailed

READ_METHODS = frozenset({"GET", "HEAD"})


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """A write commits when the handler returns and rolls back when it raises; a read (GET,
    HEAD: they change nothing) runs without BEGIN/COMMIT (``auth.scoping.read_session``).

    ``scope="function"`` below makes the commit happen before the response is sent, so a
    client never sees success for a transaction that then fails to commit.
    """
    sessions = request.app.state.sessions
    if request.method in READ_METHODS:
        async with read_session(sessions) as session:
            yield session
        return
    async with unit_of_work(sessions) as session:
        yield session


Session = Annotated[AsyncSession, Depends(_transaction, scope="function")]


def parse_id(value: str, entity: str) -> uuid.UUID:
    """A path id; a malformed one names nothing that exists, so it is a 404, not a 500."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(entity, value) from None


def parse_query_id(value: str, field: str) -> uuid.UUID:
    """An id given as a filter: a malformed one is bad input (400 naming the parameter)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(f"{field} must be a UUID, got {value[:80]!r}", field=field) from None
