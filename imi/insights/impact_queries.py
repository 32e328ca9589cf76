"""The SQL of change impact: where a change starts, and the one recursive walk from there.

Which way impact runs along each relationship (``from -> to`` as stored):

- ``A depends_on B``: a change to B affects A (walked ``to -> from``);
- ``A produces_events_for B``: B consumes A's events, so a change to A affects B (``from -> to``);
- ``A consumes_events_from B``: a change to B affects A (``to -> from``).

The walk keeps one row per (component, distance) (``UNION``, not ``UNION ALL``) and stops at
``:max_depth``, so a cycle ends and the work is bounded by depth x edges; each component's
shortest distance and one predecessor at distance - 1 (the smallest id: deterministic) give
its path. Edges only lead to components the caller can see (row-level security on
``components`` for project-restricted keys), so a path never passes through a hidden one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text

from imi.components.models import Component


def labelled(model: type[Any], alias: str) -> str:
    """Every column of ``model`` labelled by its attribute name (``metadata`` as ``meta``)."""
    return ", ".join(
        f"{alias}.{attr.columns[0].name} AS {attr.key}" for attr in inspect(model).column_attrs
    )


WALK = text(
    f"""
    WITH RECURSIVE edges AS (
        SELECT e.src, e.dst, e.relation_type FROM (
            SELECT r.to_component_id AS src, r.from_component_id AS dst, r.relation_type
            FROM component_relationships r
            WHERE r.relation_type IN ('depends_on', 'consumes_events_from')
            UNION ALL
            SELECT r.from_component_id, r.to_component_id, r.relation_type
            FROM component_relationships r
            WHERE r.relation_type = 'produces_events_for'
        ) e
        JOIN components seen ON seen.id = e.dst
    ),
    walk (component_id, distance) AS (
        SELECT c.id, 0 FROM components c WHERE c.id = ANY(CAST(:starts AS uuid[]))
        UNION
        SELECT e.dst, w.distance + 1
        FROM walk w JOIN edges e ON e.src = w.component_id
        WHERE w.distance < :max_depth
    ),
    best AS (
        SELECT component_id, min(distance) AS distance FROM walk GROUP BY component_id
    ),
    pred AS (
        SELECT DISTINCT ON (b.component_id)
               b.component_id, e.src AS predecessor, e.relation_type
        FROM edges e
        JOIN best b ON b.component_id = e.dst
        -- A predecessor one hop nearer: as b's distance is the shortest, any nearer p is
        -- exactly one nearer. Not written as an equality, so the planner joins through the
        -- edges rather than every pair of components at neighbouring distances.
        JOIN best p ON p.component_id = e.src AND p.distance < b.distance
        ORDER BY b.component_id, e.src, e.relation_type
    )
    SELECT {labelled(Component, "c")}, b.distance, pred.predecessor, pred.relation_type AS via
    FROM best b
    JOIN components c ON c.id = b.component_id
    LEFT JOIN pred ON pred.component_id = b.component_id
    ORDER BY b.distance, c.name, c.id
    """
)

# Where a change starts: its components and its projects (distance 0), by kind of start.
# ``found`` says whether the start names something the caller can see.
START_COMPONENT = text(
    """
    SELECT EXISTS (SELECT 1 FROM components WHERE id = :id) AS found,
           ARRAY[CAST(:id AS uuid)] AS components,
           ARRAY[]::uuid[] AS projects
    """
)
START_PROJECT = text(
    """
    SELECT EXISTS (SELECT 1 FROM projects WHERE id = :id) AS found,
           ARRAY(SELECT c.id FROM components c
                 WHERE c.parent_project_id = :id OR c.linked_project_id = :id
                 ORDER BY c.id) AS components,
           ARRAY[CAST(:id AS uuid)] AS projects
    """
)
START_DEPLOY = text(
    """
    WITH shipped AS (
        SELECT DISTINCT w.project_id
        FROM deployments d
        JOIN deployment_work_items dw ON dw.deployment_id = d.id
        JOIN work_items w ON w.id = dw.work_item_id
        WHERE d.deploy_id = :id
    )
    SELECT EXISTS (SELECT 1 FROM deployments WHERE deploy_id = :id) AS found,
           ARRAY(SELECT c.id FROM components c
                 WHERE c.parent_project_id IN (SELECT project_id FROM shipped)
                    OR c.linked_project_id IN (SELECT project_id FROM shipped)
                 ORDER BY c.id) AS components,
           ARRAY(SELECT project_id FROM shipped ORDER BY project_id) AS projects
    """
)
