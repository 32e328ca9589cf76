"""Find the work item an external event is about: by remote + branch, worktree path, commit.

Consumers of other services' events (git pushes, hookd mutations, CI deploys) name a repository
and a branch, a worktree path or a commit, never iMi's ids. These lookups answer None (or an
empty list) when nothing matches: an event about untracked work is not an error.
"""

from __future__ import annotations

import uuid

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.links.models import PullRequest
from imi.projects.service import find_project_by_remote
from imi.work.models import WorkItem

# Shorter hashes are too ambiguous to match by prefix.
MIN_COMMIT_PREFIX = 7
MAX_COMMIT_MATCHES = 100


def branch_of_ref(ref: str) -> str | None:
    """``refs/heads/feat/x`` -> ``feat/x``; a tag or other ref -> None; a bare name as is."""
    ref = ref.strip()
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :] or None
    if ref.startswith("refs/"):
        return None
    return ref or None


async def work_on_branch(
    session: AsyncSession, project_id: uuid.UUID, branch: str, *, include_inactive: bool = False
) -> WorkItem | None:
    """The active work item on a branch; with ``include_inactive``, else the latest finished one
    (a PR merged or a deploy shipped after the work was completed)."""
    stmt = select(WorkItem).where(
        col(WorkItem.project_id) == project_id, col(WorkItem.branch_name) == branch
    )
    if not include_inactive:
        stmt = stmt.where(col(WorkItem.active))
    stmt = stmt.order_by(
        col(WorkItem.active).desc(),
        col(WorkItem.completed_at).desc().nulls_last(),
        col(WorkItem.created_at).desc(),
    ).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def work_by_remote_branch(
    session: AsyncSession, remote: str, branch: str, *, include_inactive: bool = False
) -> WorkItem | None:
    """The work item of (repository in any spelling, branch); None if either is unknown."""
    project = await find_project_by_remote(session, remote)
    if project is None:
        return None
    return await work_on_branch(session, project.id, branch, include_inactive=include_inactive)


async def work_at_path(session: AsyncSession, worktree_path: str) -> WorkItem | None:
    """The active work item checked out at a worktree path (a trailing slash is ignored)."""
    path = worktree_path.strip().rstrip("/") or "/"
    stmt = (
        select(WorkItem)
        .where(col(WorkItem.worktree_path).in_([path, path + "/"]), col(WorkItem.active))
        .order_by(col(WorkItem.created_at).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def work_with_commit(
    session: AsyncSession, commit_hash: str, *, project_id: uuid.UUID | None = None
) -> list[WorkItem]:
    """Work items whose last commit or merge commit is ``commit_hash``.

    A short hash on one side matches a full one on the other (at least 7 hex digits).
    """
    commit = commit_hash.strip().lower()
    if len(commit) < MIN_COMMIT_PREFIX or not all(c in "0123456789abcdef" for c in commit):
        return []
    conditions = []
    for column in (col(WorkItem.last_commit_hash), col(WorkItem.merge_commit_hash)):
        stored = func.lower(column)
        conditions.append(
            or_(
                stored == commit,
                and_(
                    func.length(column) >= MIN_COMMIT_PREFIX,
                    or_(
                        # Prefix test without LIKE: a stored value is data, never a pattern.
                        func.left(literal(commit), func.length(column)) == stored,
                        stored.startswith(commit, autoescape=True),
                    ),
                ),
            )
        )
    stmt = select(WorkItem).where(or_(*conditions))
    if project_id is not None:
        stmt = stmt.where(col(WorkItem.project_id) == project_id)
    stmt = stmt.order_by(col(WorkItem.created_at)).limit(MAX_COMMIT_MATCHES)
    return list((await session.execute(stmt)).scalars())


async def pull_request_by_url(session: AsyncSession, url: str) -> PullRequest | None:
    """A recorded pull request by its url (trailing slashes ignored)."""
    stmt = select(PullRequest).where(col(PullRequest.url) == url.strip().rstrip("/"))
    return (await session.execute(stmt)).scalar_one_or_none()
