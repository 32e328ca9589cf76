"""Every metadata input is checked before it reaches the database or an event."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from imi.models_base import MAX_METADATA_DEPTH
from imi.projects.models import ProjectCreate


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "metadata",
    [nested(MAX_METADATA_DEPTH + 1), {"a": "x\x00y"}, {"a": float("nan")}, {"a": [float("inf")]}],
)
def test_unstorable_metadata_is_rejected(metadata: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ProjectCreate(remote_origin="git@github.com:a/b.git", metadata=metadata)


def test_ordinary_metadata_passes() -> None:
    value = {
        "team": "core",
        "tags": ["a", 1, 2.5, None, True],
        "deep": nested(MAX_METADATA_DEPTH - 1),
    }
    assert ProjectCreate(remote_origin="git@github.com:a/b.git", metadata=value).metadata == value
