"""The floor: each read issued as raw asyncpg SQL, statement for statement what iMi sends.

Same statements, same round trips, same rows, over an asyncpg pool as large as iMi's (pool size
+ overflow), with asyncpg's statement cache; no transaction, no ORM, no HTTP, no JSON. The ratio
iMi / floor is what the service's layers (HTTP, FastAPI, SQLAlchemy, serialization) cost on top of
PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from benchmarks.fixtures import Fixtures
from imi.projects.origin import normalize_remote_origin
from imi.projects.queries import PROJECT_WITH_COUNTS

# iMi reads a project with its work counts in one statement: its own text, kept in step.
PROJECT = PROJECT_WITH_COUNTS + "WHERE p.id = $1::uuid"
BY_ORIGIN = PROJECT_WITH_COUNTS + "WHERE p.remote_origin_normalized = $1"
COUNTS = """
SELECT project_id,
       count(*) FILTER (WHERE active),
       count(*) FILTER (WHERE active AND has_uncommitted_changes),
       count(*) FILTER (WHERE active AND ahead_of_trunk > 0)
FROM work_items WHERE project_id = ANY($1::uuid[]) GROUP BY project_id
"""
SEARCH = """
SELECT p.*,
       CASE WHEN lower(p.name) = $1 THEN 1.0
            ELSE greatest(similarity(lower(p.name), $1), word_similarity($1, lower(p.name)),
                          word_similarity($1, p.remote_origin_normalized)) END AS relevance
FROM projects p
WHERE (lower(p.name) LIKE $2 OR p.remote_origin_normalized LIKE $2
       OR word_similarity($1, lower(p.name)) >= 0.2
       OR word_similarity($1, p.remote_origin_normalized) >= 0.2)
  AND p.active
ORDER BY relevance DESC, p.name
LIMIT $3
"""
# In flight = active (FR-2.4): the page walks the in-flight index; the total is counted once.
IN_FLIGHT = """
SELECT w.id, w.name, w.project_id, p.name AS project_name, w.branch_name, w.status,
       w.uncommitted_files_count, w.ahead_of_trunk, w.behind_trunk, w.owner_id,
       w.last_activity_at,
       (SELECT count(*) FROM work_items c WHERE c.project_id = $1::uuid AND c.active) AS total
