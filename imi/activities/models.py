"""Agent activities: what an agent did, where (v2 contract 1.4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field as InputField
from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field

from imi.models_base import (
    NOW,
    Identifier,
    Input,
    LongText,
    Metadata,
    PathText,
    UUIDKey,
    WithMetadata,
    one_of,
    tstz,
)


class ActivityType(StrEnum):
    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"
    COMMITTED = "committed"
    PUSHED = "pushed"
    MERGED = "merged"
    SYNCED = "synced"
    OTHER = "other"


class Activity(UUIDKey, WithMetadata, table=True):
    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint(
            one_of("activity_type", ActivityType),
            name="ck_activities_type",
        ),
        Index("ix_activities_agent_recent", "agent_id", text("created_at DESC")),
        Index("ix_activities_created_at", "created_at"),
        Index("ix_activities_metadata", "metadata", postgresql_using="gin"),
    )

    agent_id: str
    work_item_id: uuid.UUID | None = Field(
        default=None, foreign_key="work_items.id", ondelete="CASCADE", index=True
    )
    activity_type: str
    description: str | None = None
    file_path: str | None = None
    created_at: datetime | None = Field(
        default=None, sa_type=tstz(), sa_column_kwargs={"server_default": NOW, "nullable": False}
    )


class ActivityCreate(Input):
    agent_id: Identifier = InputField(min_length=1)
    work_item_id: uuid.UUID | None = None
    activity_type: ActivityType
    description: LongText | None = None
    file_path: PathText | None = None
    metadata: Metadata = InputField(default_factory=dict)
