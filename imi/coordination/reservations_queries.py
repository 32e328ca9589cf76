"""The SQL of file reservations (intermute): one statement per question, plain rows back.

A reservation is *live* while ``released_at IS NULL AND expires_at > now()``; ``now()`` is the
transaction's start, so one transaction sees one consistent set of live reservations.
"""

from __future__ import annotations

from sqlalchemy import text

COLUMNS = (
    "r.id, r.agent_id, r.project, r.path_pattern, r.exclusive, r.reason, r.created_at, "
    "r.expires_at, r.released_at, r.release_reason, "
    "(r.released_at IS NULL AND r.expires_at > now()) AS is_active"
)
LIVE = "r.released_at IS NULL AND r.expires_at > now()"

# Serializes every reservation decision of one project across connections, processes and
# replicas, until the transaction ends (released at commit or rollback).
LOCK_PROJECT = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('reservations:' || CAST(:project AS text), 0))"
)

# The live reservations of a project, with their holder's name when the agent is registered.
LIVE_IN_PROJECT = text(
    f"SELECT {COLUMNS}, coalesce(a.name, r.agent_id) AS held_by "
    "FROM file_reservations r LEFT JOIN agents a ON a.id::text = r.agent_id "
    f"WHERE r.project = :project AND {LIVE} ORDER BY r.created_at, r.id"
)

INSERT = text(
    "INSERT INTO file_reservations AS r "
    "(id, agent_id, project, path_pattern, exclusive, reason, created_at, expires_at) "
    "VALUES (:id, :agent_id, :project, :path_pattern, :exclusive, :reason, now(), "
    "now() + make_interval(mins => :ttl_minutes)) "
    f"RETURNING {COLUMNS}"
)

BY_ID = text(f"SELECT {COLUMNS} FROM file_reservations r WHERE r.id = :id")

LIVE_FOR_PROJECT = text(
    f"SELECT {COLUMNS} FROM file_reservations r WHERE r.project = :project AND {LIVE} "
    "ORDER BY r.created_at, r.id LIMIT :limit"
)
LIVE_FOR_AGENT = text(
    f"SELECT {COLUMNS} FROM file_reservations r WHERE r.agent_id = :agent_id AND {LIVE} "
    "AND (CAST(:project AS text) IS NULL OR r.project = :project) "
    "ORDER BY r.created_at, r.id LIMIT :limit"
)
LIVE_FOR_AGENTS = text(
    f"SELECT {COLUMNS} FROM file_reservations r WHERE r.agent_id = ANY(:agent_ids) AND {LIVE} "
    "ORDER BY r.created_at, r.id"
)

# Released once: a second release (the holder racing the sweeper, a retried DELETE) finds
# released_at set and updates nothing.
RELEASE = text(
    "UPDATE file_reservations AS r SET released_at = now(), release_reason = 'released' "
    f"WHERE r.id = :id AND r.released_at IS NULL RETURNING {COLUMNS}"
)

# The sweeper's claim: rows another sweeper is releasing are skipped, not waited for, and the
# UPDATE re-checks released_at, so each reservation is released (and announced) exactly once.
SWEEP = text(
    f"""
    WITH doomed AS (
        SELECT r.id,
               CASE WHEN r.expires_at <= now() THEN 'expired' ELSE 'agent_stale' END AS why
        FROM file_reservations r
        LEFT JOIN agents a ON a.id::text = r.agent_id
        WHERE r.released_at IS NULL
          AND (r.expires_at <= now()
               OR a.last_seen < now() - make_interval(secs => :stale_seconds))
        ORDER BY r.expires_at, r.id
        LIMIT :batch
        FOR UPDATE OF r SKIP LOCKED
    )
    UPDATE file_reservations AS r SET released_at = now(), release_reason = d.why
    FROM doomed d
    WHERE r.id = d.id AND r.released_at IS NULL
    RETURNING {COLUMNS}
    """
)

# The live reservations in the projects of some work items: intermute's ``project`` naming the
# iMi project by id (as a project-restricted key does) or by name.
LIVE_FOR_WORK_ITEMS = text(
    f"SELECT w.id AS work_item_id, w.worktree_path, w.owner_id, {COLUMNS} "
    "FROM work_items w JOIN projects p ON p.id = w.project_id "
    "JOIN file_reservations r ON r.project IN (p.id::text, p.name) "
    f"WHERE w.id = ANY(:ids) AND {LIVE} ORDER BY r.created_at, r.id"
)
