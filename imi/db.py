"""Async engine, session factory and the unit of work adapters wrap around service calls."""

from __future__ import annotations

import asyncio
import socket
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from imi.errors import Conflict, DomainError, Forbidden, ValidationFailed
from imi.logging import get_logger
from imi.resilience import CircuitBreaker, backoff_delays
from imi.settings import Settings

log = get_logger(__name__)


def to_async_url(url: str) -> str:
    """Turn a plain ``postgresql://`` URL into the asyncpg driver URL SQLAlchemy wants.

    Users configure the URL every PostgreSQL tool understands; the driver is our business.
    libpq's ``sslmode`` becomes asyncpg's ``ssl``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in {"postgresql", "postgres"}:
        raise ValueError(f"IMI_DATABASE_URL must be a postgresql:// URL, got {parts.scheme}://")
    query = [("ssl", v) if k == "sslmode" else (k, v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(
        ("postgresql+asyncpg", parts.netloc, parts.path, urlencode(query), parts.fragment)
    )


# Without settings (tests, tools), statements are bounded as the service's default is.
DEFAULT_STATEMENT_TIMEOUT_MS = 15_000
# A pooled connection idle longer than this is pinged before use; a busy one is not (a ping is
# three round trips: more than a hot read itself).
IDLE_PING_SECONDS = 10.0


def create_engine(database_url: str, settings: Settings | None = None) -> AsyncEngine:
    """An engine with a bounded pool; ``database_url`` is a plain postgresql:// URL.

    Every statement on its connections is bounded by ``IMI_DB_STATEMENT_TIMEOUT_MS`` (set as the
    session's ``statement_timeout`` when a connection opens): no request can hold a backend
    longer, whatever it asks. Migrations run on their own engine, without the limit.
    """
    pool_size = settings.db_pool_size if settings else 5
    max_overflow = settings.db_max_overflow if settings else 10
    timeout = settings.db_statement_timeout_ms if settings else DEFAULT_STATEMENT_TIMEOUT_MS
    s = settings or Settings(_env_file=None)
    engine = create_async_engine(
        to_async_url(database_url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={
            "server_settings": {"statement_timeout": str(timeout)},
            # asyncpg waits 60 s by default: far beyond any caller's patience.
            "timeout": s.db_connect_timeout_seconds,
        },
    )
    _ping_when_idle(engine)
    breaker = CircuitBreaker(s.db_breaker_failures, s.db_breaker_cooldown_seconds)
    _guard_connects(
        engine, breaker, backoff_delays(s.db_connect_retries, s.db_connect_retry_backoff_seconds)
    )
    return engine


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or isinstance(exc.__cause__, TimeoutError)


_BREAKERS: weakref.WeakKeyDictionary[Engine, CircuitBreaker] = weakref.WeakKeyDictionary()


def breaker_of(engine: AsyncEngine) -> CircuitBreaker | None:
    """The circuit breaker guarding ``engine``'s connects (None for an engine made elsewhere)."""
    return _BREAKERS.get(engine.sync_engine)


def _guard_connects(engine: AsyncEngine, breaker: CircuitBreaker, delays: list[float]) -> None:
    """Every new connection of the pool passes the breaker, and a connect that fails for a
    connection-level reason is tried again after each of ``delays`` (bounded back-off). Safe for
    reads and writes alike: nothing of the caller's work was sent yet."""
    _BREAKERS[engine.sync_engine] = breaker

    def connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
        for attempt in range(len(delays) + 1):
            breaker.before()  # raises CircuitOpen while open: no connect timeout to wait for
            try:
                connection = dialect.connect(*cargs, **cparams)
            except BaseException as exc:
                if not (isinstance(exc, Exception) and database_unavailable(exc)):
                    breaker.release_probe()  # bad credentials, cancelled: not an outage
                    raise
                if breaker.failure():
                    log.error("database circuit breaker opened", error=repr(exc)[:300])
                # A connect that timed out is not tried again: that would multiply the wait.
                if attempt == len(delays) or breaker.state != "closed" or _timed_out(exc):
                    raise
                await_only(asyncio.sleep(delays[attempt]))
                continue
            recovered = breaker.state != "closed"  # this was the probe
            breaker.success()
            if recovered:
                log.info("database reachable again; circuit breaker closed")
            return connection
        raise AssertionError("unreachable")  # pragma: no cover

    event.listen(engine.sync_engine, "do_connect", connect)


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle for ``IDLE_PING_SECONDS``.

    Instead of SQLAlchemy's ``pool_pre_ping`` (a ping on every checkout): a connection in steady
    use is known to be alive. One that died meanwhile anyway (the server restarted a moment
    ago) fails its first statement; SQLAlchemy then invalidates every connection opened before
    the failure, and the HTTP adapter retries a read once (``api.failures``), so callers see at
    most one 503 for a write.
    """
    pool = engine.sync_engine.pool

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            # The server ended it (pg_terminate_backend, a restart) and the driver saw the
            # socket close: replace it before anything of the caller's is sent on it.
            raise DisconnectionError("pooled connection was closed by the server")
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # the pool replaces it and checks out another
            raise DisconnectionError("pooled connection is gone") from exc

    event.listen(pool, "checkin", on_checkin)
    event.listen(pool, "checkout", on_checkout)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (responses are built after it)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block succeeds, roll back when it raises.

    Adapters (HTTP request, GraphQL mutation, consumed message) own this; services only flush.
    """
    async with sessions() as session, session.begin():
        yield session


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The alembic revision the database is at, or None before the first migration."""
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('public.alembic_version')"))
        if exists is None:
            return None
        revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        return str(revision) if revision is not None else None


def sqlstate(exc: BaseException) -> str:
    """The PostgreSQL SQLSTATE behind a SQLAlchemy/asyncpg error ('' when unknown)."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return ""


# SQLSTATE class 22 ("data exception"): a value PostgreSQL refuses whatever the attempt (a NUL
# byte in text, a number out of range, a bad datetime). Class 23: a constraint violation.
DATA_EXCEPTION = "22"
PROGRAM_LIMIT_EXCEEDED = "54000"  # e.g. "index row requires N bytes": a value too big to index
INSUFFICIENT_PRIVILEGE = "42501"


def domain_error_from_database(exc: BaseException) -> DomainError | None:
    """What a database failure means to a caller, the one translation every adapter applies:
    a constraint the services did not anticipate is a Conflict, a value the database refuses
    is bad input (ValidationFailed); anything else (None) is a fault of the server."""
    if isinstance(exc, IntegrityError):
        return Conflict("The request conflicts with existing data")
    if isinstance(exc, DBAPIError) and sqlstate(exc).startswith(DATA_EXCEPTION):
        return ValidationFailed("A value is not acceptable to the database: it cannot be stored")
    if isinstance(exc, DBAPIError) and sqlstate(exc) == PROGRAM_LIMIT_EXCEEDED:
        return ValidationFailed("A value is too large for the database: it cannot be stored")
    if _caused_by(exc, UnicodeEncodeError):
        # Text with a lone surrogate (a JSON "\ud800" escape) has no UTF-8 form to store.
        return ValidationFailed("Text must be valid Unicode (no lone surrogates)")
    if (
        isinstance(exc, DBAPIError)
        and sqlstate(exc) == INSUFFICIENT_PRIVILEGE
        and "row-level security" in str(exc.orig)
    ):
        # A project-restricted caller touching another project's rows. (Any other missing
        # privilege is a deployment fault: a 500, logged.)
        return Forbidden("not allowed on another project's data")
    return None


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


# SQLSTATE classes and codes that mean "the database is not there right now": connection
# exceptions (08), operator intervention (57P01 shutdown, 57P02 crash, 57P03 starting up).
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException) -> bool:
    """Whether a failure means the database cannot be reached or lost the connection (a 503:
    try again), as opposed to a fault of the request or of the code."""
    if isinstance(exc, SQLAlchemyTimeoutError):  # no pooled connection freed in time
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or sqlstate(exc).startswith(_UNAVAILABLE_STATES):
            return True
        exc = exc.orig or exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        # Connection-level failures only: a FileNotFoundError or a permission error elsewhere in
        # the request is a fault, not an outage.
        if isinstance(current, ConnectionError | TimeoutError | socket.gaierror):
            return True
        if name in _UNAVAILABLE_NAMES:
            return True
        current = current.__cause__ or current.__context__
    return False


# asyncpg's connection-level failures (matched by name: the driver is an implementation detail).
_UNAVAILABLE_NAMES = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "CannotConnectNowError",
        "InterfaceError",
        "InternalClientError",
        "ConnectionRejectionError",
        "TooManyConnectionsError",
    }
)
