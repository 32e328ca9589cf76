"""Query parameters shared by several REST routes."""

from __future__ import annotations

import json
from typing import Any

from imi.errors import ValidationFailed
from imi.models_base import check_metadata

MAX_METADATA_FILTER = 4096  # characters of a ?metadata= filter


def metadata_filter(raw: str | None) -> dict[str, Any] | None:
    """``?metadata={"team": "core"}``: a JSON object the stored metadata must contain.

    Bounded before it is parsed (length), and parsed defensively: nesting too deep for the
    parser, a number too long to convert, are bad input like any malformed JSON."""
    if raw is None:
        return None
    if len(raw) > MAX_METADATA_FILTER:
        raise ValidationFailed(
            f"metadata filter longer than {MAX_METADATA_FILTER} characters", field="metadata"
        )
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError, int digit limit, deep nesting
        value = None
    if not isinstance(value, dict):
        raise ValidationFailed(
            'metadata must be a JSON object, e.g. {"team": "core"}', field="metadata"
        )
    try:
        return check_metadata(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="metadata") from None
