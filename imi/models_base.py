"""Columns every core table shares: UUID key, JSONB metadata, UTC timestamps."""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic import Field as InputField
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


class Input(BaseModel):
    """Base of every write's input (REST bodies, commands, mutations): a field the model
    does not know is refused by name, so a misspelt field never silently loses data."""

    model_config = ConfigDict(extra="forbid")


# Largest value of a PostgreSQL ``integer`` column; integer inputs are bounded by it so an
# overflow is a validation error naming the field, not a database error.
PG_INT_MAX = 2_147_483_647
# A count stored in an ``integer`` column (files, commits ahead/behind).
Count = Annotated[int, InputField(ge=0, le=PG_INT_MAX)]

MAX_PAGE_SIZE = 500
MAX_METADATA_DEPTH = 32
# Serialized size of one metadata object (JSON, bytes).
MAX_METADATA_BYTES = 65_536

# Longest text each kind of input field takes (characters), so no stored value or filter can
# make a statement slow: names and ids 255, paths 1024, URLs 2000, titles 1000, free text
# 10000, search text 200. Indexed values must also fit a btree entry (about 2700 bytes), which
# a 1024-character path of four-byte characters would not: those are bounded in bytes as well.
MAX_NAME = 255
MAX_ID = 255
MAX_PATH = 1024
MAX_URL = 2000
MAX_TITLE = 1000
MAX_TEXT = 10_000
MAX_SEARCH = 200
MAX_INDEXED_BYTES = 2000


def check_indexed_bytes(value: str | None) -> str | None:
    """A value that fits a btree index entry: at most ``MAX_INDEXED_BYTES`` in UTF-8."""
    if value is not None and len(value.encode("utf-8", "surrogatepass")) > MAX_INDEXED_BYTES:
        raise ValueError(f"must be at most {MAX_INDEXED_BYTES} bytes in UTF-8")
    return value


# The types of bounded text inputs (REST bodies, GraphQL inputs and commands all validate
# through the input models, so every surface applies the same limits).
Name = Annotated[str, InputField(max_length=MAX_NAME)]
Identifier = Annotated[str, InputField(max_length=MAX_ID)]
PathText = Annotated[str, InputField(max_length=MAX_PATH), AfterValidator(check_indexed_bytes)]
UrlText = Annotated[str, InputField(max_length=MAX_URL), AfterValidator(check_indexed_bytes)]
Title = Annotated[str, InputField(max_length=MAX_TITLE)]
LongText = Annotated[str, InputField(max_length=MAX_TEXT)]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_json(value: Any, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata nests deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("metadata text must not contain NUL characters")
        if _SURROGATE.search(value):  # a lone "\ud800" escape: not storable text
            raise ValueError("metadata text must be valid Unicode (no lone surrogates)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("metadata numbers must be finite")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """Metadata PostgreSQL can store and events can carry: bounded depth and size, no NUL,
    no NaN."""
    _check_json(value, 1)
    size = len(json.dumps(value, default=str, ensure_ascii=False).encode("utf-8", "replace"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


# The type of every ``metadata`` input field.
Metadata = Annotated[dict[str, Any], AfterValidator(check_metadata)]


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
