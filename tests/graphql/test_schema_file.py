"""schema.graphql at the repository root is the exported SDL; it must not drift."""

from pathlib import Path

from imi.graphql.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    committed = SCHEMA_FILE.read_text()
    assert committed.strip() == schema.as_str().strip(), (
        "schema.graphql is stale: run `uv run imi export-schema > schema.graphql`"
    )
