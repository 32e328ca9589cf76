"""The Node interface and ``node(id:)`` lookup by global id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import strawberry

from imi.graphql.ids import from_global_id, to_global_id


@strawberry.interface(description="An object with a global id (base64 of `Type:uuid`).")
class Node:
    id: strawberry.ID

    @staticmethod
    def global_id(type_name: str, raw_id: UUID) -> strawberry.ID:
        return strawberry.ID(to_global_id(type_name, raw_id))


# type name -> async (info, uuid) -> node or None; each area module registers its types.
NodeResolver = Callable[[Any, UUID], Awaitable[Node | None]]
NODE_RESOLVERS: dict[str, NodeResolver] = {}


F = TypeVar("F", bound=NodeResolver)


def node_resolver(type_name: str) -> Callable[[F], F]:
    def register(resolver: F) -> F:
        NODE_RESOLVERS[type_name] = resolver
        return resolver

    return register


async def resolve_node(info: Any, global_id: str) -> Node | None:
    try:
        type_name, raw_id = from_global_id(global_id)
    except Exception:
        return None
    resolver = NODE_RESOLVERS.get(type_name)
    return await resolver(info, raw_id) if resolver else None
