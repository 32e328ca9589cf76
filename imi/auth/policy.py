"""The one authentication and authorization policy every surface asks.

``authenticate`` turns credentials (a bearer API key or JWT) and the caller's address into a
:class:`Principal` or raises ``Unauthenticated``; ``require`` checks the scope an action needs
or raises ``Forbidden``. Surfaces map their operations onto :class:`Action` and never decide
access themselves.
"""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.auth.keys import key_is_live, verify_secret
from imi.auth.models import Scope
from imi.auth.principal import Principal, reset_principal, set_principal
from imi.db import unit_of_work
from imi.errors import Forbidden, Unauthenticated
from imi.settings import Settings

MAX_TOKEN_LENGTH = 8192
KEY_CHECK_TTL = 0.5
_key_checks: dict[uuid.UUID, tuple[float, bool]] = {}
JWT_PROJECT_CLAIMS = ("projects", "project_ids", "imi_projects")


class Action(StrEnum):
    """What an operation does, and so the scope it needs (002 section 8)."""

    READ = "read"  # imi:read
    WRITE = "write"  # imi:write: create and update
    ADMIN = "admin"  # imi:admin: deletes, deactivation, maintenance, key management

    @property
    def scope(self) -> Scope:
        return {Action.READ: Scope.READ, Action.WRITE: Scope.WRITE, Action.ADMIN: Scope.ADMIN}[self]


def is_loopback(host: str | None) -> bool:
    """A caller on this machine: a loopback address, or a Unix socket (no address)."""
    if host is None:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when absent)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <api key or JWT>'")
    token = token.strip()
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("bearer token too long")
    return token


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    token: str | None,
    client_host: str | None,
) -> Principal:
    """Who is calling. A token is always checked when given (a bad one is refused even where
    none is needed); without one, ``local-open`` admits loopback callers and ``off`` everyone."""
    if token is not None:
        if token.startswith("imi_"):
            return await _key_principal(sessions, token)
        return _jwt_principal(token, settings)
    if settings.auth == "off":
        return Principal(f"open:{client_host or 'unix'}", "open", Scope.ADMIN)
    if settings.auth == "local-open" and is_loopback(client_host):
        return Principal(f"local:{client_host or 'unix'}", "local", Scope.ADMIN)
    raise Unauthenticated("an API key or token is required (Authorization: Bearer ...)")


async def credentials_live(
    sessions: async_sessionmaker[AsyncSession], principal: Principal
) -> bool:
    """Whether a long-lived connection's credentials still hold: its key is not revoked or
    expired, its token not expired. Keyless principals (local, open) always hold."""
    if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
        return False
    if principal.key_id is None:
        return True
    # Many subscriptions of one key share one check per interval.
    now = time.monotonic()
    cached = _key_checks.get(principal.key_id)
    if cached is not None and now - cached[0] < KEY_CHECK_TTL:
        return cached[1]
    # Looked up as the service itself: a restricted principal's role cannot read api_keys.
    token = set_principal(None)
    try:
        async with sessions() as session:
            live = await key_is_live(session, principal.key_id)
    finally:
        reset_principal(token)
    if len(_key_checks) > 10_000:
        _key_checks.clear()
    _key_checks[principal.key_id] = (now, live)
    return live


def require(principal: Principal, action: Action) -> None:
    if not principal.allows(action.scope):
        raise Forbidden(
            f"this {principal.kind} has scope {principal.scope.value}; "
            f"{action.value} needs {action.scope.value}",
            needed_scope=action.scope.value,
        )


def require_project(principal: Principal, project_id: uuid.UUID) -> None:
    if not principal.sees_project(project_id):
        raise Forbidden(f"this {principal.kind} is not allowed on project {project_id}")


