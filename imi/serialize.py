"""Turn table rows into plain JSON-able dicts (event payloads, API bodies)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
from pydantic_core import to_jsonable_python
from sqlalchemy import inspect
from sqlmodel import SQLModel


def row_dict(row: SQLModel) -> dict[str, Any]:
    """Every column of a table row under its database name (``meta`` comes out as ``metadata``)."""
    return columns_dict(type(row), row)


def columns_dict(model: type[SQLModel], row: Any) -> dict[str, Any]:
    """:func:`row_dict` for anything read like ``model``'s instances: an ORM instance or a plain
    row of its columns labelled by attribute name (``batches.plain_columns``)."""
    names = _COLUMN_NAMES.get(model)
    if names is None:
        # Plain str: SQLAlchemy's names are a str subclass, which orjson refuses as a key.
        names = _COLUMN_NAMES[model] = tuple(
            (str(attr.columns[0].name), attr.key) for attr in inspect(model).column_attrs
        )
    return {name: getattr(row, key) for name, key in names}


_COLUMN_NAMES: dict[type[SQLModel], tuple[tuple[str, str], ...]] = {}


def jsonable(value: Any) -> Any:
    """UUIDs, datetimes and enums become strings; containers are walked."""
    return to_jsonable_python(value)


def _default(value: Any) -> Any:
    # asyncpg hands back its own UUID class; orjson only writes uuid.UUID itself and would
    # otherwise send every row with an id down the slow path below.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError


def dumps_json(value: Any) -> bytes:
    """``value`` as compact JSON: orjson (UUIDs and datetimes as pydantic writes them, ``Z``
    for UTC), or pydantic's encoder for what orjson cannot write (an integer past 64 bits in
    someone's metadata, a model)."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z)
    except TypeError:
        return json.dumps(to_jsonable_python(value), separators=(",", ":")).encode()
