"""Delivery metrics (DORA) in one SQL statement of plain rows (rules: README "Delivery metrics").

The statement's text depends only on which filters are present (at most 8 variants), never on
the data: absent filters leave their clause out instead of ``:x IS NULL OR ...``, so a generic
plan still uses the indexes. Every row carries a ``kind``:

- ``project``: ``n`` = 1 when the filtered project is visible to the caller (RLS), else 0;
- ``lead`` / ``ticket`` / ``restore``: ``n`` = sample count, ``p50`` / ``p90`` in seconds;
- ``cfr``: ``n`` = production deploys in the window, ``failures`` = those judged failed;
- ``env``: ``environment`` and ``n`` = deploys to it in the window (every environment);
- ``series``: ``bucket`` start, production ``n`` / ``failures``, ``p50`` lead time.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, text

# The deploy links the rules look at: those of the scope's projects (a deploy's stream is its
# project's production deploys, whoever shipped them), found by the link's own copy of its work
# item's project (migration 0013). ``in_scope`` marks the work items the filters select; an
# agent filter narrows the items, the project and owner filters the projects.
_PROJECT = "{t}.project_id = CAST(:project_id AS uuid)"
_OWNER = (
    "{t}.project_id IN (SELECT c.linked_project_id FROM components c "
    "WHERE c.metadata ->> 'owner' = CAST(:owner AS text) AND c.linked_project_id IS NOT NULL)"
)
_AGENT = (
    "(SELECT a.owner_id FROM work_items a WHERE a.id = x.work_item_id) = CAST(:agent_id AS text)"
)
_AGENT_PROJECTS = (
    "{t}.project_id IN (SELECT a.project_id FROM work_items a "
    "WHERE a.owner_id = CAST(:agent_id AS text))"
)
_PROD = "lower({d}.environment) = ANY(CAST(:production AS text[]))"
_OK = "lower({d}.status) = ANY(CAST(:succeeded AS text[]))"

_BODY = """
WITH
-- The (work item, deploy) pairs of the scope's projects from `from` on: one range of the index
-- on deployment_work_items (project_id, deployed_at), which also holds the deploy's environment
-- and status (copies kept by triggers, migration 0013).
links AS MATERIALIZED (
  SELECT x.work_item_id AS item, x.project_id, {in_scope} AS in_scope, x.deployment_id AS id,
         x.environment, x.deployed_at,
         {prod_x} AS prod,
         lower(x.status) = ANY(CAST(:failed AS text[])) AS failed,
         {ok_x} AS ok
  FROM deployment_work_items x
  WHERE {links_scope} AND x.deployed_at >= CAST(:start AS timestamptz)
),
-- The deploys from `from` on, one row per (deploy, project): the streams the rules compare.
-- in_scope: it ships a work item the filters select.
deploys AS MATERIALIZED (
  SELECT id, environment, deployed_at, project_id, prod, failed, ok, bool_or(in_scope) AS in_scope
  FROM links
  GROUP BY id, environment, deployed_at, project_id, prod, failed, ok
),
-- The work items in scope first shipped to production in the window: a successful production
-- deploy in it, and none before `from` (one index range of the item's earlier links).
shipped AS MATERIALIZED (
  SELECT s.item AS id, s.shipped_at
  FROM (
    SELECT item, min(deployed_at) AS shipped_at
    FROM links
    WHERE in_scope AND prod AND ok AND deployed_at < CAST(:end AS timestamptz)
    GROUP BY item
  ) s
  WHERE NOT EXISTS (
    SELECT 1 FROM deployment_work_items e
    WHERE e.work_item_id = s.item AND e.deployed_at < CAST(:start AS timestamptz)
      AND {prod_e} AND {ok_e})
),
lead AS (
  SELECT f.shipped_at,
    extract(epoch FROM f.shipped_at - LEAST(w.created_at, (
      SELECT min(a.created_at) FROM activities a
      WHERE a.work_item_id = f.id AND a.activity_type = 'committed'))) AS secs,
    extract(epoch FROM f.shipped_at - (
      SELECT min(l.created_at) FROM ticket_links l WHERE l.work_item_id = f.id)) AS ticket_secs
  FROM shipped f JOIN work_items w ON w.id = f.id
),
-- The `fix` work items of the scope's projects that could judge a deploy of the window
-- (started after `from`, at most one failure window after `to`): a hashed set that spares the
-- fix rule a primary-key read of every other work item on the shipped tickets.
fixes AS MATERIALIZED (
  SELECT w.id FROM work_items w
  WHERE {fix_scope} AND w.work_type = 'fix' AND w.created_at > CAST(:start AS timestamptz)
    AND w.created_at <= CAST(:end AS timestamptz) + {window}
),
-- A project's production stream, each deploy with the next failed and the next successful
-- production deploy strictly after it (window functions: one pass, no per-row lookup). Newest
-- first, so the frame (every later deploy) only grows and each minimum is kept incrementally.
streams AS (
  SELECT d.*,
    min(d.deployed_at) FILTER (WHERE d.failed) OVER later AS next_failed_at,
    min(d.deployed_at) FILTER (WHERE d.ok) OVER later AS next_ok_at
  FROM deploys d
  WHERE d.prod
  WINDOW later AS (PARTITION BY d.project_id ORDER BY d.deployed_at DESC
                   RANGE BETWEEN UNBOUNDED PRECEDING AND '1 microsecond' PRECEDING)
),
-- Production deploys in the window followed, within the failure window, by the start of a
-- `fix` work item of the same project linked to a ticket of a work item the deploy shipped:
-- first the other work items on those tickets, then each one's row by primary key. (Every join
-- on a CTE stays linear whatever the estimates: a generic plan, which assumes an average
-- project, must not nest loops over a CTE of a big project.)
siblings AS MATERIALIZED (
  SELECT l.id, l.project_id, l.deployed_at, l2.work_item_id AS sibling
  FROM links l
  JOIN ticket_links l1 ON l1.work_item_id = l.item
  JOIN ticket_links l2 ON l2.ticket_id = l1.ticket_id AND l2.work_item_id <> l.item
  WHERE l.prod AND l.deployed_at >= CAST(:start AS timestamptz)
    AND l.deployed_at < CAST(:end AS timestamptz)
    AND (l2.work_item_id IN (SELECT fixes.id FROM fixes)) IS TRUE
),
fixed AS MATERIALIZED (
  SELECT DISTINCT s.id
  FROM siblings s JOIN work_items f ON f.id = s.sibling
  WHERE f.work_type = 'fix' AND f.project_id = s.project_id
    AND f.created_at > s.deployed_at AND f.created_at <= s.deployed_at + {window}
),
-- Production deploys in the window, each judged once (failed in any of its projects).
judged AS (
  SELECT d.id, d.deployed_at,
    bool_or(d.failed OR d.next_failed_at <= d.deployed_at + {window})
      OR d.id IN (SELECT fixed.id FROM fixed) AS failed
  FROM streams d
  WHERE d.in_scope AND d.deployed_at < CAST(:end AS timestamptz)
  GROUP BY d.id, d.deployed_at
),
-- A failed production deploy restores at the next successful production deploy of a project it
-- shipped to (every production environment name is one stream).
restore AS (
  SELECT min(extract(epoch FROM d.next_ok_at - d.deployed_at)) AS secs
  FROM streams d
  WHERE d.in_scope AND d.failed AND d.deployed_at < CAST(:end AS timestamptz)
  GROUP BY d.id
),
series_deploys AS (
  SELECT date_trunc(:bucket, deployed_at, 'UTC') AS b, count(*) AS n,
         count(*) FILTER (WHERE failed) AS f
  FROM judged GROUP BY 1
),
series_lead AS (
  SELECT date_trunc(:bucket, shipped_at, 'UTC') AS b,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS p
  FROM lead WHERE secs >= 0 GROUP BY 1
)
{project_row}
SELECT 'lead' AS kind, NULL AS environment, NULL::timestamptz AS bucket, count(*) AS n,
       0::bigint AS failures,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY secs) AS p90
