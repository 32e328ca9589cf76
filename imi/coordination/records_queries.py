"""SQL of the orchestration records, written from the kind table (identifiers come from
``records_kinds`` only, never from input; every value is a bound parameter)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.coordination.records_kinds import Kind

Row = dict[str, Any]


def _returning(kind: Kind) -> str:
    return ", ".join(kind.columns)


def _param(kind: Kind, name: str) -> str:
    if any(f.name == name and f.json for f in kind.fields):
        return f"CAST(:{name} AS jsonb)"
    return f":{name}"


def bind(kind: Kind, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the driver takes them: lists travel as JSON text into jsonb."""
    lists = {f.name for f in kind.fields if f.json}
    return {
        name: json.dumps(value) if name in lists and value is not None else value
        for name, value in values.items()
    }


def _row(kind: Kind, mapping: Mapping[Any, Any]) -> Row:
    row = dict(mapping)
    for spec in kind.fields:
        if spec.json and isinstance(row.get(spec.name), str):
            row[spec.name] = json.loads(row[spec.name])
    return row


@cache
def insert_sql(kind: Kind, names: tuple[str, ...]) -> TextClause:
    columns = ", ".join(("id", "project", *names))
    params = ", ".join((":id", ":project", *(_param(kind, n) for n in names)))
    return text(
        f"INSERT INTO {kind.table} ({columns}) VALUES ({params}) "
        f"ON CONFLICT (project, id) DO NOTHING RETURNING {_returning(kind)}"
    )


@cache
def get_sql(kind: Kind) -> TextClause:
    return text(
        f"SELECT {_returning(kind)} FROM {kind.table} WHERE project = :project AND id = :id"
    )


@cache
def list_sql(kind: Kind, all_projects: bool, filters: tuple[str, ...]) -> TextClause:
    conditions = [] if all_projects else ["project = :project"]
    conditions += [f"{kind.filters[name]} = :f_{name}" for name in filters]
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    return text(
        f"SELECT {_returning(kind)} FROM {kind.table} {where}"
        f"ORDER BY {kind.order} LIMIT :limit OFFSET :offset"
    )


@cache
def update_sql(kind: Kind, names: tuple[str, ...], checked: bool) -> TextClause:
    """Write ``names``; a versioned kind bumps its version, and with ``checked`` only from the
    expected one (compare-and-set in one statement: no lost update)."""
    sets = [f"{n} = {_param(kind, n)}" for n in names]
    if kind.versioned:
        sets.append("version = version + 1")
    if kind.has_updated_at:
        sets.append("updated_at = now()")
    guard = " AND version = :expected" if checked else ""
    return text(
        f"UPDATE {kind.table} SET {', '.join(sets)} "
        f"WHERE project = :project AND id = :id{guard} RETURNING {_returning(kind)}"
    )


@cache
def delete_sql(kind: Kind) -> TextClause:
    return text(
        f"DELETE FROM {kind.table} WHERE project = :project AND id = :id "
        f"RETURNING {_returning(kind)}"
    )


async def one(
    session: AsyncSession, statement: TextClause, kind: Kind, **params: Any
) -> Row | None:
    found = (await session.execute(statement, params)).mappings().first()
    return _row(kind, found) if found is not None else None


async def many(
    session: AsyncSession, statement: TextClause, kind: Kind, **params: Any
) -> list[Row]:
    return [_row(kind, r) for r in (await session.execute(statement, params)).mappings().all()]
