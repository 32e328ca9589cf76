"""ASGI middleware shared by every adapter mounted on the app (REST, GraphQL, health)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imi.correlation import (
    clean_correlation_id,
    new_correlation_id,
    reset_correlation_id,
    set_correlation_id,
)

CORRELATION_HEADER = "X-Correlation-ID"
_HEADER_KEY = CORRELATION_HEADER.lower().encode("latin-1")


class CorrelationIdMiddleware:
    """Adopt the caller's ``X-Correlation-ID`` (or make one) for the request, echo it back.

    Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task or body buffering per request,
    and the context variable is visible to the endpoint, uvicorn's access log and the outbox.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        correlation_id = _incoming_id(scope) or new_correlation_id()
        header = (_HEADER_KEY, correlation_id.encode("latin-1"))

        async def send_with_header(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        token = set_correlation_id(correlation_id)
        try:
            await self.app(scope, receive, send_with_header)
        finally:
            reset_correlation_id(token)


def _incoming_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            return clean_correlation_id(value.decode("latin-1"))
    return None
