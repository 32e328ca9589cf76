"""Validation of list windows shared by every paginated service."""

from __future__ import annotations

from imi.errors import ValidationFailed
from imi.models_base import MAX_PAGE_SIZE


def check_window(limit: int, offset: int, *, max_limit: int = MAX_PAGE_SIZE) -> None:
    if not 1 <= limit <= max_limit:
        raise ValidationFailed(f"limit must be between 1 and {max_limit}", field="limit")
    if offset < 0:
        raise ValidationFailed("offset must not be negative", field="offset")
