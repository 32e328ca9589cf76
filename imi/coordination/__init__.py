"""Agent coordination (the intermute PRD, ``../shared/INTERMUTE.md``): agents and heartbeats,
messages with inboxes and threads, file reservations, orchestration records.

Domain layer: services take a session and flush, never commit; every state change writes its
event through the outbox. The intermute ``project`` is a free string, decided per request by
``imi.auth.policy.coordination_project``."""
