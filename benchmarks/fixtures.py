"""What the load generator asks about: ids, origins, tickets, deploys sampled from the dataset.

Write benchmarks get disjoint sets of active work items, so one measurement's writes (row locks,
``last_sync_at`` moving forward) never disturb another's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import asyncpg

from benchmarks.dataset import WORDS

SAMPLE = 1_000


@dataclass(frozen=True, slots=True)
class WorkTarget:
    id: str
    project_id: str
    branch: str
    worktree_path: str
    remote: str  # the project's origin, spelled differently from the stored one


@dataclass(frozen=True, slots=True)
class Fixtures:
    project_ids: list[str]
    origins: list[str]  # other spellings of stored origins
    search_terms: list[str]
    big_project_id: str
    big_project_in_flight: int
    trace_tickets: list[str]
    trace_deploys: list[str]
    start_projects: list[str]
    ticket_keys: list[str]
    rest_git_state: list[str]
    rest_git_noop: list[str]
    graphql_git_state: list[str]
    commit_to_queue: list[str]
    sync_targets: list[WorkTarget]
    push_targets: list[WorkTarget]


def respell(normalized: str, rng: random.Random) -> str:
    """``host/org/repo`` in one of the spellings git users type."""
    host, _, path = normalized.partition("/")
    return rng.choice(
        (
            f"git@{host}:{path}.git",
            f"https://{host}/{path}",
            f"https://{host}/{path}.git",
            f"ssh://git@{host}/{path}.git",
        )
    )


async def sample(dsn: str, seed: int = 7) -> Fixtures:
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn)
    try:
        projects = await conn.fetch(
            "SELECT id::text, remote_origin_normalized FROM projects WHERE active "
            "ORDER BY random() LIMIT $1",
            SAMPLE,
        )
        big = await conn.fetchrow(
            "SELECT project_id::text AS id, count(*) AS n FROM work_items "
            "WHERE active AND (has_uncommitted_changes OR ahead_of_trunk > 0) "
            "GROUP BY project_id ORDER BY n DESC LIMIT 1"
        )
        tickets = await conn.fetch(
            "SELECT plane_ticket_id FROM tickets t WHERE EXISTS ("
            " SELECT 1 FROM ticket_links l JOIN deployment_work_items d"
            " ON d.work_item_id = l.work_item_id WHERE l.ticket_id = t.id) "
            "ORDER BY random() LIMIT $1",
            SAMPLE,
        )
        deploys = await conn.fetch(
            "SELECT deploy_id FROM deployments ORDER BY random() LIMIT $1", SAMPLE
        )
        keys = await conn.fetch(
            "SELECT plane_ticket_id FROM tickets ORDER BY random() LIMIT $1", SAMPLE
        )
        active = await conn.fetch(
            "SELECT w.id::text, w.project_id::text, w.branch_name, w.worktree_path,"
            " p.remote_origin_normalized "
            "FROM work_items w JOIN projects p ON p.id = w.project_id "
            "WHERE w.active ORDER BY random()"
        )
    finally:
        await conn.close()

    items = [
        WorkTarget(r[0], r[1], r[2], r[3], respell(r[4], rng)) for r in active if r[3] is not None
    ]
    per_set = max(50, min(2_000, len(items) // 6))
    sets = [items[i * per_set : (i + 1) * per_set] for i in range(6)]
    return Fixtures(
        project_ids=[r[0] for r in projects],
        origins=[respell(r[1], rng) for r in projects],
        search_terms=list(WORDS) + [w[:4] for w in WORDS[:20]] + ["paymnts", "invntory"],
        big_project_id=big["id"],
        big_project_in_flight=int(big["n"]),
        trace_tickets=[r[0] for r in tickets],
        trace_deploys=[r[0] for r in deploys],
        start_projects=[r[0] for r in projects],
        ticket_keys=[r[0] for r in keys],
        rest_git_state=[t.id for t in sets[0]],
        rest_git_noop=[t.id for t in sets[1]],
        graphql_git_state=[t.id for t in sets[2]],
        commit_to_queue=[t.id for t in sets[3]],
        sync_targets=sets[4],
        push_targets=sets[5],
    )
