"""HTTP adapters: the REST compatibility API (``/api/v1``), health and shared middleware."""
