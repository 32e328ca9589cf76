"""Per-subject order of concurrently handled messages (``consumers.ordering``) and deliveries put
back in the broker's order (``consumers.delivery``), without a broker: each message is a task
that takes its turn, records its start and end, and yields meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

from imi.messaging.consumers.delivery import GAP_SECONDS, DeliveryOrder
from imi.messaging.consumers.ordering import SubjectOrder, Subjects


class Trace:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.running = 0
        self.most_running = 0


async def handle(line: SubjectOrder, trace: Trace, n: int, subjects: Subjects, steps: int) -> None:
    turn = line.admit(subjects)  # synchronously, in arrival order
    try:
        await turn.wait()
        trace.events.append(("start", n))
        trace.running += 1
        trace.most_running = max(trace.most_running, trace.running)
        for _ in range(steps):
            await asyncio.sleep(0)
        trace.running -= 1
        trace.events.append(("end", n))
    finally:
        turn.release()


def order_of(trace: Trace, kind: str, among: set[int]) -> list[int]:
    return [n for k, n in trace.events if k == kind and n in among]


async def test_one_subject_in_arrival_order_while_subjects_run_side_by_side() -> None:
    line, trace = SubjectOrder(), Trace()
    subjects = {n: frozenset({f"path:/w/{n % 5}"}) for n in range(200)}
    # Uneven work, so a later message would overtake an earlier one if nothing held it.
    await asyncio.gather(
        *(handle(line, trace, n, subjects[n], steps=(7 * n) % 5) for n in range(200))
    )
    for item in range(5):
        mine = {n for n in range(200) if n % 5 == item}
        assert order_of(trace, "start", mine) == sorted(mine)
        # Never two of one subject at once: each ends before the next starts.
        spans = [e for e in trace.events if e[1] in mine]
        assert spans == [(k, n) for n in sorted(mine) for k in ("start", "end")]
    assert trace.most_running > 1  # the subjects did run concurrently
    assert line.in_flight == 0


async def test_a_message_of_two_subjects_follows_both() -> None:
    line, trace = SubjectOrder(), Trace()
    plan: list[tuple[int, Subjects, int]] = [
        (0, frozenset({"a"}), 6),
        (1, frozenset({"b"}), 3),
        (2, frozenset({"a", "b"}), 0),
        (3, frozenset({"b"}), 0),
    ]
    await asyncio.gather(*(handle(line, trace, n, s, steps) for n, s, steps in plan))
    starts, ends = order_of(trace, "start", {0, 1, 2, 3}), order_of(trace, "end", {0, 1, 2, 3})
    assert starts.index(2) > ends.index(0) and starts.index(2) > ends.index(1)
    assert starts.index(3) > ends.index(2)


async def test_an_unknown_subject_is_a_barrier_and_no_subject_waits_for_nothing() -> None:
    line, trace = SubjectOrder(), Trace()
    plan: list[tuple[int, Subjects, int]] = [
        (0, frozenset({"a"}), 5),
        (1, frozenset({"b"}), 5),
        (2, None, 0),  # unknown: after everything before it, before everything after it
        (3, frozenset({"c"}), 0),
        (4, frozenset(), 0),
    ]
    await asyncio.gather(*(handle(line, trace, n, s, steps) for n, s, steps in plan))
    starts, ends = order_of(trace, "start", set(range(5))), order_of(trace, "end", set(range(5)))
    assert starts.index(2) > ends.index(0) and starts.index(2) > ends.index(1)
    assert starts.index(3) > ends.index(2) and starts.index(4) > ends.index(2)


async def test_a_failing_or_cancelled_message_lets_the_next_one_go() -> None:
    line = SubjectOrder()
    first = line.admit(frozenset({"a"}))
    waiting = line.admit(frozenset({"a"}))
    waiter = asyncio.create_task(waiting.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    first.release()  # as after an exception: its turn ends, the next one's begins
    await asyncio.wait_for(waiter, 5)
    # A cancelled wait leaves the line consistent: releasing it lets its follower go.
    blocker = line.admit(frozenset({"b"}))
    cancelled = line.admit(frozenset({"b"}))
    follower = line.admit(frozenset({"b"}))
    task = asyncio.create_task(cancelled.wait())
    await asyncio.sleep(0)
    task.cancel()
    cancelled.release()
    blocker.release()
    await asyncio.wait_for(follower.wait(), 5)
    waiting.release()
    follower.release()
    assert line.in_flight == 0


async def test_deliveries_overtaking_each_other_are_admitted_in_tag_order() -> None:
    order, admitted = DeliveryOrder(), []

    def arrival(tag: int) -> Any:
        return order.arrive(tag, lambda: admitted.append(tag))

    await arrival(1)
    # 3 and 4 reach the handler before 2: they wait for it, then go in order.
    held = [asyncio.create_task(arrival(3)), asyncio.create_task(arrival(4))]
    await asyncio.sleep(0)
    assert admitted == [1]
    await arrival(2)
    await asyncio.gather(*held)
    assert admitted == [1, 2, 3, 4]
    # A delivery that never comes holds the next one only for a moment.
    await asyncio.wait_for(arrival(6), GAP_SECONDS * 20)
    assert admitted == [1, 2, 3, 4, 6]
    await arrival(5)  # late: admitted at once
    await arrival(1)  # a reopened channel numbers from 1 again
    await arrival(2)
    assert admitted == [1, 2, 3, 4, 6, 5, 1, 2]
