"""intermute's dialect on the way in: a request body is one JSON object, and anything else
(not UTF-8, not JSON, NaN/Infinity, nesting too deep for the parser, a wrong shape) is a 400
naming the field, before any work. Every coordination route reads its body here."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from imi.errors import ValidationFailed

Model = TypeVar("Model", bound=BaseModel)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def json_object(raw: bytes, *, empty_is_object: bool = False) -> dict[str, Any]:
    """The body as a dict; an empty body is ``{}`` only where the route allows it."""
    if empty_is_object and not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ValidationFailed(f"Malformed JSON body: {exc}"[:300], field="body") from None
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return body


def model_of(raw: bytes, model: type[Model], *, empty_is_object: bool = False) -> Model:
    """The body validated as ``model``; the first problem is the 400's message and field."""
    data = json_object(raw, empty_is_object=empty_is_object)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ValidationFailed(f"{where}: {first['msg']}", field=where) from None
