"""`imi mcp`: a real process speaking MCP on stdio, on the database `imi serve` would use."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import TextContent
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

IMI = str(Path(sys.executable).with_name("imi"))


async def test_imi_mcp_serves_tools_over_stdio(database_url: str, engine: AsyncEngine) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMI_")}
    env.update(IMI_DATABASE_URL=database_url, IMI_LOG_FORMAT="json", IMI_LOG_LEVEL="DEBUG")
    params = StdioServerParameters(command=IMI, args=["mcp"], env=env)
    # The server's stderr (its logs) goes to a file: stdout must hold MCP frames only, and any
    # stray line there would break the client's parsing below.
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert {"create_project", "get_inflight_work", "trace"} <= tools
            result = await client.call_tool(
                "create_project",
                {"name": "app", "remote_origin": "https://github.com/acme/app"},
            )
            assert not result.is_error, result
            block = result.content[0]
            assert isinstance(block, TextContent)
            created: dict[str, Any] = json.loads(block.text)
        errlog.seek(0)
        logged = errlog.read()
    async with engine.connect() as conn:
        names = await conn.execute(
            text("SELECT name FROM projects WHERE id = :id"), {"id": created["id"]}
        )
        assert names.scalar_one() == "app"
    # Its logs went to stderr, one JSON object a line.
    records = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert records, logged
