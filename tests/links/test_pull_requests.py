from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from imi.errors import Conflict, NotFound, ValidationFailed
from imi.links.models import PRState, PullRequest, PullRequestInput
from imi.links.service import (
    PR_CLOSED,
    PR_CREATED,
    PR_MERGED,
    PR_REOPENED,
    PR_UPDATED,
    get_pull_request,
    link_pull_request,
    pull_request_timeline,
)
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item
from tests.links.helpers import count_rows, event_types, events_of

URL = "https://github.com/acme/app/pull/7"


def pr_input(work: WorkItem, state: PRState = PRState.OPEN, **fields: Any) -> PullRequestInput:
    values: dict[str, Any] = {"pr_number": 7, "pr_url": URL, "pr_state": state}
    values.update(fields)
    return PullRequestInput(work_item_id=work.id, **values)


async def new_work(session: AsyncSession, **fields: Any) -> WorkItem:
    return await make_work_item(session, await make_project(session), **fields)


async def test_create_open_pull_request(session: AsyncSession) -> None:
    work = await new_work(session, branch_name="feat/login")
    result = await link_pull_request(session, pr_input(work, title="Login"))

    pr = result.pull_request
    assert result.created and result.changed and result.previous_state is None
    assert (pr.number, pr.url, pr.state, pr.title) == (7, URL, "open", "Login")
    assert pr.project_id == work.project_id
    assert pr.work_item_id == work.id
    assert pr.opened_at is not None and pr.merged_at is None and pr.closed_at is None
    [event] = await events_of(session)
    assert event.event_type == PR_CREATED
    assert (event.subject_type, event.subject_id) == ("pull_request", str(pr.id))
    payload = event.envelope["payload"]
    assert payload["pr_number"] == 7
    assert payload["pr_url"] == URL
    assert payload["pr_state"] == "open"
    assert payload["project_id"] == str(work.project_id)
    assert payload["work_item_id"] == str(work.id)
    assert payload["branch_name"] == "feat/login"


async def test_resending_the_current_state_is_idempotent(session: AsyncSession) -> None:
    work = await new_work(session)
    first = await link_pull_request(session, pr_input(work))
    again = await link_pull_request(session, pr_input(work))

    assert not again.created and not again.changed
    assert again.previous_state is PRState.OPEN
    assert again.pull_request.id == first.pull_request.id
    assert await count_rows(session, PullRequest) == 1
    assert await event_types(session) == [PR_CREATED]


async def test_merge_sets_merged_at_and_is_terminal(session: AsyncSession) -> None:
    work = await new_work(session)
    await link_pull_request(session, pr_input(work))
    merged = await link_pull_request(session, pr_input(work, PRState.MERGED))

    assert merged.changed and merged.previous_state is PRState.OPEN
    assert merged.pull_request.state == "merged"
    assert merged.pull_request.merged_at is not None
    [event] = await events_of(session, PR_MERGED)
    assert event.envelope["payload"]["previous_state"] == "open"
    assert event.envelope["payload"]["pr_state"] == "merged"

    resent = await link_pull_request(session, pr_input(work, PRState.MERGED))
    assert not resent.changed

    for state in (PRState.OPEN, PRState.CLOSED):
        with pytest.raises(Conflict) as info:
            await link_pull_request(session, pr_input(work, state))
        assert info.value.field == "pr_state"
        assert info.value.details["current_state"] == "merged"
    assert (await get_pull_request(session, URL)).state == "merged"
    assert await event_types(session) == [PR_CREATED, PR_MERGED]


async def test_close_reopen_merge_is_kept_on_the_timeline(session: AsyncSession) -> None:
    work = await new_work(session)
    created = await link_pull_request(session, pr_input(work))
    closed = await link_pull_request(session, pr_input(work, PRState.CLOSED))
    assert closed.pull_request.closed_at is not None
    assert closed.previous_state is PRState.OPEN

    reopened = await link_pull_request(session, pr_input(work, PRState.OPEN))
    assert reopened.pull_request.state == "open"
    assert reopened.pull_request.closed_at is None
    assert reopened.previous_state is PRState.CLOSED

    merged = await link_pull_request(session, pr_input(work, PRState.MERGED))
    assert merged.pull_request.state == "merged"

    timeline = await pull_request_timeline(session, created.pull_request.id)
    assert [e.event_type for e in timeline] == [PR_CREATED, PR_CLOSED, PR_REOPENED, PR_MERGED]
    assert [e.envelope["payload"]["previous_state"] for e in timeline] == [
        None,
        "open",
        "closed",
        "open",
    ]
    assert await count_rows(session, PullRequest) == 1


async def test_closed_cannot_jump_to_merged(session: AsyncSession) -> None:
    work = await new_work(session)
    await link_pull_request(session, pr_input(work, PRState.CLOSED))
    with pytest.raises(Conflict) as info:
        await link_pull_request(session, pr_input(work, PRState.MERGED))
    assert info.value.field == "pr_state"
    assert (await get_pull_request(session, URL)).state == "closed"


