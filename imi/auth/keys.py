"""API keys: create (the secret is shown once), list, revoke, verify.

A secret reads ``imi_<prefix>_<random>``: the prefix (8 hex characters) finds the row, the
whole secret's sha256 is compared in constant time. Secrets carry 256 bits of randomness, so a
plain hash is as strong as a slow one here and costs nothing per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.auth.models import MAX_KEY_NAME, ApiKey, Scope
from imi.batches import among
from imi.errors import NotFound, ValidationFailed
from imi.projects.models import Project

SECRET_PREFIX = "imi_"
# How stale ``last_used_at`` may get: a key in constant use is not rewritten per request.
LAST_USED_PRECISION = timedelta(minutes=1)
MAX_KEY_PROJECTS = 100


class KeyInfo(BaseModel):
    """What every surface shows of a key: never its secret or hash."""

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The public part of the secret (imi_<prefix>_...).")
    scope: str = Field(description="imi:read, imi:write or imi:admin.")
    project_ids: list[uuid.UUID] | None = Field(
        description="The projects the key is restricted to; null: every project."
    )
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    active: bool = Field(description="Neither revoked nor expired.")

    @classmethod
    def of(cls, key: ApiKey) -> KeyInfo:
        fields = {name: getattr(key, name) for name in cls.model_fields if name != "active"}
        return cls(**fields, active=is_usable(key, datetime.now(UTC)))


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once; only its hash is stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _prefix_of(secret: str) -> str | None:
    if not secret.startswith(SECRET_PREFIX):
        return None
    prefix, sep, rest = secret[len(SECRET_PREFIX) :].partition("_")
    return prefix if sep and rest and len(prefix) == 8 else None


def parse_scope(value: str, field: str = "scope") -> Scope:
    try:
        return Scope(value.strip())
    except ValueError:
        allowed = ", ".join(s.value for s in Scope)
        raise ValidationFailed(
            f"Invalid scope {value[:40]!r}; expected one of {allowed}", field=field
        ) from None


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    scope: Scope,
    project_ids: Iterable[uuid.UUID] | None = None,
    expires_at: datetime | None = None,
) -> CreatedKey:
    """A new key; ``project_ids`` restricts it to those projects (they must exist)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_KEY_NAME:
        raise ValidationFailed(f"name must be 1 to {MAX_KEY_NAME} characters", field="name")
    projects = list(dict.fromkeys(project_ids)) if project_ids is not None else None
    if projects is not None:
        if not projects or len(projects) > MAX_KEY_PROJECTS:
            raise ValidationFailed(
                f"a restricted key names 1 to {MAX_KEY_PROJECTS} projects", field="project_ids"
            )
        known = select(col(Project.id)).where(among(col(Project.id), projects))
        found = set((await session.scalars(known)).all())
        missing = [p for p in projects if p not in found]
        if missing:
            raise NotFound("project", missing[0], field="project_ids")
    if expires_at is not None:
        expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
    prefix = secrets.token_hex(4)
    secret = f"{SECRET_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scope=scope.value,
        project_ids=projects,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    await session.refresh(key)
    return CreatedKey(key, secret)


_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``90m`` from now, or an ISO 8601 time (naive is UTC)."""
    text = text.strip()
    now = now or datetime.now(UTC)
    unit = _UNITS.get(text[-1:].lower())
    if unit is not None and text[:-1].isdigit() and 0 < int(text[:-1]) <= 100_000:
        return now + int(text[:-1]) * unit
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            "expires must be like 30d, 12h, 90m or an ISO 8601 time", field="expires"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))
    return list((await session.scalars(stmt)).all())


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key (idempotent: a revoked key keeps its first revocation time)."""
    stmt = (
        update(ApiKey)
        .where(col(ApiKey.id) == key_id)
        .values(revoked_at=func.coalesce(col(ApiKey.revoked_at), func.now()), updated_at=func.now())
        .returning(ApiKey)
    )
    key = (await session.execute(stmt, execution_options={"populate_existing": True})).scalar()
    if key is None:
        raise NotFound("api key", key_id, field="key_id")
    return key


def is_usable(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


async def verify_secret(session: AsyncSession, secret: str) -> ApiKey | None:
    """The live key this secret belongs to, or None (unknown, wrong, revoked, expired).

    Records the use (``last_used_at``) at most once a minute per key."""
    prefix = _prefix_of(secret)
    if prefix is None:
        return None
    key = (await session.scalars(select(ApiKey).where(col(ApiKey.prefix) == prefix))).first()
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    now = datetime.now(UTC)
    if not is_usable(key, now):
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        await session.execute(
            update(ApiKey).where(col(ApiKey.id) == key.id).values(last_used_at=func.now())
        )
    return key


async def key_is_live(session: AsyncSession, key_id: uuid.UUID) -> bool:
    """Whether a key is still usable (long-lived connections re-check this)."""
    key = await session.get(ApiKey, key_id, populate_existing=True)
    return key is not None and is_usable(key, datetime.now(UTC))
