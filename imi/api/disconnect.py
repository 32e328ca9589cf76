"""Stop serving a request whose client has gone: its database query is cancelled with it."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CancelOnDisconnectMiddleware:
    """Cancel the handler of an HTTP request when the client disconnects before the answer.

    ASGI servers (uvicorn among them) keep running a handler whose client has gone; the only
    sign is an ``http.disconnect`` message, which nothing reads while the handler waits on the
    database. So this layer reads the request's messages itself and hands them to the app
    through a one-message queue (the body still streams at the app's pace); a disconnect before
    the response is complete cancels the handler's task. The cancellation reaches the query in
    flight: asyncpg sends PostgreSQL a cancel request, the transaction rolls back and the
    backend is free at once, where it would otherwise run until the statement timeout.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        inbox: asyncio.Queue[Message] = asyncio.Queue(maxsize=1)
        complete = False
        disconnected = False

        async def app_send(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        handler = asyncio.ensure_future(self.app(scope, inbox.get, app_send))

        async def watch() -> None:
            nonlocal disconnected
            while True:
                try:
                    message = await receive()
                except Exception:  # the server's channel broke: as good as a disconnect
                    message = {"type": "http.disconnect"}
                if message["type"] == "http.disconnect":
                    if not complete:
                        disconnected = True
                        handler.cancel()
                    with contextlib.suppress(asyncio.QueueFull):
                        inbox.put_nowait(message)
                    return
                await inbox.put(message)

        watcher = asyncio.ensure_future(watch())
        try:
            await handler
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not disconnected or (task is not None and task.cancelling()):
                raise  # the server is cancelling us: pass it on
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
