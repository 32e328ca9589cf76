"""Query parameters shared by several REST routes."""

from __future__ import annotations

import json
from typing import Any

from imi.errors import ValidationFailed
from imi.models_base import check_metadata


def metadata_filter(raw: str | None) -> dict[str, Any] | None:
    """``?metadata={"team": "core"}``: a JSON object the stored metadata must contain."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ValidationFailed(
            'metadata must be a JSON object, e.g. {"team": "core"}', field="metadata"
        )
    try:
        return check_metadata(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="metadata") from None
