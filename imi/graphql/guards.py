"""Input guards that answer bad queries with a clear error before any SQL runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult, GraphQLError, StringValueNode, Visitor, visit
from graphql.language import DocumentNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from imi.db import database_unavailable, sqlstate
from imi.graphql.memo import IdentityMemo
from imi.resilience import retry_after_seconds

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


def _has_nul(document: DocumentNode) -> bool:
    finder = _FindNul()
    visit(document, finder)
    return finder.found


_document_nul = IdentityMemo(_has_nul)  # a cached document is walked once


def _document_has_nul(document: DocumentNode | None) -> bool:
    return document is not None and _document_nul(document)


def _any_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_any_nul(k) or _any_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_any_nul(v) for v in value)
    return False


class DatabaseOutage(SchemaExtension):
    """A query whose data the database could not give (unreachable, connection lost, the
    statement timeout) answers over HTTP like REST does: 503 with ``Retry-After`` and
    ``extensions.code`` SERVICE_UNAVAILABLE (or TIMEOUT), not a 200 with a masked error."""

    RETRY_AFTER = "2"

    def on_execute(self) -> Iterator[None]:
        yield
        if self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            return  # a stream: its errors arrive as messages, there is no response to mark
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or []
        code = next(filter(None, (_outage_code(error) for error in errors)), None)
        if code is None:
            return
        # The open breaker's remaining cool-down when it refused the connect.
        retry_after = max(
            (retry_after_seconds(e.original_error) for e in errors if e.original_error),
            default=int(self.RETRY_AFTER),
        )
        # Plain errors (no original exception): not masked, no driver text reaches the client.
        errors[:] = [
            GraphQLError(
                OUTAGE_MESSAGES[found],
                nodes=error.nodes,
                path=error.path,
                extensions={"code": found, "retry_after": retry_after},
            )
            if (found := _outage_code(error)) is not None
            else error
            for error in errors
        ]
        response = getattr(self.execution_context.context, "response", None)
        if response is not None:  # HTTP (WebSocket results carry the code only)
            response.status_code = 503
            response.headers["Retry-After"] = str(retry_after)


OUTAGE_MESSAGES = {
    "SERVICE_UNAVAILABLE": "The database is unavailable; try again shortly",
    "TIMEOUT": "The request took longer than the database statement timeout",
}


def _outage_code(error: GraphQLError) -> str | None:
    original = error.original_error
    if original is None:
        return None
    if sqlstate(original) == "57014":
        return "TIMEOUT"
    return "SERVICE_UNAVAILABLE" if database_unavailable(original) else None
