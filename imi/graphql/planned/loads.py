"""The loaders of one planned run: each batch straight through the loader's batch function.

A planned level hands a loader all of its keys at once, so aiodataloader's per-key futures
and its scheduling buy nothing there; the loader's batch function (its domain query on the
request's read session) runs directly. What one run has loaded is kept, as the loader's own
cache would keep it, so a key asked for again at a deeper level costs no second statement.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, TypeVar

from imi.graphql.loaders import Loader

K = TypeVar("K", bound=Hashable)


class Loads:
    def __init__(self, context: Any) -> None:
        self.context = context
        self._seen: dict[type[Any], dict[Any, Any]] = {}

    async def __call__(self, loader_class: type[Loader[K, Any]], keys: list[K]) -> list[Any]:
        """The loader's value for each of ``keys``, in order."""
        seen = self._seen.setdefault(loader_class, {})
        missing = list(dict.fromkeys(key for key in keys if key not in seen))
        if missing:
            loader = self.context.loaders.get(loader_class)
            values = await loader.batch_load_fn(missing)
            seen.update(zip(missing, values, strict=True))
        return [seen[key] for key in keys]
