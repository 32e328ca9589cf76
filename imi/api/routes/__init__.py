"""REST routers, one per area, mounted under ``/api/v1`` by :mod:`imi.api.rest`."""
