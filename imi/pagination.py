"""Validation of list windows shared by every paginated service."""

from __future__ import annotations

from imi.errors import ValidationFailed
from imi.models_base import MAX_PAGE_SIZE

MAX_OFFSET = 2**63 - 1  # PostgreSQL's OFFSET is a bigint; past it the driver cannot send it


def check_window(limit: int, offset: int, *, max_limit: int = MAX_PAGE_SIZE) -> None:
    if not 1 <= limit <= max_limit:
        raise ValidationFailed(f"limit must be between 1 and {max_limit}", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed(f"offset must be between 0 and {MAX_OFFSET}", field="offset")
