"""imi.prepared: hot reads through the driver behave like any statement of the session: in its
transaction, seen by the engine's observers, and failing as SQLAlchemy's errors that the one
failure policy (imi.db) already understands."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import ARRAY, Text, Uuid, any_, bindparam, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from imi import prepared
from imi.auth.scoping import read_session
from imi.db import database_unavailable, sqlstate
from imi.prepared import Prepared, fetch_rows
from imi.projects.models import Project

BY_IDS = Prepared(
    select(col(Project.id), col(Project.name), col(Project.meta).label("meta"))
    .where(col(Project.id) == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    .order_by(col(Project.name))
)
FIRST_BY_NAME = Prepared(
    select(col(Project.name)).where(col(Project.name) >= bindparam("name")).limit(1)
)


async def _projects(session: AsyncSession, *names: str) -> list[uuid.UUID]:
    ids = []
    for name in names:
        origin = f"git.example/{name}"
        project = Project(
            name=name,
            remote_origin=f"https://{origin}",
            remote_origin_normalized=origin,
            meta={"n": name},
        )
        session.add(project)
        ids.append(project.id)
    await session.commit()
    return ids


async def test_rows_read_like_sqlalchemy_rows(session: AsyncSession) -> None:
    ids = await _projects(session, "b", "a", "c")
    rows = await BY_IDS.all(session, {"ids": ids[:2]})
    assert [(row.id, row.name) for row in rows] == [(ids[1], "a"), (ids[0], "b")]
    assert rows[0].meta == {"n": "a"}  # jsonb decoded, as SQLAlchemy's rows have it
    assert await BY_IDS.all(session, {"ids": []}) == []
    # A value fixed in the statement (LIMIT 1) is sent without being named.
    assert (await FIRST_BY_NAME.first(session, {"name": "b"})).name == "b"
    assert await FIRST_BY_NAME.first(session, {"name": "z"}) is None


async def test_runs_inside_the_sessions_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    setting = Prepared(text("SELECT current_setting('imi.probe', true) AS value"))
    async with sessions() as session, session.begin():
        await session.execute(text("SELECT set_config('imi.probe', 'inside', true)"))
        assert (await setting.first(session)).value == "inside"
    async with sessions() as session:
        assert (await setting.first(session)).value in (None, "")


async def test_engine_observers_see_the_statement(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        await BY_IDS.all(session, {"ids": []})
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
    assert seen == [(BY_IDS.sql, [[]])]


async def test_a_statement_timeout_is_the_databases_error(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    slow = Prepared(text("SELECT pg_sleep(5) AS slept"))
    async with sessions() as session, session.begin():
        await session.execute(text("SET LOCAL statement_timeout = 50"))
        with pytest.raises(DBAPIError) as raised:
            await slow.first(session)
    assert sqlstate(raised.value) == "57014"  # query_canceled: the failure policy's TIMEOUT
    assert not database_unavailable(raised.value)
    assert not raised.value.connection_invalidated


async def test_a_lost_connection_is_unavailable_and_not_reused(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    backend = Prepared(text("SELECT pg_backend_pid() AS pid"))
    async with read_session(sessions) as session:
        pid = (await backend.first(session)).pid
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as raised:
            await backend.first(session)
    assert database_unavailable(raised.value)
    assert raised.value.connection_invalidated
    async with read_session(sessions) as session:  # the pool hands out a live connection
        assert (await backend.first(session)).pid != pid


def _by_names(*names: str) -> Any:
    return (
        select(col(Project.name), col(Project.id))
        .where(col(Project.name) == any_(bindparam("names", list(names), type_=ARRAY(Text()))))
        .order_by(col(Project.name))
    )


async def test_statements_built_per_call_share_one_shape_and_bind_their_own_values(
    session: AsyncSession,
) -> None:
    await _projects(session, "x", "y", "z")
    shapes = len(prepared._SHAPES)
    assert [r.name for r in await fetch_rows(session, _by_names("x", "y"))] == ["x", "y"]
    assert [r.name for r in await fetch_rows(session, _by_names("z"))] == ["z"]
    assert await fetch_rows(session, _by_names("none")) == []
    limited = select(col(Project.name)).order_by(col(Project.name)).limit(2).offset(1)
    assert [r.name for r in await fetch_rows(session, limited)] == ["y", "z"]
    limited = select(col(Project.name)).order_by(col(Project.name)).limit(1).offset(0)
    assert [r.name for r in await fetch_rows(session, limited)] == ["x"]
    assert len(prepared._SHAPES) == shapes + 2  # one per shape, not per value


async def test_an_expanding_in_is_left_to_sqlalchemy(session: AsyncSession) -> None:
    await _projects(session, "p", "q")
    stmt = select(col(Project.name)).where(col(Project.name).in_(["q"]))
    assert [r.name for r in await fetch_rows(session, stmt)] == ["q"]
