"""The README documents every setting; this fails when one is added without a row."""

from pathlib import Path

from imi.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    missing = [
        f"IMI_{name.upper()}"
        for name in Settings.model_fields
        if f"| `IMI_{name.upper()}` |" not in README
    ]
    assert missing == []


def test_quick_start_is_the_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [
        line.split("#")[0].strip()
        for line in quick_start.split("```sh", 1)[1].split("```", 1)[0].splitlines()
        if line.strip()
    ]
    assert commands == ["uv run imi serve", "uv run pytest"]


def test_readme_graphql_examples_are_valid_against_the_schema() -> None:
    from graphql import parse, validate

    from imi.graphql.schema import schema

    blocks = [part.split("```", 1)[0] for part in README.split("```graphql\n")[1:]]
    assert len(blocks) >= 4
    for block in blocks:
        errors = validate(schema._schema, parse(block))
        assert errors == [], (block, errors)
