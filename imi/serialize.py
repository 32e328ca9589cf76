"""Turn table rows into plain JSON-able dicts (event payloads, API bodies)."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from sqlmodel import SQLModel


def row_dict(row: SQLModel) -> dict[str, Any]:
    """Every column of a table row under its database name (``meta`` comes out as ``metadata``)."""
    table = row.__table__  # type: ignore[attr-defined]
    return {column.name: getattr(row, key) for key, column in table.columns.items()}


def jsonable(value: Any) -> Any:
    """UUIDs, datetimes and enums become strings; containers are walked."""
    return to_jsonable_python(value)
