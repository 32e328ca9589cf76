"""hookd tool mutations on ``imi.mutation_events``: ``tool.mutation.<tool>`` (what hookd sends)
and ``hookd.tool.mutation.*`` (the PRD's name) -> bump the matching work item's last activity.

hookd's body is flat, not an envelope: ``event_type, hook_type, tool_name, agent_id,
repo{git_root, branch, head_sha, remote_url}, file_path, file_ext, lines_changed, raw_payload,
timestamp, source_pid, correlation_id``. The work item is the active one on ``repo.branch`` of
the project whose origin is ``repo.remote_url``; without a remote, the one checked out at
``repo.git_root``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from imi.compat.bloodbank import Incoming, validate
from imi.messaging.consumers.handling import Route, Skip
from imi.messaging.consumers.ordering import Subjects
from imi.messaging.consumers.subjects import branch_key, keys, path_key
from imi.work import matching
from imi.work.models import WorkItem
from imi.work.service import touch_work_items


class RepoInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    git_root: str | None = None
    branch: str | None = None
    head_sha: str | None = None
    remote_url: str | None = None


class ToolMutation(BaseModel):
    """The fields of hookd's body iMi reads (the rest is ignored)."""

    model_config = ConfigDict(extra="allow")

    tool_name: str | None = None
    agent_id: str | None = None
    repo: RepoInfo
    file_path: str | None = None


async def find_work(session: AsyncSession, repo: RepoInfo) -> WorkItem | None:
    branch = matching.branch_of_ref(repo.branch) if repo.branch else None
    if repo.remote_url and repo.remote_url.strip() and branch:
        item = await matching.work_by_remote_branch(session, repo.remote_url, branch)
        if item is not None:
            return item
    if repo.git_root and repo.git_root.strip():
        return await matching.work_at_path(session, repo.git_root)
    return None


async def tool_mutation(session: AsyncSession, message: Incoming) -> None:
    mutation = validate(ToolMutation, message.payload)
    item = await find_work(session, mutation.repo)
    if item is None:
        raise Skip(f"no active work for {mutation.repo.remote_url} {mutation.repo.branch}")
    await touch_work_items(session, [item.id])


def mutation_subjects(message: Incoming) -> Subjects:
    repo = message.payload.get("repo")
    if not isinstance(repo, dict):
        return frozenset()  # dead-lettered: hookd's body always names its repo
    remote, branch = repo.get("remote_url"), repo.get("branch")
    by_branch = branch_key(remote, branch) if isinstance(remote, str) else None
    return keys(by_branch if isinstance(branch, str) else None, path_key(repo.get("git_root")))


ROUTES = (
    Route(("tool.mutation.*", "hookd.tool.mutation.*"), tool_mutation, subjects=mutation_subjects),
)
