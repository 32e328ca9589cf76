"""Records on the wire: a JSON body checked against its kind (before any work), and a stored
row shaped as intermute answers it (Go's ``omitempty``, RFC 3339 UTC times)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from imi.coordination.records_kinds import (
    MAX_ID,
    MAX_LIST_ITEMS,
    MAX_PROJECT,
    MAX_STEPS,
    Field,
    Kind,
)
from imi.errors import NotFound, ValidationFailed

MAX_ORDER = 2**31 - 1  # a step's order: Go's int, kept to 32 bits


def text(value: object, name: str, max_length: int, *, required: bool = False) -> str:
    """A string field; null or absent is '' (Go's zero value), a required one must be set."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a string", field=name)
    if len(value) > max_length:
        raise ValidationFailed(f"{name} is longer than {max_length} characters", field=name)
    if not storable(value):
        raise ValidationFailed(f"{name} must be valid Unicode without NUL", field=name)
    if required and not value.strip():
        raise ValidationFailed(f"{name} is required", field=name)
    return value


def storable(value: str) -> bool:
    """Text PostgreSQL can store: no NUL character, no lone surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lookup_key(kind: Kind, key: str) -> str:
    """An id from a URL path: one that no record can have names nothing (404, before work)."""
    if not key or len(key) > MAX_ID or not storable(key):
        raise NotFound(kind.name, key[:MAX_ID])
    return key


def record_id(value: object, name: str = "id", *, required: bool = False) -> str:
    """An id or a reference: it travels in URL paths, so no '/' and no control characters."""
    result = text(value, name, MAX_ID, required=required)
    if "/" in result or any(ord(c) < 32 for c in result) or result != result.strip():
        raise ValidationFailed(
            f"{name} must not contain '/', control characters or outer spaces", field=name
        )
    return result


def project(value: object) -> str:
    return text(value, "project", MAX_PROJECT)


def _strings(value: object, name: str, max_length: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        raise ValidationFailed(
            f"{name} must be a list of at most {MAX_LIST_ITEMS} strings", field=name
        )
    if any(not isinstance(item, str) for item in value):
        raise ValidationFailed(f"{name} must hold strings only", field=name)
    return [text(item, name, max_length) for item in value]


def _steps(value: object, spec: Field) -> list[dict[str, Any]]:
    """A CUJ's steps: ``{order, action, expected, alternatives}`` each (intermute's CUJStep)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_STEPS:
        raise ValidationFailed(
            f"{spec.name} must be a list of at most {MAX_STEPS} steps", field=spec.name
        )
    steps = []
    for step in value:
        if not isinstance(step, dict):
            raise ValidationFailed(f"each of {spec.name} must be an object", field=spec.name)
        order = step.get("order", 0)
        if order is None:
            order = 0
        if isinstance(order, bool) or not isinstance(order, int) or abs(order) > MAX_ORDER:
            raise ValidationFailed(f"{spec.name}.order must be an integer", field=spec.name)
        steps.append(
            {
                "order": order,
                "action": text(step.get("action"), f"{spec.name}.action", spec.max_length),
                "expected": text(step.get("expected"), f"{spec.name}.expected", spec.max_length),
                "alternatives": _strings(
                    step.get("alternatives"), f"{spec.name}.alternatives", spec.max_length
                ),
            }
        )
    return steps


def _wire_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as Go writes them: ``alternatives`` left out when empty."""
    return [{k: v for k, v in step.items() if k != "alternatives" or v} for step in steps]


def _field(spec: Field, value: object) -> object:
    if spec.type == "number":
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationFailed(f"{spec.name} must be a number", field=spec.name)
        if not math.isfinite(value):
            raise ValidationFailed(f"{spec.name} must be finite", field=spec.name)
        return float(value)
    if spec.type == "list":
        return _strings(value, spec.name, spec.max_length) or None
    if spec.type == "steps":
        return _steps(value, spec) or None
    if spec.name.endswith("_id"):
        return record_id(value, spec.name, required=spec.required) or None
    result = text(value, spec.name, spec.max_length, required=spec.required)
    if spec.choices and result and result not in spec.choices:
        raise ValidationFailed(
            f"{spec.name} must be one of {', '.join(spec.choices)}", field=spec.name
        )
    return result or None


def record_values(kind: Kind, body: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The stored values of a create or a full (PUT) update: every field of the kind, a left
    out optional one empty (NULL), a left-out status the default on create and kept (None:
    not written) on update. Unknown fields are ignored, as Go's decoder does."""
    values: dict[str, Any] = {}
    for spec in kind.fields:
        value = _field(spec, body.get(spec.name))
        if spec.choices and value is None:
            value = spec.default if creating else None
            if value is None:
                continue
        values[spec.name] = value
    return values


def rfc3339(moment: datetime) -> str:
    """Go's RFC3339Nano for a UTC time: fractional seconds without trailing zeros, 'Z'."""
    utc = moment.astimezone(UTC)
    base = utc.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{utc.microsecond:06d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def to_wire(kind: Kind, row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as intermute's JSON, keys in its order."""
    out: dict[str, Any] = {"id": row["id"], "project": row["project"]}
    for spec in kind.fields:
        value = row[spec.name]
        if spec.type == "number":
            value = float(value)
        elif spec.type == "list":
            value = list(value or [])
        elif spec.type == "steps":
            value = _wire_steps(list(value or []))
        else:
            value = value or ""
        if spec.omit_empty and not value:
            continue
        out[spec.name] = value
    if kind.versioned:
        out["version"] = int(row["version"])
    out[kind.created_column] = rfc3339(row[kind.created_column])
    if kind.has_updated_at:
        out["updated_at"] = rfc3339(row["updated_at"])
    return out
