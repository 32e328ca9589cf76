"""The MCP server: iMi's tools on the SDK's high-level server (``MCPServer``, once FastMCP)."""

from __future__ import annotations

import logging

from mcp.server.mcpserver import MCPServer

from imi.mcp import links, projects, work
from imi.mcp.calls import CallerOf, Calls
from imi.version import imi_version

NAME = "imi"
INSTRUCTIONS = (
    "iMi is the project registry of a fleet of coding agents: projects (by git remote "
    "origin), the work in flight on them (branches and worktrees, their owner and git state), "
    "tickets, pull requests and deploys. Register a repository with create_project (or find "
    "it with find_project_by_origin), register your branch with create_worktree, report its "
    "git state with update_git_state and what you did with log_activity; ask "
    "get_inflight_work what others are working on. Results are the JSON data of iMi's REST "
    "API; errors carry its error envelope ({code, message, details})."
)


def build_server(caller_of: CallerOf) -> MCPServer:
    """Every tool, run for the caller ``caller_of`` names (the transport's business)."""
    server = _quietly_built()
    calls = Calls(caller_of)
    projects.register(server, calls)
    work.register(server, calls)
    links.register(server, calls)
    return server


def _quietly_built() -> MCPServer:
    """The SDK's server, leaving logging as iMi configured it.

    Its constructor calls ``logging.basicConfig`` (a handler of its own on the root logger
    when there is none yet): iMi's logging (``imi.logging``) is the one configuration.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return MCPServer(NAME, instructions=INSTRUCTIONS, version=imi_version())
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
