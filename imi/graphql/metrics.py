"""Counts and times each GraphQL operation, over HTTP and WebSocket alike.

An operation-level extension (``on_operation`` only, no resolver hook): one timer and one
counter per operation, whatever it selects. Labels stay bounded: an unnamed operation is
``anonymous``, names are cut and capped per process (``BoundedLabel``), and a document that
does not parse has type ``unknown``.
"""

from __future__ import annotations

from collections.abc import Iterator
from time import perf_counter

from strawberry.extensions import SchemaExtension

from imi.observability.metrics import (
    GRAPHQL_DURATION,
    GRAPHQL_ERRORS,
    GRAPHQL_OPERATIONS,
    graphql_operation_name,
)

ANONYMOUS = "anonymous"
UNKNOWN = "unknown"


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = perf_counter()
        failed = True  # cancelled (a timeout, a closed socket) or raised: counted as an error
        try:
            yield
            context = self.execution_context
            result = context.result
            failed = bool(context.pre_execution_errors or (result is not None and result.errors))
        finally:
            self._record(perf_counter() - started, failed)

    def _record(self, seconds: float, failed: bool) -> None:
        context = self.execution_context
        try:
            name = context.operation_name
            kind = context.operation_type.value if context.graphql_document else UNKNOWN
        except Exception:  # no such operation in the document
            name, kind = None, UNKNOWN
        operation = graphql_operation_name(name) if name else ANONYMOUS
        GRAPHQL_OPERATIONS.labels(operation, kind).inc()
        if failed:
            GRAPHQL_ERRORS.labels(operation, kind).inc()
        if kind != "subscription":
            GRAPHQL_DURATION.labels(operation, kind).observe(seconds)
