"""The v2 contract's request shapes (002 section 1), turned into the domain's inputs. REST
routes and the v2 commands both read these, so the two speak the dialect the same way."""

from __future__ import annotations

import uuid

from pydantic import ConfigDict, Field

from imi.models_base import Input, Metadata
from imi.work.models import WorkSource, WorkStart
from imi.work.naming import parse_work_type


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
    type: str = Field(description="feat, fix, aiops, devops, review (or a v3 work type).")
    name: str = Field(description="The worktree's name, unique among the project's active ones.")
    branch_name: str
    path: str = Field(description="The worktree's directory.")
    agent_id: str | None = None
    metadata: Metadata = Field(default_factory=dict)

    def to_work_start(self, project_id: uuid.UUID, source: WorkSource) -> WorkStart:
        """The v3 input; a bad ``type`` is reported under the name the client sent."""
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
