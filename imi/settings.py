"""Runtime configuration: every knob is an ``IMI_*`` environment variable (12-factor)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """All of iMi's settings. Field names map to ``IMI_<NAME>`` variables."""

    model_config = SettingsConfigDict(env_prefix="IMI_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="postgresql://user:pass@host:port/db. Unset: run an embedded PostgreSQL.",
    )
    data_dir: Path = Field(
        default=Path(".imi"), description="Where the embedded PostgreSQL keeps its data."
    )
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds.")
    port: int = Field(default=8080, ge=1, le=65535, description="HTTP port.")
    workers: int | None = Field(
        default=None,
        ge=0,
        description="HTTP worker processes `imi serve` runs (0: one per CPU core; unset: one "
        "per core with IMI_DATABASE_URL, one on the embedded default). Migrations and the "
        "embedded PostgreSQL stay in the parent process, once.",
    )
    rabbitmq_url: str | None = Field(
        default=None, description="amqp:// URL of Bloodbank's RabbitMQ. Unset: events wait."
    )
    bloodbank_exchange: str = Field(
        default="bloodbank.events.v1", description="Topic exchange events are published to."
    )
    queue_prefix: str = Field(
        default="",
        description="Prefix for the queue and dead-letter names iMi declares (isolates "
        "several environments on one broker).",
    )
    publish_v2_events: bool = Field(
        default=True, description="Also emit the v2 event names (imi.worktree.*)."
    )
    log_level: LogLevel = Field(default="INFO", description="Log level.")
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="auto (console on a terminal, json otherwise), json (one object per line) "
        "or console (human-readable).",
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply database migrations when `imi serve` starts."
    )
    db_pool_size: int = Field(default=10, ge=1, description="Connections kept per process.")
    db_max_overflow: int = Field(default=20, ge=0, description="Extra connections under load.")
    ticket_key_pattern: str = Field(
        default=r"[A-Z][A-Z0-9]+-\d+",
        description="Regex for ticket keys found in branch names (auto-link).",
    )
    graphql_max_depth: int = Field(
        default=15, ge=1, description="Deepest GraphQL selection accepted (introspection exempt)."
    )
    graphql_max_aliases: int = Field(
        default=30, ge=1, description="Most aliases one GraphQL document may use."
    )
    graphql_max_tokens: int = Field(
        default=5000, ge=1, description="Most tokens one GraphQL document may contain."
    )
    graphql_max_cost: int = Field(
        default=250_000,
        ge=1,
        description="Highest estimated GraphQL query cost (scalar values the answer may hold).",
    )
    graphql_max_selections: int = Field(
        default=10_000,
        ge=1,
        description="Most fields one GraphQL document may expand to, each fragment counted "
        "as often as it is spread.",
    )
    graphql_max_fragments: int = Field(
        default=100, ge=0, description="Most fragment definitions one GraphQL document may hold."
    )
    graphql_max_document_bytes: int = Field(
        default=100_000,
        ge=1,
        description="Largest GraphQL document (the query text, UTF-8 bytes), refused before "
        "parsing.",
    )
    graphql_max_variables_depth: int = Field(
        default=64, ge=1, description="Deepest nesting of arrays and objects in GraphQL variables."
    )
    graphql_timeout_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Longest one GraphQL query or mutation may run (seconds; 0: no limit); "
        "then it is cancelled and answered with a TIMEOUT error.",
    )
    ws_max_connections: int = Field(
        default=2000,
        ge=0,
        description="Most GraphQL WebSocket connections per process (0: no cap).",
    )
    ws_max_connections_per_client: int = Field(
        default=100,
        ge=0,
        description="Most GraphQL WebSocket connections per client address and per API key or "
        "token, and agent push sockets per key or token (per address without one) (0: no cap).",
    )
    ws_max_subscriptions_per_connection: int = Field(
        default=100, ge=1, description="Most operations in flight on one GraphQL WebSocket."
    )
    ws_max_subscriptions: int = Field(
        default=10_000,
        ge=0,
        description="Most GraphQL subscriptions in flight per process (0: no cap).",
    )
    consumer_prefetch: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Messages each consumed queue hands one process at once; they are handled "
        "concurrently, in order per subject.",
    )
    relay_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds between the outbox relay's safety polls while NOTIFY wakes it.",
    )
    event_retention_days: int = Field(
        default=30,
        ge=0,
        description="Days published events stay in the events table (0: keep forever).",
    )
    reservation_sweep_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Seconds between passes of the file reservation sweeper (0: off).",
    )
    reservation_stale_agent_seconds: float = Field(
        default=300.0,
        gt=0,
        le=7 * 24 * 3600,
        description="A reservation's agent is stale (and the sweeper releases it) when its "
        "last heartbeat is older than this.",
    )
    stale_idle_hours: int = Field(
        default=72,
        ge=1,
        le=8760,
        description="Active work is stale (IDLE) once its last activity is this many hours old.",
    )
    stale_behind_trunk: int = Field(
        default=50,
        ge=1,
        le=1_000_000,
        description="Active work is stale (FAR_BEHIND_TRUNK) at this many commits behind trunk.",
    )
    stale_uncommitted_idle_hours: int = Field(
        default=24,
        ge=1,
        le=8760,
        description="Active work with uncommitted changes is stale (UNCOMMITTED_NO_ACTIVITY) "
        "once its last activity is this many hours old.",
    )
    stale_check_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Seconds between passes of the stale-work job that announces newly stale "
        "work with imi.work.stale (0: off).",
    )
    shutdown_timeout: int = Field(
        default=30, ge=0, description="Seconds to let in-flight requests finish on shutdown."
    )
    keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        le=3600,
        description="Seconds an idle HTTP keep-alive connection stays open. Keep it above the "
        "idle timeout of a load balancer in front (often 60 s): one that reuses a connection "
        "just as iMi closes it answers 502.",
    )
    rate_limit_per_minute: int = Field(
        default=100,
        ge=0,
        description="Sustained requests per minute per API key (per address for keyless "
        "local calls), shared by every worker and replica (0: no rate limit).",
    )
    rate_limit_burst: int = Field(
        default=20,
        ge=1,
        description="Requests a caller may send at once before the per-minute rate applies.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1,
        description="Largest request body accepted (bytes); larger ones are answered 413.",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins browsers may call iMi from (empty: CORS off).",
    )
    db_statement_timeout_ms: int = Field(
        default=15_000,
        ge=0,
        description="Longest a single SQL statement of the service may run, in milliseconds "
        "(0: no limit).",
    )
    db_connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Longest one attempt to open a database connection may take (seconds).",
    )
    db_connect_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Times a connect that failed for a connection-level reason (refused, "
        "reset, timed out) is tried again, with doubling back-off, before the request fails.",
    )
    db_connect_retry_backoff_seconds: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="Pause before the first connect retry (doubled for each next one, at most "
        "2 s).",
    )
    db_breaker_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Consecutive failed database connects that open the circuit breaker "
        "(then requests fail fast with 503 instead of each waiting for a connect).",
    )
    db_breaker_cooldown_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="Seconds the open circuit breaker fails requests fast before one probe "
        "connect is let through (success closes it, failure opens it again).",
    )

    auth: Literal["required", "local-open", "off"] = Field(
        default="local-open",
        description="required (every request needs a key or token), local-open (loopback "
        "callers need none; everything else does) or off (no authentication; refused on a "
        "non-loopback address unless `imi serve --force-open`).",
    )
    jwt_secret: str | None = Field(
        default=None, description="HS256 secret for bearer JWTs. Unset: HS256 tokens refused."
    )
    jwt_public_key_file: Path | None = Field(
        default=None,
        description="PEM public key or JWKS (JSON) file for RS256/ES256 bearer JWTs.",
    )
    jwt_audience: str | None = Field(
        default=None, description="Required `aud` claim of bearer JWTs (unset: not checked)."
    )
    jwt_issuer: str | None = Field(
        default=None, description="Required `iss` claim of bearer JWTs (unset: not checked)."
    )
    docs_public: bool = Field(
        default=True,
        description="Serve the pages (/, /docs, /redoc, /openapi.json, /asyncapi, GraphiQL) "
        "without a key; false: they need a read key like the API.",
    )
    metrics_enabled: bool = Field(
        default=True, description="Serve Prometheus metrics at GET /metrics (false: 404)."
    )
    metrics_public: bool = Field(
        default=False,
        description="Serve /metrics without a key (for a scraper on a trusted network); "
        "false: it needs a read key like the API.",
    )
    graphql_ide: bool = Field(default=True, description="Serve GraphiQL at GET /graphql.")
    graphql_introspection: bool = Field(
        default=True, description="Answer GraphQL introspection queries."
    )

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` split on commas, blanks dropped."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    delivery_production_environments: str = Field(
        default="production,prod",
        max_length=1000,
        description="Comma-separated environment names (case-insensitive) that count as "
        "production for the delivery metrics.",
    )
    delivery_failure_window_hours: float = Field(
        default=24,
        gt=0,
        le=720,
        description="Delivery metrics: a production deploy counts as failed when a failed "
        "production deploy of its project, or a `fix` work item on one of its tickets, "
        "follows within this many hours.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
