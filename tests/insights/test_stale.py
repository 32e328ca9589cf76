"""Stale work: each reason on hand-built rows, thresholds, sorting, pagination, the REST and
GraphQL surfaces, and the job that announces each crossing once, with replicas racing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.coordination.agents import LIVENESS_SECONDS
from imi.graphql.ids import to_global_id
from imi.insights.stale import StaleReason, StaleThresholds, list_stale_work
from imi.insights.stale_job import check_stale_work, mark_stale
from imi.settings import Settings
from tests.api.conftest import API, client, error, ok  # noqa: F401  (fixture)
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import GraphQL, graphql  # noqa: F401  (fixture)

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime.now(UTC)
T = StaleThresholds(idle_hours=48, behind_trunk=20, uncommitted_idle_hours=4)


def ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


async def agent(
    session: AsyncSession, name: str, seen_seconds_ago: float, project: str = ""
) -> uuid.UUID:
    row = (
        await session.execute(
            text(
                "INSERT INTO agents (session_id, name, project, last_seen) VALUES (:s, :n, :p, "
                "now() - make_interval(secs => :ago)) RETURNING id"
            ),
            {"s": uuid.uuid4().hex, "n": name, "p": project, "ago": seen_seconds_ago},
        )
    ).one()
    return uuid.UUID(str(row.id))


async def seed(sessions: Sessions) -> dict[str, Any]:
    """One project with one work item per reason, fresh work, and completed stale work."""
    async with sessions() as s, s.begin():
        project = await make_project(s, name="alpha")
        other = await make_project(s, name="beta")
        # Registered in `other`'s coordination project: a key restricted to it sees the agent.
        dead = await agent(s, "dead-agent", LIVENESS_SECONDS * 3, str(other.id))
        await agent(s, "live-agent", 5)
        # Two registrations under one name, one alive: the owner is alive.
        await agent(s, "twice", LIVENESS_SECONDS * 3)
        await agent(s, "twice", 1)
        ids = {
            "idle": (await make_work_item(s, project, last_activity_at=ago(100))).id,
            "behind": (
                await make_work_item(s, project, last_activity_at=ago(1), behind_trunk=30)
            ).id,
            "uncommitted": (
                await make_work_item(
                    s,
                    project,
                    last_activity_at=ago(6),
                    has_uncommitted_changes=True,
                    uncommitted_files_count=2,
                )
            ).id,
            # Owner named by the agent's id (text) and by its name.
            "orphan_id": (
                await make_work_item(s, project, last_activity_at=ago(1), owner_id=str(dead))
            ).id,
            "orphan_name": (
                await make_work_item(s, other, last_activity_at=ago(2), owner_id="dead-agent")
            ).id,
            "fresh": (await make_work_item(s, project, last_activity_at=ago(1))).id,
            "live_owner": (
                await make_work_item(s, project, last_activity_at=ago(1), owner_id="live-agent")
            ).id,
            "twice": (
                await make_work_item(s, project, last_activity_at=ago(1), owner_id="twice")
            ).id,
            "human": (
                await make_work_item(s, project, last_activity_at=ago(1), owner_id="jarad")
            ).id,
            "uncommitted_recent": (
                await make_work_item(
                    s, project, last_activity_at=ago(1), has_uncommitted_changes=True
                )
            ).id,
            "done": (
                await make_work_item(
                    s, project, last_activity_at=ago(500), behind_trunk=99, active=False
                )
            ).id,
        }
    return {"project": project.id, "other": other.id, **ids}


async def listed(session: AsyncSession, thresholds: StaleThresholds = T, **kw: Any) -> Any:
    return await list_stale_work(session, thresholds, **kw)


async def test_each_reason_on_hand_built_work(sessions: Sessions) -> None:
    ids = await seed(sessions)
    async with sessions() as s:
        page = await listed(s, limit=100)
    found = {item.work_item.id: item for item in page.items}
    reasons = {key: found[ids[key]].reasons for key in ids if ids[key] in found}
    assert reasons == {
        "idle": [StaleReason.IDLE],
        "behind": [StaleReason.FAR_BEHIND_TRUNK],
        "uncommitted": [StaleReason.UNCOMMITTED_NO_ACTIVITY],
        "orphan_id": [StaleReason.OWNER_HEARTBEAT_STOPPED],
        "orphan_name": [StaleReason.OWNER_HEARTBEAT_STOPPED],
    }
    assert page.total == 5
    idle = found[ids["idle"]]
    assert 99 * 3600 < idle.idle_seconds < 101 * 3600 and idle.stale_since is None
    assert found[ids["behind"]].behind_trunk == 30
    # Several reasons at once, in a fixed order.
    async with sessions() as s, s.begin():
        await s.execute(
            text("UPDATE work_items SET behind_trunk = 25 WHERE id = :id"), {"id": ids["idle"]}
        )
    async with sessions() as s:
        page = await listed(s, project_id=ids["project"], limit=100)
    assert {i.work_item.id for i in page.items} == {
        ids[k] for k in ("idle", "behind", "uncommitted", "orphan_id")
    }
    both = next(i for i in page.items if i.work_item.id == ids["idle"])
    assert both.reasons == [StaleReason.IDLE, StaleReason.FAR_BEHIND_TRUNK]


async def test_thresholds_move_the_line(sessions: Sessions) -> None:
    ids = await seed(sessions)
    async with sessions() as s:
        strict = await listed(s, StaleThresholds(200, 1000, 200), limit=100)
        loose = await listed(s, StaleThresholds(1, 1, 1), limit=100)
    # Only the owners' heartbeats do not depend on the thresholds.
    assert {i.work_item.id for i in strict.items} == {ids["orphan_id"], ids["orphan_name"]}
    assert len(loose.items) == 10 and ids["done"] not in {i.work_item.id for i in loose.items}
    with pytest.raises(Exception, match="idle_hours must be between 1 and 8760"):
        StaleThresholds.of(0, settings=Settings(_env_file=None))
    with pytest.raises(Exception, match="behind_trunk must be between"):
        StaleThresholds.of(behind_trunk=2_000_000, settings=Settings(_env_file=None))
    defaults = StaleThresholds.of(settings=Settings(_env_file=None, stale_idle_hours=5))
    assert (defaults.idle_hours, defaults.behind_trunk) == (5, 50)


async def test_sorting_and_pagination(sessions: Sessions) -> None:
    ids = await seed(sessions)
    async with sessions() as s:
        idle = await listed(s, limit=100)
        behind = await listed(s, order="behind_trunk_desc", limit=100)
        asc = await listed(s, order="idle_asc", limit=100)
        pages = [await listed(s, limit=2, offset=o) for o in (0, 2, 4, 6)]
    seconds = [i.idle_seconds for i in idle.items]
    assert seconds == sorted(seconds, reverse=True) and idle.items[0].work_item.id == ids["idle"]
    assert [i.idle_seconds for i in asc.items] == sorted(seconds)
    assert behind.items[0].work_item.id == ids["behind"]
    walked = [i.work_item.id for p in pages for i in p.items]
    assert walked == [i.work_item.id for i in idle.items]
    assert [p.total for p in pages] == [5, 5, 5, 5] and pages[3].items == []
    with pytest.raises(Exception, match="order must be one of"):
        async with sessions() as s:
            await listed(s, order="sideways")


async def test_rest_stale_work(sessions: Sessions, client: httpx.AsyncClient) -> None:  # noqa: F811
    ids = await seed(sessions)
    url = f"{API}/insights/stale-work"
    # The defaults (72 h, 50 behind, 24 h uncommitted) leave `behind` and `uncommitted` fresh.
    assert ok(await client.get(url, params={"limit": 1}))
    defaults = (await client.get(url)).json()
    assert defaults["pagination"]["total"] == 3
    t = {"idle_hours": 48, "behind_trunk": 20, "uncommitted_idle_hours": 4}
    response = await client.get(url, params={**t, "limit": 2})
    body = response.json()
    assert response.status_code == 200, body
    assert body["pagination"] == {"total": 5, "limit": 2, "offset": 0}
    first = body["data"][0]
    assert first["work_item"]["id"] == str(ids["idle"]) and first["reasons"] == ["idle"]
    by_behind = ok(await client.get(url, params={**t, "order": "behind_trunk_desc"}))
    assert isinstance(by_behind, list) and by_behind[0]["work_item"]["id"] == str(ids["behind"])
    scoped = ok(await client.get(url, params={"project_id": str(ids["other"])}))
    assert [i["work_item"]["id"] for i in scoped] == [str(ids["orphan_name"])]  # type: ignore[index]
    error(await client.get(url, params={"idle_hours": 0}), 400, "VALIDATION_ERROR")
    error(await client.get(url, params={"behind_trunk": 10**7}), 400, "VALIDATION_ERROR")
    assert (await client.get(url, params={"order": "sideways"})).status_code == 422
    assert (await client.get(url, params={"limit": 501})).status_code == 422
    assert (await client.get(url, params={"idle_hours": "x"})).status_code == 422


STALE_QUERY = """
query($project: ID, $idle: Int, $first: Int, $after: String, $order: StaleOrder) {
  staleWork(projectId: $project, idleHours: $idle, behindTrunk: 20, uncommittedIdleHours: 4,
            first: $first, after: $after, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { reasons idleSeconds behindTrunk staleSince
            workItem { id branchName project { name } } }
  }
}
"""


async def test_graphql_stale_work(sessions: Sessions, graphql: GraphQL) -> None:  # noqa: F811
    ids = await seed(sessions)
    data, count = await graphql.counted(STALE_QUERY, {"first": 3})
    page = data["staleWork"]
    assert page["totalCount"] == 5 and page["pageInfo"]["hasNextPage"] is True
    assert page["nodes"][0]["workItem"]["id"] == to_global_id("WorkItem", ids["idle"])
    assert page["nodes"][0]["reasons"] == ["IDLE"]
    # The list, then one batch for every item's project: not one statement per item.
    assert count == 2
    rest = await graphql.run(STALE_QUERY, {"first": 3, "after": page["pageInfo"]["endCursor"]})
    assert len(rest["staleWork"]["nodes"]) == 2
    by_behind = await graphql.run(STALE_QUERY, {"order": "BEHIND_TRUNK_DESC"})
    assert by_behind["staleWork"]["nodes"][0]["behindTrunk"] == 30
    scoped = await graphql.run(STALE_QUERY, {"project": to_global_id("Project", ids["other"])})
    assert [n["reasons"] for n in scoped["staleWork"]["nodes"]] == [["OWNER_HEARTBEAT_STOPPED"]]
    for variables, code in (
        ({"idle": 0}, "VALIDATION_ERROR"),
        ({"idle": 9000}, "VALIDATION_ERROR"),
        ({"first": 501}, "VALIDATION_ERROR"),
        ({"after": "nonsense"}, "VALIDATION_ERROR"),
        ({"project": "not-an-id"}, "NOT_FOUND"),
    ):
        with pytest.raises(TransportQueryError) as raised:
            await graphql.run(STALE_QUERY, variables)
        assert raised.value.errors is not None
        assert raised.value.errors[0]["extensions"]["code"] == code, variables


async def stale_events(sessions: Sessions) -> list[Any]:
    async with sessions() as s:
        rows = await s.execute(
            text(
                "SELECT subject_id, envelope FROM events WHERE event_type = 'imi.work.stale' "
                "ORDER BY id"
            )
        )
        return list(rows)


async def test_job_announces_each_crossing_once(sessions: Sessions) -> None:
    ids = await seed(sessions)
    assert await check_stale_work(sessions, T) == 5
    assert await check_stale_work(sessions, T) == 0  # still stale: nothing new
    events = await stale_events(sessions)
    assert sorted(e.subject_id for e in events) == sorted(
        str(ids[k]) for k in ("idle", "behind", "uncommitted", "orphan_id", "orphan_name")
    )
    payload = next(e.envelope for e in events if e.subject_id == str(ids["idle"]))["payload"]
    assert payload["reasons"] == ["idle"] and payload["project_name"] == "alpha"
    assert payload["work_item_id"] == str(ids["idle"]) and payload["stale_since"]
    async with sessions() as s:
        marked = await listed(s, limit=100)
    assert all(i.stale_since is not None for i in marked.items)

    # Fresh again (an activity), then stale again: announced a second time.
    async with sessions() as s, s.begin():
        await s.execute(
            text("UPDATE work_items SET last_activity_at = now() WHERE id = :id"),
            {"id": ids["idle"]},
        )
    assert await check_stale_work(sessions, T) == 0
    async with sessions() as s, s.begin():
        await s.execute(
            text(
                "UPDATE work_items SET last_activity_at = now() - interval '3 days' WHERE id = :id"
            ),
            {"id": ids["idle"]},
        )
    assert await check_stale_work(sessions, T) == 1
    assert [e.subject_id for e in await stale_events(sessions)].count(str(ids["idle"])) == 2
    # Small batches: a pass repeats until every stale item is marked.
    async with sessions() as s, s.begin():
        await s.execute(text("DELETE FROM stale_work_marks"))
    assert await check_stale_work(sessions, T, batch=2) == 5


async def test_two_racing_jobs_announce_once(sessions: Sessions) -> None:
    ids = await seed(sessions)
    # One replica has marked (uncommitted) when the other starts: the second waits on the
    # marks' keys, then skips them.
    async with sessions() as first:
        async with first.begin():
            _, rows = await mark_stale(first, T)
            assert len(rows) == 5
            racer = asyncio.create_task(check_stale_work(sessions, T))
            await asyncio.sleep(0.2)
            assert not racer.done()  # blocked on the first replica's uncommitted marks
        assert await asyncio.wait_for(racer, 30) == 0
    # And two whole passes at once, on a new crossing.
    async with sessions() as s, s.begin():
        await s.execute(
            text("UPDATE work_items SET behind_trunk = 40 WHERE id = :id"), {"id": ids["fresh"]}
        )
    results = await asyncio.gather(*(check_stale_work(sessions, T) for _ in range(3)))
    assert sorted(results) == [0, 0, 1]
    subjects = [e.subject_id for e in await stale_events(sessions)]
    assert len(subjects) == len(set(subjects)) == 6


async def test_restricted_key_sees_only_its_projects(
    sessions: Sessions, database_url: str, engine: Any
) -> None:
    from imi.app import create_app
    from imi.auth.keys import create_key
    from imi.auth.models import Scope

    ids = await seed(sessions)
    async with sessions() as s, s.begin():
        key = await create_key(s, name="t", scope=Scope.READ, project_ids=[ids["other"]])
    app = create_app(Settings(_env_file=None, rabbitmq_url=None, auth="required"), database_url)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as http,
    ):
        headers = {"authorization": f"Bearer {key.secret}"}
        data = ok(await http.get(f"{API}/insights/stale-work", headers=headers))
        assert [i["work_item"]["id"] for i in data] == [str(ids["orphan_name"])]  # type: ignore[index]
        body = {"query": "{ staleWork { totalCount } }"}
        answer = (await http.post("/graphql", json=body, headers=headers)).json()
        assert answer["data"]["staleWork"]["totalCount"] == 1


async def test_the_app_runs_the_job(sessions: Sessions, database_url: str) -> None:
    from imi.app import create_app

    ids = await seed(sessions)
    off = create_app(
        Settings(_env_file=None, rabbitmq_url=None, stale_check_seconds=0), database_url
    )
    async with off.router.lifespan_context(off):
        assert off.state.stale_job is None
    app = create_app(
        Settings(_env_file=None, rabbitmq_url=None, stale_check_seconds=0.1), database_url
    )
    async with app.router.lifespan_context(app):
        assert app.state.stale_job is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        # The settings' thresholds (72 h idle): `idle` and the two orphans.
        expected = sorted(str(ids[k]) for k in ("idle", "orphan_id", "orphan_name"))
        while sorted(e.subject_id for e in await stale_events(sessions)) != expected:
            assert loop.time() < deadline, await stale_events(sessions)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # further passes announce nothing again
        assert len(await stale_events(sessions)) == 3
