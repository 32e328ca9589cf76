"""Who is calling and what they may do: API keys, JWTs, scopes, project restrictions, modes.

One policy every surface asks (REST, GraphQL over HTTP and WebSocket, and the surfaces to come);
it imports no web framework.
"""
