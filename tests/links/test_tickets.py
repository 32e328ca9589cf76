from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from imi.errors import NotFound, ValidationFailed
from imi.links.models import LinkKind, Ticket, TicketLink, TicketLinkInput
from imi.links.service import (
    TICKET_CREATED,
    TICKET_LINKED,
    TICKET_UPDATED,
    get_ticket,
    link_ticket,
    link_ticket_keys,
    upsert_ticket,
)
from tests.factories import make_project, make_work_item
from tests.links.helpers import count_rows, count_statements, event_types, events_of


async def test_link_creates_ticket_link_and_event(session: AsyncSession) -> None:
    project = await make_project(session)
    work = await make_work_item(session, project, branch_name="feat/PROJ-1-login")

    result = await link_ticket(
        session,
        TicketLinkInput(
            work_item_id=work.id,
            plane_ticket_id="PROJ-1",
            title="Login",
            url="https://plane.example/PROJ-1",
            state="started",
        ),
    )

    assert result.created and result.ticket_created and result.changed
    assert result.ticket.plane_ticket_id == "PROJ-1"
    assert (result.ticket.title, result.ticket.state) == ("Login", "started")
    assert result.link.kind == LinkKind.REFERENCES
    assert result.link.work_item_id == work.id
    assert result.link.ticket_id == result.ticket.id
    # The ticket is new: imi.ticket.created first, then the link.
    created, event = await events_of(session)
    assert created.event_type == TICKET_CREATED
    assert created.envelope["payload"]["plane_ticket_id"] == "PROJ-1"
    assert event.event_type == TICKET_LINKED
    assert (event.subject_type, event.subject_id) == ("ticket", str(result.ticket.id))
    payload = event.envelope["payload"]
    assert payload["plane_ticket_id"] == "PROJ-1"
    assert payload["title"] == "Login"
    assert payload["work_item_id"] == str(work.id)
    assert payload["project_id"] == str(project.id)
    assert payload["branch_name"] == "feat/PROJ-1-login"
    assert payload["kind"] == "references"
    assert payload["created"] is True


async def test_relinking_the_same_pair_is_idempotent(session: AsyncSession) -> None:
    work = await make_work_item(session, await make_project(session))
    data = TicketLinkInput(work_item_id=work.id, plane_ticket_id="PROJ-2", title="T")
    first = await link_ticket(session, data)
    second = await link_ticket(session, data)

    assert not second.created and not second.ticket_created and not second.changed
    assert second.link.id == first.link.id
    assert second.ticket.id == first.ticket.id
    assert await count_rows(session, Ticket) == 1
    assert await count_rows(session, TicketLink) == 1
    assert await event_types(session) == [TICKET_CREATED, TICKET_LINKED]


async def test_relinking_with_another_kind_updates_the_link(session: AsyncSession) -> None:
    work = await make_work_item(session, await make_project(session))
    await link_ticket(session, TicketLinkInput(work_item_id=work.id, plane_ticket_id="P-3"))
    result = await link_ticket(
        session,
        TicketLinkInput(work_item_id=work.id, plane_ticket_id="P-3", kind=LinkKind.CLOSES),
    )

    assert not result.created and result.changed
    assert result.link.kind == "closes"
    assert await count_rows(session, TicketLink) == 1
    linked = await events_of(session, TICKET_LINKED)
    assert len(linked) == 2
    assert linked[1].envelope["payload"]["kind"] == "closes"
    assert linked[1].envelope["payload"]["created"] is False


async def test_link_metadata_merges_and_counts_as_a_change(session: AsyncSession) -> None:
    work = await make_work_item(session, await make_project(session))
    key = "P-4"
    await link_ticket(
        session, TicketLinkInput(work_item_id=work.id, plane_ticket_id=key, metadata={"a": 1})
    )
    result = await link_ticket(
        session, TicketLinkInput(work_item_id=work.id, plane_ticket_id=key, metadata={"b": 2})
    )
    assert result.changed
    assert result.link.meta == {"a": 1, "b": 2}
    assert result.ticket.meta == {}  # link metadata stays on the link
    again = await link_ticket(
        session, TicketLinkInput(work_item_id=work.id, plane_ticket_id=key, metadata={"b": 2})
    )
    assert not again.changed
    assert len(await events_of(session, TICKET_LINKED)) == 2


