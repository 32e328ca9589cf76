"""Pull requests linked to work items, and their open -> merged | closed lifecycle."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.errors import Conflict, NotFound, ValidationFailed
from imi.links.common import FRESH, WorkRef, parse_uuid, require_work_item
from imi.links.models import PRState, PullRequest, PullRequestInput, PullRequestResult
from imi.outbox import PendingEvent, emit
from imi.outbox.models import Event
from imi.serialize import row_dict

PR_CREATED = "imi.pr.created"
PR_MERGED = "imi.pr.merged"
PR_CLOSED = "imi.pr.closed"
PR_REOPENED = "imi.pr.reopened"
PR_UPDATED = "imi.pr.updated"  # title/metadata changed, state did not

# Legal moves; merged is terminal. closed -> merged needs a reopen first (as on GitHub).
TRANSITIONS: dict[tuple[PRState, PRState], str] = {
    (PRState.OPEN, PRState.MERGED): PR_MERGED,
    (PRState.OPEN, PRState.CLOSED): PR_CLOSED,
    (PRState.CLOSED, PRState.OPEN): PR_REOPENED,
}
# Event recorded after imi.pr.created when a PR is first seen already merged/closed.
ARRIVAL: dict[PRState, str] = {PRState.MERGED: PR_MERGED, PRState.CLOSED: PR_CLOSED}


def clean_pr_url(value: str) -> str:
    """An absolute http(s) URL, surrounding whitespace and trailing slashes dropped."""
    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. a malformed port or IPv6 literal
        host = None
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in {"http", "https"}
        or not host
        or any(ch.isspace() for ch in url)
    ):
        raise ValidationFailed(f"pr_url must be an http(s) URL, got {value!r}", field="pr_url")
    return url


def _event(event_type: str, pr: PullRequest, work: WorkRef, previous: str | None) -> PendingEvent:
    payload = {
        **row_dict(pr),
        "pr_id": pr.id,
        "pr_number": pr.number,
        "pr_url": pr.url,
        "pr_state": pr.state,
        "previous_state": previous,
        "branch_name": work.branch_name,
    }
    return PendingEvent(event_type, "pull_request", pr.id, payload)


async def _locked_matches(
    session: AsyncSession, url: str, project_id: uuid.UUID, number: int
) -> list[PullRequest]:
    """PRs holding this url or this (project, number), locked for the rest of the transaction."""
    stmt = (
        select(PullRequest)
        .where(
            or_(
                col(PullRequest.url) == url,
                (col(PullRequest.project_id) == project_id) & (col(PullRequest.number) == number),
            )
        )
        .with_for_update()
    )
    return list((await session.scalars(stmt, execution_options=FRESH)).all())


async def _insert(
    session: AsyncSession, data: PullRequestInput, url: str, work: WorkRef
) -> PullRequest | None:
    """Insert a new PR; None when a concurrent transaction got there first."""
    values: dict[str, Any] = {
        "project_id": work.project_id,
        "work_item_id": work.id,
        "number": data.pr_number,
        "url": url,
        "title": data.title,
        "state": data.pr_state.value,
        "meta": data.metadata,
    }
    if data.pr_state is PRState.MERGED:
        values["merged_at"] = func.now()
    elif data.pr_state is PRState.CLOSED:
        values["closed_at"] = func.now()
    # No conflict target: either unique key (url, project+number) means "already there".
    stmt = pg_insert(PullRequest).values(**values).on_conflict_do_nothing().returning(PullRequest)
    return (await session.scalars(stmt, execution_options=FRESH)).one_or_none()


def _the_match(matches: list[PullRequest], url: str, data: PullRequestInput) -> PullRequest:
    if len(matches) > 1:
        raise Conflict(
            f"pr_url {url} and PR #{data.pr_number} belong to different pull requests",
            field="pr_url",
        )
    pr = matches[0]
    if pr.url != url:
        raise Conflict(
            f"PR #{pr.number} of this project is already recorded as {pr.url}", field="pr_url"
        )
    if pr.number != data.pr_number:
        raise Conflict(f"{url} is already recorded as PR #{pr.number}", field="pr_number")
    if pr.work_item_id != data.work_item_id:
        raise Conflict(
            f"{url} is linked to work item {pr.work_item_id}",
            field="work_item_id",
            work_item_id=str(pr.work_item_id),
        )
    return pr


async def link_pull_request(session: AsyncSession, data: PullRequestInput) -> PullRequestResult:
    """Record a PR for a work item, or move a known PR (same url or number) to ``pr_state``.

    States: open -> merged | closed, closed -> open (reopen); merged is terminal. An illegal
    move raises Conflict (field ``pr_state``); re-sending the current state changes nothing
    and emits nothing. A PR belongs to the work item (branch) it was opened from: linking its
    url to another work item is a Conflict (field ``work_item_id``) rather than a silent move,
    because that would rewrite the other branch's history; so is a url/number mismatch.
    Every change is one event on the PR's timeline (subject ``pull_request``).
    """
    url = clean_pr_url(data.pr_url)
    work = await require_work_item(session, data.work_item_id)
    matches = await _locked_matches(session, url, work.project_id, data.pr_number)
    if not matches:
        inserted = await _insert(session, data, url, work)
        if inserted is not None:
            events = [_event(PR_CREATED, inserted, work, None)]
            if data.pr_state in ARRIVAL:
                events.append(_event(ARRIVAL[data.pr_state], inserted, work, PRState.OPEN.value))
            await emit(session, *events)
            return PullRequestResult(
                pull_request=inserted, created=True, previous_state=None, changed=True
            )
        # Lost an insert race: the winner has committed, so the row is visible now.
        matches = await _locked_matches(session, url, work.project_id, data.pr_number)
    pr = _the_match(matches, url, data)
    current = PRState(pr.state)
    event_type, values = _changes(pr, data, url)
    if not values:
        return PullRequestResult(pull_request=pr, created=False, previous_state=current)

    stmt = (
        update(PullRequest)
        .where(col(PullRequest.id) == pr.id)
        .values(**values, updated_at=func.now())
        .returning(PullRequest)
    )
    pr = (await session.scalars(stmt, execution_options=FRESH)).one()
    await emit(session, _event(event_type, pr, work, current.value))
    return PullRequestResult(pull_request=pr, created=False, previous_state=current, changed=True)


def _changes(pr: PullRequest, data: PullRequestInput, url: str) -> tuple[str, dict[str, Any]]:
    """The event and column values of moving a known PR to what ``data`` says (a legal state
    transition, a new title, metadata merged); no values when nothing changes."""
    current, target = PRState(pr.state), data.pr_state
    values: dict[str, Any] = {}
    event_type = PR_UPDATED
    if target is not current:
        if (current, target) not in TRANSITIONS:
            raise Conflict(
                f"pull request {url} is {current.value}; it cannot become {target.value}",
                field="pr_state",
                current_state=current.value,
                requested_state=target.value,
            )
        event_type = TRANSITIONS[(current, target)]
        values["state"] = target.value
        if target is PRState.MERGED:
            values["merged_at"] = func.now()
        elif target is PRState.CLOSED:
            values["closed_at"] = func.now()
        else:
            values["closed_at"] = None  # reopened: no longer closed
    if data.title is not None and data.title != pr.title:
        values["title"] = data.title
    merged_meta = {**pr.meta, **data.metadata}
    if merged_meta != pr.meta:
        values["meta"] = merged_meta
    return event_type, values


async def get_pull_request(session: AsyncSession, id_or_url: str | uuid.UUID) -> PullRequest:
    """A PR by its UUID or its url."""
    pr_id = parse_uuid(id_or_url)
    if pr_id is not None:
        where = col(PullRequest.id) == pr_id
    else:
        where = col(PullRequest.url) == str(id_or_url).strip().rstrip("/")
    stmt = select(PullRequest).where(where)
    pr = (await session.scalars(stmt, execution_options=FRESH)).one_or_none()
    if pr is None:
        raise NotFound("pull request", id_or_url)
    return pr


async def pull_request_timeline(session: AsyncSession, pr_id: uuid.UUID) -> list[Event]:
    """The PR's recorded events (created, merged, closed, reopened, updated), oldest first."""
    stmt = (
        select(Event)
        .where(col(Event.subject_type) == "pull_request", col(Event.subject_id) == str(pr_id))
        .order_by(col(Event.id))
    )
    return list((await session.scalars(stmt)).all())
