"""Per-request dataloaders (aiodataloader), one class per ``<Target>By<Key>``.

Each loader batches every ``load`` of one event-loop tick into one SQL statement, so the
statements a query issues grow with its depth, not with the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from imi.graphql.context import Context

K = TypeVar("K")
V = TypeVar("V")
L = TypeVar("L", bound="Loader[Any, Any]")


class Loader(DataLoader[K, V]):
    """A loader that runs its batch on the request's read session."""

    def __init__(self, context: Context) -> None:
        super().__init__()
        self.context = context

    async def batch_load_fn(self, keys: list[K]) -> list[V]:
        async with self.context.read() as session:
            return await self.load_batch(session, keys)

    async def load_batch(self, session: AsyncSession, keys: list[K]) -> list[V]:
        raise NotImplementedError

    async def one(self, key: K) -> V:
        result: V = await self.load(key)
        return result


class Loaders:
    """The loaders of one request, created on first use: ``loaders.get(ProjectById)``."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self._instances: dict[type[Any], Loader[Any, Any]] = {}

    def get(self, loader_class: type[L]) -> L:
        loader = self._instances.get(loader_class)
        if loader is None:
            loader = self._instances[loader_class] = loader_class(self._context)
        return loader  # type: ignore[return-value]

    def clear_all(self) -> None:
        for loader in self._instances.values():
            loader.clear_all()


def grouped(pairs: list[tuple[Any, V]], keys: list[Any]) -> list[list[V]]:
    """Rows grouped under their keys, in the order of ``keys`` (empty lists for none)."""
    by_key: dict[Any, list[V]] = {key: [] for key in keys}
    for key, value in pairs:
        by_key.setdefault(key, []).append(value)
    return [by_key[key] for key in keys]
