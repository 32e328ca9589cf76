"""Records on the wire: a JSON body checked against its kind (before any work), and a stored
row shaped as intermute answers it (Go's ``omitempty``, RFC 3339 UTC times)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from imi.coordination.records_kinds import (
    MAX_ID,
    MAX_LIST_ITEMS,
    MAX_PROJECT,
    Field,
    Kind,
)
from imi.errors import NotFound, ValidationFailed

# Server-kept fields a client may send back (the Go client sends its whole struct): ignored.
SERVER_FIELDS = frozenset({"created_at", "updated_at", "started_at"})


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object (400 otherwise, as intermute)."""
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"Malformed JSON body: {exc}"[:300], field="body") from None
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return body


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
        if value is None:
            return None
        if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
            raise ValidationFailed(
                f"{spec.name} must be a list of at most {MAX_LIST_ITEMS} strings", field=spec.name
            )
        items = [text(item, spec.name, spec.max_length) for item in value]
        return items or None
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
