"""The v2 contract's request shapes (002 section 1), turned into the domain's inputs. REST
routes and the v2 commands both read these, so the two speak the dialect the same way."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from imi.activities.models import ActivityCreate, ActivityType
from imi.errors import ValidationFailed
from imi.models_base import Count, Identifier, Input, LongText, Metadata, Name, PathText
from imi.work.models import GitState, WorkSource, WorkStart
from imi.work.naming import check_worktree_path, parse_work_type

# Git-state fields: the v3 name, then the v2 contract's (002 section 1.2, git.sync_completed).
GIT_STATE_NAMES: dict[str, tuple[str, ...]] = {
    "has_uncommitted_changes": ("has_uncommitted_changes", "has_uncommitted"),
    "uncommitted_files_count": ("uncommitted_files_count", "uncommitted_count"),
    "ahead_of_trunk": ("ahead_of_trunk", "ahead"),
    "behind_trunk": ("behind_trunk", "behind"),
    "last_commit_hash": ("last_commit_hash",),
    "last_commit_message": ("last_commit_message",),
    "last_sync_at": ("last_sync_at",),
}


def _aliases(field: str) -> AliasChoices:
    return AliasChoices(*GIT_STATE_NAMES[field])


class WorktreeCreateV2(Input):
    """v2 ``POST /projects/{id}/worktrees``."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "feat",
                "name": "feat-user-auth",
                "branch_name": "feat/user-auth",
                "path": "/home/jarad/code/my-awesome-app/feat-user-auth",
                "agent_id": "agent-coder-1",
                "metadata": {"story_id": "PROJ-123"},
            }
        }
    )

    # Required as in the v2 contract (MCP create_worktree, register_worktree()).
    type: Name = Field(description="feat, fix, aiops, devops, review (or a v3 work type).")
    name: Name = Field(description="The worktree's name, unique among the project's active ones.")
    branch_name: Identifier
    path: PathText = Field(description="The worktree's directory.")
    agent_id: Identifier | None = None
    metadata: Metadata = Field(default_factory=dict)

    def to_work_start(self, project_id: uuid.UUID, source: WorkSource) -> WorkStart:
        """The v3 input; a bad ``type`` is reported under the name the client sent."""
        check_worktree_path(self.path, field="path")  # named as the client sent it
        return WorkStart(
            project_id=project_id,
            branch_name=self.branch_name,
            work_type=parse_work_type(self.type, field="type").value,
            name=self.name,
            worktree_path=self.path,
            owner_id=self.agent_id,
            source=source,
            metadata=self.metadata,
        )


class GitStateIn(Input):
    """A git-state report; each field also accepts its v2 name (``has_uncommitted``, ...)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "has_uncommitted_changes": True,
                "uncommitted_files_count": 5,
                "ahead_of_trunk": 3,
                "behind_trunk": 0,
                "last_commit_hash": "a1b2c3d4e5f6",
                "last_commit_message": "Add authentication endpoints",
            }
        }
    )

    has_uncommitted_changes: bool | None = Field(
        default=None, validation_alias=_aliases("has_uncommitted_changes")
    )
    uncommitted_files_count: Count | None = Field(
        default=None, validation_alias=_aliases("uncommitted_files_count")
    )
    ahead_of_trunk: Count | None = Field(default=None, validation_alias=_aliases("ahead_of_trunk"))
    behind_trunk: Count | None = Field(default=None, validation_alias=_aliases("behind_trunk"))
    last_commit_hash: Identifier | None = None
    last_commit_message: LongText | None = None
    last_sync_at: datetime | None = Field(
        default=None, description="When the state was read; older reports are ignored."
    )

    def to_domain(self) -> GitState:
        # Only what the caller sent: absent fields keep their stored values.
        return GitState(**self.model_dump(exclude_unset=True))


class GitStateByBranchIn(GitStateIn):
    """A git-state report addressed by project and branch instead of work item id."""

    project_id: uuid.UUID
    branch_name: Identifier

    def to_domain(self) -> GitState:
        fields = self.model_dump(exclude_unset=True, exclude={"project_id", "branch_name"})
        return GitState(**fields)


class MergeIn(Input):
    merged_by: Identifier | None = None
    merge_commit_hash: Identifier | None = None


class ActivityIn(Input):
    """``POST /activities``; ``worktree_id`` (v2) and ``work_item_id`` (v3) are the same."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "agent_id": "agent-coder-1",
                "worktree_id": "660e8400-e29b-41d4-a716-446655440001",
                "activity_type": "modified",
                "description": "Implemented JWT token validation",
                "file_path": "src/auth/jwt.rs",
                "metadata": {"lines_added": 45},
            }
        }
    )

    # Required as in the v2 contract (1.4 and MCP log_activity).
    agent_id: Identifier = Field(min_length=1)
    work_item_id: uuid.UUID = Field(validation_alias=AliasChoices("worktree_id", "work_item_id"))
    activity_type: Name
    description: LongText = Field(min_length=1)
    file_path: PathText | None = None
    metadata: Metadata = Field(default_factory=dict)

    def to_domain(self) -> ActivityCreate:
        """The domain's input; an unknown ``activity_type`` is bad input naming the types."""
        try:
            activity_type = ActivityType(self.activity_type)
        except ValueError:
            allowed = ", ".join(t.value for t in ActivityType)
            raise ValidationFailed(
                f"Invalid activity type {self.activity_type!r}; expected one of {allowed}",
                field="activity_type",
            ) from None
        return ActivityCreate(
            agent_id=self.agent_id,
            work_item_id=self.work_item_id,
            activity_type=activity_type,
            description=self.description,
            file_path=self.file_path,
            metadata=self.metadata,
        )


class SyncCompleted(BaseModel):
    """v2 ``git.sync_completed`` (002 section 2.2): a worktree's git state, by its path.
    Other keys a sync tool adds are ignored (it is an event, not a command)."""

    worktree_path: PathText
    has_uncommitted: bool | None = None
    uncommitted_count: Count | None = None
    ahead: Count | None = None
    behind: Count | None = None
    last_commit_hash: Identifier | None = None
    last_commit_message: LongText | None = None
    last_sync_at: datetime | None = None