async def test_ticket_fields_are_kept_when_absent_and_updated_when_given(
    session: AsyncSession,
) -> None:
    work = await make_work_item(session, await make_project(session))
    await link_ticket(
        session,
        TicketLinkInput(
            work_item_id=work.id, plane_ticket_id="P-5", title="Old", url="u", state="todo"
        ),
    )
    kept = await link_ticket(session, TicketLinkInput(work_item_id=work.id, plane_ticket_id="P-5"))
    assert (kept.ticket.title, kept.ticket.url, kept.ticket.state) == ("Old", "u", "todo")
    assert await event_types(session) == [TICKET_CREATED, TICKET_LINKED]

    updated = await link_ticket(
        session, TicketLinkInput(work_item_id=work.id, plane_ticket_id="P-5", title="New")
    )
    assert (updated.ticket.title, updated.ticket.url, updated.ticket.state) == ("New", "u", "todo")
    assert not updated.changed  # the link itself did not move
    # The ticket changed, so that change has its own event.
    assert await event_types(session) == [TICKET_CREATED, TICKET_LINKED, TICKET_UPDATED]
    [ticket_event] = await events_of(session, TICKET_UPDATED)
    assert ticket_event.envelope["payload"]["title"] == "New"


async def test_one_ticket_links_many_work_items(session: AsyncSession) -> None:
    project = await make_project(session)
    impl = await make_work_item(session, project)
    fix = await make_work_item(session, project)
    a = await link_ticket(session, TicketLinkInput(work_item_id=impl.id, plane_ticket_id="P-6"))
    b = await link_ticket(
        session,
        TicketLinkInput(work_item_id=fix.id, plane_ticket_id="P-6", kind=LinkKind.CLOSES),
    )

    assert a.ticket.id == b.ticket.id
    assert b.created and not b.ticket_created
    assert await count_rows(session, Ticket) == 1
    assert await count_rows(session, TicketLink) == 2
    assert await event_types(session) == [TICKET_CREATED, TICKET_LINKED, TICKET_LINKED]


async def test_unknown_work_item_is_not_found_and_writes_nothing(session: AsyncSession) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound) as info:
        await link_ticket(session, TicketLinkInput(work_item_id=missing, plane_ticket_id="P-7"))
    assert info.value.field == "work_item_id"
    assert info.value.details["key"] == str(missing)
    assert await count_rows(session, Ticket) == 0
    assert await events_of(session) == []


@pytest.mark.parametrize("key", ["", "   ", "\t\n"])
async def test_blank_ticket_id_is_rejected(session: AsyncSession, key: str) -> None:
    work = await make_work_item(session, await make_project(session))
    with pytest.raises(ValidationFailed) as info:
        await link_ticket(session, TicketLinkInput(work_item_id=work.id, plane_ticket_id=key))
    assert info.value.field == "plane_ticket_id"
    with pytest.raises(ValidationFailed):
        await upsert_ticket(session, plane_ticket_id=key)
    assert await count_rows(session, Ticket) == 0


async def test_ticket_key_whitespace_is_trimmed(session: AsyncSession) -> None:
    work = await make_work_item(session, await make_project(session))
    await link_ticket(session, TicketLinkInput(work_item_id=work.id, plane_ticket_id=" P-8 "))
    again = await link_ticket(session, TicketLinkInput(work_item_id=work.id, plane_ticket_id="P-8"))
    assert again.ticket.plane_ticket_id == "P-8"
    assert not again.created
    assert (await get_ticket(session, " P-8")).id == again.ticket.id


