"""The tools over streamable HTTP at ``/mcp``, inside the main app: one policy with the API.

The app's middleware runs first, as for every request: the correlation id, the body size
limit, authentication (``imi.api.security``: the same bearer key or JWT as the API, ``401``
envelope without one when ``IMI_AUTH=required``) and the rate limit. Each tool then checks the
scope it needs against the principal authentication set on the request (``imi.mcp.calls``),
and a project-restricted key reads and writes through the same scoped sessions as REST.

Stateless and JSON: every POST stands alone (no session to pin to a replica, nothing kept
between requests), answered with one JSON-RPC message rather than an event stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from imi.auth.principal import Principal
from imi.correlation import get_correlation_id
from imi.errors import Unauthenticated
from imi.logging import get_logger
from imi.mcp.calls import Caller
from imi.mcp.server import build_server
from imi.settings import Settings

log = get_logger(__name__)

MCP_PATH = "/mcp"
CORRELATION_KEY = "imi.correlation_id"  # request state: the request's id, for its tool call


class McpEndpoint:
    """The ASGI endpoint at /mcp, and the SDK session manager's task group it needs running.

    The task group runs in a task of its own between :meth:`start` and :meth:`stop`: the app's
    lifespan may enter and leave in different tasks (test harnesses do), and an anyio task
    group must close in the task that opened it.
    """

    def __init__(self, server: MCPServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.manager: StreamableHTTPSessionManager | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _new_manager(self) -> StreamableHTTPSessionManager:
        """A fresh manager per start: one runs only once, and an app may be started again."""
        self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            max_request_body_size=self.settings.max_body_bytes,
            # Host and Origin are the app's business (CORS, IMI_CORS_ORIGINS), as for the API:
            # the SDK's localhost-only default would refuse iMi served on another name.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        return self.server.session_manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The tool runs in the manager's task, outside this request's context: the
        # correlation id travels in the request's state, as the principal does.
        scope.setdefault("state", {})[CORRELATION_KEY] = get_correlation_id()
        if self.manager is None:
            raise RuntimeError("the MCP endpoint is not started (the app's lifespan starts it)")
        await self.manager.handle_request(scope, receive, send)

    async def start(self) -> None:
        started = asyncio.Event()
        self._stopping = asyncio.Event()
        manager = self.manager = self._new_manager()

        async def run() -> None:
            async with manager.run():
                started.set()
                await self._stopping.wait()

        self._task = asyncio.create_task(run(), name="imi-mcp-sessions")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiter.cancel()
            await self._task  # raises what stopped it from starting

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task, self.manager = self._task, None, None
        if task is None:
            return
        try:
            await task
        except Exception:  # the rest of the app's shutdown still runs
            log.exception("the MCP session manager failed")


def mount_mcp(app: FastAPI, settings: Settings) -> McpEndpoint:
    """Serve the tools at ``/mcp``; the app's lifespan starts and stops the endpoint."""

    def caller_of(ctx: Context) -> Caller:
        state: dict[str, Any] = getattr(ctx.request_context.request, "scope", {}).get("state", {})
        principal = state.get("principal")
        if not isinstance(principal, Principal):  # authentication always sets it on /mcp
            raise Unauthenticated("an API key or token is required (Authorization: Bearer ...)")
        return Caller(app.state.sessions, principal, state.get(CORRELATION_KEY))

    endpoint = McpEndpoint(build_server(caller_of), settings)
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"]))
    return endpoint
