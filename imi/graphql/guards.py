"""Input guards that answer bad queries with a clear error before any SQL runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult, GraphQLError, StringValueNode, Visitor, visit
from graphql.language import DocumentNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

NUL = "\x00"
NUL_MESSAGE = "String values must not contain NUL (U+0000) characters"


class NulFreeStrings(SchemaExtension):
    """Reject a query whose document or variables carry a NUL character.

    PostgreSQL text cannot hold NUL, so such a value can name nothing; sent to the database it
    fails as a server error. Queries get this clear error instead. Mutations keep reporting it
    as their typed ``ValidationError`` (imi/graphql/mutations/errors.py); subscriptions take no
    free text to the database.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.operation_type is OperationType.QUERY and (
            _any_nul(context.variables) or _document_has_nul(context.graphql_document)
        ):
            # A result set before execution replaces it (Strawberry skips executing).
            context.result = ExecutionResult(data=None, errors=[GraphQLError(NUL_MESSAGE)])
        yield


class _FindNul(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if NUL in node.value:
            self.found = True
            return Visitor.BREAK
        return None


def _document_has_nul(document: DocumentNode | None) -> bool:
    if document is None:
        return False
    finder = _FindNul()
    visit(document, finder)
    return finder.found


def _any_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_any_nul(k) or _any_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_any_nul(v) for v in value)
    return False
