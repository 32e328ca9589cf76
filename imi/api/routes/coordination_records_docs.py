"""OpenAPI of the orchestration records, written from the kind table: each kind's record model
(with an example), its request body, its query parameters, the documented answers."""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ConfigDict, create_model

from imi.api.envelope import error_responses
from imi.coordination.records_kinds import (
    DEFAULT_LIMIT,
    KINDS,
    MAX_ID,
    MAX_LIMIT,
    MAX_LIST_ITEMS,
    MAX_STEPS,
    Field,
    Kind,
)

EXAMPLE_TIME = "2026-11-27T12:00:00.123456Z"


class Step(BaseModel):
    """One step of a critical user journey (intermute's CUJStep)."""

    order: int
    action: str
    expected: str
    alternatives: list[str] | None = None


class FeatureLink(BaseModel):
    """A journey's link to a feature (intermute's CUJFeatureLink)."""

    cuj_id: str
    feature_id: str
    project: str
    linked_at: str


def _python_type(spec: Field) -> Any:
    return {"text": str, "list": list[str], "number": float, "steps": list[Step]}[spec.type]


def example_record(kind: Kind) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"{kind.name}-1", "project": "my-project"}
    out |= {spec.name: spec.example for spec in kind.fields}
    if kind.versioned:
        out["version"] = 1
    out[kind.created_column] = EXAMPLE_TIME
    if kind.has_updated_at:
        out["updated_at"] = EXAMPLE_TIME
    return out


def _record_model(kind: Kind) -> type[BaseModel]:
    fields: dict[str, Any] = {"id": (str, ...), "project": (str, ...)}
    for spec in kind.fields:
        kind_type = _python_type(spec)
        fields[spec.name] = (kind_type | None, None) if spec.omit_empty else (kind_type, ...)
    if kind.versioned:
        fields["version"] = (int, ...)
    fields[kind.created_column] = (str, ...)
    if kind.has_updated_at:
        fields["updated_at"] = (str, ...)
    config = ConfigDict(json_schema_extra={"examples": [example_record(kind)]})
    name = f"{kind.name.capitalize()}Record"
    return cast(type[BaseModel], create_model(name, __config__=config, **fields))


MODELS = {kind.name: _record_model(kind) for kind in KINDS}


def _schema(spec: Field) -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST_ITEMS}
    step = {
        "type": "object",
        "properties": {
            "order": {"type": "integer"},
            "action": {"type": "string", "maxLength": spec.max_length},
            "expected": {"type": "string", "maxLength": spec.max_length},
            "alternatives": strings,
        },
    }
    shapes: dict[str, dict[str, Any]] = {
        "text": {"type": "string", "maxLength": spec.max_length},
        "list": strings,
        "number": {"type": "number"},
        "steps": {"type": "array", "items": step, "maxItems": MAX_STEPS},
    }
    schema = shapes[spec.type]
    if spec.choices:
        schema = {**schema, "enum": list(spec.choices), "default": spec.default}
    return schema


def body_docs(
    properties: dict[str, Any], required: list[str], example: dict[str, Any]
) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON object body (the routes parse it themselves)."""
    schema = {"type": "object", "properties": properties, "required": required}
    content = {"application/json": {"schema": schema, "example": example}}
    return {"requestBody": {"required": True, "content": content}}


def input_docs(kind: Kind, *, update: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": {"type": "string", "maxLength": MAX_ID, "description": "generated when absent"},
        "project": {"type": "string", "description": "'' when absent; a restricted key's own"},
    }
    properties |= {spec.name: _schema(spec) for spec in kind.fields}
    if kind.versioned and update:
        properties["version"] = {
            "type": "integer",
            "description": "the version read; the update applies only from it (else 409)",
        }
    example = {k: v for k, v in example_record(kind).items() if k in properties}
    if not update:
        example.pop("version", None)
    return body_docs(properties, [s.name for s in kind.fields if s.required], example)


def reference_docs(name: str, example: str) -> dict[str, Any]:
    """The body of assign, link, unlink: one string field."""
    properties = {name: {"type": "string", "maxLength": MAX_ID}}
    return body_docs(properties, [name], {name: example})


def query_docs(kind: Kind, *, listing: bool) -> dict[str, Any]:
    names = ["project", *kind.filters] if listing else ["project"]
    params = [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names
    ]
    if listing:
        params += [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                "description": f"page size, default {DEFAULT_LIMIT}",
            },
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        ]
    return {"parameters": params}


def responses(
    status: int, description: str, model: Any = None, *errors: int
) -> dict[int | str, dict[str, Any]]:
    success: dict[str, Any] = {"description": description}
    if model is not None:
        success["model"] = model
    return {status: success, **error_responses(*errors)}
