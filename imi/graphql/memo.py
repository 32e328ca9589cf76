"""Answers about a parsed document, kept while the document object is reused.

``PreparedDocuments`` (imi/graphql/limits.py) hands every request with the same query text
the same parsed document, so a check that depends only on the document (its directives, its
string literals) need walk it once, not once per request. Keyed by identity: two documents
that look alike (graphql-core nodes compare by content) never share an answer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """``compute(node)`` once per node object, for the ``size`` most recently used."""

    def __init__(self, compute: Callable[[K], V], size: int = 256) -> None:
        self.compute = compute
        self.size = size
        self._entries: OrderedDict[int, tuple[K, V]] = OrderedDict()

    def __call__(self, node: K) -> V:
        key = id(node)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is node:
            self._entries.move_to_end(key)
            return entry[1]
        value = self.compute(node)
        self._entries[key] = (node, value)  # holding the node keeps its id from being reused
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value
