"""git events: ``git.push`` and ``git.pr.*`` on ``imi.git_events``; the v2 ``git.sync_completed``
on ``imi_git_sync_queue``.

- ``git.push``: repository url + branch (``ref`` without ``refs/heads/``) + head sha, optional
  ahead/behind/uncommitted -> the git state of the branch's active work item.
- ``git.pr.<action>``: repository url, number, url, state, head branch -> the PR lifecycle of
  the branch's work item (a known PR stays with the work item it was opened from).
- ``git.sync_completed``: ``{worktree_path, has_uncommitted, uncommitted_count, ahead, behind,
  last_commit_hash}`` -> the git state of the active work item at that path.
Reports about untracked repositories, branches or paths are skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from imi.compat.bloodbank import BadMessage, Incoming, error_summary, pick, pick_text
from imi.compat.v2 import GIT_STATE_NAMES, SyncCompleted
from imi.links.models import PRState, PullRequestInput
from imi.links.service import link_pull_request
from imi.messaging.consumers.handling import Route, Skip
from imi.messaging.consumers.ordering import Subjects
from imi.messaging.consumers.subjects import branch_key, keys, path_key
from imi.work import matching
from imi.work.models import GitState
from imi.work.service import update_git_state

REPOSITORY_PATHS = (
    "remote_url",
    "repository_url",
    "repo_url",
    "remote_origin",
    "repo.remote_url",
    "repository.clone_url",
    "repository.ssh_url",
    "repository.html_url",
    "repository.git_url",
    "repository.url",
    "repository",
)
# Keys of a git-state report: the v3 and v2 names (imi.compat.v2), then what git producers
# (push webhooks, hookd) call them.
PRODUCER_STATE_NAMES: dict[str, tuple[str, ...]] = {
    "last_commit_hash": ("head_sha", "after", "head_commit.id", "sha"),
    "last_commit_message": ("commit_message", "head_commit.message"),
    "last_sync_at": ("synced_at", "pushed_at"),
}
STATE_FIELDS: dict[str, tuple[str, ...]] = {
    field: (*names, *PRODUCER_STATE_NAMES.get(field, ()))
    for field, names in GIT_STATE_NAMES.items()
}
ZERO_SHA = "0" * 40
PR_ACTION_STATES = {
    "opened": PRState.OPEN,
    "created": PRState.OPEN,
    "reopened": PRState.OPEN,
    "merged": PRState.MERGED,
    "closed": PRState.CLOSED,
}


def git_state(payload: dict[str, Any], sent_at: datetime | None = None) -> GitState:
    """A GitState from whichever field spellings the payload uses; BadMessage if ill-typed.

    Without a sync time of its own the report is as old as its message (never in the future),
    so a report handled late does not overwrite a newer one.
    """
    values: dict[str, Any] = {}
    for field, paths in STATE_FIELDS.items():
        value = pick(payload, *paths)
        if value is not None:
            values[field] = value
    if "last_sync_at" not in values and sent_at is not None:
        aware = sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)
        values["last_sync_at"] = min(aware, datetime.now(UTC))
    try:
        return GitState.model_validate(values)
    except ValidationError as exc:
        raise BadMessage(f"invalid git state: {error_summary(exc)}") from exc


def repository(payload: dict[str, Any]) -> str:
    remote = pick_text(payload, *REPOSITORY_PATHS)
    if not remote:
        raise BadMessage("no repository remote url")
    return remote


def head_branch(payload: dict[str, Any], *paths: str) -> str:
    ref = pick_text(payload, *paths)
    if not ref:
        raise BadMessage("no branch")
    branch = matching.branch_of_ref(ref)
    if branch is None:
        raise Skip(f"{ref} is not a branch")
    return branch


async def push(session: AsyncSession, message: Incoming) -> None:
    payload = message.payload
    remote = repository(payload)
    branch = head_branch(payload, "branch", "ref", "branch_name")
    if payload.get("deleted") is True or pick_text(payload, "after") == ZERO_SHA:
        raise Skip(f"branch {branch} was deleted")
    state = git_state(payload, message.timestamp)
    item = await matching.work_by_remote_branch(session, remote, branch)
    if item is None:
        raise Skip(f"no active work on {remote} {branch}")
    await update_git_state(session, state, work_item_id=item.id)


def pr_state(payload: dict[str, Any], action: str, current: str | None) -> PRState:
    merged = pick(payload, "merged", "pull_request.merged") is True
    explicit = pick_text(payload, "pr_state", "state", "pull_request.state")
    if action in PR_ACTION_STATES:
        state = PR_ACTION_STATES[action]
    elif explicit:
        try:
            state = PRState(explicit.lower())
        except ValueError as exc:
            raise BadMessage(f"unknown pull request state {explicit!r}") from exc
    else:
        state = PRState(current) if current else PRState.OPEN
    return PRState.MERGED if state is PRState.CLOSED and merged else state


async def pull_request(session: AsyncSession, message: Incoming) -> None:
    payload = message.payload
    url = pick_text(payload, "pr_url", "url", "html_url", "pull_request.html_url")
    number = pick(payload, "pr_number", "number", "pull_request.number")
    if not url or number is None:
        raise BadMessage("a pull request needs its url and number")
    known = await matching.pull_request_by_url(session, url)
    if known is not None:
        work_item_id = known.work_item_id
    else:
        remote = repository(payload)
        branch = head_branch(
            payload, "head_branch", "branch", "source_branch", "head.ref", "pull_request.head.ref"
        )
        item = await matching.work_by_remote_branch(session, remote, branch, include_inactive=True)
        if item is None:
            raise Skip(f"no work on {remote} {branch}")
        work_item_id = item.id
    try:
        data = PullRequestInput(
            work_item_id=work_item_id,
            pr_number=number,
            pr_url=url,
            pr_state=pr_state(payload, message.action, known.state if known else None),
            title=pick_text(payload, "title", "pull_request.title"),
        )
    except ValidationError as exc:
        raise BadMessage(f"invalid pull request: {error_summary(exc)}") from exc
    await link_pull_request(session, data)


async def sync_completed(session: AsyncSession, message: Incoming) -> None:
    try:
        report = SyncCompleted.model_validate(message.payload)
    except ValidationError as exc:
        raise BadMessage(f"invalid sync report: {error_summary(exc)}") from exc
    if not report.worktree_path.strip():
        raise BadMessage("worktree_path must not be empty")
    fields = report.model_dump(exclude_unset=True, exclude={"worktree_path"})
    state = git_state(fields, message.timestamp)
    item = await matching.work_at_path(session, report.worktree_path)
    if item is None:
        raise Skip(f"no active work at {report.worktree_path}")
    await update_git_state(session, state, work_item_id=item.id)


def push_subjects(message: Incoming) -> Subjects:
    payload = message.payload
    remote = pick_text(payload, *REPOSITORY_PATHS)
    return keys(branch_key(remote, pick_text(payload, "branch", "ref", "branch_name")))


def pull_request_subjects(message: Incoming) -> Subjects:
    """The PR (a known one stays with its work item) and the branch it was opened from."""
    payload = message.payload
    url = pick_text(payload, "pr_url", "url", "html_url", "pull_request.html_url")
    branch = pick_text(
        payload, "head_branch", "branch", "source_branch", "head.ref", "pull_request.head.ref"
    )
    return keys(url and f"pr:{url}", branch_key(pick_text(payload, *REPOSITORY_PATHS), branch))


def sync_subjects(message: Incoming) -> Subjects:
    return keys(path_key(message.payload.get("worktree_path")))


GIT_ROUTES = (
    Route(("git.push",), push, subjects=push_subjects),
    Route(("git.pr.*",), pull_request, subjects=pull_request_subjects),
)
SYNC_ROUTES = (Route(("git.sync_completed",), sync_completed, subjects=sync_subjects),)
