"""The MCP adapter: iMi's tools for coding agents (official MCP SDK), over stdio and at /mcp.

Tools call the domain services the REST routes call, answer with the same JSON ``data`` and
write the same events; each call is one transaction, as one HTTP request is.
"""
