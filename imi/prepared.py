"""Hot reads through the driver: statements compiled once, rows as light named tuples.

SQLAlchemy builds, keys, caches and post-processes every statement it runs: for a small read
through a session that is about 0.3-0.7 ms of CPU, against 0.09 ms for the same statement run by
asyncpg itself (measured on the trace's statements; ``benchmarks/RESULTS.md``). Reads that only
shape rows into a response use :class:`Prepared` instead:

- the statement (a Core ``select`` or a ``text``) is compiled once, at import, for PostgreSQL;
- each call runs it on the session's own connection, inside its transaction when it has one, so
  a restricted caller's row-level-security role and the connection's statement timeout hold
  exactly as for any other statement; asyncpg's prepared-statement cache makes it one round trip
  (bind and execute) after the first;
- rows come back as named tuples of the statement's column labels (``row.id``,
  ``row.project__name``): attribute access like SQLAlchemy's rows, nothing hydrated (an
  unlabelled or repeated column name becomes positional: ``_2``; label what you read);
- a failure is raised as SQLAlchemy's ``DBAPIError`` around the driver's error, and a lost
  connection is invalidated, so the one failure policy (``imi.db``) sees what it always sees.

Values come back as the driver decodes them (SQLAlchemy's asyncpg dialect registers the JSON
codecs on each connection, so ``jsonb`` arrives decoded); parameters go to the driver as given,
so pass what asyncpg takes (UUIDs, str, int, lists of UUIDs for ``= ANY``).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement

from imi.db import database_unavailable

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


class Prepared:
    """One read statement, compiled once; :meth:`all` / :meth:`first` run it on a session."""

    __slots__ = ("_row", "fixed", "names", "sql")

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.sql: str = compiled.string
        # The bound parameters' names in $1, $2, ... order.
        self.names: tuple[str, ...] = tuple(getattr(compiled, "positiontup", None) or ())
        # Values fixed in the statement itself (a LIMIT 1): sent unless a call names them.
        self.fixed: dict[str, Any] = {k: v for k, v in compiled.params.items() if v is not None}
        self._row: Any = None  # the namedtuple class, from the first result's columns

    async def all(
        self, session: AsyncSession, params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """Every row, in the statement's order."""
        records = await self._fetch(session, params or {})
        if not records:
            return []
        make = self._row_type(records[0].keys())._make
        return [make(record) for record in records]

    async def first(self, session: AsyncSession, params: Mapping[str, Any] | None = None) -> Any:
        """The first row, or None."""
        rows = await self.all(session, params)
        return rows[0] if rows else None

    def _row_type(self, keys: Any) -> Any:
        if self._row is None:
            self._row = namedtuple("Row", list(keys), rename=True)  # type: ignore[misc]
        return self._row

    async def _fetch(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        args = [params[name] if name in params else self.fixed[name] for name in self.names]
        return await _run(session, self.sql, args)


class _Shape:
    """A statement shape compiled once: its SQL, how to order its parameters, its row type."""

    __slots__ = ("compiled", "driver_ready", "names", "processors", "row", "sql")

    def __init__(self, statement: ClauseElement, cache_key: Any) -> None:
        # Compiled with its cache key, so a later statement of the same shape can bind its
        # own values (construct_params(extracted_parameters=...)).
        compiled: Any = statement.compile(dialect=_DIALECT, cache_key=cache_key)
        self.compiled = compiled
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(getattr(compiled, "positiontup", None) or ())
        self.processors: Mapping[str, Any] = compiled._bind_processors
        self.row: Any = None
        # Values rendered into the SQL at execution (an expanding IN): SQLAlchemy runs those.
        self.driver_ready = "__[POSTCOMPILE_" not in self.sql


# Shapes by SQLAlchemy's cache key of the statement: statements built per call with the same
# structure share one entry, whatever their values. Bounded: shapes are few (their number
# follows the code, not the data), the bound only guards against a generator of new ones.
_SHAPES: dict[Any, _Shape] = {}
MAX_SHAPES = 2_000


async def fetch_rows(session: AsyncSession, statement: Any) -> list[Any]:
    """The rows of a statement built per call (a ``select`` with its values bound), run like
    :class:`Prepared`: compiled once per shape, executed by the driver, rows as named tuples.

    For readers that build their statement from their arguments (batch loaders: conditions,
    joins and orders vary by caller) and read many rows: SQLAlchemy's per-row result handling
    is what this skips; the statement is still built per call."""
    key = statement._generate_cache_key()
    shape = _SHAPES.get(key.key) if key is not None else None
    if shape is None:
        shape = _Shape(statement, key)
        if key is not None:
            if len(_SHAPES) >= MAX_SHAPES:
                _SHAPES.clear()
            _SHAPES[key.key] = shape
    if not shape.driver_ready:
        return list((await session.execute(statement)).all())
    values = shape.compiled.construct_params(
        extracted_parameters=key.bindparams if key is not None else None
    )
    processors = shape.processors
    args = [
        processors[name](values[name]) if name in processors else values[name]
        for name in shape.names
    ]
    records = await _run(session, shape.sql, args)
    if not records:
        return []
    if shape.row is None:
        shape.row = namedtuple("Row", list(records[0].keys()), rename=True)  # type: ignore[misc]
    make = shape.row._make
    return [make(record) for record in records]


async def _run(session: AsyncSession, sql: str, args: list[Any]) -> list[Any]:
    connection = await session.connection()  # begins the session's transaction, if any
    sync = connection.sync_connection
    assert sync is not None  # a connection session.connection() just handed out is live
    # Its pooled connection, read without another greenlet hop (no I/O once checked out).
    driver = sync.connection.driver_connection
    # Observers of the engine's statements (statement counts, tracing) see these too.
    sync.dispatch.before_cursor_execute(sync, None, sql, args, None, False)
    try:
        return list(await driver.fetch(sql, *args))  # type: ignore[union-attr]
    except Exception as error:
        lost = database_unavailable(error)
        if lost:  # not back to the pool: the next checkout opens a fresh connection
            await connection.invalidate(error)
        raise DBAPIError(sql, args, error, connection_invalidated=lost) from error
