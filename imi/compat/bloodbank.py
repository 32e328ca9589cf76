"""Bloodbank producers' message shapes, read into an ``Incoming``: payload, ids, correlation.

Accepted bodies (all JSON objects):
- Bloodbank's EventEnvelope ``{event_id, event_type, payload, correlation_ids, source, ...}``;
- the v2 envelope ``{event_type, payload, metadata: {correlation_id, version}}``;
- Holyfields' variant (a single ``correlation_id``, ``source.trigger_type``);
- flat bodies (hookd's tool mutations, raw webhooks): the whole object is the payload.

Bounds, checked before any work is done: a body of at most ``MAX_BODY_BYTES`` (1 MiB), JSON
nested at most ``MAX_JSON_DEPTH`` (64) deep, integers within Python's digit limit. Anything
that cannot be decoded (not UTF-8, not JSON, too big or deep, any exception from decoding) is a
``BadMessage``: the consumer dead-letters it at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from imi.correlation import clean_correlation_id

M = TypeVar("M", bound=BaseModel)


class BadMessage(Exception):
    """The message cannot be understood: it goes to the dead-letter queue, never retried.

    ``field`` names the offending payload field when one is known (a command's failure event
    carries it in ``error.details.field``)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Incoming:
    routing_key: str
    message_id: str
    correlation_id: str | None
    payload: dict[str, Any]
    enveloped: bool  # False for flat bodies (the payload is the whole body)
    timestamp: datetime | None = None

    @property
    def action(self) -> str:
        """The routing key's last segment (``git.pr.merged`` -> ``merged``)."""
        return self.routing_key.rsplit(".", 1)[-1]


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    correlation_id: str | None = None


class _Envelope(BaseModel):
    """The parts of any accepted envelope iMi reads; everything else is ignored."""

    model_config = ConfigDict(extra="allow")
    event_id: str | None = None
    event_type: str | None = None
    timestamp: datetime | None = None
    payload: dict[str, Any]
    correlation_id: str | None = None
    correlation_ids: list[Any] = []
    metadata: _Metadata | None = None


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64


def decode_json(body: bytes) -> dict[str, Any]:
    """The body's JSON object, within the bounds; BadMessage for anything else."""
    if len(body) > MAX_BODY_BYTES:
        raise BadMessage(f"body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    if _too_deep(body):
        raise BadMessage(f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        # ValueError: not UTF-8, not JSON, NaN/Infinity, an integer beyond Python's digit limit.
        raise BadMessage(f"body is not JSON: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise BadMessage(f"body must be a JSON object, got {type(data).__name__}")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # no column or jsonb value can hold it


# A JSON string; an unterminated one runs to the end, so every attempt matches (linear time).
_STRING = re.compile(rb'"[^"\\]*(?:\\.?[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_ONE_KIND = bytes.maketrans(b"{}", b"[]")


def _too_deep(body: bytes) -> bool:
    """Whether ``[``/``{`` nest deeper than ``MAX_JSON_DEPTH`` outside strings, found without
    parsing (so before ``json.loads`` can recurse) in a few C-speed passes: each removes the
    innermost pairs. Malformed JSON may be misjudged; the parser refuses it anyway."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False  # the common case costs two counts
    brackets = _STRING.sub(b"", body).translate(_ONE_KIND, _NOT_BRACKETS)
    for _ in range(MAX_JSON_DEPTH):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def _is_envelope(data: dict[str, Any]) -> bool:
    if isinstance(data.get("payload"), dict):
        return True
    return "payload" in data and ("event_type" in data or "event_id" in data or "source" in data)


def parse_message(
    body: bytes,
    *,
    routing_key: str,
    amqp_message_id: str | None = None,
    amqp_correlation_id: str | None = None,
) -> Incoming:
    """Parse a message body; raise BadMessage for anything that is not an accepted shape."""
    data = decode_json(body)
    if _is_envelope(data):
        try:
            envelope = _Envelope.model_validate(data)
        except ValidationError as exc:
            raise BadMessage(f"invalid envelope: {exc.errors(include_url=False)}") from exc
        payload = envelope.payload
        event_id = _text(envelope.event_id)
        correlation = (
            _text(amqp_correlation_id)
            or _text(envelope.metadata.correlation_id if envelope.metadata else None)
            or _text(envelope.correlation_id)
            or next(filter(None, map(_text, envelope.correlation_ids)), None)
        )
        timestamp = envelope.timestamp
        key = routing_key or envelope.event_type or ""
    else:
        payload = data
        event_id = _text(data.get("event_id"))
        correlation = _text(amqp_correlation_id) or _text(data.get("correlation_id"))
        timestamp = None
        key = routing_key or _text(data.get("event_type")) or ""
    message_id = _text(amqp_message_id) or event_id or "sha256:" + hashlib.sha256(body).hexdigest()
    if len(message_id) > MAX_MESSAGE_ID:
        # Ids are stored in an index; a giant one is still the same id when hashed.
        message_id = "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return Incoming(
        routing_key=key,
        message_id=message_id,
        # An unusable id (too long, odd characters) is dropped; the message id stands in.
        correlation_id=clean_correlation_id(correlation),
        payload=payload,
        enveloped=payload is not data,
        timestamp=timestamp,
    )


MAX_MESSAGE_ID = 200


def validate(model: type[M], payload: dict[str, Any]) -> M:
    """``model`` from a payload; BadMessage (dead letter) when it does not fit."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]["loc"] if exc.error_count() else ()
        field = ".".join(str(part) for part in first) or None
        raise BadMessage(f"invalid payload: {error_summary(exc)}", field=field) from exc


def error_summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def pick(data: Any, *paths: str) -> Any:
    """The first non-empty value among dotted paths (``repository.clone_url``) in nested dicts."""
    for path in paths:
        value = data
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                break
        if value is not None and value != "":
            return value
    return None


def pick_text(data: Any, *paths: str) -> str | None:
    value = pick(data, *paths)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return _text(value)
    return None
