"""Manifests are user input: bounded, no alias bombs, clear errors for odd values."""

from __future__ import annotations

import pytest

from imi.components.manifest import MAX_MANIFEST_ENTRIES, parse_manifest
from imi.errors import ValidationFailed


def test_yaml_aliases_are_refused() -> None:
    bomb = "a: &a [x, x, x]\nb: [*a, *a, *a]\ncomponents: {}\n"
    with pytest.raises(ValidationFailed, match="aliases are not allowed"):
        parse_manifest(bomb, "yaml")


@pytest.mark.parametrize(
    ("body", "fmt", "message"),
    [
        ('[components]\nx = { kind = ["a"] }', "toml", "kind"),
        ("components:\n  x: {note: !!binary /w==}", "yaml", "binary"),
        ("components:\n  x: {note: .nan}", "yaml", "storable number"),
    ],
)
def test_odd_values_are_validation_errors(body: str, fmt: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_manifest(body, fmt)  # type: ignore[arg-type]


def test_size_limits() -> None:
    many = "[components]\n" + "".join(f"c{i} = {{}}\n" for i in range(MAX_MANIFEST_ENTRIES + 1))
    with pytest.raises(ValidationFailed, match="more than"):
        parse_manifest(many)
    with pytest.raises(ValidationFailed, match="larger than"):
        parse_manifest("# " + "x" * 300_000 + "\n[components]\n")
