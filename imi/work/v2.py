"""Payloads of the v2 event names (imi.worktree.*), in the v2 contract's field names."""

from __future__ import annotations

from typing import Any

from imi.projects.models import Project
from imi.work.models import WorkItem, WorkType

# v3 work type -> v2 worktree type name.
V2_TYPE_NAMES = {WorkType.FEATURE.value: "feat"}
# v2 worktree type name -> its id in the v2 schema's worktree_types table (feat is 1, as the
# v2 contract's example shows; the rest in that table's order). ``experiment`` has no v2 type.
V2_TYPE_IDS = {"feat": 1, "fix": 2, "aiops": 3, "devops": 4, "review": 5, "trunk": 6}


def v2_type_name(work_type: str) -> str:
    return V2_TYPE_NAMES.get(work_type, work_type)


def v2_type_id(work_type: str) -> int | None:
    """The v2 ``type_id`` of a work type; None for v3-only types."""
    return V2_TYPE_IDS.get(v2_type_name(work_type))


def v2_created_payload(item: WorkItem, project: Project) -> dict[str, Any]:
    return {
        "worktree_id": item.id,
        "project_id": project.id,
        "project_name": project.name,
        "type": v2_type_name(item.work_type),
        "name": item.name,
        "branch_name": item.branch_name,
        "path": item.worktree_path,
        "agent_id": item.owner_id,
    }


def v2_git_state_payload(item: WorkItem, project: Project) -> dict[str, Any]:
    return {
        "worktree_id": item.id,
        "project_name": project.name,
        "worktree_name": item.name,
        "has_uncommitted_changes": item.has_uncommitted_changes,
        "uncommitted_files_count": item.uncommitted_files_count,
        "ahead_of_trunk": item.ahead_of_trunk,
        "behind_trunk": item.behind_trunk,
        "status": item.status,
    }


def v2_merged_payload(item: WorkItem, project: Project) -> dict[str, Any]:
    return {
        "worktree_id": item.id,
        "project_name": project.name,
        "worktree_name": item.name,
        "branch_name": item.branch_name,
        "merged_by": item.merged_by,
        "merge_commit_hash": item.merge_commit_hash,
        "merged_at": item.completed_at,
    }
