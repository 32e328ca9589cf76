"""The delivery statement answers exactly as its previous formulation on a randomized dataset.

Migration 0013 gave deploy links derived copies of their work item's project and of their
deployment's time, environment and status (kept by triggers), and the statement reads a
window's links from them, asking "first production deploy ever" only of the work items shipped
in the window. ``delivery_reference`` is the statement from before: it reads every link of
every work item straight from ``deployments``. On random data written every way links are
written (the deploy service, raw SQL, a deploy's time, status or environment changed
afterwards, a work item moved to another project), every filter combination, both buckets and
two rule sets must give the same rows.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.insights.delivery import (
    Bucket,
    DeliveryQuery,
    DeliveryRules,
    statement_params,
    validate,
)
from imi.insights.delivery_queries import delivery_statement
from imi.links.deployments import link_deployment
from imi.links.models import DeploymentInput
from tests.factories import make_project, make_work_item
from tests.insights.delivery_reference import reference_statement

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 40
ENVIRONMENTS = ("production", "Prod", "PRODUCTION", "staging", "preview", "prod")
STATUSES = ("succeeded", "Succeeded", "success", "deployed", "failed", "rolled_back", "error")
STATUSES += ("in_progress", "succeeded", "succeeded", "succeeded")
KINDS = ("feature", "fix", "fix", "review", "devops")
AGENTS = ("agent-1", "agent-2", "agent-3")


def moment(rng: random.Random) -> datetime:
    return T0 + timedelta(minutes=rng.randrange(DAYS * 24 * 60))


async def seed(session: AsyncSession, rng: random.Random) -> list[uuid.UUID]:
    projects = [await make_project(session, name=f"p{n}") for n in range(3)]
    meta = await make_project(session, name="meta")
    for project in projects[:2]:  # team-x owns the first two projects
        await session.execute(
            text(
                "INSERT INTO components (id, parent_project_id, name, kind, linked_project_id, "
                "enabled, metadata) VALUES (gen_random_uuid(), :m, :n, 'submodule', :p, true, "
                '\'{"owner": "team-x"}\')'
            ),
            {"m": meta.id, "n": project.name, "p": project.id},
        )
    items = []
    for _ in range(70):
        made = await make_work_item(
            session,
            rng.choice(projects),
            work_type=rng.choice(KINDS),
            owner_id=rng.choice(AGENTS),
            created_at=moment(rng),
        )
        items.append(made.id)
    tickets = [f"TK-{n}" for n in range(18)]
    for ticket in tickets:
        await session.execute(
            text("INSERT INTO tickets (id, plane_ticket_id) VALUES (gen_random_uuid(), :t)"),
            {"t": ticket},
        )
    for item in items:
        for ticket in rng.sample(tickets, rng.choice((0, 1, 1, 2))):
            await session.execute(
                text(
                    "INSERT INTO ticket_links (id, ticket_id, work_item_id, kind, created_at) "
                    "SELECT gen_random_uuid(), id, :w, 'closes', :at FROM tickets "
                    "WHERE plane_ticket_id = :t"
                ),
                {"t": ticket, "w": item, "at": moment(rng)},
            )
        for _ in range(rng.choice((0, 0, 1, 2))):
            await session.execute(
                text(
                    "INSERT INTO activities (id, agent_id, work_item_id, activity_type, "
                    "created_at) VALUES (gen_random_uuid(), 'a', :w, :kind, :at)"
                ),
                {"w": item, "kind": rng.choice(("committed", "pushed")), "at": moment(rng)},
            )
    for n in range(140):
        shipped = rng.sample(items, rng.choice((1, 1, 2, 3)))
        env, status, when = rng.choice(ENVIRONMENTS), rng.choice(STATUSES), moment(rng)
        if n % 3 == 0:  # through the deploy service
            await link_deployment(
                session,
                DeploymentInput(
                    deploy_id=f"svc-{n}",
                    environment=env,
                    status=status,
                    deployed_at=when,
                    work_item_ids=shipped,
                ),
            )
            continue
        deploy = uuid.uuid4()
        await session.execute(
            text(
                "INSERT INTO deployments (id, deploy_id, environment, status, deployed_at) "
                "VALUES (:id, :name, :env, :status, :at)"
            ),
            {"id": deploy, "name": f"raw-{n}", "env": env, "status": status, "at": when},
        )
        for item in shipped:
            await session.execute(
                text(
                    "INSERT INTO deployment_work_items (deployment_id, work_item_id) "
                    "VALUES (:d, :w)"
                ),
                {"d": deploy, "w": item},
            )
    # Afterwards: deploys change time (one to unknown), status and environment, work items move
    # to another project.
    await session.execute(
        text("UPDATE deployments SET status = 'failed' WHERE deploy_id LIKE '%3'")
    )
    await session.execute(
        text("UPDATE deployments SET environment = 'production' WHERE deploy_id LIKE '%7'")
    )
    await session.execute(
        text(
            "UPDATE deployments SET deployed_at = deployed_at - interval '3 days' "
            "WHERE deploy_id LIKE '%1'"
        )
    )
    await session.execute(
        text("UPDATE deployments SET deployed_at = NULL WHERE deploy_id = 'raw-2'")
    )
    for item in rng.sample(items, 6):
        await session.execute(
            text("UPDATE work_items SET project_id = :p WHERE id = :w"),
            {"p": rng.choice(projects).id, "w": item},
        )
    return [project.id for project in projects]


def _same(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> bool:
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        for key in a:
            x, y = a[key], b[key]
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
                    return False
            elif x != y:
                return False
    return True


async def test_the_statement_answers_as_its_previous_formulation(sessions: Sessions) -> None:
    rng = random.Random(18)
    async with sessions() as session, session.begin():
        projects = await seed(session, rng)
    links = "SELECT count(*) FROM deployment_work_items"
    windows = [
        (T0 + timedelta(days=10), T0 + timedelta(days=25)),
        (T0 - timedelta(days=3), T0 + timedelta(days=DAYS + 5)),
        (T0 + timedelta(days=30, hours=7), T0 + timedelta(days=31, hours=2)),
    ]
    rule_sets = [
        DeliveryRules(),
        DeliveryRules(production_environments=("staging",), failure_window=timedelta(hours=6)),
    ]
    compared = nonempty = 0
    async with sessions() as session:
        assert (await session.execute(text(links))).scalar_one() > 150
        for (start, end), rules in [(w, r) for w in windows for r in rule_sets]:
            for project in (None, projects[0], projects[2]):
                for owner in (None, "team-x"):
                    for agent in (None, "agent-2"):
                        bucket = rng.choice((Bucket.DAY, Bucket.WEEK))
                        query = validate(DeliveryQuery(start, end, bucket, project, owner, agent))
                        flags = {
                            "project": project is not None,
                            "agent": agent is not None,
                            "owner": owner is not None,
                        }
                        params = statement_params(query, rules)
                        ours = await session.execute(delivery_statement(**flags), params)
                        theirs = await session.execute(reference_statement(**flags), params)
                        new = [dict(row) for row in ours.mappings()]
                        old = [dict(row) for row in theirs.mappings()]
                        assert _same(new, old), (query, rules, new, old)
                        compared += 1
                        nonempty += any(r["kind"] == "cfr" and r["n"] for r in new)
    assert compared == 72
    assert nonempty >= 30  # the comparisons are about real deploys, not empty answers


async def test_the_links_follow_their_deploy_and_work_item(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        a = await make_project(session, name="a")
        b = await make_project(session, name="b")
        item = await make_work_item(session, a)
        when = datetime(2026, 5, 1, 12, tzinfo=UTC)
        await link_deployment(
            session,
            DeploymentInput(
                deploy_id="d1", environment="production", deployed_at=when, work_item_ids=[item.id]
            ),
        )
        query = text(
            "SELECT project_id, deployed_at, environment, status FROM deployment_work_items"
        )
        assert (await session.execute(query)).one() == (a.id, when, "production", "succeeded")
        later = when + timedelta(hours=5)  # the service refreshes the deploy's time and status
        await link_deployment(
            session,
            DeploymentInput(
                deploy_id="d1",
                environment="production",
                status="rolled_back",
                deployed_at=later,
                work_item_ids=[item.id],
            ),
        )
        assert (await session.execute(query)).one() == (a.id, later, "production", "rolled_back")
        await session.execute(text("UPDATE deployments SET environment = 'prod'"))
        assert (await session.execute(query)).one() == (a.id, later, "prod", "rolled_back")
        await session.execute(
            text("UPDATE work_items SET project_id = :b WHERE id = :w"), {"b": b.id, "w": item.id}
        )
        assert (await session.execute(query)).one() == (b.id, later, "prod", "rolled_back")
        # A writer cannot store other values: the row is refilled from its deploy and item.
        await session.execute(
            text(
                "UPDATE deployment_work_items SET project_id = :a, deployed_at = now(), "
                "environment = 'staging', status = 'succeeded'"
            ),
            {"a": a.id},
        )
        assert (await session.execute(query)).one() == (b.id, later, "prod", "rolled_back")
