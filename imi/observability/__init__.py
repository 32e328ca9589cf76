"""Prometheus metrics: definitions (``metrics``), the HTTP middleware (``http``), the values
read at scrape time (``sampled``), the exposition (``exposition``) and the multiprocess
directory of ``imi serve --workers N`` (``multiprocess``).

A shared, adapter-level package: the adapters (REST, GraphQL, messaging) call its small hooks
where things happen; it imports none of them, and the domain never imports it.
"""
