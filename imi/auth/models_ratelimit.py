"""The rate limit table: one row per bucket (an API key, a token subject, a local address)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from imi.models_base import tstz

# Longest bucket name stored as is; longer ones are stored as a digest (a btree key stays small).
MAX_BUCKET = 200


class RateLimit(SQLModel, table=True):
    """GCRA state: ``tat`` is the bucket's theoretical arrival time. A row whose ``tat`` is in
    the past says nothing a missing row would not, so such rows are pruned."""

    __tablename__ = "rate_limits"

    bucket: str = Field(primary_key=True, max_length=MAX_BUCKET)
    tat: datetime = Field(sa_type=tstz(), nullable=False)