FROM lead WHERE secs >= 0
UNION ALL
SELECT 'ticket', NULL, NULL, count(*), 0,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ticket_secs),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY ticket_secs)
FROM lead WHERE ticket_secs >= 0
UNION ALL
SELECT 'restore', NULL, NULL, count(*), 0,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY secs),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY secs)
FROM restore WHERE secs IS NOT NULL
UNION ALL
SELECT 'cfr', NULL, NULL, count(*), count(*) FILTER (WHERE failed), NULL, NULL FROM judged
UNION ALL
SELECT * FROM (
  SELECT 'env', environment, NULL::timestamptz, count(DISTINCT id), 0::bigint,
         NULL::float8, NULL::float8
  FROM deploys WHERE in_scope AND deployed_at < CAST(:end AS timestamptz)
  GROUP BY environment ORDER BY environment
) envs
UNION ALL
SELECT * FROM (
  SELECT 'series', NULL, g.b, coalesce(sd.n, 0), coalesce(sd.f, 0), sl.p, NULL::float8
  FROM generate_series(
    date_trunc(:bucket, CAST(:start AS timestamptz), 'UTC'),
    CAST(:end AS timestamptz) - interval '1 microsecond',
    make_interval(hours => :bucket_hours)) AS g(b)
  LEFT JOIN series_deploys sd ON sd.b = g.b
  LEFT JOIN series_lead sl ON sl.b = g.b
  ORDER BY g.b
) points
"""

_PROJECT_ROW = """
SELECT 'project' AS kind, NULL AS environment, NULL::timestamptz AS bucket,
       (SELECT count(*) FROM projects WHERE id = CAST(:project_id AS uuid)) AS n,
       0::bigint AS failures, NULL::float8 AS p50, NULL::float8 AS p90
UNION ALL"""

_WINDOW = "make_interval(secs => CAST(:failure_window_seconds AS float8))"


@cache
def delivery_statement(*, project: bool, agent: bool, owner: bool) -> TextClause:
    """The statement for this combination of filters (cached: 8 texts at most)."""
    projects = [clause for clause, on in ((_PROJECT, project), (_OWNER, owner)) if on]
    if not projects and agent:
        projects = [_AGENT_PROJECTS]
    scope = " AND ".join(projects) or "TRUE"
    sql = _BODY.format(
        links_scope=scope.format(t="x"),
        fix_scope=scope.format(t="w"),
        in_scope=_AGENT if agent else "TRUE",
        prod_x=_PROD.format(d="x"),
        ok_x=_OK.format(d="x"),
        prod_e=_PROD.format(d="e"),
        ok_e=_OK.format(d="e"),
        window=_WINDOW,
        project_row=_PROJECT_ROW if project else "",
    )
    return text(sql)
