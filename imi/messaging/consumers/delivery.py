"""Deliveries in the order the broker numbered them, before they take their place in line.

aiormq starts one task per delivery, in order, but the way from the socket to a consumer's
handler (aio-pika, FastStream's middlewares and dependency injection) can let a delivery overtake
the one before it. The channel numbers its deliveries (``delivery_tag``: 1, 2, 3, ... across
every queue consumed on it), so each delivery is admitted only after the one numbered before
it; one that arrives early is held until then. A delivery that never reaches a handler must not
hold the rest for long: after ``GAP_SECONDS`` the held one goes on without it. A tag of 1 is a
new numbering (the channel was reopened).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

GAP_SECONDS = 0.2


class DeliveryOrder:
    """One channel's deliveries, admitted in tag order."""

    def __init__(self) -> None:
        self._next: int | None = None
        self._held: dict[int, tuple[Callable[[], None], asyncio.Future[None]]] = {}

    async def arrive(self, tag: int | None, admit: Callable[[], None]) -> None:
        """Call ``admit`` (synchronous) once every earlier delivery has been admitted."""
        if tag is None:
            admit()
            return
        if self._next is None or tag == 1:
            self._next = tag  # the first delivery seen, or a reopened channel's first
        if tag < self._next:
            admit()  # late: the others went on without it
            return
        if tag == self._next:
            self._admit(tag, admit)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held[tag] = (admit, done)
        try:
            await asyncio.wait_for(asyncio.shield(done), GAP_SECONDS)
        except TimeoutError:
            # Still missing an earlier delivery: go on without it (with any held before this).
            while earlier := [t for t in self._held if t <= tag]:
                first = min(earlier)
                held, waiter = self._held.pop(first)
                self._admit(first, held)
                if not waiter.done():
                    waiter.set_result(None)
        finally:
            self._held.pop(tag, None)

    def _admit(self, tag: int, admit: Callable[[], None]) -> None:
        admit()
        self._next = tag + 1
        while self._next in self._held:
            held, waiter = self._held.pop(self._next)
            held()
            if not waiter.done():
                waiter.set_result(None)
            self._next += 1


_ORDERS: weakref.WeakKeyDictionary[object, DeliveryOrder] = weakref.WeakKeyDictionary()


def order_of(channel: object) -> DeliveryOrder:
    """The delivery order of a channel (every consumer on it shares one)."""
    order = _ORDERS.get(channel)
    if order is None:
        order = _ORDERS[channel] = DeliveryOrder()
    return order
