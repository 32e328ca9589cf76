"""Projects: one row per git repository, keyed by its normalized remote origin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic import Field as InputField
from sqlalchemy import Index
from sqlmodel import Field

from imi.models_base import (
    CoreTable,
    Identifier,
    Input,
    LongText,
    Metadata,
    Name,
    PathText,
    UrlText,
)


class Project(CoreTable, table=True):
    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_metadata", "metadata", postgresql_using="gin"),
        Index(
            "ix_projects_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        Index(
            "ix_projects_remote_origin_trgm",
            "remote_origin_normalized",
            postgresql_using="gin",
            postgresql_ops={"remote_origin_normalized": "gin_trgm_ops"},
        ),
    )

    name: str
    remote_origin: str
    # host/owner/repo, lower-cased host, no scheme/user/.git: equivalent spellings collide here.
    remote_origin_normalized: str = Field(unique=True)
    default_branch: str = Field(default="main")
    trunk_path: str | None = None
    description: str | None = None
    active: bool = Field(default=True, index=True)


class ProjectCreate(Input):
    """Input of register_project. ``name`` defaults to the repository name."""

    remote_origin: UrlText
    name: Name | None = None
    default_branch: Identifier = "main"
    trunk_path: PathText | None = None
    description: LongText | None = None
    metadata: Metadata = InputField(default_factory=dict)


class ProjectUpdate(Input):
    """Fields a PATCH may change; absent fields stay as they are.

    ``metadata`` is merged key by key into the stored object (a key set to null is removed);
    set ``replace_metadata`` to replace the whole object instead.
    """

    name: Name | None = None
    description: LongText | None = None
    default_branch: Identifier | None = None
    trunk_path: PathText | None = None
    metadata: Metadata | None = None
    replace_metadata: bool = False


class ProjectCounts(BaseModel):
    """Per-project work counts (v2 ``worktree_counts``). In flight = active (FR-2.4)."""

    active: int = 0
    in_flight: int = 0
    uncommitted: int = 0  # active, with uncommitted changes
    unmerged: int = 0  # active, with commits ahead of trunk


class RegisterResult(BaseModel):
    project: Project
    created: bool  # a new row was inserted
    reactivated: bool  # a soft-deleted project came back

    @property
    def existed(self) -> bool:
        return not (self.created or self.reactivated)


@dataclass(frozen=True, slots=True)
class ProjectMatch:
    """A search hit: the project as a plain row (attributes named like ``Project``'s)."""

    project: Any
    relevance: float
