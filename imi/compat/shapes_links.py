"""Response shapes of the links area shared by REST and MCP: ticket links and the trace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from imi.links.models import TicketLinkResult
from imi.links.trace_graph import Trace, TraceNode


class TicketLinkOut(BaseModel):
    """A ticket link: the link's own fields with the ticket's beside them."""

    id: uuid.UUID = Field(description="The link's id (same as link_id).")
    link_id: uuid.UUID
    ticket_id: uuid.UUID
    work_item_id: uuid.UUID
    plane_ticket_id: str
    ticket_title: str | None = Field(description="The ticket's title (PRD name; = title).")
    ticket_url: str | None = Field(description="The ticket's url (PRD name; = url).")
    title: str | None
    url: str | None
    state: str | None
    kind: str = Field(description="closes | references")
    metadata: dict[str, Any] = Field(description="The link's metadata.")
    created: bool = Field(description="True when this call created the link.")
    ticket_created: bool = Field(description="True when the ticket itself was new too.")
    changed: bool = Field(description="True when the link was created or its kind/metadata moved.")
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, result: TicketLinkResult) -> TicketLinkOut:
        ticket, link = result.ticket, result.link
        return cls(
            id=link.id,
            link_id=link.id,
            ticket_id=ticket.id,
            work_item_id=link.work_item_id,
            plane_ticket_id=ticket.plane_ticket_id,
            ticket_title=ticket.title,
            ticket_url=ticket.url,
            title=ticket.title,
            url=ticket.url,
            state=ticket.state,
            kind=link.kind,
            metadata=link.meta,
            created=result.created,
            ticket_created=result.ticket_created,
            changed=result.changed,
            created_at=link.created_at,
            updated_at=link.updated_at,
        )


def trace_view(trace: Trace) -> dict[str, Any]:
    """:class:`TraceOut` as plain values, for the hot path (same JSON, no model validation)."""
    nodes = [_node_view(node) for node in trace.nodes]
    return {
        "root": nodes[0],
        "direction": trace.direction,
        "nodes": nodes,
        "edges": [
            {"from": e.source_id, "to": e.target_id, "kind": e.type, "link_kind": e.kind}
            for e in trace.edges
        ],
    }


def _node_view(node: TraceNode) -> dict[str, Any]:
    fields = {key: value for key, value in node.data.items() if key not in ("type", "id")}
    return {"type": node.type, "id": node.id, **fields}
