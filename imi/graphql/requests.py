"""What a GraphQL request must look like before any GraphQL work is done on it.

Shared by HTTP (imi/graphql/router.py) and WebSocket (imi/graphql/websocket.py): the decoded
JSON, the document's size in bytes (checked before parsing), the variables' nesting depth, and
the execution timeout's error.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError

from imi.graphql.limits import json_depth_exceeds
from imi.settings import Settings


class Refused(Exception):
    """A request refused before parsing: ``status`` over HTTP, an ``error`` over WebSocket."""

    def __init__(self, status: int, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extensions = {"code": CODES.get(status, "BAD_REQUEST"), **extensions}

    def as_error(self) -> GraphQLError:
        return GraphQLError(self.message, extensions=self.extensions)


CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE"}


class UndecodableJSON(json.JSONDecodeError):
    """JSON Python refuses to decode (nested past the stack, an integer of thousands of
    digits): reported like any malformed JSON, never as a server error."""

    def __init__(self, reason: str, document: str) -> None:
        super().__init__(reason, document, 0)


def decode_json(data: str | bytes) -> object:
    try:
        return json.loads(data)
    except RecursionError:
        raise UndecodableJSON("JSON nested too deeply", "") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        raise UndecodableJSON(f"JSON value out of range: {str(exc)[:100]}", "") from None


def check_operation(
    settings: Settings, query: object, variables: object, operation_name: object
) -> None:
    """The parts of one operation (a POST body or a WebSocket ``subscribe`` payload)."""
    if not isinstance(query, str | None):
        raise Refused(400, "`query` must be a string (the GraphQL document)", field="query")
    if not isinstance(variables, dict | None):
        raise Refused(400, "`variables` must be an object or null", field="variables")
    if not isinstance(operation_name, str | None):
        raise Refused(400, "`operationName` must be a string or null", field="operationName")
    limit = settings.graphql_max_document_bytes
    # Cheap first: a str of n characters holds at least n bytes of UTF-8.
    if query is not None and (len(query) > limit or len(query.encode()) > limit):
        raise Refused(
            413,
            f"The GraphQL document is larger than {limit} bytes",
            field="query",
            limit=limit,
        )
    depth = settings.graphql_max_variables_depth
    if variables is not None and json_depth_exceeds(variables, depth):
        raise Refused(
            400,
            f"`variables` are nested deeper than {depth} levels",
            field="variables",
            limit=depth,
        )


def check_body(settings: Settings, data: object) -> dict[str, Any]:
    """A decoded POST body: one GraphQL request object."""
    if not isinstance(data, dict):
        raise Refused(
            400,
            'The request body must be a JSON object: {"query": "...", "variables": {...}, '
            '"operationName": "..."}',
            field="body",
        )
    check_operation(settings, data.get("query"), data.get("variables"), data.get("operationName"))
    if not isinstance(data.get("extensions"), dict | None):
        raise Refused(400, "`extensions` must be an object or null", field="extensions")
    return data


def timeout_error(seconds: float) -> GraphQLError:
    return GraphQLError(
        f"The operation did not finish within {seconds:g} seconds and was cancelled",
        extensions={"code": "TIMEOUT", "limit": seconds},
    )


__all__ = [
    "Refused",
    "UndecodableJSON",
    "check_body",
    "check_operation",
    "decode_json",
    "timeout_error",
]
