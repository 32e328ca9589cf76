"""How every consumed message is handled: parse, deduplicate, one transaction, ack.

1. Parse the body (any accepted envelope or a flat body) inside the error handling. Not JSON,
   beyond the bounds (``compat.bloodbank``: 1 MiB, 64 levels), not an accepted shape, or any
   exception while decoding: reject without requeue, so it lands in ``<queue>.dlq`` at once and
   never holds a prefetch slot.
2. Take the message's place in line, in the channel's delivery order (``delivery``,
   ``ordering``): the prefetch window is handled concurrently, but a message waits for the
   earlier ones about the same subject (its route's ``subjects``; a route without them is
   handled one message at a time, as a barrier).
3. One transaction: call the domain service, record ``processed_messages(consumer,
   message_id)`` with ``ON CONFLICT DO NOTHING``, commit, ack. The record rides in the
   statement of the first events the handler writes (``outbox.claim_with_events``), or is its
   own statement when it writes none; a message recorded before (a duplicate, a redelivery of
   a handled message) rolls the transaction back and is acked. Commands are recorded before
   the handler runs (their failures are answered in a transaction of their own). The message's
   correlation id is set meanwhile, so every event the handler causes carries it.
4. Outcomes other than success:
   - ``BadMessage`` (schema-invalid payload, a number out of its column's range),
     ``ValidationFailed`` and a value the database refuses (SQLSTATE class 22): dead-lettered;
   - ``Skip``, ``NotFound``, ``Conflict`` (nothing to update, an illegal transition): recorded
     as processed and acked, with a log line; retrying would not change the answer;
   - for commands, every domain error and invalid payload is *answered*: the failure event
     ``{request, error: {code, message}}`` is recorded with the processed row, then acked;
   - the database unreachable (or its circuit breaker open): the message waits in place, in
     its turn, and is tried again with back-off until the database answers; never nacked or
     dead-lettered for it;
   - any other exception, or a handler running past ``HANDLER_TIMEOUT_SECONDS`` (counted from
     its turn; cancelled, its transaction rolled back): its turn ends at once (the messages
     behind it go on), then nack with requeue after a short pause; the quorum queue's
     delivery limit dead-letters a message that keeps failing.
   The request a failure event echoes is bounded (strings cut at 1,000 characters, NULs
   replaced), so the answer itself can always be stored.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from faststream.rabbit.annotations import RabbitMessage
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.compat.bloodbank import BadMessage, Incoming, parse_message
from imi.correlation import reset_correlation_id, set_correlation_id
from imi.db import database_unavailable, domain_error_from_database, unit_of_work
from imi.errors import DomainError, ValidationFailed
from imi.logging import get_logger
from imi.messaging.consumers.delivery import order_of
from imi.messaging.consumers.ordering import SubjectOrder, Subjects, Turn
from imi.observability.metrics import message_consumed
from imi.outbox import AlreadyProcessed, PendingEvent, claim_with_events, emit, unclaimed
from imi.resilience import CircuitOpen

log = get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Incoming], Awaitable[None]]
# The subjects a message is about (``kind:value`` keys), read from the parsed message without
# the database; None when they cannot be told (the message then waits for all before it).
SubjectsOf = Callable[[Incoming], Subjects]
RETRY_PAUSE_SECONDS = 0.2
MAX_RETRY_PAUSE_SECONDS = 2.0
# How long one message may be handled before it is abandoned (rolled back) and retried.
HANDLER_TIMEOUT_SECONDS = 30.0
# Longest pause between attempts while the database is away (the message waits in place).
DATABASE_PAUSE_SECONDS = 5.0


class Skip(Exception):
    """Nothing to do (no matching project or work item): recorded as processed, acked."""


class Outcome(StrEnum):
    DONE = "done"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    ANSWERED = "answered"  # a command failed and its failure event was recorded
    DEAD = "dead"


# The ``outcome`` label of imi_messages_consumed_total (plus ``retried``, for a requeue).
OUTCOME_LABELS = {
    Outcome.DONE: "ok",
    Outcome.DUPLICATE: "duplicate",
    Outcome.SKIPPED: "skipped",
    Outcome.ANSWERED: "answered",
    Outcome.DEAD: "dead_lettered",
}


@dataclass(frozen=True, slots=True)
class Route:
    """Routing keys (``*`` one word, ``#`` any) and what handles them."""

    patterns: tuple[str, ...]
    handler: Handler
    # Commands: the event that answers a failure. None: failures are skipped or dead-lettered.
    failure_event: str | None = None
    # What keeps order among concurrent messages; None: one message at a time.
    subjects: SubjectsOf | None = None

    def matches(self, routing_key: str) -> bool:
        return any(_key_matches(pattern, routing_key) for pattern in self.patterns)


def _key_matches(pattern: str, key: str) -> bool:
    if "#" in pattern:
        return fnmatch.fnmatchcase(key, pattern.replace("#", "*"))
    words, parts = key.split("."), pattern.split(".")
    if len(words) != len(parts):
        return False
    return all(p in {"*", w} for p, w in zip(parts, words, strict=True))


_CLAIM = text(
    "INSERT INTO processed_messages (consumer, message_id) VALUES (:consumer, :message_id) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)


async def claim(session: AsyncSession, consumer: str, message_id: str) -> bool:
    """Record the message as processed; False when it already was (a duplicate)."""
    params = {"consumer": consumer, "message_id": message_id}
    return (await session.execute(_CLAIM, params)).first() is not None


def _duplicate(fields: dict[str, str]) -> Outcome:
    log.info("duplicate message ignored", **fields)
    return Outcome.DUPLICATE


def failure_payload(incoming: Incoming, code: str, message: str, **details: Any) -> dict[str, Any]:
    """The answer to a failed command. The request is echoed within bounds: NULs (which
    PostgreSQL's jsonb refuses) replaced, long strings cut, so the answer can always be stored."""
    answer: dict[str, Any] = _echo(
        {
            "request": incoming.payload,
            "error": {"code": code, "message": message, "details": details},
            "command": incoming.routing_key,
            "message_id": incoming.message_id,
        }
    )
    return answer


ECHO_MAX_CHARS = 1000


def _echo(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > ECHO_MAX_CHARS:
            value = f"{value[:ECHO_MAX_CHARS]}... ({len(value)} characters)"
        return value.replace("\x00", "\N{REPLACEMENT CHARACTER}")
    if isinstance(value, dict):
        return {_echo(str(key)): _echo(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_echo(item) for item in value]
    return value


class Consumer:
    """One queue's consumer: the routes of its routing keys and the handling policy."""

    def __init__(
        self,
        name: str,
        routes: Sequence[Route],
        sessions: async_sessionmaker[AsyncSession],
        *,
        fallback: Route | None = None,
        ignore: Sequence[str] = (),
    ) -> None:
        self.name = name  # the processed_messages consumer: the queue name without prefix
        self.routes = tuple(routes)
        self.fallback = fallback  # keys no route names (e.g. an unknown command)
        self.ignore = tuple(ignore)  # keys bound by a wildcard that are not for us
        self.sessions = sessions
        # The prefetch window runs concurrently, each subject's messages in delivery order;
        # replicas compete, so handlers must tolerate reordering across processes anyway.
        self._line = SubjectOrder()

    def route(self, routing_key: str) -> Route | None:
        return next((r for r in self.routes if r.matches(routing_key)), self.fallback)

    def subjects(self, incoming: Incoming) -> Subjects:
        """What the message must stay in order with (see ``ordering``)."""
        if incoming.routing_key in self.ignore:
            return frozenset()
        route = self.route(incoming.routing_key)
        if route is None:
            return frozenset()  # only recorded as processed: nothing to keep in order
        if route.subjects is None:
            return None
        try:
            return route.subjects(incoming)
        except Exception:  # an odd payload: keep it in line with everything
            return None

    async def handle(self, message: RabbitMessage) -> None:
        """The FastStream subscriber (manual acks). Every path ends in an ack, a reject or a
        nack: a message that raises anywhere must not stay unacknowledged (it would hold a
        prefetch slot until the channel closes, and again after every restart)."""
        raw = message.raw_message
        routing_key = raw.routing_key or ""
        incoming: Incoming | Exception
        try:
            incoming = parse_message(
                raw.body,
                routing_key=routing_key,
                amqp_message_id=raw.message_id,
                amqp_correlation_id=raw.correlation_id,
            )
        except Exception as exc:  # BadMessage, or anything else decoding raised: never retried
            incoming = exc
        turn: Turn | None = None

        def admit() -> None:
            nonlocal turn
            if not isinstance(incoming, Exception):
                turn = self._line.admit(self.subjects(incoming))

        # Every delivery passes, so the channel's numbering has no gaps; only parsed ones queue.
        await order_of(raw.channel).arrive(raw.delivery_tag, admit)
        if isinstance(incoming, Exception) or turn is None:
            reason = incoming if isinstance(incoming, Exception) else "no place in line"
            log.warning(
                "unparseable message dead-lettered",
                consumer=self.name,
                routing_key=routing_key,
                message_id=raw.message_id,
                size=len(raw.body),
                reason=str(reason)[:500] if isinstance(reason, BadMessage) else repr(reason)[:500],
            )
            await self._settle(message.reject(requeue=False))
            message_consumed(self.name, OUTCOME_LABELS[Outcome.DEAD])
            return
        token = set_correlation_id(incoming.correlation_id or incoming.message_id)
        # A handler that hangs (a lock wait, a stuck call) must not hold the queue: it is
        # cancelled (its transaction rolls back) and the message retried like any failure.
        deadline: asyncio.Timeout | None = None
        try:
            try:
                await turn.wait()
                for attempt in itertools.count():
                    deadline = asyncio.timeout(HANDLER_TIMEOUT_SECONDS)  # from our turn on
                    try:
                        async with deadline:
                            outcome = await self.process(incoming)
                        break
                    except Exception as exc:
                        # The database away (or its breaker open): wait in place, in turn, and
                        # try again; a nack would count toward the delivery limit and
                        # dead-letter a message that did nothing wrong.
                        if deadline.expired() or not database_unavailable(exc):
                            raise
                        await self._database_pause(incoming, exc, attempt)
            finally:
                turn.release()  # settled or failed: the messages behind it go on
            if outcome is Outcome.DEAD:
                await self._settle(message.reject(requeue=False))
            else:
                await self._settle(message.ack())
            message_consumed(self.name, OUTCOME_LABELS[outcome])
        except Exception as exc:
            failure = exc
            if deadline is not None and deadline.expired():
                failure = TimeoutError(f"handler took longer than {HANDLER_TIMEOUT_SECONDS}s")
            await self._retry(message, incoming, failure)
            message_consumed(self.name, "retried")
        finally:
            reset_correlation_id(token)

    async def _settle(self, settling: Awaitable[None]) -> None:
        """Ack or reject; when the channel is gone the broker redelivers the message anyway."""
        try:
            await settling
        except Exception as exc:
            log.warning("ack/reject failed", consumer=self.name, error=repr(exc))

    async def process(self, incoming: Incoming) -> Outcome:
        """Handle a parsed message; raises only for failures worth retrying."""
        fields = {
            "consumer": self.name,
            "routing_key": incoming.routing_key,
            "message_id": incoming.message_id,
        }
        if incoming.routing_key in self.ignore:
            return Outcome.SKIPPED
        route = self.route(incoming.routing_key)
        if route is None:
            if not await self._record(incoming):
                return _duplicate(fields)
            log.info("no handler for routing key; skipped", **fields)
            return Outcome.SKIPPED
        try:
            async with unit_of_work(self.sessions) as session:
                if route.failure_event:
                    # A command is recorded first: a failure is answered in its own transaction.
                    if not await claim(session, self.name, incoming.message_id):
                        return _duplicate(fields)
                else:
                    # Recorded with the events it causes, in their statement (a round trip less).
                    claim_with_events(session, self.name, incoming.message_id)
                await route.handler(session, incoming)
                if unclaimed(session) and not await claim(session, self.name, incoming.message_id):
                    raise AlreadyProcessed(incoming.message_id)  # rolls the effect back
        except AlreadyProcessed:
            return _duplicate(fields)
        except BadMessage as exc:
            return await self._malformed(incoming, route, fields, str(exc), field=exc.field)
        except Skip as exc:
            if not await self._record(incoming):
                return _duplicate(fields)
            log.info("nothing to update; skipped", **fields, reason=str(exc))
            return Outcome.SKIPPED
        except (DomainError, DBAPIError) as error:
            # A database failure is translated the way every adapter does; one that means
            # nothing to the caller (a lost connection) propagates and is retried.
            failure = error if isinstance(error, DomainError) else domain_error_from_database(error)
            if failure is None:
                raise
            if route.failure_event:
                await self._answer(
                    incoming, route.failure_event, failure.code, failure.message, **failure.details
                )
                log.info("command failed", **fields, code=failure.code, reason=failure.message)
                return Outcome.ANSWERED
            if isinstance(failure, ValidationFailed):
                # A value that can never be stored (or a rule it breaks): retrying cannot help.
                log.warning("invalid message dead-lettered", **fields, reason=failure.message)
                return Outcome.DEAD
            if not await self._record(incoming):
                return _duplicate(fields)
            log.info(
                "message not applicable; skipped",
                **fields,
                code=failure.code,
                reason=failure.message,
            )
            return Outcome.SKIPPED
        if _stdlib_log.isEnabledFor(logging.DEBUG):  # structlog renders before it filters
            log.debug("message handled", **fields)
        return Outcome.DONE

    async def _malformed(
        self,
        incoming: Incoming,
        route: Route,
        fields: dict[str, str],
        reason: str,
        field: str | None = None,
    ) -> Outcome:
        """A message that can never succeed: a command is answered, anything else dead-lettered."""
        if route.failure_event:
            details = {"field": field} if field else {}
            await self._answer(incoming, route.failure_event, "VALIDATION_ERROR", reason, **details)
            log.info("command rejected", **fields, code="VALIDATION_ERROR", reason=reason)
            return Outcome.ANSWERED
        log.warning("invalid message dead-lettered", **fields, reason=reason)
        return Outcome.DEAD

    async def _record(self, incoming: Incoming) -> bool:
        """Record the message as processed; False when it already was."""
        async with unit_of_work(self.sessions) as session:
            return await claim(session, self.name, incoming.message_id)

    async def _answer(
        self, incoming: Incoming, event_type: str, code: str, message: str, **details: Any
    ) -> None:
        """Record the command as processed and its failure event, in one transaction."""
        async with unit_of_work(self.sessions) as session:
            if await claim(session, self.name, incoming.message_id):
                payload = failure_payload(incoming, code, message, **details)
                event = PendingEvent(event_type, "command", incoming.message_id, payload)
                await emit(session, event)

    async def _database_pause(self, incoming: Incoming, exc: Exception, attempt: int) -> None:
        pause = min(RETRY_PAUSE_SECONDS * 2**attempt, DATABASE_PAUSE_SECONDS)
        if isinstance(exc, CircuitOpen):
            pause = min(max(pause, exc.retry_after), DATABASE_PAUSE_SECONDS)
        if attempt % 10 == 0:
            log.warning(
                "database unavailable; message held until it answers",
                consumer=self.name,
                message_id=incoming.message_id,
                error=repr(exc)[:300],
            )
        await asyncio.sleep(pause)

    async def _retry(self, message: RabbitMessage, incoming: Incoming, exc: Exception) -> None:
        """Requeue after a short pause; the queue's delivery limit bounds the attempts."""
        headers = message.raw_message.headers or {}
        deliveries = headers.get("x-delivery-count")
        count = deliveries if isinstance(deliveries, int) else 0
        log.warning(
            "handler failed; message requeued",
            consumer=self.name,
            routing_key=incoming.routing_key,
            message_id=incoming.message_id,
            delivery_count=count + 1,
            error=repr(exc),
            exc_info=exc,
        )
        await asyncio.sleep(min(RETRY_PAUSE_SECONDS * 2**count, MAX_RETRY_PAUSE_SECONDS))
        try:
            await message.nack(requeue=True)
        except Exception as nack_error:  # the channel is gone: the broker redelivers anyway
            log.warning("nack failed", consumer=self.name, error=repr(nack_error))
