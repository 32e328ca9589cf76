"""Turn table rows into plain JSON-able dicts (event payloads, API bodies)."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import inspect
from sqlmodel import SQLModel


def row_dict(row: SQLModel) -> dict[str, Any]:
    """Every column of a table row under its database name (``meta`` comes out as ``metadata``)."""
    return columns_dict(type(row), row)


def columns_dict(model: type[SQLModel], row: Any) -> dict[str, Any]:
    """:func:`row_dict` for anything read like ``model``'s instances: an ORM instance or a plain
    row of its columns labelled by attribute name (``batches.plain_columns``)."""
    mapper = inspect(model)
    return {attr.columns[0].name: getattr(row, attr.key) for attr in mapper.column_attrs}


def jsonable(value: Any) -> Any:
    """UUIDs, datetimes and enums become strings; containers are walked."""
    return to_jsonable_python(value)
