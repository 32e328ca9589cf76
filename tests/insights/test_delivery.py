"""Delivery metrics (DORA) on a hand-built dataset whose every answer is worked out below.

Times are hours after T0 (Monday 2026-03-02 00:00 UTC). Project A (the component owner
``team-red`` owns the component linked to it):

    w1 feature agent-1  created 0h, first commit 0h-2h, TK-1 linked 1h
    w2 feature agent-2  created 24h, TK-2 linked 30h
    w3 fix     agent-1  created 20h, TK-1 linked 20h   (a fix on w1's ticket)
    w4 feature agent-2  created 90h
    w5 feature agent-3  created 95h

    D0 staging     succeeded   4h  w1
    D1 production  succeeded  10h  w1  failed: fix w3 on TK-1 started 10h after
    D2 production  failed     48h  w2  failed: status; restored by D3 after 2h
    D3 Prod        succeeded  50h  w2  (a failed deploy of B at 51h is another project)
    D4 production  succeeded  76h  w3
    D5 production  succeeded 100h  w4  failed: D6 fails 10h later
    D6 production  rolled_back 110h w5 failed: status; never restored

Project B: wb created 0h (D7 production succeeded 5h), wb2 created 40h (D8 production failed 51h),
and wbfix, a fix started at 55h on TK-2: D3's ticket, but another project's work, so D3 stands.

Lead times in A (first successful production deploy - min(created, first commit)):
w1 12h, w2 26h, w3 56h, w4 10h -> p50 19h, p90 47h. Ticket lead times: w1 9h, w2 20h,
w3 56h -> p50 20h, p90 48.8h. Restore: D2 -> D3 2h. Change failure rate 4 of 6.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.auth.keys import create_key
from imi.auth.models import Scope
from imi.errors import NotFound, ValidationFailed
from imi.insights.delivery import Bucket, DeliveryMetrics, DeliveryQuery, delivery_metrics
from tests.api.conftest import client, error, ok  # noqa: F401  (the client fixture)
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import GraphQL, graphql  # noqa: F401  (the graphql fixture)

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 3, 2, tzinfo=UTC)
H = 3600.0
WEEK = T0 + timedelta(days=7)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@dataclass
class Data:
    a: uuid.UUID
    b: uuid.UUID


async def _deploy(
    session: AsyncSession, name: str, env: str, status: str, hours: float, *items: uuid.UUID
) -> None:
    deploy = uuid.uuid4()
    await session.execute(
        text(
            "INSERT INTO deployments (id, deploy_id, environment, status, deployed_at) "
            "VALUES (:id, :name, :env, :status, :at)"
        ),
        {"id": deploy, "name": name, "env": env, "status": status, "at": at(hours)},
    )
    for item in items:
        await session.execute(
            text("INSERT INTO deployment_work_items (deployment_id, work_item_id) VALUES (:d, :w)"),
            {"d": deploy, "w": item},
        )


async def _link(session: AsyncSession, ticket: str, item: uuid.UUID, hours: float) -> None:
    await session.execute(
        text(
            "INSERT INTO tickets (id, plane_ticket_id) VALUES (gen_random_uuid(), :t) "
            "ON CONFLICT (plane_ticket_id) DO NOTHING"
        ),
        {"t": ticket},
    )
    await session.execute(
        text(
            "INSERT INTO ticket_links (id, ticket_id, work_item_id, kind, created_at) "
            "SELECT gen_random_uuid(), id, :w, 'closes', :at FROM tickets "
            "WHERE plane_ticket_id = :t"
        ),
        {"t": ticket, "w": item, "at": at(hours)},
    )


async def seed(sessions: Sessions) -> Data:
    async with sessions() as session, session.begin():
        a = await make_project(session, name="alpha")
        b = await make_project(session, name="beta")
        meta = await make_project(session, name="meta")
        await session.execute(
            text(
                "INSERT INTO components (id, parent_project_id, name, kind, linked_project_id, "
                "enabled, metadata) VALUES (gen_random_uuid(), :m, 'alpha', 'submodule', :a, true, "
                '\'{"owner": "team-red"}\')'
            ),
            {"m": meta.id, "a": a.id},
        )

        async def item(project: Any, kind: str, owner: str, hours: float) -> uuid.UUID:
            made = await make_work_item(
                session, project, work_type=kind, owner_id=owner, created_at=at(hours)
            )
            return made.id

        w1 = await item(a, "feature", "agent-1", 0)
        w2 = await item(a, "feature", "agent-2", 24)
        w3 = await item(a, "fix", "agent-1", 20)
        w4 = await item(a, "feature", "agent-2", 90)
        w5 = await item(a, "feature", "agent-3", 95)
        wb = await item(b, "feature", "agent-9", 0)
        wb2 = await item(b, "feature", "agent-9", 40)
        wbfix = await item(b, "fix", "agent-9", 55)
        await session.execute(
            text(
                "INSERT INTO activities (id, agent_id, work_item_id, activity_type, created_at) "
                "VALUES (gen_random_uuid(), 'agent-1', :w, 'committed', :at), "
                "(gen_random_uuid(), 'agent-1', :w, 'committed', :later)"
            ),
            {"w": w1, "at": at(-2), "later": at(3)},
        )
        await _link(session, "TK-1", w1, 1)
        await _link(session, "TK-2", w2, 30)
        await _link(session, "TK-1", w3, 20)
        await _link(session, "TK-2", wbfix, 55)
        await _deploy(session, "d0", "staging", "succeeded", 4, w1)
        await _deploy(session, "d1", "production", "succeeded", 10, w1)
        await _deploy(session, "d2", "production", "failed", 48, w2)
        await _deploy(session, "d3", "Prod", "succeeded", 50, w2)
        await _deploy(session, "d4", "production", "succeeded", 76, w3)
        await _deploy(session, "d5", "production", "succeeded", 100, w4)
        await _deploy(session, "d6", "production", "rolled_back", 110, w5)
        await _deploy(session, "d7", "production", "succeeded", 5, wb)
        await _deploy(session, "d8", "production", "failed", 51, wb2)
    return Data(a=a.id, b=b.id)


async def metrics(sessions: Sessions, **kwargs: Any) -> DeliveryMetrics:
    kwargs.setdefault("start", T0)
    kwargs.setdefault("end", WEEK)
    async with sessions() as session:
        return await delivery_metrics(session, DeliveryQuery(**kwargs))


def percentiles(m: Any) -> tuple[int, float | None, float | None]:
    return (m.count, m.p50_seconds, m.p90_seconds)


async def test_every_metric_of_one_project(sessions: Sessions) -> None:
    data = await seed(sessions)
    m = await metrics(sessions, project_id=data.a)
    assert percentiles(m.lead_time) == (4, pytest.approx(19 * H), pytest.approx(47 * H))
    assert percentiles(m.ticket_lead_time) == (3, pytest.approx(20 * H), pytest.approx(48.8 * H))
    assert percentiles(m.time_to_restore) == (1, 2 * H, 2 * H)
    cfr = m.change_failure_rate
    assert (cfr.deploys, cfr.failures, cfr.rate) == (6, 4, pytest.approx(4 / 6))
    frequency = [(e.environment, e.deploys, e.per_day) for e in m.deployment_frequency]
    assert frequency == [
        ("production", 5, pytest.approx(5 / 7)),
        ("Prod", 1, pytest.approx(1 / 7)),
        ("staging", 1, pytest.approx(1 / 7)),
    ]
    series = [(p.bucket_start, p.deploys, p.failures, p.lead_time_p50_seconds) for p in m.series]
    assert series == [
        (at(0), 1, 1, 12 * H),
        (at(24), 0, 0, None),
        (at(48), 2, 1, 26 * H),
        (at(72), 1, 0, 56 * H),
        (at(96), 2, 2, 10 * H),
        (at(120), 0, 0, None),
        (at(144), 0, 0, None),
    ]


async def test_agent_owner_and_all_projects(sessions: Sessions) -> None:
    data = await seed(sessions)
    agent = await metrics(sessions, agent_id="agent-1")
    assert percentiles(agent.lead_time) == (2, pytest.approx(34 * H), pytest.approx(51.6 * H))
    cfr = agent.change_failure_rate
    assert (cfr.deploys, cfr.failures) == (2, 1)  # D1 (fix rule) and D4
    assert percentiles(agent.time_to_restore) == (0, None, None)
    assert [(e.environment, e.deploys) for e in agent.deployment_frequency] == [
        ("production", 2),
        ("staging", 1),
    ]
    # agent-3 shipped only through D6, which was rolled back.
    agent3 = await metrics(sessions, agent_id="agent-3")
    assert (agent3.change_failure_rate.deploys, agent3.change_failure_rate.failures) == (1, 1)
    assert agent3.lead_time.count == 0

    owner = await metrics(sessions, owner="team-red")
    assert owner == await metrics(sessions, project_id=data.a)
    nobody = await metrics(sessions, owner="team-blue")
    assert nobody.change_failure_rate.deploys == 0 and nobody.deployment_frequency == []

    everything = await metrics(sessions)
    assert (everything.change_failure_rate.deploys, everything.change_failure_rate.failures) == (
        8,
        5,
    )
    assert everything.lead_time.count == 5  # wb's 5 h as well
    b = await metrics(sessions, project_id=data.b)
    assert (b.change_failure_rate.deploys, b.change_failure_rate.failures) == (2, 1)
    assert percentiles(b.lead_time) == (1, 5 * H, 5 * H)
    both = await metrics(sessions, project_id=data.a, agent_id="agent-9")
    assert both.change_failure_rate.deploys == 0


async def test_window_edges_buckets_and_empty_windows(sessions: Sessions) -> None:
    data = await seed(sessions)
    # [10h, 48h): D1 at the start is in, D2 at the end is out.
    edge = await metrics(sessions, project_id=data.a, start=at(10), end=at(48))
    assert (edge.change_failure_rate.deploys, edge.change_failure_rate.failures) == (1, 1)
    assert percentiles(edge.lead_time) == (1, 12 * H, 12 * H)
    assert [p.bucket_start for p in edge.series] == [at(0), at(24)]
    # Weeks start on Monday: a window from Tuesday has its first point on the Monday before.
    weekly = await metrics(
        sessions, project_id=data.a, start=at(24), end=at(24 + 7 * 24), bucket=Bucket.WEEK
    )
    assert [(p.bucket_start, p.deploys, p.failures) for p in weekly.series] == [
        (at(0), 5, 3),
        (at(7 * 24), 0, 0),
    ]
    empty = await metrics(sessions, project_id=data.a, start=at(30 * 24), end=at(31 * 24))
    assert percentiles(empty.lead_time) == (0, None, None)
    assert percentiles(empty.ticket_lead_time) == (0, None, None)
    assert percentiles(empty.time_to_restore) == (0, None, None)
    cfr = empty.change_failure_rate
    assert (cfr.deploys, cfr.failures, cfr.rate) == (0, 0, None)
    assert empty.deployment_frequency == []
    assert [(p.deploys, p.lead_time_p50_seconds) for p in empty.series] == [(0, None)]


async def test_a_redeploy_is_not_a_new_lead_time(sessions: Sessions) -> None:
    data = await seed(sessions)
    async with sessions() as session, session.begin():
        w1 = (
            await session.execute(
                text("SELECT id FROM work_items WHERE project_id = :a AND created_at = :at"),
                {"a": data.a, "at": at(0)},
            )
        ).scalar_one()
        await _deploy(session, "d9", "production", "succeeded", 150, w1)
    # w1 first reached production at 10 h: shipping it again at 150 h measures nothing.
    m = await metrics(sessions, project_id=data.a, start=at(120), end=at(168))
    assert percentiles(m.lead_time) == (0, None, None)
    assert (m.change_failure_rate.deploys, m.change_failure_rate.failures) == (1, 0)
    assert percentiles(m.time_to_restore) == (0, None, None)  # D6 failed before the window


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": WEEK, "end": T0}, "to"),
        ({"start": T0, "end": T0}, "to"),
        ({"start": T0, "end": T0 + timedelta(days=367)}, "from"),
        ({"bucket": "month"}, "bucket"),
        ({"agent_id": "x" * 256}, "agent_id"),
        ({"owner": ""}, "owner"),
    ],
)
async def test_bad_input_is_refused_before_any_work(
    sessions: Sessions, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await metrics(sessions, **kwargs)
    assert caught.value.field == field


async def test_an_unknown_project_is_not_found(sessions: Sessions) -> None:
    await seed(sessions)
    with pytest.raises(NotFound):
        await metrics(sessions, project_id=uuid.uuid4())


# --- REST ------------------------------------------------------------------------------------

URL = "/api/v1/insights/delivery"
WINDOW = {"from": T0.isoformat(), "to": WEEK.isoformat()}


async def test_rest_answers_the_metrics(client: httpx.AsyncClient, sessions: Sessions) -> None:  # noqa: F811
    data = await seed(sessions)
    body: Any = ok(await client.get(URL, params={**WINDOW, "project_id": str(data.a)}))
    assert body["change_failure_rate"] == {"deploys": 6, "failures": 4, "rate": 4 / 6}
    assert body["lead_time"]["count"] == 4
    assert body["time_to_restore"] == {"count": 1, "p50_seconds": 7200.0, "p90_seconds": 7200.0}
    assert len(body["series"]) == 7 and body["series"][0]["deploys"] == 1
    weekly: Any = ok(
        await client.get(URL, params={**WINDOW, "bucket": "week", "agent_id": "agent-1"})
    )
    assert [p["deploys"] for p in weekly["series"]] == [2]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"from": WEEK.isoformat(), "to": T0.isoformat()}, 400, "VALIDATION_ERROR"),
        ({**WINDOW, "to": (T0 + timedelta(days=400)).isoformat()}, 400, "VALIDATION_ERROR"),
        ({**WINDOW, "bucket": "month"}, 400, "VALIDATION_ERROR"),
        ({**WINDOW, "project_id": "not-a-uuid"}, 400, "VALIDATION_ERROR"),
        ({**WINDOW, "project_id": str(uuid.uuid4())}, 404, "NOT_FOUND"),
        # FastAPI's own parsing (a missing or unparsable time) answers 422, as elsewhere.
        ({"from": T0.isoformat()}, 422, "VALIDATION_ERROR"),
        ({**WINDOW, "from": "yesterday"}, 422, "VALIDATION_ERROR"),
    ],
)
async def test_rest_bad_input(
    client: httpx.AsyncClient,  # noqa: F811
    sessions: Sessions,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    error(await client.get(URL, params=params), status, code)


async def test_a_restricted_key_sees_its_projects_only(
    client: httpx.AsyncClient,  # noqa: F811
    sessions: Sessions,
) -> None:
    data = await seed(sessions)
    async with sessions() as session, session.begin():
        key = await create_key(session, name="b only", scope=Scope.READ, project_ids=[data.b])
    headers = {"authorization": f"Bearer {key.secret}"}
    mine: Any = ok(
        await client.get(URL, params={**WINDOW, "project_id": str(data.b)}, headers=headers)
    )
    assert mine["change_failure_rate"]["deploys"] == 2
    # Without a project filter it sees B's numbers only, and A is as good as absent.
    scoped: Any = ok(await client.get(URL, params=WINDOW, headers=headers))
    assert scoped["change_failure_rate"] == mine["change_failure_rate"]
    assert scoped["lead_time"] == mine["lead_time"]
    error(
        await client.get(URL, params={**WINDOW, "project_id": str(data.a)}, headers=headers),
        404,
        "NOT_FOUND",
    )


# --- GraphQL ---------------------------------------------------------------------------------

QUERY = """
query($projectId: ID, $owner: String, $agentId: String, $from: DateTime!, $to: DateTime!,
      $bucket: MetricsBucket) {
  deliveryMetrics(projectId: $projectId, owner: $owner, agentId: $agentId, from: $from,
                  to: $to, bucket: $bucket) {
    leadTime { count p50Seconds p90Seconds }
    ticketLeadTime { count p50Seconds p90Seconds }
    deploymentFrequency { environment deploys perDay }
    changeFailureRate { deploys failures rate }
    timeToRestore { count p50Seconds p90Seconds }
    series { bucketStart deploys failures leadTimeP50Seconds }
  }
}
"""


async def test_graphql_in_one_statement_whatever_the_filter(
    graphql: GraphQL,  # noqa: F811
    sessions: Sessions,
) -> None:
    data = await seed(sessions)
    counts = set()
    for variables in (
        {"projectId": str(data.a)},
        {"owner": "team-red", "bucket": "WEEK"},
        {"agentId": "agent-1"},
        {},
    ):
        answer, count = await graphql.counted(QUERY, {**WINDOW, **variables})
        counts.add(count)
    assert counts == {1}
    answer = await graphql.run(QUERY, {**WINDOW, "projectId": str(data.a)})
    m = answer["deliveryMetrics"]
    assert m["changeFailureRate"] == {"deploys": 6, "failures": 4, "rate": 4 / 6}
    assert m["timeToRestore"] == {"count": 1, "p50Seconds": 7200.0, "p90Seconds": 7200.0}
    assert m["leadTime"]["p50Seconds"] == pytest.approx(19 * H)
    assert m["deploymentFrequency"][0] == {
        "environment": "production",
        "deploys": 5,
        "perDay": pytest.approx(5 / 7),
    }
    assert m["series"][2] == {
        "bucketStart": at(48).isoformat(),
        "deploys": 2,
        "failures": 1,
        "leadTimeP50Seconds": 26 * H,
    }


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"from": WEEK.isoformat(), "to": T0.isoformat()}, "VALIDATION_ERROR"),
        ({**WINDOW, "to": (T0 + timedelta(days=400)).isoformat()}, "VALIDATION_ERROR"),
        ({**WINDOW, "projectId": str(uuid.uuid4())}, "NOT_FOUND"),
    ],
)
async def test_graphql_typed_errors(
    graphql: GraphQL,  # noqa: F811
    variables: dict[str, Any],
    code: str,
) -> None:
    with pytest.raises(Exception) as caught:
        await graphql.run(QUERY, variables)
    errors = getattr(caught.value, "errors", None)
    assert errors and errors[0]["extensions"]["code"] == code, caught.value


async def test_graphql_refuses_an_unknown_bucket(graphql: GraphQL) -> None:  # noqa: F811
    with pytest.raises(Exception) as caught:
        await graphql.run(QUERY, {**WINDOW, "bucket": "MONTH"})
    assert "MONTH" in str(caught.value)
