"""GraphQL adapter (Strawberry): the graph of projects, work, links and components."""
