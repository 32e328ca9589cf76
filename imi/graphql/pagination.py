"""Relay-style connections (``first``/``after``, ``totalCount``) over offset windows."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, Protocol, TypeVar

import strawberry

from imi.errors import ValidationFailed
from imi.graphql.context import Context
from imi.models_base import MAX_PAGE_SIZE
from imi.pagination import MAX_OFFSET

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

DEFAULT_FIRST = 50


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int

    @strawberry.field(description="The nodes of this page, without cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


@lru_cache(maxsize=4096)
def cursor_at(offset: int) -> str:
    # Every edge of every page gets one (most documents never read it): the first few
    # thousand offsets are encoded once per process.
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def offset_after(after: str | None) -> int:
    """The offset of the first item after ``after`` (0 without a cursor)."""
    if after is None:
        return 0
    try:
        kind, value = base64.urlsafe_b64decode(after.encode()).decode().split(":", 1)
        if kind != "offset" or not 0 <= int(value) < MAX_OFFSET:
            raise ValueError
        return int(value) + 1
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(f"invalid cursor {after!r}", field="after") from None


@dataclass(frozen=True, slots=True)
class Window:
    """``first``/``after`` resolved to ``limit``/``offset``; hashable, so loaders key on it."""

    limit: int
    offset: int

    @classmethod
    def of(cls, first: int | None, after: str | None) -> Window:
        first = DEFAULT_FIRST if first is None else first
        if not 0 <= first <= MAX_PAGE_SIZE:
            raise ValidationFailed(f"first must be between 0 and {MAX_PAGE_SIZE}", field="first")
        return cls(first, offset_after(after))


class Paged(Protocol[R_co]):
    """A page of rows and the total count: the domain's ``Page`` or a loader's ``PageOf``."""

    @property
    def items(self) -> Sequence[R_co]: ...

    @property
    def total(self) -> int: ...


def connection(page: Paged[R], window: Window, to_node: Callable[[R], T]) -> Connection[T]:
    rows = page.items[: window.limit]
    edges = [
        Edge(cursor=cursor_at(window.offset + i), node=to_node(row)) for i, row in enumerate(rows)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=window.offset + len(rows) < page.total,
            has_previous_page=window.offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total,
    )


async def list_connection(
    context: Context,
    window: Window,
    fetch: Callable[..., Awaitable[Paged[R]]],
    to_node: Callable[[R], T],
) -> Connection[T]:
    """A top-level list over a domain list function ``fetch(session, limit=, offset=)``.

    The domain's lists take 1..MAX rows: ``first: 0`` asks for one (for the total) and shows none.
    """
    async with context.read() as session:
        page = await fetch(session, limit=max(window.limit, 1), offset=window.offset)
    return connection(page, window, to_node)
