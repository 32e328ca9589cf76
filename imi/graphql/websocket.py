"""graphql-transport-ws as Strawberry speaks it, with iMi's limits and a strict reading of frames.

* **Caps.** Connections per process, per client address (counted at the handshake) and per API
  key or token (counted at ``connection_init``, once the caller is known): beyond them the
  socket is closed with ``4429``. Operations in flight per connection and subscriptions per
  process: beyond them the new operation gets an ``error`` message, the connection stays.
* **Frames.** Every frame that is not what the protocol says (not an object, no string
  ``type``, a ``subscribe`` without an ``id`` string or a ``payload`` object with a ``query``
  string, a non-object ``payload``) closes the socket with ``4400`` and the reason, never with
  a traceback. A ``subscribe`` before ``connection_init`` is ``4401``, as the protocol says.
* **Limits.** A document over ``IMI_GRAPHQL_MAX_DOCUMENT_BYTES`` or variables nested too deep
  get an ``error`` message before parsing; a query or mutation over WebSocket is cancelled
  after ``IMI_GRAPHQL_TIMEOUT_SECONDS`` like over HTTP (subscriptions are long-lived).
* **Memory.** When the socket closes its operations are cancelled and awaited, its counts
  released and the per-connection state (context, loaders, read session) dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import OperationType, get_operation_ast, parse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

from imi.auth.principal import Principal
from imi.graphql.context import Context
from imi.graphql.requests import Refused, check_operation, timeout_error
from imi.observability.metrics import GRAPHQL_SUBSCRIPTIONS, WEBSOCKETS
from imi.settings import Settings

TOO_MANY = 4429  # graphql-transport-ws's code for "too many" (initialisation requests)
MAX_ID_LENGTH = 256


class ConnectionLimitReached(Exception):
    """Raised by ``on_ws_connect`` when the caller's key has too many sockets open."""


@dataclass
class SocketCounts:
    """The process's WebSocket connections and subscriptions, for the caps."""

    settings: Settings
    connections: int = 0
    subscriptions: int = 0
    closed_since_trim: int = 0
    trim: asyncio.TimerHandle | None = None
    by_address: Counter[str] = field(default_factory=Counter)
    by_subject: Counter[str] = field(default_factory=Counter)

    def open(self, address: str) -> str | None:
        """Count a new connection; the reason it is refused, or None."""
        total = self.settings.ws_max_connections
        per_client = self.settings.ws_max_connections_per_client
        if total and self.connections >= total:
            return "too many connections to this server"
        if per_client and self.by_address[address] >= per_client:
            return "too many connections from this address"
        self.connections += 1
        self.by_address[address] += 1
        WEBSOCKETS.labels("graphql").inc()
        return None

    def close(self, address: str) -> None:
        self.connections -= 1
        WEBSOCKETS.labels("graphql").dec()
        _decrement(self.by_address, address)
        self.closed_since_trim += 1
        if self.connections == 0 or self.closed_since_trim >= TRIM_EVERY:
            self.closed_since_trim = 0
            # Later (pushed back while sockets keep closing): a socket's objects are freed
            # once its handler has returned.
            if self.trim is not None:
                self.trim.cancel()
            self.trim = asyncio.get_running_loop().call_later(1.0, self._release_memory)

    def _release_memory(self) -> None:
        self.trim = None
        release_memory()

    def claim(self, subject: str) -> None:
        per_client = self.settings.ws_max_connections_per_client
        if per_client and self.by_subject[subject] >= per_client:
            raise ConnectionLimitReached("too many connections for this key")
        self.by_subject[subject] += 1

    def release(self, subject: str) -> None:
        _decrement(self.by_subject, subject)

    def take_subscription(self) -> bool:
        cap = self.settings.ws_max_subscriptions
        if cap and self.subscriptions >= cap:
            return False
        self.subscriptions += 1
        GRAPHQL_SUBSCRIPTIONS.inc()
        return True

    def return_subscription(self, *_: Any) -> None:
        self.subscriptions -= 1
        GRAPHQL_SUBSCRIPTIONS.dec()


TRIM_EVERY = 500
"""Closed connections after which freed memory is handed back to the system (and when the
last one closes)."""


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _malloc_trim()


def release_memory() -> None:
    """Return the heap that closed sockets freed to the system.

    Nothing of a closed socket is kept (its operations, context, loaders, hub subscription
    and counts go; the cyclic collector frees what sits in cycles), but glibc keeps the freed
    heap for reuse, so RSS does not fall: 2,000 sockets left 370 MB where 220 MB are in use.
    ``malloc_trim`` gives the free pages back (once per :data:`TRIM_EVERY` closes, and when
    the last socket closes).
    """
    if _MALLOC_TRIM is not None:
        gc.collect()  # tasks and frames of closed sockets sit in reference cycles
        _MALLOC_TRIM(0)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]  # no entry kept per address or key once it has no socket


