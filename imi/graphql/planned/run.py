"""Runs a plan level by level: one batch call per field and level, over all the parents.

Where the normal executor completes one object at a time (a resolve info, a resolver call,
often a coroutine and a task per field and object), this completes one field for every object
of a level at once and reads plain fields straight from the sources: database rows for the
types built from rows (``FromRow``, the same readers), Strawberry objects otherwise. Leaves are
serialized by the schema's own scalar and enum types, so values come out exactly as the
normal executor's. A null where the schema forbids one, or any failure, raises: the caller
answers the operation on the normal executor instead, which reports the error as usual.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import (
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    Undefined,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)

from imi.graphql.planned.loads import Loads
from imi.graphql.planned.plan import Kind, Level, PlannedField, Unsupported
from imi.graphql.rows import FromRow, Reader, field_readers

Read = Callable[[Any, str], Any]
# Calls a root field's own resolver: (planned field, root value) -> its value.
CallRoot = Callable[[PlannedField, Any], Awaitable[Any]]


def _plain(source: Any, name: str) -> Any:
    return getattr(source, name)


_ROW_READERS: dict[type[Any], dict[str, Reader]] = {}


def _row_readers(cls: type[Any]) -> dict[str, Reader]:
    readers = _ROW_READERS.get(cls)
    if readers is None:
        readers = _ROW_READERS[cls] = dict(field_readers(cls))
    return readers


def row_type(object_type: GraphQLObjectType, sources: list[Any]) -> type[Any] | None:
    """The ``FromRow`` type whose readers read ``sources`` (rows), or None for Strawberry
    objects (read by attribute)."""
    definition = object_type.extensions.get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    if not (isinstance(origin, type) and issubclass(origin, FromRow)):
        return None
    rows = [not isinstance(source, origin) for source in sources]
    if all(rows):
        return origin
    if any(rows):
        raise Unsupported(f"{object_type.name}: rows and objects in one level")
    return None


def read_field(cls: type[Any] | None, name: str) -> Reader:
    """How one plain field is read from each source of a level."""
    return operator.attrgetter(name) if cls is None else _row_readers(cls)[name]


def reader(cls: type[Any] | None) -> Read:
    """:func:`read_field` for the batch forms, which read a few fields by name."""
    if cls is None:
        return _plain
    readers = _row_readers(cls)
    return lambda source, name: readers[name](source)


class Runner:
    def __init__(self, schema: GraphQLSchema, context: Any, call_root: CallRoot) -> None:
        self.schema = schema
        self.loads = Loads(context)
        self.call_root = call_root

    async def level(
        self, object_type: GraphQLObjectType, fields: list[PlannedField], sources: list[Any]
    ) -> list[dict[str, Any]]:
        """The response objects of ``sources`` (all of ``object_type``), keys in field order."""
        out: list[dict[str, Any]] = [{} for _ in sources]
        if not sources:
            return out
        cls = row_type(object_type, sources)
        for planned in fields:
            key = planned.key
            if planned.kind is Kind.TYPENAME:
                for item in out:
                    item[key] = object_type.name
                continue
            assert planned.strawberry is not None and planned.return_type is not None
            if planned.kind is Kind.PLAIN:
                read = read_field(cls, planned.strawberry.python_name)
                values = [read(source) for source in sources]
            elif planned.kind is Kind.ROOT:
                values = [await self.call_root(planned, source) for source in sources]
            else:
                assert planned.batch is not None
                values = await planned.batch(
                    self.loads, Level(sources, reader(cls), planned.reads_below), planned.kwargs
                )
            completed = await self.complete(planned, planned.return_type, values)
            for item, value in zip(out, completed, strict=True):
                item[key] = value
        return out

    async def complete(
        self, planned: PlannedField, return_type: GraphQLOutputType, values: list[Any]
    ) -> list[Any]:
        """``values`` completed as ``return_type`` (in the order given)."""
        if is_non_null_type(return_type):
            completed = await self.complete(planned, return_type.of_type, values)
            if any(value is None for value in completed):
                raise Unsupported("null for a non-null field")  # the normal executor's error
            return completed
        present = [
            i for i, value in enumerate(values) if value is not None and value is not Undefined
        ]
        result: list[Any] = [None] * len(values)
        if not present:
            return result
        if is_list_type(return_type):
            lists = [list(values[i]) for i in present]
            items = [item for items in lists for item in items]
            done = await self.complete(planned, return_type.of_type, items)
            start = 0
            for i, items in zip(present, lists, strict=True):
                result[i] = done[start : start + len(items)]
                start += len(items)
            return result
        if is_leaf_type(return_type):
            coerce = return_type.coerce_output_value
            for i in present:
                coerced = coerce(values[i])
                if coerced is None or coerced is Undefined:
                    raise Unsupported("a leaf value that does not serialize")
                result[i] = coerced
            return result
        if is_object_type(return_type):
            object_type: GraphQLObjectType = return_type
            done = await self.level(
                object_type, planned.children[object_type.name], [values[i] for i in present]
            )
        elif is_abstract_type(return_type):
            done = await self.abstract(planned, [values[i] for i in present])
        else:
            raise Unsupported(f"output type {return_type}")
        for i, value in zip(present, done, strict=True):
            result[i] = value
        return result

    async def abstract(self, planned: PlannedField, values: list[Any]) -> list[Any]:
        """Values of a union or interface: grouped by their object type, one level each."""
        groups: dict[str, list[int]] = {}
        for i, value in enumerate(values):
            definition = getattr(type(value), "__strawberry_definition__", None)
            name = getattr(definition, "name", None)
            if name not in planned.children:
                raise Unsupported("a value of an unknown runtime type")
            groups.setdefault(name, []).append(i)
        result: list[Any] = [None] * len(values)
        for name, indexes in groups.items():
            object_type = self.schema.get_type(name)
            assert isinstance(object_type, GraphQLObjectType)
            done = await self.level(
                object_type, planned.children[name], [values[i] for i in indexes]
            )
            for i, value in zip(indexes, done, strict=True):
                result[i] = value
        return result