@pytest.mark.parametrize(
    ("state", "follow_up", "stamp"),
    [(PRState.MERGED, PR_MERGED, "merged_at"), (PRState.CLOSED, PR_CLOSED, "closed_at")],
)
async def test_created_already_finished_emits_created_then_the_transition(
    session: AsyncSession, state: PRState, follow_up: str, stamp: str
) -> None:
    work = await new_work(session)
    result = await link_pull_request(session, pr_input(work, state))
    assert result.created
    assert result.pull_request.state == state.value
    assert getattr(result.pull_request, stamp) is not None
    assert await event_types(session) == [PR_CREATED, follow_up]


async def test_title_and_metadata_changes_emit_updated(session: AsyncSession) -> None:
    work = await new_work(session)
    await link_pull_request(session, pr_input(work, title="Draft", metadata={"a": 1}))
    kept = await link_pull_request(session, pr_input(work))  # title None keeps it
    assert kept.pull_request.title == "Draft" and not kept.changed

    renamed = await link_pull_request(session, pr_input(work, title="Ready", metadata={"b": 2}))
    assert renamed.changed
    assert renamed.pull_request.title == "Ready"
    assert renamed.pull_request.meta == {"a": 1, "b": 2}
    assert await event_types(session) == [PR_CREATED, PR_UPDATED]


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "not a url",
        "github.com/acme/app/pull/7",
        "ftp://github.com/acme/app/pull/7",
        "https://",
        "https:///pull/7",
        "https://github.com/acme/app/pull/7 oops",
        "http://[::1",
    ],
)
async def test_pr_url_must_be_http(session: AsyncSession, url: str) -> None:
    work = await new_work(session)
    with pytest.raises(ValidationFailed) as info:
        await link_pull_request(session, pr_input(work, pr_url=url))
    assert info.value.field == "pr_url"
    assert await count_rows(session, PullRequest) == 0


async def test_pr_number_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        PullRequestInput(work_item_id=uuid.uuid4(), pr_number=0, pr_url=URL)


async def test_unknown_work_item_is_not_found(session: AsyncSession) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound) as info:
        await link_pull_request(
            session, PullRequestInput(work_item_id=missing, pr_number=1, pr_url=URL)
        )
    assert info.value.field == "work_item_id"
    assert await events_of(session) == []


async def test_a_pr_cannot_move_to_another_work_item(session: AsyncSession) -> None:
    project = await make_project(session)
    owner = await make_work_item(session, project)
    other = await make_work_item(session, project)
    await link_pull_request(session, pr_input(owner))

    with pytest.raises(Conflict) as info:
        await link_pull_request(session, pr_input(other))
    assert info.value.field == "work_item_id"
    with pytest.raises(Conflict):  # even with a state change riding along
        await link_pull_request(session, pr_input(other, PRState.MERGED))
    pr = await get_pull_request(session, URL)
    assert (pr.work_item_id, pr.state) == (owner.id, "open")


async def test_url_and_number_must_agree(session: AsyncSession) -> None:
    work = await new_work(session)
    await link_pull_request(session, pr_input(work))
    with pytest.raises(Conflict) as number_clash:
        await link_pull_request(session, pr_input(work, pr_url=URL.replace("/7", "/77")))
    assert number_clash.value.field == "pr_url"
    with pytest.raises(Conflict) as url_clash:
        await link_pull_request(session, pr_input(work, pr_number=8))
    assert url_clash.value.field == "pr_number"

    # Url of one PR and number of another: two rows match.
    await link_pull_request(
        session, pr_input(work, pr_number=9, pr_url="https://github.com/acme/app/pull/9")
    )
    with pytest.raises(Conflict) as both:
        await link_pull_request(session, pr_input(work, pr_number=9))
    assert both.value.field == "pr_url"
    assert await count_rows(session, PullRequest) == 2


async def test_same_number_in_two_projects_is_two_prs(session: AsyncSession) -> None:
    first = await new_work(session)
    second = await new_work(session)
    await link_pull_request(session, pr_input(first))
    result = await link_pull_request(
        session, pr_input(second, pr_url="https://github.com/acme/other/pull/7")
    )
    assert result.created
    assert await count_rows(session, PullRequest) == 2


async def test_url_is_trimmed_of_whitespace_and_trailing_slash(session: AsyncSession) -> None:
    work = await new_work(session)
    first = await link_pull_request(session, pr_input(work, pr_url=f"  {URL}/ "))
    assert first.pull_request.url == URL
    again = await link_pull_request(session, pr_input(work, PRState.MERGED))
    assert again.pull_request.id == first.pull_request.id
    assert (await get_pull_request(session, URL + "/")).id == first.pull_request.id


async def test_get_pull_request_by_id_or_url(session: AsyncSession) -> None:
    work = await new_work(session)
    pr = (await link_pull_request(session, pr_input(work))).pull_request
    assert (await get_pull_request(session, pr.id)).id == pr.id
    assert (await get_pull_request(session, str(pr.id))).id == pr.id
    assert (await get_pull_request(session, URL)).id == pr.id
    for unknown in (uuid.uuid4(), "not-a-uuid", "https://github.com/acme/app/pull/404", ""):
        with pytest.raises(NotFound):
            await get_pull_request(session, unknown)
