"""Concurrent duplicates: separate sessions, each committing, end with one row and no error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.links.models import (
    Deployment,
    DeploymentInput,
    DeploymentWorkItem,
    PRState,
    PullRequest,
    PullRequestInput,
    Ticket,
    TicketLink,
    TicketLinkInput,
)
from imi.links.service import (
    DEPLOY_COMPLETED,
    PR_CREATED,
    PR_MERGED,
    TICKET_CREATED,
    TICKET_LINKED,
    link_deployment,
    link_pull_request,
    link_ticket,
    link_ticket_keys,
)
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item
from tests.links.helpers import count_rows, event_types, events_of

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]
PARALLEL = 6


async def in_parallel(
    sessions: Sessions, call: Callable[[AsyncSession], Awaitable[T]], times: int = PARALLEL
) -> list[T]:
    """Run ``call`` ``times`` at once, each in its own session and transaction."""

    async def one() -> T:
        async with sessions() as session:
            result = await call(session)
            await session.commit()
            return result

    return await asyncio.gather(*(one() for _ in range(times)))


async def committed_work(session: AsyncSession, count: int) -> list[WorkItem]:
    project = await make_project(session)
    work = [await make_work_item(session, project) for _ in range(count)]
    await session.commit()
    return work


async def test_concurrent_duplicate_deployments(session: AsyncSession, sessions: Sessions) -> None:
    work = await committed_work(session, 3)
    data = DeploymentInput(
        deploy_id="ci-42", environment="production", work_item_ids=[w.id for w in work]
    )

    results = await in_parallel(sessions, lambda s: link_deployment(s, data))

    assert sum(r.created for r in results) == 1
    assert len({r.deployment.id for r in results}) == 1
    assert all(sorted(r.work_item_ids) == sorted(w.id for w in work) for r in results)
    assert await count_rows(session, Deployment) == 1
    assert await count_rows(session, DeploymentWorkItem) == 3
    assert await event_types(session) == [DEPLOY_COMPLETED]


async def test_concurrent_deployments_adding_different_work_items(
    session: AsyncSession, sessions: Sessions
) -> None:
    work = await committed_work(session, PARALLEL)
    calls = iter(work)

    async def attach_next(s: AsyncSession) -> object:
        item = next(calls)
        data = DeploymentInput(deploy_id="ci-43", environment="prod", work_item_ids=[item.id])
        return await link_deployment(s, data)

    await in_parallel(sessions, attach_next)

    assert await count_rows(session, Deployment) == 1
    assert await count_rows(session, DeploymentWorkItem) == PARALLEL
    # Each call attached something new, so each recorded its event.
    assert await event_types(session) == [DEPLOY_COMPLETED] * PARALLEL


async def test_a_blocked_duplicate_waits_and_sees_the_winner(
    session: AsyncSession, sessions: Sessions
) -> None:
    [work] = await committed_work(session, 1)
    data = DeploymentInput(deploy_id="ci-44", environment="prod", work_item_ids=[work.id])

    async with sessions() as first, sessions() as second:
        won = await link_deployment(first, data)  # holds the row, uncommitted
        waiting = asyncio.create_task(link_deployment(second, data))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the unique key, not failed
        await first.commit()
        lost = await waiting
        await second.commit()

    assert won.created and not lost.created
    assert lost.deployment.id == won.deployment.id
    assert lost.added_work_item_ids == []
    assert await count_rows(session, Deployment) == 1
    assert await event_types(session) == [DEPLOY_COMPLETED]


async def test_concurrent_duplicate_ticket_links(session: AsyncSession, sessions: Sessions) -> None:
    [work] = await committed_work(session, 1)
    data = TicketLinkInput(work_item_id=work.id, plane_ticket_id="RACE-1", title="Race")

    results = await in_parallel(sessions, lambda s: link_ticket(s, data))

    assert sum(r.created for r in results) == 1
    assert sum(r.ticket_created for r in results) == 1
    assert len({r.link.id for r in results}) == 1
    assert await count_rows(session, Ticket) == 1
    assert await count_rows(session, TicketLink) == 1
    assert await event_types(session) == [TICKET_CREATED, TICKET_LINKED]


async def test_concurrent_links_of_one_new_ticket_to_many_work_items(
    session: AsyncSession, sessions: Sessions
) -> None:
    work = await committed_work(session, PARALLEL)
    calls = iter(work)

    async def link_next(s: AsyncSession) -> object:
        data = TicketLinkInput(work_item_id=next(calls).id, plane_ticket_id="RACE-2")
        return await link_ticket(s, data)

    await in_parallel(sessions, link_next)

    assert await count_rows(session, Ticket) == 1
    assert await count_rows(session, TicketLink) == PARALLEL
    assert len(await events_of(session, TICKET_LINKED)) == PARALLEL


async def test_concurrent_auto_links_with_overlapping_keys(
    session: AsyncSession, sessions: Sessions
) -> None:
    work = await committed_work(session, PARALLEL)
    calls = iter(enumerate(work))

    async def link_keys(s: AsyncSession) -> object:
        n, item = next(calls)
        # Overlapping key sets in different orders: locks are taken in key order regardless.
        keys = [f"K-{(n + i) % 4}" for i in range(4)]
        return await link_ticket_keys(s, item, keys if n % 2 else list(reversed(keys)))

    await in_parallel(sessions, link_keys)

    assert await count_rows(session, Ticket) == 4
    assert await count_rows(session, TicketLink) == 4 * PARALLEL
    assert len(await events_of(session, TICKET_LINKED)) == 4 * PARALLEL


async def test_concurrent_duplicate_pull_requests(
    session: AsyncSession, sessions: Sessions
) -> None:
    [work] = await committed_work(session, 1)
    data = PullRequestInput(
        work_item_id=work.id, pr_number=5, pr_url="https://github.com/acme/app/pull/5"
    )

    results = await in_parallel(sessions, lambda s: link_pull_request(s, data))

    assert sum(r.created for r in results) == 1
    assert len({r.pull_request.id for r in results}) == 1
    assert await count_rows(session, PullRequest) == 1
    assert await event_types(session) == [PR_CREATED]


async def test_concurrent_duplicate_merges_record_one_transition(
    session: AsyncSession, sessions: Sessions
) -> None:
    [work] = await committed_work(session, 1)
    url = "https://github.com/acme/app/pull/6"
    opened = PullRequestInput(work_item_id=work.id, pr_number=6, pr_url=url)
    merged = opened.model_copy(update={"pr_state": PRState.MERGED})
    async with sessions() as s:
        await link_pull_request(s, opened)
        await s.commit()

    results = await in_parallel(sessions, lambda s: link_pull_request(s, merged))

    assert sum(r.changed for r in results) == 1
    assert all(r.pull_request.state == "merged" for r in results)
    assert await event_types(session) == [PR_CREATED, PR_MERGED]