FROM work_items w JOIN projects p ON p.id = w.project_id
WHERE w.project_id = $1::uuid AND w.active
ORDER BY w.last_activity_at DESC, w.id
LIMIT 100 OFFSET 0
"""
TICKET_ROOT = """
SELECT t.*, l.* FROM tickets t LEFT JOIN ticket_links l ON l.ticket_id = t.id
WHERE t.plane_ticket_id = $1 ORDER BY l.created_at, l.work_item_id
"""
DEPLOY_ROOT = """
SELECT d.*, dw.work_item_id FROM deployments d
LEFT JOIN deployment_work_items dw ON dw.deployment_id = d.id
WHERE d.deploy_id = $1 ORDER BY dw.created_at, dw.work_item_id
"""
TRACE_WORK = """
SELECT w.*, p.* FROM work_items w JOIN projects p ON p.id = w.project_id
WHERE w.id = ANY($1::uuid[]) ORDER BY w.created_at, w.id
"""
TRACE_LINKS = """
SELECT l.*, t.* FROM ticket_links l JOIN tickets t ON t.id = l.ticket_id
WHERE l.work_item_id = ANY($1::uuid[]) ORDER BY t.plane_ticket_id, l.created_at
"""
TRACE_PRS = """
SELECT * FROM pull_requests WHERE work_item_id = ANY($1::uuid[]) ORDER BY created_at, number
"""
TRACE_DEPLOYS = """
SELECT dw.work_item_id, d.* FROM deployment_work_items dw
JOIN deployments d ON d.id = dw.deployment_id
WHERE dw.work_item_id = ANY($1::uuid[]) ORDER BY d.deployed_at, d.deploy_id
"""
DASH_PROJECTS = """
SELECT p.*, count(*) OVER () FROM projects p WHERE p.active ORDER BY p.name, p.id LIMIT 51
"""
DASH_WORK = """
SELECT * FROM (
  SELECT w.*, row_number() OVER (PARTITION BY w.project_id
                                 ORDER BY w.last_activity_at DESC, w.id) AS rank,
         count(*) OVER (PARTITION BY w.project_id) AS total
  FROM work_items w WHERE w.project_id = ANY($1::uuid[]) AND w.active
) s WHERE rank > 0 AND rank <= 20 ORDER BY project_id, rank
"""
DASH_TICKETS = """
SELECT t.*, l.* FROM tickets t JOIN ticket_links l ON l.ticket_id = t.id
WHERE l.work_item_id = ANY($1::uuid[]) ORDER BY t.plane_ticket_id
"""
DASH_PRS = "SELECT * FROM pull_requests WHERE work_item_id = ANY($1::uuid[]) ORDER BY number"
DASH_DEPLOYS = """
SELECT dw.work_item_id, d.* FROM deployment_work_items dw
JOIN deployments d ON d.id = dw.deployment_id
WHERE dw.work_item_id = ANY($1::uuid[]) ORDER BY d.deployed_at DESC
"""

Conn = Any  # an asyncpg connection from the pool
Read = Callable[[Conn, Fixtures, random.Random], Awaitable[None]]


async def project_by_id(conn: Conn, fx: Fixtures, rng: random.Random) -> None:
    await conn.fetchrow(PROJECT, rng.choice(fx.project_ids))


async def project_by_origin(conn: Conn, fx: Fixtures, rng: random.Random) -> None:
    normalized = normalize_remote_origin(rng.choice(fx.origins))  # iMi normalizes too
    await conn.fetchrow(BY_ORIGIN, normalized)


async def search(conn: Conn, fx: Fixtures, rng: random.Random) -> None:
    q = rng.choice(fx.search_terms).lower()
    await conn.fetch(SEARCH, q, f"%{q}%", 20)


async def inflight_big_project(conn: Conn, fx: Fixtures, rng: random.Random) -> None:
    await conn.fetch(IN_FLIGHT, fx.big_project_id)


async def _trace_rest(conn: Conn, ids: list[Any], *, links: bool, deploys: bool) -> None:
    if not ids:
        return
    await conn.fetch(TRACE_WORK, ids)
    if links:
        await conn.fetch(TRACE_LINKS, ids)
    await conn.fetch(TRACE_PRS, ids)
    if deploys:
        await conn.fetch(TRACE_DEPLOYS, ids)


async def trace_ticket(conn: Conn, fx: Fixtures, rng: random.Random) -> None:
    rows = await conn.fetch(TICKET_ROOT, rng.choice(fx.trace_tickets))
    ids = list(dict.fromkeys(r["work_item_id"] for r in rows if r["work_item_id"]))
    await _trace_rest(conn, ids, links=False, deploys=True)


async def trace_deploy(conn: Conn, fx: Fixtures, rng: random.Random) -> None:
    rows = await conn.fetch(DEPLOY_ROOT, rng.choice(fx.trace_deploys))
    ids = list(dict.fromkeys(r["work_item_id"] for r in rows if r["work_item_id"]))
    await _trace_rest(conn, ids, links=True, deploys=False)


async def dashboard(conn: Conn, fx: Fixtures, rng: random.Random) -> None:
    projects = await conn.fetch(DASH_PROJECTS)
    project_ids = [r["id"] for r in projects[:50]]
    await conn.fetch(COUNTS, project_ids)
    work = await conn.fetch(DASH_WORK, project_ids)
    work_ids = [r["id"] for r in work]
    await conn.fetch(DASH_TICKETS, work_ids)
    await conn.fetch(DASH_PRS, work_ids)
    await conn.fetch(DASH_DEPLOYS, work_ids)


FLOORS: dict[str, Read] = {
    "project_by_id": project_by_id,
    "project_by_origin": project_by_origin,
    "search": search,
    "inflight_big_project": inflight_big_project,
    "trace_ticket": trace_ticket,
    "trace_deploy": trace_deploy,
    "dashboard": dashboard,
}


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(dsn, min_size=min(size, 10), max_size=size)
    return pool
