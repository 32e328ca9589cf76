"""The delivery statement as it was before migration 0013: the reference the randomized test
(``test_delivery_equivalence``) compares the current statement with.

It reads every deploy link of every work item of the scope's projects straight from
``deployments`` (not from the links' derived ``project_id`` / ``deployed_at``), so equal answers
also show that the triggers of migration 0013 keep those columns right. Do not "fix" it: it is
the rules' previous, slower formulation, frozen.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, text

# The work items the rules look at: every item of the scope's projects (a deploy's stream is its
# project's production deploys, whoever shipped them). ``in_scope`` marks the items the filters
# select; an agent filter narrows the items, the project and owner filters the projects.
_PROJECT = "w.project_id = CAST(:project_id AS uuid)"
_OWNER = (
    "w.project_id IN (SELECT c.linked_project_id FROM components c "
    "WHERE c.metadata ->> 'owner' = CAST(:owner AS text) AND c.linked_project_id IS NOT NULL)"
)
_AGENT = "w.owner_id = CAST(:agent_id AS text)"
_AGENT_PROJECTS = (
    "w.project_id IN (SELECT a.project_id FROM work_items a "
    "WHERE a.owner_id = CAST(:agent_id AS text))"
)

_BODY = """
WITH items AS (
  SELECT w.id, w.project_id, w.created_at, w.work_type, {in_scope} AS in_scope
  FROM work_items w WHERE {projects}
),
-- The (work item, deploy) pairs of those items the rules read, in one pass: every deploy from
-- `from` on, and the successful production deploys of all time (for "first ever").
links AS MATERIALIZED (
  SELECT i.id AS item, i.project_id, i.created_at, i.in_scope, d.id, d.environment,
         d.deployed_at,
         lower(d.environment) = ANY(CAST(:production AS text[])) AS prod,
         lower(d.status) = ANY(CAST(:failed AS text[])) AS failed,
         lower(d.status) = ANY(CAST(:succeeded AS text[])) AS ok
  FROM items i
  JOIN deployment_work_items x ON x.work_item_id = i.id
  JOIN deployments d ON d.id = x.deployment_id
  WHERE d.deployed_at >= CAST(:start AS timestamptz)
     OR (lower(d.environment) = ANY(CAST(:production AS text[]))
         AND lower(d.status) = ANY(CAST(:succeeded AS text[])))
),
-- The deploys from `from` on, one row per (deploy, project): the streams the rules compare.
-- in_scope: it ships a work item the filters select.
deploys AS MATERIALIZED (
  SELECT id, environment, deployed_at, project_id, prod, failed, ok, bool_or(in_scope) AS in_scope
  FROM links
  WHERE deployed_at >= CAST(:start AS timestamptz)
  GROUP BY id, environment, deployed_at, project_id, prod, failed, ok
),
-- Each work item's first successful production deploy, ever (not only in the window).
shipped AS (
  SELECT item AS id, created_at, min(deployed_at) AS shipped_at
  FROM links WHERE in_scope AND prod AND ok
  GROUP BY item, created_at
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
def reference_statement(*, project: bool, agent: bool, owner: bool) -> TextClause:
    """The statement for this combination of filters (cached: 8 texts at most)."""
    projects = [clause for clause, on in ((_PROJECT, project), (_OWNER, owner)) if on]
    if not projects and agent:
        projects = [_AGENT_PROJECTS]
    sql = _BODY.format(
        projects=" AND ".join(projects) or "TRUE",
        in_scope=_AGENT if agent else "TRUE",
        window=_WINDOW,
        project_row=_PROJECT_ROW if project else "",
    )
    return text(sql)
