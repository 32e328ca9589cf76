"""API keys: only a hash of the secret is stored; the prefix finds the row."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Uuid
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field

from imi.models_base import CoreTable, one_of, tstz

MAX_KEY_NAME = 100


class Scope(StrEnum):
    """The v2 contract's scopes (002 section 8), each including the ones before it."""

    READ = "imi:read"
    WRITE = "imi:write"
    ADMIN = "imi:admin"

    @property
    def rank(self) -> int:
        return list(Scope).index(self)

    def allows(self, needed: Scope) -> bool:
        return self.rank >= needed.rank


class ApiKey(CoreTable, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(one_of("scope", Scope), name="ck_api_keys_scope"),)

    name: str = Field(max_length=MAX_KEY_NAME)
    # The public part of the secret (``imi_<prefix>_...``): the lookup key, unique.
    prefix: str = Field(unique=True, max_length=32)
    secret_hash: str  # sha256 of the whole secret, hex
    scope: str
    # None: every project; otherwise the projects this key may see and change.
    project_ids: list[uuid.UUID] | None = Field(
        default=None, sa_column=Column(ARRAY(Uuid()), nullable=True)
    )
    expires_at: datetime | None = Field(default=None, sa_type=tstz())
    revoked_at: datetime | None = Field(default=None, sa_type=tstz())
    last_used_at: datetime | None = Field(default=None, sa_type=tstz())
