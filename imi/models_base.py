"""Columns every core table shares: UUID key, JSONB metadata, UTC timestamps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

T = TypeVar("T")
JSON_OBJECT = text("'{}'::jsonb")
NOW = text("now()")


class UUIDKey(SQLModel):
    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        primary_key=True,
        sa_column_kwargs={"server_default": text("gen_random_uuid()")},
    )


class WithMetadata(SQLModel):
    # `metadata` is reserved on SQLAlchemy classes, so the attribute is `meta`.
    meta: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=JSONB,
        sa_column_kwargs={"name": "metadata", "server_default": JSON_OBJECT, "nullable": False},
    )


class Timestamps(SQLModel):
    created_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": NOW, "nullable": False},
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": NOW, "nullable": False},
    )


class CoreTable(UUIDKey, WithMetadata, Timestamps):
    """Base of the core tables."""


def tstz() -> Any:
    """A nullable timestamptz column type."""
    return DateTime(timezone=True)


MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: the items, the total matching count and the window asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


def one_of(column: str, values: type[StrEnum]) -> str:
    """SQL for a CHECK that ``column`` holds one of an enum's values."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"
