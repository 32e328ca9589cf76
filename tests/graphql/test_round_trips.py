"""GraphQL reads at the floor (issue 14): no BEGIN/COMMIT and no ping around a query's
statements, for an unrestricted caller."""

from __future__ import annotations

from tests.graphql.conftest import GraphQL
from tests.round_trips import round_trips

REGISTER = """
mutation { registerProject(input: {remoteOrigin: "git@github.com:acme/rt.git"}) {
  ... on RegisterProjectPayload { project { id } } } }
"""
QUERY = """
query { projects(first: 5) { totalCount nodes { name counts { active }
  workItems(first: 5) { nodes { branchName } } } } }
"""


async def test_a_nested_query_sends_its_statements_and_nothing_else(graphql: GraphQL) -> None:
    await graphql.run(REGISTER)
    await graphql.run(QUERY)  # warm the pool
    async with round_trips(graphql.app.state.engine) as seen:
        result = await graphql.run(QUERY)
    assert result["projects"]["totalCount"] == 1
    assert seen.transaction_control == [], seen
    assert 1 <= len(seen.statements) <= 3, seen.statements