async def test_upsert_ticket_creates_updates_and_skips_no_ops(session: AsyncSession) -> None:
    created = await upsert_ticket(
        session, plane_ticket_id="P-9", title="A", metadata={"priority": "high"}
    )
    assert (created.title, created.url, created.state) == ("A", None, None)
    same = await upsert_ticket(session, plane_ticket_id="P-9", title="A")
    assert same.id == created.id
    assert await event_types(session) == [TICKET_CREATED]

    updated = await upsert_ticket(
        session, plane_ticket_id="P-9", state="done", metadata={"labels": ["x"]}
    )
    assert (updated.title, updated.state) == ("A", "done")
    assert updated.meta == {"priority": "high", "labels": ["x"]}
    assert await event_types(session) == [TICKET_CREATED, TICKET_UPDATED]
    [event] = await events_of(session, TICKET_UPDATED)
    assert event.subject_type == "ticket"
    assert event.envelope["payload"]["state"] == "done"
    assert event.envelope["payload"]["plane_ticket_id"] == "P-9"
    assert await count_rows(session, Ticket) == 1


async def test_get_ticket(session: AsyncSession) -> None:
    ticket = await upsert_ticket(session, plane_ticket_id="P-10")
    assert (await get_ticket(session, "P-10")).id == ticket.id
    with pytest.raises(NotFound):
        await get_ticket(session, "P-404")


async def test_link_ticket_keys_links_each_key_once(session: AsyncSession) -> None:
    work = await make_work_item(session, await make_project(session), branch_name="feat/P-1-x")
    await upsert_ticket(session, plane_ticket_id="P-12", title="exists")

    results = await link_ticket_keys(session, work, ["P-11", "P-12", "P-11", " ", ""])

    assert [r.ticket.plane_ticket_id for r in results] == ["P-11", "P-12"]
    assert [r.created for r in results] == [True, True]
    assert [r.ticket_created for r in results] == [True, False]
    assert results[1].ticket.title == "exists"  # the auto-link does not blank the ticket
    assert all(r.link.kind == "references" for r in results)
    assert await count_rows(session, TicketLink) == 2
    linked = await events_of(session, TICKET_LINKED)
    assert [e.envelope["payload"]["plane_ticket_id"] for e in linked] == ["P-11", "P-12"]
    assert linked[0].envelope["payload"]["branch_name"] == "feat/P-1-x"

    again = await link_ticket_keys(session, work, ["P-12", "P-11"])
    assert [r.created for r in again] == [False, False]
    assert len(await events_of(session, TICKET_LINKED)) == 2
    assert await count_rows(session, TicketLink) == 2


async def test_link_ticket_keys_never_downgrades_an_explicit_kind(session: AsyncSession) -> None:
    work = await make_work_item(session, await make_project(session))
    await link_ticket(
        session,
        TicketLinkInput(work_item_id=work.id, plane_ticket_id="P-13", kind=LinkKind.CLOSES),
    )
    [result] = await link_ticket_keys(session, work, ["P-13"])
    assert result.link.kind == "closes"
    assert not result.created


async def test_link_ticket_keys_with_no_keys_does_nothing(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    work = await make_work_item(session, await make_project(session))
    with count_statements(engine) as statements:
        assert await link_ticket_keys(session, work, []) == []
        assert await link_ticket_keys(session, work, ["", "  "]) == []
    assert statements == []


async def test_link_ticket_keys_uses_a_fixed_number_of_statements(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    project = await make_project(session)
    one = await make_work_item(session, project)
    many = await make_work_item(session, project)
    await session.execute(text("SELECT 1"))

    with count_statements(engine) as few:
        await link_ticket_keys(session, one, ["Q-1"])
    with count_statements(engine) as lots:
        await link_ticket_keys(session, many, [f"Q-{n}" for n in range(40)])

    assert len(few) == len(lots) <= 3
    assert await count_rows(session, TicketLink) == 41
    assert await count_rows(session, Ticket) == 40
