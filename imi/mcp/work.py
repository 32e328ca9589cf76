"""Work tools: ``create_worktree``, ``get_inflight_work``, ``update_git_state``,
``log_activity`` (002 sections 3.2-3.5), ``list_work`` and ``complete_work``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from imi.activities import service as activities
from imi.activities.models import ActivityType
from imi.compat.shapes import ActivityOut, GitStateUpdatedV2, WorkItemOut, inflight_rows
from imi.compat.v2 import ActivityIn, GitStateIn, WorktreeCreateV2
from imi.mcp.calls import Calls, Listed, given
from imi.mcp.projects import READ_ONLY
from imi.models_base import MAX_PAGE_SIZE, Count, Identifier, LongText, Name, PathText
from imi.work import queries, service
from imi.work.models import CompletionType, WorkCompletion, WorkFilter, WorkSource, WorkStatus

WorktreeId = Annotated[uuid.UUID, Field(description="The worktree's (work item's) id.")]
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE, description=f"At most {MAX_PAGE_SIZE}.")]
Offset = Annotated[int, Field(ge=0)]
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)


def register(server: MCPServer, calls: Calls) -> None:
    _register_v2(server, calls)
    _register_v3(server, calls)


def _register_v2(server: MCPServer, calls: Calls) -> None:
    @server.tool(
        description="Create a new git worktree for a project: registers the work on its "
        "branch (POST /api/v1/projects/{project_id}/worktrees). type: feat, fix, aiops, "
        "devops, review (or a v3 work type).",
        annotations=WRITE,
    )
    async def create_worktree(
        ctx: Context,
        project_id: Annotated[uuid.UUID, Field(description="The project's id.")],
        type: Name,
        name: Name,
        branch_name: Identifier,
        path: PathText,
        agent_id: Identifier | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            body = WorktreeCreateV2.model_validate(
                given(
                    type=type,
                    name=name,
                    branch_name=branch_name,
                    path=path,
                    agent_id=agent_id,
                    metadata=metadata,
                )
            )
            item = await service.start_work(session, body.to_work_start(project_id, WorkSource()))
            return WorkItemOut.of(item)

        return await calls.write(ctx, "create_worktree", work)

    @server.tool(
        description="Get all worktrees with uncommitted or unmerged work: every active work "
        "item, most recently active first (GET /api/v1/inflight-work). The page's window "
        "is in the result's _meta.pagination.",
        annotations=READ_ONLY,
    )
    async def get_inflight_work(
        ctx: Context,
        project_id: uuid.UUID | None = None,
        agent_id: Identifier | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            filters = WorkFilter(project_id=project_id, owner_id=agent_id)
            page = await queries.list_in_flight(session, filters, limit=limit, offset=offset)
            return Listed(inflight_rows(page.items), page)

        return await calls.read(ctx, "get_inflight_work", work)

    @server.tool(
        description="Update git state for a worktree; fields left out keep their stored "
        "values (PATCH /api/v1/worktrees/{worktree_id}/git-state).",
        annotations=WRITE,
    )
    async def update_git_state(
        ctx: Context,
        worktree_id: WorktreeId,
        has_uncommitted: bool | None = None,
        uncommitted_count: Count | None = None,
        ahead: Count | None = None,
        behind: Count | None = None,
        last_commit_hash: Identifier | None = None,
        last_commit_message: LongText | None = None,
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            # Only what was sent, as a PATCH body: absent fields keep their stored values.
            body = GitStateIn.model_validate(
                given(
                    has_uncommitted=has_uncommitted,
                    uncommitted_count=uncommitted_count,
                    ahead=ahead,
                    behind=behind,
                    last_commit_hash=last_commit_hash,
                    last_commit_message=last_commit_message,
                )
            )
            result = await service.update_git_state(
                session, body.to_domain(), work_item_id=worktree_id
            )
            return GitStateUpdatedV2.of(result)

        return await calls.write(ctx, "update_git_state", work)

    @server.tool(
        description="Log agent activity for a worktree (POST /api/v1/activities).",
        annotations=WRITE,
    )
    async def log_activity(
        ctx: Context,
        agent_id: Annotated[Identifier, Field(min_length=1)],
        worktree_id: WorktreeId,
        activity_type: ActivityType,
        description: Annotated[LongText, Field(min_length=1)],
        file_path: PathText | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            body = ActivityIn.model_validate(
                given(
                    agent_id=agent_id,
                    worktree_id=worktree_id,
                    activity_type=activity_type.value,
                    description=description,
                    file_path=file_path,
                    metadata=metadata,
                )
            )
            return ActivityOut.of(await activities.log_activity(session, body.to_domain()))

        return await calls.write(ctx, "log_activity", work)


def _register_v3(server: MCPServer, calls: Calls) -> None:
    @server.tool(
        description="List work items, most recently active first (GET /api/v1/work): what is "
        "in flight on a project, or what an agent (owner_id) is working on. active defaults "
        "to true; false lists completed work. The window is in _meta.pagination.",
        annotations=READ_ONLY,
    )
    async def list_work(
        ctx: Context,
        project_id: uuid.UUID | None = None,
        owner_id: Identifier | None = None,
        work_type: Name | None = None,
        status: WorkStatus | None = None,
        active: bool | None = True,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            filters = WorkFilter(
                project_id=project_id,
                owner_id=owner_id,
                work_type=work_type,
                status=status,
                active=active,
            )
            page = await queries.list_work(session, filters, limit=limit, offset=offset)
            return Listed([WorkItemOut.of(i) for i in page.items], page)

        return await calls.read(ctx, "list_work", work)

    @server.tool(
        description="Complete work as merged (default), abandoned or superseded; it leaves "
        "the work in flight (POST /api/v1/work/{work_item_id}/complete).",
        annotations=WRITE,
    )
    async def complete_work(
        ctx: Context,
        work_item_id: WorktreeId,
        completion_type: CompletionType = CompletionType.MERGED,
        merge_commit_hash: Identifier | None = None,
        merged_by: Identifier | None = None,
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            body = WorkCompletion(
                completion_type=completion_type,
                merge_commit_hash=merge_commit_hash,
                merged_by=merged_by,
            )
            return WorkItemOut.of(await service.complete_work(session, work_item_id, body))

        return await calls.write(ctx, "complete_work", work)
