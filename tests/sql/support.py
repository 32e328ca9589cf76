"""Comparing an operation done through REST with the same done through its SQL function."""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg

from tests.conftest import EMPTY

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


async def last_event_id(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM events"))


async def events_after(conn: asyncpg.Connection, mark: int) -> list[dict[str, Any]]:
    """The outbox rows written after ``mark``, in order, as the relay would read them."""
    rows = await conn.fetch(
        "SELECT event_id, event_type, routing_key, subject_type, subject_id, correlation_id,"
        " work_item_refs, envelope::text AS envelope, published_at"
        " FROM events WHERE id > $1 ORDER BY id",
        mark,
    )
    events = []
    for row in rows:
        event = dict(row)
        event["envelope"] = json.loads(event["envelope"])
        assert event["envelope"]["event_id"] == str(event["event_id"])
        assert event["envelope"]["event_type"] == event["event_type"] == event["routing_key"]
        event["envelope"]["source"]["host"] = "<host>"  # the writer's machine
        events.append(event)
    return events


async def row(conn: asyncpg.Connection, table: str, row_id: Any) -> dict[str, Any]:
    found = await conn.fetchrow(
        f"SELECT to_jsonb(t)::text AS r FROM {table} t WHERE id = $1", row_id
    )
    assert found is not None, (table, row_id)
    return dict(json.loads(found["r"]))


async def empty(conn: asyncpg.Connection) -> None:
    for statement in EMPTY:
        await conn.execute(statement)


def anonymous(value: Any) -> Any:
    """``value`` with ids numbered in order of first appearance and times blanked: two runs of
    one operation compare equal when they differ only in generated ids and clocks."""
    ids: dict[str, str] = {}

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: walk(item[key]) for key in sorted(item)}
        if isinstance(item, list):
            return [walk(x) for x in item]
        text = str(item) if not isinstance(item, bool | int | float | type(None)) else None
        if text is not None and _UUID.match(text):
            return ids.setdefault(text, f"<id{len(ids)}>")
        if text is not None and _TIME.match(text):
            return "<time>"
        return item

    return walk(value)
