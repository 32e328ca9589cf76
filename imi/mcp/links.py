"""Link tools: ``link_ticket`` and ``trace``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from imi.compat.shapes_links import TicketLinkOut, trace_view
from imi.links import service
from imi.links.models import LinkKind, TicketLinkInput
from imi.mcp.calls import Calls, given
from imi.mcp.projects import READ_ONLY
from imi.mcp.work import WRITE
from imi.models_base import MAX_URL, Identifier, Name, Title, UrlText

EntityType = Literal["ticket", "branch", "work", "pr", "deploy"]


def register(server: MCPServer, calls: Calls) -> None:
    @server.tool(
        description="Link a Plane ticket (e.g. PROJ-123) to a work item, creating or "
        "refreshing the ticket (POST /api/v1/links/ticket). Idempotent per (ticket, work "
        "item): a re-send changes nothing; a new kind (closes | references) moves the link.",
        annotations=WRITE,
    )
    async def link_ticket(
        ctx: Context,
        work_item_id: Annotated[uuid.UUID, Field(description="The work item's id.")],
        plane_ticket_id: Identifier,
        ticket_title: Title | None = None,
        ticket_url: UrlText | None = None,
        ticket_state: Name | None = None,
        kind: LinkKind = LinkKind.REFERENCES,
        metadata: dict[str, Any] | None = None,
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            body = TicketLinkInput.model_validate(
                given(
                    work_item_id=work_item_id,
                    plane_ticket_id=plane_ticket_id,
                    ticket_title=ticket_title,
                    ticket_url=ticket_url,
                    ticket_state=ticket_state,
                    kind=kind,
                    metadata=metadata,
                )
            )
            return TicketLinkOut.of(await service.link_ticket(session, body))

        return await calls.write(ctx, "link_ticket", work)

    @server.tool(
        description="The linked subgraph around one node, as {root, direction, nodes, edges} "
        "(GET /api/v1/trace/{entity_type}/{entity_id}). entity_type: ticket (a Plane id, "
        "e.g. PROJ-123), branch or work (a work item id, or <project_id>:<branch_name>), pr "
        "(id or url), deploy (deploy id).",
        annotations=READ_ONLY,
    )
    async def trace(
        ctx: Context,
        entity_type: EntityType,
        entity_id: Annotated[str, Field(min_length=1, max_length=MAX_URL)],
    ) -> CallToolResult:
        async def work(session: AsyncSession) -> Any:
            return trace_view(await service.trace(session, entity_type, entity_id))

        return await calls.read(ctx, "trace", work)