def counted_subject(principal: Principal) -> str | None:
    """Whom a connection counts against beyond its address: its key or token's subject."""
    return principal.subject if principal.kind not in ("local", "open") else None


def malformed(message: object) -> str | None:
    """Why a frame breaks the protocol, or None."""
    if not isinstance(message, dict):
        return "Invalid message: not a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "Invalid message: `type` must be a string"
    payload = message.get("payload")
    if kind in ("subscribe", "complete"):
        id_ = message.get("id")
        if not isinstance(id_, str) or not id_ or len(id_) > MAX_ID_LENGTH:
            return f"Invalid message: `id` must be a string of 1 to {MAX_ID_LENGTH} characters"
        if kind == "subscribe":
            if not isinstance(payload, dict):
                return "Invalid message: `payload` must be an object"
            if not isinstance(payload.get("query"), str):
                return "Invalid message: `payload.query` must be a string"
            for name, kinds in (
                ("variables", dict | None),
                ("operationName", str | None),
                ("extensions", dict | None),
            ):
                if not isinstance(payload.get(name), kinds):
                    return f"Invalid message: `payload.{name}` has the wrong type"
    elif payload is not None and not isinstance(payload, dict):
        return "Invalid message: `payload` must be an object"
    return None


class ImiTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    @property
    def counts(self) -> SocketCounts:
        counts: SocketCounts = self.view.socket_counts  # type: ignore[attr-defined]
        return counts

    @property
    def settings(self) -> Settings:
        return self.context.settings

    async def handle(self) -> None:
        request = self.context.request
        if request is not None:  # what this process holds, for operations and tests
            request.app.state.graphql_sockets = self.counts
        client = request.client if request is not None else None
        address = client.host if client is not None else "unix"
        refused = self.counts.open(address)
        if refused is not None:
            await self.websocket.close(code=TOO_MANY, reason=refused)
            return
        try:
            await super().handle()
        finally:
            self.counts.close(address)
            if self.context.socket_subject is not None:
                self.counts.release(self.context.socket_subject)
                self.context.socket_subject = None
            self.operations.clear()
            await self.context.close()

    async def handle_message(self, message: Message) -> None:
        problem = malformed(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        if message["type"] == "connection_init" and message.get("payload") is None:
            message = {"type": "connection_init", "payload": {}}  # optional, may be null
        await super().handle_message(message)
        # Frames a client sent in one burst are all buffered: read without yielding, each
        # would start its operation in the same turn of the loop, and 100 sockets x 100
        # subscriptions would hold every other request for seconds. One frame per turn.
        await asyncio.sleep(0)

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except ConnectionLimitReached as exc:
            await self.websocket.close(code=TOO_MANY, reason=str(exc))

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            payload = message["payload"]
            try:
                check_operation(
                    self.settings,
                    payload["query"],
                    payload.get("variables"),
                    payload.get("operationName"),
                )
            except Refused as refused:
                await self._refuse(message["id"], refused.as_error().formatted)
                return
            if not self.counts.take_subscription():
                error = Refused(400, "Subscription limit of this server reached; retry later")
                await self._refuse(message["id"], error.as_error().formatted)
                return
            await super().handle_subscribe(message)
            operation = self.operations.get(message["id"])
            if operation is not None and operation.task is not None:
                operation.task.add_done_callback(self.counts.return_subscription)
            else:  # refused by Strawberry's own per-connection limit
                self.counts.return_subscription()
            return
        await super().handle_subscribe(message)  # closes: 4401 before init, 4409 a reused id

    async def _refuse(self, id_: str, error: Any) -> None:
        await self.send_message({"id": id_, "type": "error", "payload": [error]})

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        seconds = self.settings.graphql_timeout_seconds
        if not seconds or self._is_subscription(operation):
            await super().run_operation(operation)
            return
        try:
            async with asyncio.timeout(seconds):
                await super().run_operation(operation)
        except TimeoutError:
            with contextlib.suppress(Exception):
                await operation.send_operation_message(
                    {
                        "id": operation.id,
                        "type": "error",
                        "payload": [timeout_error(seconds).formatted],
                    }
                )

    def _is_subscription(self, operation: Operation[Context, None]) -> bool:
        return streams(operation.query, operation.operation_name, self.settings.graphql_max_tokens)


@lru_cache(maxsize=512)
def streams(query: str, operation_name: str | None, max_tokens: int) -> bool:
    """Whether the operation is a subscription (no timeout: it is long-lived); an unparsable
    one is reported by the schema, so it counts as one here. Cached: many clients send the
    same document."""
    try:
        document = parse(query, max_tokens=max_tokens, no_location=True)
        ast = get_operation_ast(document, operation_name)
    except Exception:
        return True
    return ast is None or ast.operation is OperationType.SUBSCRIPTION
