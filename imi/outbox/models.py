"""The events table (transactional outbox and per-entity event log) and consumed message ids."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity, Index, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from imi.models_base import NOW, tstz


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        # The relay scans only what is still unpublished.
        Index("ix_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        Index("ix_events_subject", "subject_type", "subject_id", "id"),
        Index("ix_events_type", "event_type"),
        Index("ix_events_work_item_refs", "work_item_refs", postgresql_using="gin"),
    )

    # Commit-ordered position: the relay and subscriptions read in this order.
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    event_id: uuid.UUID = Field(unique=True)
    event_type: str
    routing_key: str
    subject_type: str
    subject_id: str
    correlation_id: str | None = None
    # The work items the event concerns: its subject when that is one, and the work items a
    # link event names (a ticket link, a PR, a deploy). A work item's timeline reads these.
    work_item_refs: list[str] = Field(
        default_factory=list,
        sa_type=ARRAY(Text),
        sa_column_kwargs={"server_default": text("'{}'"), "nullable": False},
    )
    envelope: dict[str, Any] = Field(sa_type=JSONB)
    created_at: datetime | None = Field(
        default=None, sa_type=tstz(), sa_column_kwargs={"server_default": NOW, "nullable": False}
    )
    published_at: datetime | None = Field(default=None, sa_type=tstz())
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    last_error: str | None = None


class ProcessedMessage(SQLModel, table=True):
    __tablename__ = "processed_messages"

    consumer: str = Field(primary_key=True)
    message_id: str = Field(primary_key=True)
    processed_at: datetime | None = Field(
        default=None, sa_type=tstz(), sa_column_kwargs={"server_default": NOW, "nullable": False}
    )
