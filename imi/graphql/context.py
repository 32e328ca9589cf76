"""Per-request GraphQL context: one read session, the dataloaders, the session factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.fastapi import BaseContext

from imi.auth.policy import credentials_live
from imi.auth.principal import Principal
from imi.auth.scoping import open_read_session
from imi.db import unit_of_work
from imi.errors import NotFound, Unauthenticated
from imi.settings import Settings

R = TypeVar("R")


class Context(BaseContext):
    """What resolvers get as ``info.context``.

    Strawberry resolves sibling fields concurrently, but an AsyncSession serves one statement
    at a time: loaders share the request's session through ``read()``, which serializes them.
    Mutations get their own transaction from ``transaction()``.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        super().__init__()
        self.sessions = sessions
        self.settings = settings
        # Who is asking: from the HTTP request, or authenticated at a WebSocket's
        # connection_init (whose payload Strawberry puts in connection_params).
        self.principal: Principal | None = None
        self.connection_params: dict[str, Any] | None = None
        self.credentials_checked_at = 0.0  # monotonic time of a subscription's last check
        # A WebSocket's key or token, counted against its connection cap until it closes.
        self.socket_subject: str | None = None
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()

    @cached_property
    def loaders(self) -> Any:
        from imi.graphql.loaders import Loaders

        return Loaders(self)

    async def check_credentials(self) -> None:
        """On a WebSocket the key was checked at connection_init; every later operation
        re-checks it (cached briefly), so a revoked or expired key stops working there too."""
        if self.connection_params is None or self.principal is None:
            return  # an HTTP request: authenticated when it arrived
        if not await credentials_live(self.sessions, self.principal):
            raise Unauthenticated("the API key of this connection was revoked or has expired")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        await self.check_credentials()
        async with self._lock:
            if self._session is None:
                # Reads run without BEGIN/COMMIT (unless the caller is project-restricted).
                self._session = await open_read_session(self.sessions)
            yield self._session

    async def find(self, lookup: Callable[[AsyncSession], Awaitable[R]]) -> R | None:
        """A domain lookup on the read session; None when it names nothing (NotFound)."""
        async with self.read() as session:
            try:
                return await lookup(session)
            except NotFound:
                return None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        await self.check_credentials()
        async with unit_of_work(self.sessions) as session:
            yield session
        # What the mutation wrote must be visible to the fields resolved after it.
        self.loaders.clear_all()
        if self._session is not None:
            await self._session.rollback()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
