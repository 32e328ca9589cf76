"""GraphQL operations asked of the one policy: queries and subscriptions need read, mutations
write, the admin mutations admin. Checked at validation, before anything runs, so a refused
document changes nothing; the error carries ``extensions.code`` FORBIDDEN."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)
from strawberry.extensions import AddValidationRules

from imi.auth.policy import Action, require
from imi.auth.principal import Principal, current_principal
from imi.errors import Forbidden

# Mutations that delete, deactivate or manage: imi:admin (the REST DELETE and /keys routes).
ADMIN_MUTATIONS = frozenset({"deactivateProject", "createApiKey", "revokeApiKey"})
ADMIN_QUERIES = frozenset({"apiKeys"})
KEY_MANAGEMENT = frozenset({"createApiKey", "revokeApiKey", "apiKeys"})
ACTIONS = {
    OperationType.QUERY: Action.READ,
    OperationType.SUBSCRIPTION: Action.READ,
    OperationType.MUTATION: Action.WRITE,
}


class ScopeRule(ValidationRule):
    principal: ClassVar[Principal | None]

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> Any:
        principal = self.principal
        if principal is None:  # fail closed: every request is authenticated before this
            self.report_error(
                GraphQLError("unauthenticated", node, extensions={"code": "UNAUTHORIZED"})
            )
            return self.SKIP
        roots = self._root_fields(node.selection_set, set())
        action = ACTIONS[node.operation]
        if roots & (ADMIN_MUTATIONS | ADMIN_QUERIES):
            action = Action.ADMIN
        try:
            require(principal, action)
            if roots & KEY_MANAGEMENT and principal.restricted:
                raise Forbidden("key management needs a key that is not restricted to projects")
        except Forbidden as exc:
            self.report_error(
                GraphQLError(exc.message, node, extensions={"code": exc.code, **exc.details})
            )
        return self.SKIP

    def _root_fields(self, selection_set: SelectionSetNode, visited: set[str]) -> set[str]:
        """The root field names, through inline fragments and every fragment spread (each
        fragment expanded once, however deep the spreads nest)."""
        names: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                names |= self._root_fields(selection.selection_set, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is not None and name not in visited:
                    visited.add(name)
                    names |= self._root_fields(fragment.selection_set, visited)
        return names


class OperationScope(AddValidationRules):
    """Strawberry extension: the scope rule bound to this request's principal."""

    def __init__(self) -> None:
        super().__init__([])

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        principal = getattr(context, "principal", None) or current_principal()
        rule = type("BoundScopeRule", (ScopeRule,), {"principal": principal})
        self.validation_rules = [rule]
        yield from super().on_operation()
