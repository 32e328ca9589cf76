"""Global ids for the Node interface (base64 of ``<TypeName>:<uuid>``) and every parse of an
id argument: queries (:func:`find_id`, unknown is null), mutations (:func:`parse_id`, unknown
is a NotFoundError on the input field)."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from uuid import UUID

from imi.errors import NotFound


@lru_cache(maxsize=16384)
def to_global_id(type_name: str, raw_id: UUID | str) -> str:
    # A pure function, asked for the same ids many times in one answer (a trace's edges
    # name its nodes again): kept for the most recent ids.
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, UUID]:
    """``(type name, uuid)``; a malformed id names nothing, so it is NotFound."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, raw = base64.urlsafe_b64decode(padded.encode()).decode().split(":", 1)
        return type_name, UUID(raw)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise NotFound("node", global_id, field="id") from None


def parse_any_id(value: str, type_name: str) -> UUID:
    """Accept a global id of ``type_name`` or a raw UUID (what REST clients hold)."""
    try:
        return UUID(value)
    except ValueError:
        pass
    kind, raw = from_global_id(value)
    if kind != type_name:
        raise NotFound(type_name, value, field="id")
    return raw


def find_id(value: str, type_name: str) -> UUID | None:
    """The UUID ``value`` names (a global id of ``type_name`` or a raw UUID), else None."""
    try:
        return parse_any_id(value, type_name)
    except NotFound:
        return None


def parse_id(value: str, type_name: str, field: str) -> UUID:
    """A global id of ``type_name`` or a raw UUID; anything else is NotFound on ``field``."""
    try:
        return parse_any_id(value, type_name)
    except NotFound:
        raise NotFound(type_name, value, field=field) from None


def optional_id(value: str | None, type_name: str, field: str) -> UUID | None:
    return None if value is None else parse_id(value, type_name, field)
