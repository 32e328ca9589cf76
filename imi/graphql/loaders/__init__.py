"""Per-request dataloaders (aiodataloader), one class per ``<Target>By<Key>``.

Each loader batches every ``load`` of one event-loop tick into one call of a domain query
(one SQL statement), so the statements a query issues grow with its depth, not with the data.
The loaders hold no SQL: they key, group and order what the domain's batch queries return.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

from imi.batches import PageOf, rows_by_id

if TYPE_CHECKING:
    from imi.graphql.context import Context

K = TypeVar("K")
V = TypeVar("V")
L = TypeVar("L", bound="Loader[Any, Any]")
P = TypeVar("P", bound=Hashable)
G = TypeVar("G", bound=Hashable)

# What a loader of plain rows leaves out for a document that reads no metadata.
NO_META = ("meta",)

# A domain batch query: ``(session, keys) -> [(key, row), ...]``.
PairQuery = Callable[[AsyncSession, list[uuid.UUID]], Awaitable[Sequence[tuple[uuid.UUID, Any]]]]


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


def distinct(pairs: Sequence[tuple[Any, Any]], keys: list[Any]) -> list[list[Any]]:
    """``(key, row)`` pairs grouped by key, each row once per key (several paths may reach it)."""
    seen: set[tuple[Any, Any]] = set()
    unique: list[tuple[Any, Any]] = []
    for key, row in pairs:
        if (key, row.id) not in seen:
            seen.add((key, row.id))
            unique.append((key, row))
    return grouped(unique, keys)


class ById(Loader[uuid.UUID, V | None]):
    """Rows of ``model`` by id, one statement a batch: ``class XById(ById[X], model=X)``."""

    model: ClassVar[type[Any]]

    def __init_subclass__(cls, *, model: type[Any] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if model is not None:
            cls.model = model

    async def load_batch(self, session: AsyncSession, keys: list[uuid.UUID]) -> list[V | None]:
        by_id = {row.id: row for row in await rows_by_id(session, self.model, keys)}
        return [by_id.get(key) for key in keys]


class Grouped(Loader[uuid.UUID, list[V]]):
    """What a domain pair query (``(key, row)``) reaches from each key, in the query's order:
    ``class XsByY(Grouped[X], query=queries.xs_of_ys)``."""

    query: ClassVar[PairQuery]

    def __init_subclass__(cls, *, query: PairQuery | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if query is not None:
            cls.query = query

    async def load_batch(self, session: AsyncSession, keys: list[uuid.UUID]) -> list[list[V]]:
        return self.group(await type(self).query(session, keys), keys)

    def group(self, pairs: Sequence[tuple[Any, Any]], keys: list[Any]) -> list[list[V]]:
        return grouped(list(pairs), keys)


class Related(Grouped[V]):
    """A :class:`Grouped` whose rows may be reached by several paths: each row once per key."""

    def group(self, pairs: Sequence[tuple[Any, Any]], keys: list[Any]) -> list[list[V]]:
        return distinct(pairs, keys)


class Pages(Loader[tuple[P, G], PageOf[V]], Generic[P, G, V]):
    """One page per parent; keys are ``(parent, group)`` where the group (the window, and the
    filters) is what one statement shares: one :meth:`fetch` per distinct group."""

    async def load_batch(self, session: AsyncSession, keys: list[tuple[P, G]]) -> list[PageOf[V]]:
        parents: dict[G, list[P]] = defaultdict(list)
        for parent, group in keys:
            parents[group].append(parent)
        pages = {group: await self.fetch(session, group, ids) for group, ids in parents.items()}
        return [pages[group].get(parent, PageOf()) for parent, group in keys]

    async def fetch(
        self, session: AsyncSession, group: G, parents: list[P]
    ) -> Mapping[P, PageOf[V]]:
        raise NotImplementedError
