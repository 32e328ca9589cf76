"""The Strawberry schema: queries, mutations and subscriptions of every area, with limits."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types

from imi.errors import DomainError
from imi.graphql import enums as _enums  # noqa: F401  (registers the enums)
from imi.graphql.authz import OperationScope
from imi.graphql.context import Context
from imi.graphql.cost import QueryCostLimiter
from imi.graphql.guards import DatabaseOutage, NulFreeStrings
from imi.graphql.limits import DocumentLimiter, FairPreparation, PreparedDocuments
from imi.graphql.metrics import OperationMetrics
from imi.graphql.node import Node, resolve_node
from imi.settings import Settings

Info = strawberry.Info[Context, None]


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id; null when unknown.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, id)


# Each area module may define `Query`, `Mutation` and `Subscription` classes; they are merged
# into the root types in this order.
AREAS = (
    "imi.graphql.projects",
    "imi.graphql.work",
    "imi.graphql.links",
    "imi.graphql.trace",
    "imi.graphql.components",
    "imi.graphql.activities",
    "imi.graphql.agents",
    "imi.graphql.messages",
    "imi.graphql.reservations",
    "imi.graphql.stats",
    "imi.graphql.insights_stale",
    "imi.graphql.insights_impact",
    "imi.graphql.insights_delivery",
    "imi.graphql.events",
    "imi.graphql.keys",
    "imi.graphql.mutations.projects",
    "imi.graphql.mutations.work",
    "imi.graphql.mutations.links",
    "imi.graphql.mutations.components",
    "imi.graphql.mutations.activities",
    "imi.graphql.subscriptions",
)


def _parts(root: str) -> tuple[type, ...]:
    parts: list[type] = [NodeQuery] if root == "Query" else []
    for area in AREAS:
        try:
            module = import_module(area)
        except ModuleNotFoundError as exc:
            if exc.name != area:
                raise
            continue
        part = getattr(module, root, None)
        if part is not None:
            parts.append(part)
    return tuple(parts)


Query = merge_types("Query", _parts("Query"))
MUTATION_PARTS = _parts("Mutation")
SUBSCRIPTION_PARTS = _parts("Subscription")


def _should_mask(error: GraphQLError) -> bool:
    """Hide unexpected exceptions' text; domain and GraphQL errors are meant for clients."""
    original = error.original_error
    return original is not None and not isinstance(original, DomainError | GraphQLError)


def limits(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories (a fresh instance per request)."""
    prepared = PreparedDocuments()  # shared by this schema's requests
    extensions: list[Callable[[], SchemaExtension]] = [
        OperationMetrics,  # first: it times and counts what every other one refuses too
        lambda: FairPreparation(prepared),
        OperationScope,
        # Depth, aliases, expanded selections and fragments, each fragment measured once
        # (imi/graphql/limits.py): linear in the document, whatever its fragments spread.
        lambda: DocumentLimiter(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_selections=settings.graphql_max_selections,
            max_fragments=settings.graphql_max_fragments,
        ),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: QueryCostLimiter(max_cost=settings.graphql_max_cost),
        NulFreeStrings,
        DatabaseOutage,
        lambda: MaskErrors(should_mask_error=_should_mask),
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return extensions


def build_schema(settings: Settings | None = None, *, planned: bool = True) -> strawberry.Schema:
    """``planned``: queries run on the level-wise executor where it can (imi/graphql/planned);
    off, every operation runs on Strawberry's (the tests compare the two)."""
    settings = settings or Settings(_env_file=None)
    kwargs: dict[str, Any] = {"query": Query, "extensions": limits(settings)}
    if planned:
        from imi.graphql.planned.executor import PlannedExecutor

        kwargs["execution_context_class"] = PlannedExecutor
    if MUTATION_PARTS:
        kwargs["mutation"] = merge_types("Mutation", MUTATION_PARTS)
    if SUBSCRIPTION_PARTS:
        kwargs["subscription"] = merge_types("Subscription", SUBSCRIPTION_PARTS)
    return strawberry.Schema(**kwargs)


# For `strawberry export-schema imi.graphql.schema:schema` (the committed schema.graphql).
schema = build_schema()
