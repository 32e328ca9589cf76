"""Per-subject order for messages handled concurrently.

A consumer handles its whole prefetch window at once, yet messages about the same subject (a
work item's worktree path, a repository's branch, a ticket, a deployment) must take effect in
arrival order. Each message takes its place in line when it arrives (``admit``, synchronous, so
arrival order is kept) naming its subjects; it then waits only for the earlier messages that
share one of them. A message whose subjects are unknown (``None``) is a barrier: it waits for
every earlier message and every later one waits for it, which is the old one-at-a-time order.
A message with no subjects (``frozenset()``) waits for nothing but a barrier.
"""

from __future__ import annotations

import asyncio

Subjects = frozenset[str] | None


class Turn:
    """One message's place in line: wait for the messages it follows, then release its own."""

    __slots__ = ("_after", "_done", "_line", "_subjects")

    def __init__(
        self,
        line: SubjectOrder,
        subjects: Subjects,
        after: list[asyncio.Future[None]],
        done: asyncio.Future[None],
    ) -> None:
        self._line = line
        self._subjects = subjects
        self._after = after
        self._done = done

    async def wait(self) -> None:
        """Until every earlier message sharing a subject has been released.

        ``asyncio.wait`` never cancels what it waits for: a cancelled waiter leaves the
        messages it followed alone."""
        pending = [future for future in self._after if not future.done()]
        if pending:
            await asyncio.wait(pending)
        self._after = []

    def release(self) -> None:
        """Let the messages that follow this one go (idempotent)."""
        if not self._done.done():
            self._done.set_result(None)
            self._line._forget(self)


class SubjectOrder:
    """The line of one consumer's messages in flight."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[None]] = {}  # subject -> its latest message
        self._in_flight: set[asyncio.Future[None]] = set()
        self._barrier: asyncio.Future[None] | None = None

    def admit(self, subjects: Subjects) -> Turn:
        """Join the line now (before any await, so arrival order is the line's order)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        after: list[asyncio.Future[None]]
        if subjects is None:
            after = list(self._in_flight)
            self._barrier = done
        else:
            after = [self._tails[s] for s in subjects if s in self._tails]
            if self._barrier is not None:
                after.append(self._barrier)
            for subject in subjects:
                self._tails[subject] = done
        self._in_flight.add(done)
        return Turn(self, subjects, after, done)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def _forget(self, turn: Turn) -> None:
        self._in_flight.discard(turn._done)
        if self._barrier is turn._done:
            self._barrier = None
        for subject in turn._subjects or ():
            if self._tails.get(subject) is turn._done:
                del self._tails[subject]
