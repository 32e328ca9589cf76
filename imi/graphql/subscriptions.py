"""Live subscriptions over graphql-transport-ws, fed by committed events (imi/outbox/notify.py).

Each subscription registers a filter with the process's EventHub, so it receives only events
whose transaction committed, whichever replica wrote them. A subscriber that falls too far
behind gets an error and its stream ends (re-query, then subscribe again).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError

from imi.auth.policy import credentials_live
from imi.batches import rows_by_id
from imi.graphql.context import Context
from imi.graphql.events import Event
from imi.graphql.ids import parse_any_id
from imi.graphql.work import WorkItem
from imi.outbox.envelope import V2_CONTRACT_EVENTS
from imi.outbox.models import Event as EventRow
from imi.outbox.notify import EventFilter, EventHub, EventSubscription, StreamClosed
from imi.work.models import WorkItem as WorkItemRow

Info = strawberry.Info[Context, None]

WORK_ITEM = "work_item"


def _hub(info: Info) -> EventHub:
    request = info.context.request
    hub = getattr(request.app.state, "event_hub", None) if request is not None else None
    if not isinstance(hub, EventHub):
        raise GraphQLError("live events are not available on this server")
    return hub


async def _subscribe(info: Info, accept: EventFilter) -> EventSubscription:
    try:
        return await _hub(info).subscribe(accept)
    except StreamClosed as exc:
        raise GraphQLError(str(exc)) from None


# How often a subscription re-checks that its API key is still valid (revoked or expired:
# the stream ends with an UNAUTHORIZED error).
CREDENTIAL_CHECK_SECONDS = 1.0


async def _next_batch(info: Info, subscription: EventSubscription) -> list[EventRow]:
    """The next event and whatever else is already queued (one commit's burst). While waiting,
    the caller's key is re-checked at least once a second: a revoked or expired key ends the
    stream. The wait for the event is never cancelled by those checks (a cancelled queue read
    can lose the event it was completing), only when the stream itself ends."""
    principal = info.context.principal
    arrival = asyncio.ensure_future(subscription.next())
    try:
        while True:
            done, _ = await asyncio.wait({arrival}, timeout=CREDENTIAL_CHECK_SECONDS)
            now = time.monotonic()
            if principal is not None and now - info.context.credentials_checked_at >= (
                CREDENTIAL_CHECK_SECONDS
            ):
                info.context.credentials_checked_at = now
                if not await credentials_live(info.context.sessions, principal):
                    raise GraphQLError(
                        "the API key of this subscription was revoked or has expired",
                        extensions={"code": "UNAUTHORIZED"},
                    )
            if done:
                try:
                    first = arrival.result()
                except StreamClosed as exc:
                    raise GraphQLError(str(exc)) from None
                return [first, *subscription.drain()]
    finally:
        if not arrival.done():
            arrival.cancel()


def _visible_to(info: Info) -> EventFilter:
    """Events a project-restricted caller may see: those naming one of its projects."""
    principal = info.context.principal
    if principal is None or principal.project_ids is None:
        return lambda row: True
    allowed = {str(p) for p in principal.project_ids}

    def visible(row: EventRow) -> bool:
        payload = _payload(row)
        named = {payload.get("project_id"), payload.get("parent_project_id")}
        many = payload.get("project_ids")
        if isinstance(many, list):
            named.update(str(p) for p in many)
        if row.subject_type == "project":
            named.add(row.subject_id)
        return bool(named & allowed)

    return visible


async def _release(context: Context) -> None:
    """Between two results, hold no database connection and no cached rows.

    The context lives as long as the WebSocket; nested fields of a result load through its
    read session and loaders, which must not pin a pooled connection (idle in transaction)
    or serve stale rows to the next result.
    """
    context.loaders.clear_all()
    async with context.read() as session:
        await session.close()


def _project_filter(project_id: strawberry.ID | None) -> str | None:
    return str(parse_any_id(project_id, "Project")) if project_id is not None else None


def _payload(row: EventRow) -> dict[str, Any]:
    payload = row.envelope.get("payload")
    return payload if isinstance(payload, dict) else {}


def _in_project(row: EventRow, project: str) -> bool:
    payload = _payload(row)
    return project in (payload.get("project_id"), payload.get("parent_project_id"))


def _type_matcher(types: list[str] | None) -> EventFilter:
    if not types:
        return lambda row: True
    exact = {t for t in types if not t.endswith(".*")}
    prefixes = tuple(t[:-1] for t in types if t.endswith(".*"))
    return lambda row: row.event_type in exact or row.event_type.startswith(prefixes)


def _unique_work_item_ids(rows: Iterable[EventRow]) -> list[uuid.UUID]:
    ids: dict[uuid.UUID, None] = {}
    for row in rows:
        try:
            ids[uuid.UUID(row.subject_id)] = None
        except ValueError:
            continue
    return list(ids)


async def _load_work_items(context: Context, ids: list[uuid.UUID]) -> list[WorkItemRow]:
    """Fresh rows, in the order given, with a short session of their own."""
    async with context.sessions() as session:
        by_id = {row.id: row for row in await rows_by_id(session, WorkItemRow, ids)}
    return [by_id[i] for i in ids if i in by_id]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "Committed domain events as they happen. `types` keeps only these event types "
            "(`imi.work.*` matches a prefix; absent or empty: all). `projectId` (global id or "
            "UUID) keeps events whose payload's `project_id` or `parent_project_id` is that "
            "project. A subscriber that falls over 1000 events behind gets an error and its "
            "stream ends."
        )
    )
    async def events(
        self,
        info: Info,
        types: list[str] | None = None,
        project_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[Event, None]:
        project = _project_filter(project_id)
        of_type = _type_matcher(types)

        visible = _visible_to(info)

        def accept(row: EventRow) -> bool:
            return of_type(row) and (project is None or _in_project(row, project)) and visible(row)

        async with await _subscribe(info, accept) as subscription:
            while True:
                for row in await _next_batch(info, subscription):
                    yield Event.from_row(row)
                    await _release(info.context)

    @strawberry.subscription(
        description=(
            "The fresh work item each time a committed event about it (started, git state, "
            "completed, ...) arrives; one result per work item per burst of events. "
            "`projectId` (global id or UUID) keeps one project's work."
        )
    )
    async def work_item_updated(
        self, info: Info, project_id: strawberry.ID | None = None
    ) -> AsyncGenerator[WorkItem, None]:
        project = _project_filter(project_id)
        visible = _visible_to(info)

        def accept(row: EventRow) -> bool:
            # A v2 event mirrors a v3 one of the same change; the NOTIFYs of one commit may
            # arrive in two bursts, so only the v3 events count (one result per change).
            return (
                row.subject_type == WORK_ITEM
                and row.event_type not in V2_CONTRACT_EVENTS
                and (project is None or _in_project(row, project))
                and visible(row)
            )

        async with await _subscribe(info, accept) as subscription:
            while True:
                ids = _unique_work_item_ids(await _next_batch(info, subscription))
                for row in await _load_work_items(info.context, ids):
                    yield WorkItem.from_row(row)
                    await _release(info.context)
