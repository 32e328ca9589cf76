"""Plane tickets and their links to work items (one ticket, many work items)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.errors import NotFound, ValidationFailed
from imi.links.common import FRESH, INSERTED, WorkRef, require_work_item, table_of
from imi.links.models import LinkKind, Ticket, TicketLink, TicketLinkInput, TicketLinkResult
from imi.outbox import PendingEvent, emit
from imi.serialize import row_dict
from imi.work.models import WorkItem

TICKET_LINKED = "imi.link.ticket_linked"
TICKET_CREATED = "imi.ticket.created"
TICKET_UPDATED = "imi.ticket.updated"

Change = Literal["created", "updated", "unchanged"]


def clean_ticket_key(value: str) -> str:
    """The natural key as stored: surrounding whitespace dropped, case kept (Plane ids vary)."""
    key = value.strip()
    if not key:
        raise ValidationFailed("plane_ticket_id must not be empty", field="plane_ticket_id")
    return key


async def _write_ticket(
    session: AsyncSession,
    *,
    key: str,
    title: str | None,
    url: str | None,
    state: str | None,
    metadata: dict[str, Any] | None,
) -> tuple[Ticket, Change]:
    """Insert or update one ticket; None fields keep the stored value, metadata merges."""
    table = table_of(Ticket)
    insert = pg_insert(Ticket).values(
        plane_ticket_id=key, title=title, url=url, state=state, meta=metadata or {}
    )
    new = {
        "title": func.coalesce(insert.excluded.title, table.c.title),
        "url": func.coalesce(insert.excluded.url, table.c.url),
        "state": func.coalesce(insert.excluded.state, table.c.state),
        "metadata": table.c.metadata.op("||")(insert.excluded.metadata),
    }
    # The WHERE keeps an unchanged re-send from writing (and tells us nothing changed);
    # the conflicting row is locked either way.
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c.plane_ticket_id],
        set_={**new, "updated_at": func.now()},
        where=or_(*(value.is_distinct_from(table.c[name]) for name, value in new.items())),
    ).returning(Ticket, INSERTED)
    row = (await session.execute(stmt, execution_options=FRESH)).first()
    if row is not None:
        return row[0], "created" if row[1] else "updated"
    existing = select(Ticket).where(col(Ticket.plane_ticket_id) == key)
    return (await session.scalars(existing, execution_options=FRESH)).one(), "unchanged"


async def _write_link(
    session: AsyncSession,
    *,
    ticket: Ticket,
    work_item_id: Any,
    kind: LinkKind,
    metadata: dict[str, Any],
) -> tuple[TicketLink, Change]:
    table = table_of(TicketLink)
    insert = pg_insert(TicketLink).values(
        ticket_id=ticket.id, work_item_id=work_item_id, kind=kind.value, meta=metadata
    )
    new = {
        "kind": insert.excluded.kind,
        "metadata": table.c.metadata.op("||")(insert.excluded.metadata),
    }
    stmt = insert.on_conflict_do_update(
        constraint="uq_ticket_links_ticket_work",
        set_={**new, "updated_at": func.now()},
        where=or_(*(value.is_distinct_from(table.c[name]) for name, value in new.items())),
    ).returning(TicketLink, INSERTED)
    row = (await session.execute(stmt, execution_options=FRESH)).first()
    if row is not None:
        return row[0], "created" if row[1] else "updated"
    existing = select(TicketLink).where(
        col(TicketLink.ticket_id) == ticket.id, col(TicketLink.work_item_id) == work_item_id
    )
    return (await session.scalars(existing, execution_options=FRESH)).one(), "unchanged"


def _linked_event(
    ticket: Ticket, link: TicketLink, work: WorkRef, *, created: bool, ticket_created: bool
) -> PendingEvent:
    payload = {
        **row_dict(ticket),
        "ticket_id": ticket.id,
        "link_id": link.id,
        "work_item_id": work.id,
        "project_id": work.project_id,
        "branch_name": work.branch_name,
        "kind": link.kind,
        "link_metadata": link.meta,
        "created": created,
        "ticket_created": ticket_created,
    }
    return PendingEvent(TICKET_LINKED, "ticket", ticket.id, payload)


def _ticket_event(ticket: Ticket, change: Change) -> PendingEvent:
    event_type = TICKET_CREATED if change == "created" else TICKET_UPDATED
    payload = {**row_dict(ticket), "ticket_id": ticket.id}
    return PendingEvent(event_type, "ticket", ticket.id, payload)


async def upsert_ticket(
    session: AsyncSession,
    *,
    plane_ticket_id: str,
    title: str | None = None,
    url: str | None = None,
    state: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Ticket:
    """Create or refresh a ticket (e.g. from a Plane webhook).

    None leaves a stored field as it is; ``metadata`` is merged key by key. Emits
    ``imi.ticket.created`` or ``imi.ticket.updated``, nothing when nothing changed.
    """
    key = clean_ticket_key(plane_ticket_id)
    ticket, change = await _write_ticket(
        session, key=key, title=title, url=url, state=state, metadata=metadata
    )
    if change != "unchanged":
        await emit(session, _ticket_event(ticket, change))
    return ticket


async def get_ticket(session: AsyncSession, plane_ticket_id: str) -> Ticket:
    stmt = select(Ticket).where(col(Ticket.plane_ticket_id) == plane_ticket_id.strip())
    ticket = (await session.scalars(stmt, execution_options=FRESH)).one_or_none()
    if ticket is None:
        raise NotFound("ticket", plane_ticket_id)
    return ticket


async def link_ticket(session: AsyncSession, data: TicketLinkInput) -> TicketLinkResult:
    """Link a Plane ticket to a work item, creating or refreshing the ticket on the way.

    Idempotent per (ticket, work item): a repeat with the same kind writes and emits nothing; a
    new kind (or new link metadata) updates the link and emits ``imi.link.ticket_linked`` again.
    ``metadata`` belongs to the link; title/url/state (when given) refresh the ticket: a new
    ticket emits ``imi.ticket.created``, a changed one ``imi.ticket.updated``.
    """
    key = clean_ticket_key(data.plane_ticket_id)
    work = await require_work_item(session, data.work_item_id)
    ticket, ticket_change = await _write_ticket(
        session, key=key, title=data.title, url=data.url, state=data.state, metadata=None
    )
    link, link_change = await _write_link(
        session, ticket=ticket, work_item_id=work.id, kind=data.kind, metadata=data.metadata
    )
    created = link_change == "created"
    ticket_created = ticket_change == "created"
    events: list[PendingEvent] = []
    if ticket_change != "unchanged":  # imi.ticket.created the first time a ticket is seen
        events.append(_ticket_event(ticket, ticket_change))
    if link_change != "unchanged":
        events.append(
            _linked_event(ticket, link, work, created=created, ticket_created=ticket_created)
        )
    await emit(session, *events)
    return TicketLinkResult(
        ticket=ticket,
        link=link,
        created=created,
        ticket_created=ticket_created,
        changed=link_change != "unchanged",
    )


async def link_ticket_keys(
    session: AsyncSession,
    work_item: WorkItem,
    keys: Sequence[str],
    kind: LinkKind = LinkKind.REFERENCES,
) -> list[TicketLinkResult]:
    """Link every ticket key to ``work_item`` in at most three statements, whatever len(keys).

    Used for auto-linking (a branch ``feat/PROJ-123-login`` references PROJ-123). Missing tickets
    are created bare (``imi.ticket.created``); blank keys are skipped. An existing link keeps its
    kind (an explicit ``closes`` is never downgraded by a guess). Only new links emit
    ``imi.link.ticket_linked``.
    """
    ordered = list(dict.fromkeys(key.strip() for key in keys if key and key.strip()))
    if not ordered:
        return []
    # Rows are locked in key order, so two callers with overlapping keys cannot deadlock.
    locking_order = sorted(ordered)
    tickets_table = table_of(Ticket)
    ticket_insert = pg_insert(Ticket).values([{"plane_ticket_id": key} for key in locking_order])
    # A no-op update (rather than DO NOTHING) returns rows another transaction just committed.
    ticket_stmt = ticket_insert.on_conflict_do_update(
        index_elements=[tickets_table.c.plane_ticket_id],
        set_={"title": tickets_table.c.title},
    ).returning(Ticket, INSERTED)
    ticket_rows = (await session.execute(ticket_stmt, execution_options=FRESH)).all()
    tickets = {row[0].plane_ticket_id: (row[0], bool(row[1])) for row in ticket_rows}

    links_table = table_of(TicketLink)
    link_insert = pg_insert(TicketLink).values(
        [
            {"ticket_id": tickets[key][0].id, "work_item_id": work_item.id, "kind": kind.value}
            for key in locking_order
        ]
    )
    link_stmt = link_insert.on_conflict_do_update(
        constraint="uq_ticket_links_ticket_work", set_={"kind": links_table.c.kind}
    ).returning(TicketLink, INSERTED)
    link_rows = (await session.execute(link_stmt, execution_options=FRESH)).all()
    links = {row[0].ticket_id: (row[0], bool(row[1])) for row in link_rows}

    work = WorkRef(work_item.id, work_item.project_id, work_item.branch_name)
    results: list[TicketLinkResult] = []
    events: list[PendingEvent] = []
    for key in ordered:
        ticket, ticket_created = tickets[key]
        link, created = links[ticket.id]
        results.append(
            TicketLinkResult(
                ticket=ticket,
                link=link,
                created=created,
                ticket_created=ticket_created,
                changed=created,
            )
        )
        if ticket_created:
            events.append(_ticket_event(ticket, "created"))
        if created:
            events.append(
                _linked_event(ticket, link, work, created=True, ticket_created=ticket_created)
            )
    await emit(session, *events)
    return results