def coordination_project(principal: Principal, requested: str | None) -> str:
    """The intermute ``project`` a coordination request works in (agents, messages,
    reservations, domain records), decided once for every surface.

    intermute's projects are free strings (``''`` when omitted); a key resolves to its project.
    Here a key or token restricted to iMi projects may name one of those projects by id (its
    UUID as text), and a request that omits the project takes the key's project when it has
    exactly one; naming another project is Forbidden (403). Unrestricted callers may use any
    project string, and omitting it means ``''``, as in intermute."""
    value = (requested or "").strip()
    if not principal.restricted:
        return value
    allowed = sorted(str(p) for p in principal.project_ids or ())
    if not value:
        if len(allowed) == 1:
            return allowed[0]
        raise Forbidden(
            f"this {principal.kind} is restricted to {len(allowed)} projects: name one "
            "with the project field"
        )
    if value not in allowed:
        raise Forbidden(f"this {principal.kind} is not allowed on project {value}")
    return value


async def _key_principal(sessions: async_sessionmaker[AsyncSession], secret: str) -> Principal:
    async with unit_of_work(sessions) as session:
        key = await verify_secret(session, secret)
    if key is None:
        raise Unauthenticated("unknown, revoked or expired API key")
    projects = frozenset(key.project_ids) if key.project_ids is not None else None
    return Principal(
        f"key:{key.id}",
        "key",
        Scope(key.scope),
        projects,
        key_id=key.id,
        expires_at=key.expires_at,
    )


def _jwt_principal(token: str, settings: Settings) -> Principal:
    keys = _verification_keys(settings)
    if not keys:
        raise Unauthenticated("bearer JWTs are not configured on this server")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated("malformed bearer token") from None
    algorithm = str(header.get("alg"))
    key = keys.get(algorithm)
    if key is None:
        raise Unauthenticated(f"tokens signed with {algorithm[:20]!r} are not accepted")
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid bearer token: {exc}") from None
    return Principal(
        f"jwt:{str(claims.get('sub') or '?')[:200]}",
        "jwt",
        _scope_claim(claims.get("scope", claims.get("scp"))),
        _project_claim(claims),
        expires_at=_expiry(claims["exp"]),
    )


def _expiry(exp: Any) -> datetime | None:
    """The token's expiry as a time; None when it lies past what a datetime holds."""
    try:
        return datetime.fromtimestamp(float(exp), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _scope_claim(value: Any) -> Scope:
    """The highest iMi scope the token grants (``scope`` is space-separated, or a list)."""
    names = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    granted = [Scope(n) for n in names if isinstance(n, str) and n in Scope._value2member_map_]
    if not granted:
        raise Unauthenticated("the token grants no imi scope (imi:read, imi:write, imi:admin)")
    return max(granted, key=lambda scope: scope.rank)


def _project_claim(claims: dict[str, Any]) -> frozenset[uuid.UUID] | None:
    for name in JWT_PROJECT_CLAIMS:
        if name in claims:
            value = claims[name]
            if not isinstance(value, list) or not value:
                raise Unauthenticated(f"claim {name} must be a non-empty list of project ids")
            try:
                return frozenset(uuid.UUID(str(item)) for item in value)
            except ValueError:
                raise Unauthenticated(f"claim {name} holds a malformed project id") from None
    return None


def check_auth_settings(settings: Settings) -> None:
    """Fail at start-up on a JWT key file that cannot be read or parsed."""
    if settings.jwt_public_key_file is not None:
        try:
            _public_keys(settings.jwt_public_key_file)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise ValueError(
                f"IMI_JWT_PUBLIC_KEY_FILE {settings.jwt_public_key_file}: {exc}"
            ) from exc


def _verification_keys(settings: Settings) -> dict[str, Any]:
    """Algorithm -> key: HS256 from the secret, RS256/ES256 from the public key file."""
    keys: dict[str, Any] = {}
    if settings.jwt_secret:
        keys["HS256"] = settings.jwt_secret
    if settings.jwt_public_key_file is not None:
        keys.update(_public_keys(settings.jwt_public_key_file))
    return keys


@lru_cache(maxsize=4)
def _public_keys(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if text.lstrip().startswith("{"):
        jwks = jwt.PyJWKSet.from_dict(json.loads(text))
        found: dict[str, Any] = {}
        for jwk in jwks.keys:
            algorithm = jwk.algorithm_name if jwk.algorithm_name != "UNKNOWN" else None
            for name in [algorithm] if algorithm else ["RS256", "ES256"]:
                found.setdefault(name, jwk.key)
        return found
    return {"RS256": text, "ES256": text}
