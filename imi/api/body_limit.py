"""Request body size limit: 413 in the error envelope, before an oversized body is read."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imi.api.errors import error_response


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit, so the app stops reading
    (an HTTPException: FastAPI and Strawberry pass it on quietly, nothing logs a traceback)."""

    def __init__(self) -> None:
        super().__init__(413, "Request body too large")


class BodyLimitMiddleware:
    """Refuse HTTP request bodies larger than ``max_bytes`` with 413 ``VALIDATION_ERROR``.

    A declared ``Content-Length`` over the limit is answered before anything is read; a body
    without one (chunked) is counted as it streams, and the moment it passes the limit the app's
    reading fails and whatever the app would have answered is replaced by the 413. Pure ASGI, so
    it covers every HTTP route (REST, GraphQL, pages) the same way; WebSockets pass through.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's own answer to the failed read; the 413 replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "VALIDATION_ERROR",
            f"Request body larger than {self.max_bytes} bytes",
            {"field": "body", "limit": self.max_bytes},
        )
        # The rest of the body is not read: the connection cannot carry another request.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
