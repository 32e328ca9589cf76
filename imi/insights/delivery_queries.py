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

# Work items in scope: the filters, each an indexed predicate (project_id, owner_id) or a
# lookup of the projects the named component owner's components are linked to.
_FILTERS = {
    "project": "w.project_id = CAST(:project_id AS uuid)",
    "agent": "w.owner_id = CAST(:agent_id AS text)",
    "owner": (
        "w.project_id IN (SELECT c.linked_project_id FROM components c "
        "WHERE c.metadata ->> 'owner' = CAST(:owner AS text) "
        "AND c.linked_project_id IS NOT NULL)"
    ),
}

_BODY = """
WITH scope AS MATERIALIZED (
  SELECT w.id, w.project_id, w.created_at FROM work_items w WHERE {where}
),
-- Every deploy of the scope's projects from `from` on, one row per (deploy, project): the
-- streams the rules compare (a project's production deploys, whatever the production name).
-- in_scope: it ships a work item in scope.
deploys AS MATERIALIZED (
  SELECT d.id, d.environment, d.deployed_at, w.project_id,
         lower(d.environment) = ANY(CAST(:production AS text[])) AS prod,
         lower(d.status) = ANY(CAST(:failed AS text[])) AS failed,
         lower(d.status) = ANY(CAST(:succeeded AS text[])) AS ok,
         bool_or(s.id IS NOT NULL) AS in_scope
  FROM work_items w
  JOIN deployment_work_items x ON x.work_item_id = w.id
  JOIN deployments d ON d.id = x.deployment_id
  LEFT JOIN scope s ON s.id = w.id
  WHERE {projects} AND d.deployed_at >= CAST(:start AS timestamptz)
  GROUP BY d.id, w.project_id
),
-- Each work item's first successful production deploy, ever (not only in the window).
shipped AS (
  SELECT s.id, s.created_at, min(d.deployed_at) AS shipped_at
  FROM scope s
  JOIN deployment_work_items x ON x.work_item_id = s.id
  JOIN deployments d ON d.id = x.deployment_id
  WHERE lower(d.environment) = ANY(CAST(:production AS text[]))
    AND lower(d.status) = ANY(CAST(:succeeded AS text[]))
  GROUP BY s.id, s.created_at
),
lead AS (
  SELECT f.shipped_at,
    extract(epoch FROM f.shipped_at - LEAST(f.created_at, (
      SELECT min(a.created_at) FROM activities a
      WHERE a.work_item_id = f.id AND a.activity_type = 'committed'))) AS secs,
    extract(epoch FROM f.shipped_at - (
      SELECT min(l.created_at) FROM ticket_links l WHERE l.work_item_id = f.id)) AS ticket_secs
  FROM shipped f
  WHERE f.shipped_at >= CAST(:start AS timestamptz) AND f.shipped_at < CAST(:end AS timestamptz)
),
-- A project's production stream, each deploy with the next failed and the next successful
-- production deploy strictly after it (window functions: one pass, no per-row lookup).
streams AS (
  SELECT d.*,
    min(d.deployed_at) FILTER (WHERE d.failed) OVER after AS next_failed_at,
    min(d.deployed_at) FILTER (WHERE d.ok) OVER after AS next_ok_at
  FROM deploys d
  WHERE d.prod
  WINDOW after AS (PARTITION BY d.project_id ORDER BY d.deployed_at
                   RANGE BETWEEN '1 microsecond' FOLLOWING AND UNBOUNDED FOLLOWING)
),
-- Production deploys in the window, each judged once (failed in any of its projects).
judged AS (
  SELECT d.id, d.deployed_at, bool_or(
    d.failed
    OR d.next_failed_at <= d.deployed_at + {window}
    OR EXISTS (
      SELECT 1 FROM deployment_work_items x
      JOIN ticket_links l1 ON l1.work_item_id = x.work_item_id
      JOIN ticket_links l2 ON l2.ticket_id = l1.ticket_id AND l2.work_item_id <> x.work_item_id
      JOIN work_items fix ON fix.id = l2.work_item_id
      WHERE x.deployment_id = d.id AND fix.work_type = 'fix'
        AND fix.created_at > d.deployed_at AND fix.created_at <= d.deployed_at + {window})
  ) AS failed
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
    present = {"project": project, "agent": agent, "owner": owner}
    where = " AND ".join(clause for name, clause in _FILTERS.items() if present[name]) or "TRUE"
    # The scope's projects: the one asked for (an index lookup), else those its work is on.
    projects = _FILTERS["project"] if project else "w.project_id IN (SELECT project_id FROM scope)"
    sql = _BODY.format(
        where=where,
        projects=projects,
        window=_WINDOW,
        project_row=_PROJECT_ROW if project else "",
    )
    return text(sql)
