"""GraphQL mutations, one module per area; each defines a `Mutation` class."""
