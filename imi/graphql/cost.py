"""A query cost limit: an upper bound on the response's size, estimated before execution.

Depth, alias and token limits bound a document, not its answer: plain lists can cycle
(``components { parentProject { components ... } }``) and connections multiply (``first`` up
to 500 at each level). :class:`QueryCostLimiter` adds a graphql-core validation rule that
estimates every operation of the document and rejects one whose cost exceeds the limit.

The cost is the most scalar values the response can hold:

* ``cost(selection set) = sum over its fields of cost(field)``;
* ``cost(field) = multiplier(field) * (cost(its selections) if it has any else 1)``;
* ``multiplier`` is how many items the field can return: ``first`` for a Relay connection
  (return type named ``...Connection``; :data:`DEFAULT_FIRST` when absent), ``limit`` for a
  list field taking one (its schema default, else :data:`DEFAULT_LIMIT`), the size in
  :data:`LIST_SIZES` for the links of one entity (a work item's tickets, PRs, deploys),
  :data:`DEFAULT_LIST_SIZE` for any other list, and 1 for everything else. ``first`` and
  ``limit`` come from literals or variables, clamped to ``0..MAX_PAGE_SIZE`` (the server
  never returns more; larger values fail with their own error). The ``nodes`` and ``edges``
  of a connection count 1: the connection's ``first`` already counted their items.

Fragments (inline or spread) on an abstract type apply to some of its object types only: the
cost of a selection set on an interface or union is the largest over its possible object
types, each counting the fields and fragments that apply to it. Aliases count as separate
fields (they are resolved separately). ``@skip``/``@include`` are ignored (an upper bound).
Introspection (``__schema``, ``__type``) costs nothing; ``__typename`` is a scalar.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_object_type,
)
from strawberry.extensions import AddValidationRules

from imi.graphql.pagination import DEFAULT_FIRST
from imi.models_base import MAX_PAGE_SIZE

DEFAULT_LIMIT = 20
"""Items assumed for a list field's ``limit`` argument without a default."""
DEFAULT_LIST_SIZE = 20
"""Items assumed for a plain (unpaginated) list field without a size of its own below."""
LIST_SIZES: Mapping[tuple[str, str], int] = {
    # One work item's links: a branch closes or references a few tickets (auto-linking takes at
    # most 20 keys from a branch name), has a PR or two, ships to a few environments.
    ("WorkItem", "tickets"): 5,
    ("WorkItem", "pullRequests"): 3,
    ("WorkItem", "deployments"): 5,
    ("PullRequest", "tickets"): 5,
    ("PullRequest", "deployments"): 5,
    # A ticket is worked on by a handful of branches (implementation, fixes).
    ("Ticket", "workItems"): 10,
    ("Ticket", "pullRequests"): 10,
    ("Ticket", "deployments"): 10,
}
"""Items assumed for the plain lists whose real size is far below the default: the links of
one entity. Estimates, not caps: the cost bounds the work a document asks for, and a request
that still runs long is stopped by the execution timeout."""
EXEMPT_FIELDS = frozenset({"__schema", "__type"})
CONNECTION_SUFFIX = "Connection"


def cost_message(cost: int, limit: int) -> str:
    return (
        f"Query cost {cost} exceeds the limit of {limit}; "
        "ask for fewer items (first/limit) or less nesting."
    )


