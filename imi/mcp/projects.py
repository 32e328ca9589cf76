"""Project tools: ``create_project`` (002 section 3.1), ``get_project``,
``find_project_by_origin``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from imi.compat.shapes import ProjectOut
from imi.mcp.calls import Calls, given
from imi.models_base import Identifier, Name, PathText, UrlText
from imi.projects import queries, service
from imi.projects.models import ProjectCreate

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
IDEMPOTENT = ToolAnnotations(idempotent_hint=True, open_world_hint=False)

ProjectId = Annotated[uuid.UUID, Field(description="The project's id.")]
Origin = Annotated[
    UrlText,
    Field(description="The git remote origin; git@host:o/r.git, https://host/o/r, ssh://..."),
]


def register(server: MCPServer, calls: Calls) -> None:
    @server.tool(
        description="Register a new project in iMi Project Registry (idempotent on the remote "
        "origin: an already registered origin returns its project). Returns what POST "
        "/api/v1/projects/register returns.",
        annotations=IDEMPOTENT,
    )
    async def create_project(
        ctx: Context,
        name: Name,
        remote_origin: Origin,
        default_branch: Identifier = "main",
        trunk_path: PathText | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            data = ProjectCreate.model_validate(
                given(
                    name=name,
                    remote_origin=remote_origin,
                    default_branch=default_branch,
                    trunk_path=trunk_path,
                    metadata=metadata,
                )
            )
            result = await service.register_project(session, data)
            counts = await service.project_counts(session, [result.project.id])
            return ProjectOut.of(result.project, counts[result.project.id])

        return await calls.write(ctx, "create_project", work)

    @server.tool(
        description="A project with its worktree counts (GET /api/v1/projects/{project_id}).",
        annotations=READ_ONLY,
    )
    async def get_project(ctx: Context, project_id: ProjectId) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            return await queries.project_by_id(session, project_id)

        return await calls.read(ctx, "get_project", work)

    @server.tool(
        description="The project of a git remote origin, in any equivalent spelling (GET "
        "/api/v1/projects?remote_origin=...); NOT_FOUND when none is registered.",
        annotations=READ_ONLY,
    )
    async def find_project_by_origin(ctx: Context, remote_origin: Origin) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            return await queries.project_by_origin(session, remote_origin)

        return await calls.read(ctx, "find_project_by_origin", work)
