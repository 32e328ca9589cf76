"""Project-restricted callers see and change only their projects' rows, in every query.

While a restricted principal is current, each transaction starts with ``SET LOCAL ROLE
imi_scoped`` and ``imi.project_ids`` set to its projects; PostgreSQL's row-level security
policies (migration 0005) then filter every read and check every write: lists, search, trace,
stats, nested GraphQL fields and timelines alike, with no query of the domain aware of it.
Unrestricted callers and trusted work (consumers, relay) run as the service's own user, which
the policies do not apply to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from imi.auth.principal import current_principal

SCOPED_ROLE = "imi_scoped"
_SET_PROJECTS = text("SELECT set_config('imi.project_ids', :ids, true)")
_installed = False


def restricted() -> bool:
    """Whether the current caller sees only some projects (its reads need the scoped role)."""
    principal = current_principal()
    return principal is not None and principal.project_ids is not None


async def open_read_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A session for reads only: each statement runs on its own, without BEGIN/COMMIT.

    Under PostgreSQL's default READ COMMITTED every statement takes its own snapshot inside a
    transaction too, so a read loses nothing by skipping the two round trips. A restricted
    caller's reads keep their transaction: the scoped role is set per transaction.
    """
    session = sessions()
    if not restricted():
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session


@asynccontextmanager
async def read_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """``open_read_session`` as a block that closes the session (and returns its connection)."""
    session = await open_read_session(sessions)
    try:
        yield session
    finally:
        await session.close()


def _scope_transaction(session: Session, transaction: Any, connection: Any) -> None:
    principal = current_principal()
    if principal is None or principal.project_ids is None:
        return
    ids = "{" + ",".join(sorted(str(p) for p in principal.project_ids)) + "}"
    connection.execute(text(f"SET LOCAL ROLE {SCOPED_ROLE}"))
    connection.execute(_SET_PROJECTS, {"ids": ids})


def install_project_scoping() -> None:
    """Hook every ORM session's transactions (once per process)."""
    global _installed
    if not _installed:
        event.listen(Session, "after_begin", _scope_transaction)
        _installed = True
