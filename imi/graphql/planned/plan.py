"""The plan of a validated query: every selected field, resolved once for the whole document.

graphql-core decides, for each object it completes, which fields to run (fragments, aliases,
``@skip``/``@include``) and builds a resolve info per field and object. A plan does that once
per field of the document, with graphql-core's own field collection and argument coercion and
Strawberry's own argument conversion, so what runs afterwards is only reading and batching.

Anything the planned path does not handle raises :class:`Unsupported` here, before any SQL:
the operation then runs on the normal executor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from graphql import (
    ExecutableDefinitionNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet, collect_subfields
from graphql.execution.values import get_argument_values
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from imi.graphql.memo import IdentityMemo

# The directives graphql-core applies while collecting fields; any other directive in an
# operation sends it to the normal executor.
COLLECTED_DIRECTIVES = frozenset({"skip", "include"})


class Unsupported(Exception):
    """The planned path cannot answer this operation exactly as the normal executor would."""


class Kind(Enum):
    TYPENAME = "typename"  # __typename: the parent's type name
    PLAIN = "plain"  # a field without a resolver: the source's value of that name
    BATCH = "batch"  # a resolver, run once for all the sources of one level
    ROOT = "root"  # a root field's own resolver (one source: the root value)


@dataclass(slots=True)
class Level:
    """What a batch resolver gets: the sources of one level, how to read them, and the plain
    fields the document reads anywhere below the field (so a loader may leave columns out)."""

    sources: list[Any]
    read: Callable[[Any, str], Any]
    reads_below: frozenset[str]  # no default: leaving columns out must be decided


# A resolver's batch form: (the run's loads, level, converted arguments) -> a value a source.
Batch = Callable[[Any, Level, dict[str, Any]], Awaitable[list[Any]]]


@dataclass(slots=True)
class PlannedField:
    key: str  # the response key (the alias, else the field name)
    kind: Kind
    definition: GraphQLField | None
    strawberry: StrawberryField | None
    return_type: GraphQLOutputType | None
    details: FieldDetailsList
    kwargs: dict[str, Any] = field(default_factory=dict)
    batch: Batch | None = None
    root: Callable[..., Awaitable[Any]] | None = None  # a root field's planned form, if any
    # The fields selected on each object type the value may be (one entry for an object type).
    children: dict[str, list[PlannedField]] = field(default_factory=dict)
    # The Python names of the plain fields read anywhere below this field.
    reads_below: frozenset[str] = frozenset()


class Planner:
    """Builds the plan of one operation from an executor's state (schema, fragments,
    variables), resolving Strawberry fields to their batch forms."""

    def __init__(
        self,
        executor: Any,
        batches: dict[Callable[..., Any], Batch],
        roots: dict[Callable[..., Any], Callable[..., Awaitable[Any]]],
    ) -> None:
        self.executor = executor
        self.batches = batches
        self.roots = roots
        strawberry_schema = executor.schema._strawberry_schema
        self.scalar_registry = strawberry_schema.schema_converter.scalar_registry
        self.config = strawberry_schema.config

    def fields(
        self, parent: GraphQLObjectType, grouped: GroupedFieldSet, root: bool = False
    ) -> list[PlannedField]:
        return [self.field(parent, key, details, root) for key, details in grouped.items()]

    def field(
        self, parent: GraphQLObjectType, key: str, details: FieldDetailsList, root: bool
    ) -> PlannedField:
        first = details[0]
        if any(d.defer_usage is not None or d.fragment_variable_values for d in details):
            raise Unsupported("deferred fields or fragment variables")
        name = first.node.name.value
        if name == "__typename":
            return PlannedField(key, Kind.TYPENAME, None, None, None, details)
        if name.startswith("__"):
            raise Unsupported("introspection")
        definition = self.executor.schema.get_field(parent, name)
        strawberry_field = definition.extensions.get("strawberry-definition")
        if not isinstance(strawberry_field, StrawberryField) or strawberry_field.extensions:
            raise Unsupported(f"{parent.name}.{name} is not a plain Strawberry field")
        planned = PlannedField(
            key, Kind.PLAIN, definition, strawberry_field, definition.type, details
        )
        resolver = strawberry_field.base_resolver
        if resolver is not None:
            planned.kind = Kind.ROOT if root else Kind.BATCH
            if root:
                planned.root = self.roots.get(resolver.wrapped_func)  # type: ignore[arg-type]
            else:
                planned.batch = self.batches.get(resolver.wrapped_func)  # type: ignore[arg-type]
                if planned.batch is None:
                    raise Unsupported(f"{parent.name}.{name} has no batch form")
            planned.kwargs = self.arguments(definition, strawberry_field, details)
        self.children(planned)
        return planned

    def arguments(
        self, definition: GraphQLField, strawberry_field: StrawberryField, details: FieldDetailsList
    ) -> dict[str, Any]:
        """What the resolver's keyword arguments would be (graphql-core coerces, Strawberry
        converts into its input types and Python names)."""
        first = details[0]
        raw = (
            get_argument_values(
                definition,
                first.node,
                self.executor.variable_values,
                first.fragment_variable_values,
                self.executor.hide_suggestions,
            )
            if definition.args or first.node.arguments
            else {}
        )
        converted: dict[str, Any] = convert_arguments(
            raw,
            strawberry_field.arguments,
            scalar_registry=self.scalar_registry,
            config=self.config,
        )
        return converted

    def children(self, planned: PlannedField) -> None:
        assert planned.return_type is not None
        named = get_named_type(planned.return_type)
        if is_object_type(named):
            types = [named]
        elif is_abstract_type(named):
            types = list(self.executor.schema.get_possible_types(named))
        else:
            return
        executor = self.executor
        for object_type in types:
            collected = collect_subfields(
                executor.schema,
                executor.fragments,
                executor.variable_values,
                executor.operation,
                object_type,
                planned.details,
                executor.hide_suggestions,
            )
            if collected.new_defer_usages or collected.forbidden_directive_instances:
                raise Unsupported("incremental delivery")
            planned.children[object_type.name] = self.fields(
                object_type, collected.grouped_field_set
            )
        below: set[str] = set()
        for children in planned.children.values():
            for child in children:
                below |= child.reads_below
                if child.kind is Kind.PLAIN and child.strawberry is not None:
                    below.add(child.strawberry.python_name)
        planned.reads_below = frozenset(below)


def _selections_collected_only(selection_set: SelectionSetNode | None) -> bool:
    for selection in selection_set.selections if selection_set is not None else ():
        if not _own_collected_only(selection):
            return False
        if not _selections_collected_only(getattr(selection, "selection_set", None)):
            return False
    return True


def _own_collected_only(node: Any) -> bool:
    return all(d.name.value in COLLECTED_DIRECTIVES for d in node.directives or ())


def _definition_collected_only(definition: ExecutableDefinitionNode) -> bool:
    variables = getattr(definition, "variable_definitions", None) or ()
    return (
        _own_collected_only(definition)
        and all(_own_collected_only(variable) for variable in variables)
        and _selections_collected_only(definition.selection_set)
    )


# Whether an operation or fragment definition (its own directives, its variables', its
# selections') uses only the directives field collection applies; walked once per definition.
only_collected_directives = IdentityMemo(_definition_collected_only)