class CostEstimator:
    """Estimates operations of one document, given the request's variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables: Mapping[str, Any] = variables or {}
        self.variable_defaults: dict[str, int] = {}
        self._memo: dict[tuple[int, str], int] = {}
        self._spread_memo: dict[tuple[str, str], int] = {}
        self._spreading: set[str] = set()

    def operation_cost(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:  # reported by graphql-core's own rules
            return 0
        self.variable_defaults = {
            definition.variable.name.value: int(definition.default_value.value)
            for definition in operation.variable_definitions or ()
            if isinstance(definition.default_value, IntValueNode)
        }
        self._memo.clear()  # field multipliers depend on this operation's variables
        self._spread_memo.clear()
        return self.selection_cost(operation.selection_set, root)

    def selection_cost(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        """The largest cost over the object types ``parent`` may be at run time."""
        if is_abstract_type(parent):
            candidates: list[GraphQLObjectType] = list(self.schema.get_possible_types(parent))
        elif is_object_type(parent):
            candidates = [parent]
        else:
            return 0
        return max(
            (self._branch_cost(selection_set, parent, runtime) for runtime in candidates),
            default=0,
        )

    def _branch_cost(
        self, selection_set: SelectionSetNode, scope: GraphQLNamedType, runtime: GraphQLObjectType
    ) -> int:
        """The selections that apply to ``runtime``; fields are looked up on ``scope``."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field_cost(selection, scope)
            elif isinstance(selection, InlineFragmentNode):
                condition = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else scope
                )
                if condition is not None and self._applies(condition, runtime):
                    total += self._branch_cost(selection.selection_set, condition, runtime)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._spread_cost(selection.name.value, runtime)
        return total

    def _spread_cost(self, name: str, runtime: GraphQLObjectType) -> int:
        # Each fragment is costed once per runtime type: nested spreads stay linear in the
        # document instead of doubling at every level.
        key = (name, runtime.name)
        if key in self._spread_memo:
            return self._spread_memo[key]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._spreading:  # unknown or cyclic: reported elsewhere
            return 0
        condition = self.schema.get_type(fragment.type_condition.name.value)
        if condition is None or not self._applies(condition, runtime):
            return 0
        self._spreading.add(name)
        try:
            cost = self._branch_cost(fragment.selection_set, condition, runtime)
        finally:
            self._spreading.discard(name)
        self._spread_memo[key] = cost
        return cost

    def _applies(self, condition: GraphQLNamedType, runtime: GraphQLObjectType) -> bool:
        if is_abstract_type(condition):
            return self.schema.is_sub_type(condition, runtime)
        return condition is runtime

    def _field_cost(self, node: FieldNode, scope: GraphQLNamedType) -> int:
        name = node.name.value
        if name in EXEMPT_FIELDS:
            return 0
        fields: dict[str, GraphQLField] = getattr(scope, "fields", {})
        field = fields.get(name)
        if field is None:  # __typename, or an unknown field (reported by graphql-core)
            return 1
        key = (id(node), scope.name)
        if key not in self._memo:
            multiplier = self._multiplier(node, field, scope)
            if node.selection_set is None:
                inner = 1
            else:
                inner = max(1, self.selection_cost(node.selection_set, get_named_type(field.type)))
            self._memo[key] = multiplier * inner
        return self._memo[key]

    def _multiplier(self, node: FieldNode, field: GraphQLField, scope: GraphQLNamedType) -> int:
        if scope.name.endswith(CONNECTION_SUFFIX):
            return 1  # nodes/edges: counted by the connection's `first`
        returned = get_nullable_type(field.type)
        if isinstance(returned, GraphQLList):
            if "limit" in field.args:
                return self._count_argument(node, field, "limit", DEFAULT_LIMIT)
            return LIST_SIZES.get((scope.name, node.name.value), DEFAULT_LIST_SIZE)
        if get_named_type(returned).name.endswith(CONNECTION_SUFFIX):
            return self._count_argument(node, field, "first", DEFAULT_FIRST)
        return 1

    def _count_argument(self, node: FieldNode, field: GraphQLField, name: str, default: int) -> int:
        declared = field.args[name].default_value
        if isinstance(declared, int) and not isinstance(declared, bool):
            default = declared
        value: Any = default
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                variable = argument.value.name.value
                if variable in self.variables:
                    value = self.variables[variable]
                else:
                    value = self.variable_defaults.get(variable, default)
        if value is None:
            value = default
        if not isinstance(value, int) or isinstance(value, bool):
            return default  # not an Int: fails coercion before anything runs
        return min(max(value, 0), MAX_PAGE_SIZE)


def document_costs(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any] | None = None
) -> dict[str | None, int]:
    """Each operation's cost by name (``None`` for an anonymous one)."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    estimator = CostEstimator(schema, fragments, variables)
    return {
        (definition.name.value if definition.name else None): estimator.operation_cost(definition)
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    }


class QueryCostRule(ValidationRule):
    """Rejects each operation whose cost exceeds ``max_cost`` (set by :func:`cost_rule`)."""

    max_cost: ClassVar[int]
    variables: ClassVar[Mapping[str, Any]]

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        fragments = {
            definition.name.value: definition
            for definition in context.document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.estimator = CostEstimator(context.schema, fragments, self.variables)

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> Any:
        cost = self.estimator.operation_cost(node)
        if cost > self.max_cost:
            self.report_error(GraphQLError(cost_message(cost, self.max_cost), node))
        return self.SKIP


def cost_rule(max_cost: int, variables: Mapping[str, Any] | None = None) -> type[QueryCostRule]:
    """A :class:`QueryCostRule` bound to a limit and one request's variables."""
    return type(
        "BoundQueryCostRule",
        (QueryCostRule,),
        {"max_cost": max_cost, "variables": dict(variables or {})},
    )


class QueryCostLimiter(AddValidationRules):
    """Strawberry extension: validates each operation's cost against ``max_cost``.

    The rule is built per request, in ``on_operation``, so it sees the request's variables.
    """

    def __init__(self, max_cost: int) -> None:
        super().__init__([])
        self.max_cost = max_cost

    def on_operation(self) -> Iterator[None]:
        variables = self.execution_context.variables
        self.validation_rules = [cost_rule(self.max_cost, variables)]
        yield from super().on_operation()


__all__ = [
    "CostEstimator",
    "QueryCostLimiter",
    "QueryCostRule",
    "cost_message",
    "cost_rule",
    "document_costs",
]
