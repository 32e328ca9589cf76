"""Document limits that stay linear in the document, however its fragments nest.

A fragment may spread another fragment twice, that one the next twice, and so on: 25 levels
of a 900-byte document expand to 2^25 selections. Every measure here (depth, aliases, the
selections an operation expands to) is computed once per fragment and memoized, so the work
is proportional to the document's size, not to its expansion; the expanded size itself is
capped (:data:`selections <DocumentLimitRule>`), as is the number of fragments.

This replaces Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter``, which walk every
spread again and take seconds to hours on such a document. Their messages are kept.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    parse,
)
from strawberry.extensions import AddValidationRules, SchemaExtension

from imi.auth.principal import current_principal


@dataclass(frozen=True)
class Measure:
    """What a selection set amounts to once its fragments are expanded."""

    depth: int = 0  # nested fields with selections (introspection fields not counted)
    aliases: int = 0
    selections: int = 0  # fields, counting each fragment spread as often as it is spread

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.selections + other.selections,
        )


EMPTY = Measure()
# Sums are clamped here: a 40-level bomb expands to 2^40; nothing needs the exact figure.
CLAMP = 1 << 62


def _clamped(measure: Measure) -> Measure:
    return Measure(measure.depth, min(measure.aliases, CLAMP), min(measure.selections, CLAMP))


class Measurer:
    """Measures selection sets of one document, each fragment once."""

    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        ignore_depth: Callable[[FieldNode], bool],
    ) -> None:
        self.fragments = fragments
        self.ignore_depth = ignore_depth
        self._memo: dict[str, Measure] = {}
        self._spreading: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> Measure:
        total = EMPTY
        for selection in node.selections if node is not None else ():
            if isinstance(selection, FieldNode):
                total = total + self.field(selection)
            elif isinstance(selection, InlineFragmentNode):
                total = total + self.selection_set(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total = total + self.fragment(selection.name.value)
        return _clamped(total)

    def field(self, node: FieldNode) -> Measure:
        inner = self.selection_set(node.selection_set)
        depth = 0
        if node.selection_set is not None and not self.ignore_depth(node):
            depth = 1 + inner.depth
        return _clamped(
            Measure(depth, inner.aliases + (1 if node.alias else 0), inner.selections + 1)
        )

    def fragment(self, name: str) -> Measure:
        if name in self._memo:
            return self._memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self._spreading:  # unknown or a cycle: reported
            return EMPTY  # by graphql-core's own rules
        self._spreading.add(name)
        try:
            measure = self.selection_set(definition.selection_set)
        finally:
            self._spreading.discard(name)
        self._memo[name] = measure
        return measure


def _introspection(node: FieldNode) -> bool:
    # GraphiQL's introspection query is deep by nature; the depth limit is for data queries.
    return node.name.value.startswith("__")


class DocumentLimitRule(ValidationRule):
    """Depth per operation; aliases, expanded selections and fragments per document."""

    max_depth: ClassVar[int]
    max_aliases: ClassVar[int]
    max_selections: ClassVar[int]
    max_fragments: ClassVar[int]

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.check(context.document)

    def check(self, document: DocumentNode) -> None:
        fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        if len(fragments) > self.max_fragments:
            self.report_error(
                GraphQLError(
                    f"{len(fragments)} fragments found. Allowed: {self.max_fragments}",
                    extensions={"code": "LIMIT_EXCEEDED", "limit": self.max_fragments},
                )
            )
            return  # measuring them is the work this limit spares
        measurer = Measurer(fragments, _introspection)
        aliases = selections = 0
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            measure = measurer.selection_set(definition.selection_set)
            aliases += measure.aliases
            selections += measure.selections
            if measure.depth > self.max_depth:
                name = definition.name.value if definition.name else "anonymous"
                self.report_error(
                    GraphQLError(
                        f"'{name}' exceeds maximum operation depth of {self.max_depth}",
                        definition,
                    )
                )
        if aliases > self.max_aliases:
            self.report_error(GraphQLError(f"{aliases} aliases found. Allowed: {self.max_aliases}"))
        if selections > self.max_selections:
            shown = str(selections) if selections < CLAMP else "too many"
            self.report_error(
                GraphQLError(
                    f"The document expands to {shown} selections (fragments spread in "
                    f"full). Allowed: {self.max_selections}",
                    extensions={"code": "LIMIT_EXCEEDED", "limit": self.max_selections},
                )
            )


class DocumentLimiter(AddValidationRules):
    """Strawberry extension: the document limits as one validation rule."""

    def __init__(
        self, *, max_depth: int, max_aliases: int, max_selections: int, max_fragments: int
    ) -> None:
        rule = type(
            "BoundDocumentLimitRule",
            (DocumentLimitRule,),
            {
                "max_depth": max_depth,
                "max_aliases": max_aliases,
                "max_selections": max_selections,
                "max_fragments": max_fragments,
            },
        )
        super().__init__([rule])


class PreparedDocuments:
    """Parsed documents and the fact that a document passed validation, shared by the requests
    of one schema (LRU-bounded). Many clients subscribing with the same document (a dashboard)
    then cost one parse and one validation, not one each."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.documents: OrderedDict[tuple[str, int | None], DocumentNode] = OrderedDict()
        self.valid: OrderedDict[tuple[str, str | None, str], None] = OrderedDict()

    def document(self, query: str, max_tokens: int | None) -> DocumentNode | None:
        key = (query, max_tokens)
        document = self.documents.get(key)
        if document is None:
            try:
                document = parse(query, max_tokens=max_tokens)
            except GraphQLError:
                return None  # parsed again by Strawberry, which reports the error
            self._put(self.documents, key, document)
        else:
            self.documents.move_to_end(key)
        return document

    def _put(self, cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        cache[key] = value
        if len(cache) > self.size:
            cache.popitem(last=False)


class FairPreparation(SchemaExtension):
    """Parse and validate one operation at a time per process, waiting in line, and each
    distinct document once (:class:`PreparedDocuments`).

    Both are synchronous CPU work (a few milliseconds for a small document). When thousands
    of subscriptions arrive at once, each would otherwise run its share in the same turn of
    the event loop, and every other request (``/health`` included) would wait for all of
    them at each of its own steps. In line, an operation waiting for its turn holds no time
    on the loop, and other requests' steps interleave with one preparation at a time.
    """

    _gates: ClassVar[dict[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}

    def __init__(self, prepared: PreparedDocuments) -> None:
        super().__init__()
        self.prepared = prepared

    @classmethod
    def _gate(cls) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = cls._gates.get(loop)
        if gate is None:
            for old in [other for other in cls._gates if other.is_closed()]:
                del cls._gates[old]
            gate = cls._gates[loop] = asyncio.Semaphore(1)
        return gate

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        async with self._gate():
            await asyncio.sleep(0)  # the others wait their turn off the loop
            if context.graphql_document is None and context.query:
                max_tokens = context.parse_options.get("max_tokens")
                context.graphql_document = self.prepared.document(context.query, max_tokens)
            yield

    async def on_validate(self) -> AsyncIterator[None]:
        key = self._validation_key()
        if key is not None and key in self.prepared.valid:
            self.prepared.valid.move_to_end(key)
            self.execution_context.pre_execution_errors = []  # Strawberry skips validating
            yield
            return
        async with self._gate():
            await asyncio.sleep(0)
            yield
        if key is not None and self.execution_context.pre_execution_errors == []:
            self.prepared._put(self.prepared.valid, key, None)

    def _validation_key(self) -> tuple[str, str | None, str] | None:
        """What validation depends on beyond the schema: the document, the caller's scope and
        whether it is restricted to projects (the scope rule), the variables the cost rule
        reads (:func:`cost_variables`)."""
        context = self.execution_context
        if not context.query:
            return None
        principal = getattr(context.context, "principal", None) or current_principal()
        try:
            variables = json.dumps(cost_variables(context.variables), sort_keys=True)
        except (TypeError, ValueError):
            return None
        if len(variables) > 10_000:
            return None
        scope = None
        if principal is not None:
            scope = principal.scope.value + (":restricted" if principal.restricted else "")
        return (context.query, scope, variables)


# Stands for a variable whose value the cost rule reads as "not an Int" (whatever it is).
NOT_AN_INT = "<not an int>"


def cost_variables(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    """The variables as the cost rule sees them (imi/graphql/cost.py reads a variable only as
    a page size: an Int, null, absent, or anything else, which counts as the default). Two
    requests that differ only in other values (a trace's entity id) validate alike, so the
    validation of one serves the other."""
    return {
        name: value
        if value is None or (isinstance(value, int) and not isinstance(value, bool))
        else NOT_AN_INT
        for name, value in (variables or {}).items()
    }


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` (decoded JSON) nests deeper than ``limit`` arrays/objects.

    Iterative, so a hostile value cannot exhaust the stack; stops at the first too-deep one.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterator[Any] = iter(item.values())
        elif isinstance(item, list):
            children = iter(item)
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


__all__ = [
    "DocumentLimitRule",
    "DocumentLimiter",
    "FairPreparation",
    "Measure",
    "Measurer",
    "PreparedDocuments",
    "cost_variables",
    "json_depth_exceeds",
]
