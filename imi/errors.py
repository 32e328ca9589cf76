"""Domain errors. Adapters translate them (REST envelope, GraphQL union, failure event)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details: dict[str, Any] = {"field": field, **details} if field else dict(details)


class NotFound(DomainError):
    """The addressed entity does not exist."""

    code = "NOT_FOUND"

    def __init__(self, entity: str, key: object, *, field: str | None = None) -> None:
        super().__init__(f"{entity} {key} not found", field=field, entity=entity, key=str(key))
        self.entity = entity


class Conflict(DomainError):
    """The request contradicts existing state (duplicate, illegal transition)."""

    code = "CONFLICT"


class ValidationFailed(DomainError):
    """The input is malformed or violates a business rule about its shape."""

    code = "VALIDATION_ERROR"


class Unauthenticated(DomainError):
    """No credentials, or credentials that name no valid key or token (HTTP 401)."""

    code = "UNAUTHORIZED"


class Forbidden(DomainError):
    """Valid credentials without the scope or the project access the operation needs (403)."""

    code = "FORBIDDEN"
