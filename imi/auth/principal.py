"""Who is calling, as every surface sees it after authentication."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from imi.auth.models import Scope

PrincipalKind = Literal["key", "jwt", "local", "open", "trusted"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its scope and, when restricted, the projects it may touch.

    ``subject`` names it in logs and rate limits: ``key:<id>``, ``jwt:<sub>``,
    ``local:<address>`` (a loopback caller without a key in ``local-open`` mode), ``open``
    (``IMI_AUTH=off``) or ``trusted:<source>`` (bus commands, the server's own jobs)."""

    subject: str
    kind: PrincipalKind
    scope: Scope
    project_ids: frozenset[uuid.UUID] | None = None  # None: every project
    key_id: uuid.UUID | None = None
    expires_at: datetime | None = None  # of the key or token

    @property
    def restricted(self) -> bool:
        return self.project_ids is not None

    def allows(self, needed: Scope) -> bool:
        return self.scope.allows(needed)

    def sees_project(self, project_id: uuid.UUID) -> bool:
        return self.project_ids is None or project_id in self.project_ids

    @property
    def rate_key(self) -> str:
        """The rate limit bucket: one per key or token subject, one per local address."""
        return self.subject


# The principal of the work in progress (a request, a subscription's result). Unset means
# trusted internal work (consumers, the relay, migrations): no restriction applies.
_current: ContextVar[Principal | None] = ContextVar("imi_principal", default=None)


def current_principal() -> Principal | None:
    return _current.get()


def set_principal(principal: Principal | None) -> object:
    """Set for the current context; returns a token for :func:`reset_principal`."""
    return _current.set(principal)


def reset_principal(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
