"""``imi mcp``: the tools over stdio, for an agent that starts iMi as its MCP server.

stdout is the MCP channel: nothing else may write there (logs go to stderr). The caller is the
local user who started the process, trusted as the ``imi`` admin commands on this machine are:
no key is asked and every tool is allowed (``trusted:mcp-stdio``). Events are written to the
outbox in each call's transaction; a running ``imi serve`` with a broker publishes them.
"""

from __future__ import annotations

import anyio
from mcp.server.mcpserver import Context

from imi.auth.models import Scope
from imi.auth.principal import Principal
from imi.db import create_engine, session_factory
from imi.logging import configure_logging
from imi.mcp.calls import Caller
from imi.mcp.server import build_server
from imi.settings import Settings

STDIO_PRINCIPAL = Principal("trusted:mcp-stdio", "trusted", Scope.ADMIN)


def serve_stdio(settings: Settings, database_url: str) -> None:
    """Serve MCP on stdin/stdout against ``database_url`` until the client closes stdin."""
    configure_logging(settings)  # on stderr, before anything logs
    anyio.run(_serve, settings, database_url)


async def _serve(settings: Settings, database_url: str) -> None:
    engine = create_engine(database_url, settings)
    caller = Caller(session_factory(engine), STDIO_PRINCIPAL)

    def caller_of(ctx: Context) -> Caller:
        return caller

    try:
        await build_server(caller_of).run_stdio_async()
    finally:
        await engine.dispose()
