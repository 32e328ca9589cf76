"""Loaders for agents (owner ids): which ones iMi has seen."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from imi.activities.queries import known_agents
from imi.graphql.loaders import Loader


class AgentById(Loader[str, str | None]):
    """The owner id when any work item or activity carries it, else None (one statement)."""

    async def load_batch(self, session: AsyncSession, keys: list[str]) -> list[str | None]:
        known = await known_agents(session, keys)
        return [key if key in known else None for key in keys]
