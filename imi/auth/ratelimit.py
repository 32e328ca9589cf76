"""Rate limits shared by every worker and replica: GCRA on a PostgreSQL row per bucket.

GCRA (the generic cell rate algorithm) keeps one timestamp per bucket, its *theoretical
arrival time* (TAT). With an emission interval ``T = 60 / per_minute`` seconds and room for
``burst`` requests at once, a request at ``now`` is allowed when
``max(TAT, now) + T - now <= burst * T``, and then moves TAT to ``max(TAT, now) + T``. So a
caller may send ``burst`` requests at once, then one every ``T`` seconds.

One statement per request decides and records atomically (``INSERT .. ON CONFLICT DO UPDATE ..
WHERE allowed``): the row lock serializes concurrent requests of one bucket across processes,
and the database's clock is the only clock, so replicas with skewed clocks still agree. It runs
on its own pooled connection, never in the request's, as one statement in autocommit (it is
its own transaction: no BEGIN/COMMIT round trips around it).

A row whose TAT has passed means what a missing row means, so such rows are deleted, at most
once a minute per process, which keeps the table as small as the set of recent callers.
"""

from __future__ import annotations

import hashlib
import time
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.auth.models_ratelimit import MAX_BUCKET

PRUNE_EVERY: Final = 60.0  # seconds between two prunes by one process

# allowed: the new TAT; refused: the stored one (the CTE's outer SELECT sees the table as it
# was before the statement, which is the row the refusal left untouched). Parameters:
# :t the emission interval and :room = burst * T, both in seconds.
_TAKE = text(
    """
    WITH taken AS (
        INSERT INTO rate_limits AS r (bucket, tat)
        VALUES (:bucket, now() + make_interval(secs => CAST(:t AS double precision)))
        ON CONFLICT (bucket) DO UPDATE
            SET tat = greatest(r.tat, now()) + make_interval(secs => CAST(:t AS double precision))
            WHERE greatest(r.tat, now()) - now()
                + make_interval(secs => CAST(:t AS double precision))
                <= make_interval(secs => CAST(:room AS double precision))
        RETURNING r.tat
    )
    SELECT
        EXISTS (SELECT 1 FROM taken) AS allowed,
        (SELECT extract(epoch FROM r.tat - now()) FROM rate_limits r WHERE r.bucket = :bucket)
            AS ahead
    """
)
_PRUNE = text("DELETE FROM rate_limits WHERE tat < now()")

_next_prune = 0.0


def bucket_name(bucket: str) -> str:
    """The stored name: the bucket itself, or a digest of it when it is too long to index."""
    if len(bucket) <= MAX_BUCKET:
        return bucket
    return "sha256:" + hashlib.sha256(bucket.encode("utf-8", "surrogatepass")).hexdigest()


def _engine_of(target: AsyncEngine | async_sessionmaker[AsyncSession]) -> AsyncEngine:
    if isinstance(target, AsyncEngine):
        return target
    bind = target.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("take() needs an AsyncEngine or a session factory bound to one")
    return bind


async def take(
    target: AsyncEngine | async_sessionmaker[AsyncSession],
    bucket: str,
    *,
    per_minute: int,
    burst: int,
) -> float | None:
    """Count one request against ``bucket``: None when allowed, else the seconds to wait.

    ``per_minute`` 0 (or less) disables the limit. The wait is what ``Retry-After`` should say
    (round it up): after it, one more request of this bucket is allowed.
    """
    if per_minute <= 0:
        return None
    interval = 60.0 / per_minute
    room = max(burst, 1) * interval
    engine = _engine_of(target)
    params = {"bucket": bucket_name(bucket), "t": interval, "room": room}
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        allowed, ahead = (await conn.execute(_TAKE, params)).one()
    await _maybe_prune(engine)
    if allowed:
        return None
    if ahead is None:  # the row appeared after this statement's snapshot: a concurrent first
        return interval
    # Allowed again once TAT - now <= room - T.
    return max(float(ahead) - (room - interval), 0.001)


async def _maybe_prune(engine: AsyncEngine) -> None:
    global _next_prune
    now = time.monotonic()
    if now < _next_prune:
        return
    _next_prune = now + PRUNE_EVERY
    await prune(engine)


async def prune(target: AsyncEngine | async_sessionmaker[AsyncSession]) -> int:
    """Delete the buckets whose theoretical arrival time has passed; how many were deleted."""
    async with _engine_of(target).begin() as conn:
        result = await conn.execute(_PRUNE)
    return int(getattr(result, "rowcount", 0) or 0)
