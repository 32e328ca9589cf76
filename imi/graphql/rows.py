"""Rows mapped to Strawberry types by field name: one converter for every type.

A type that mixes in :class:`FromRow` gets ``from_row(row)``: each of its plain fields (no
resolver) reads the row's attribute of the same name, converted to the field's enum when it
is one. A few names differ by rule: ``uuid`` reads ``id``, ``metadata`` reads ``meta``, and
``id`` is the global id (``Type:uuid``). A field read any other way is named in ``computed``.
Adding a column to a type is adding its field.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

from strawberry.types.base import StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition

from imi.graphql.ids import to_global_id

Reader = Callable[[Any], Any]

# GraphQL field name -> the row attribute it reads.
ROW_NAMES = {"uuid": "id", "metadata": "meta"}


class FromRow:
    """Mixin: ``from_row`` builds the Strawberry type from a row's same-named attributes."""

    # Fields read otherwise than by name: field name -> row -> value.
    computed: ClassVar[Mapping[str, Reader]] = {}

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(**{name: read(row) for name, read in _readers(cls)})


def _enum_reader(attr: str, enum: type[Any]) -> Reader:
    def read(row: Any) -> Any:
        value = getattr(row, attr)
        return None if value is None else enum(value)

    return read


def _global_id_reader(type_name: str) -> Reader:
    return lambda row: to_global_id(type_name, row.id)


_READERS: dict[type[Any], tuple[tuple[str, Reader], ...]] = {}


def _readers(cls: type[Any]) -> tuple[tuple[str, Reader], ...]:
    """How each plain field of ``cls`` is read from a row (worked out once per type)."""
    readers = _READERS.get(cls)
    if readers is None:
        readers = _READERS[cls] = tuple(_plan(cls))
    return readers


def field_readers(cls: type[Any]) -> tuple[tuple[str, Reader], ...]:
    """``(field name, row -> value)`` for each plain field of a ``FromRow`` type: the values
    ``from_row`` would give its fields (the planned executor reads rows with them)."""
    return _readers(cls)


def _plan(cls: type[Any]) -> list[tuple[str, Reader]]:
    definition = cls.__strawberry_definition__
    readers: list[tuple[str, Reader]] = []
    for field in definition.fields:
        if field.base_resolver is not None:
            continue
        name = field.python_name
        attr = ROW_NAMES.get(name, name)
        field_type = field.type
        if isinstance(field_type, StrawberryOptional):
            field_type = field_type.of_type
        if name in cls.computed:
            reader = cls.computed[name]
        elif name == "id":
            reader = _global_id_reader(definition.name)
        elif isinstance(field_type, StrawberryEnumDefinition):
            reader = _enum_reader(attr, field_type.wrapped_cls)
        else:
            reader = operator.attrgetter(attr)
        readers.append((name, reader))
    return readers
