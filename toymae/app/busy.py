"""A line for model work: at most ``slots`` holders at once, the others wait in arrival order.

On a server with two cores, twelve sessions computing at once each run about twelve times slower
and all of them look frozen; in a line, most finish sooner and each waiting visitor can be told how
many are ahead (``on_wait``), which the dashboard shows instead of a silent page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class WorkQueue:
    def __init__(self, slots: int, poll_s: float = 0.5) -> None:
        if slots < 1:
            raise ValueError(f"a work queue needs at least one slot, got {slots}")
        self._cond = threading.Condition()
        self._free = slots
        self._line: list[object] = []  # tickets of the waiting, first come first served
        self._poll_s = poll_s

    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    def _take_or_position(self, ticket: object) -> int:
        """0 when ``ticket`` got a slot; otherwise its place in line (1 = next)."""
        with self._cond:
            if self._free > 0 and self._line[0] is ticket:
                self._line.pop(0)
                self._free -= 1
                self._cond.notify_all()  # the next in line may take a second free slot
                return 0
            return self._line.index(ticket) + 1

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Hold a slot for the ``with`` body. While waiting, ``on_wait(place in line)`` is called every
        ``poll_s`` seconds (from this thread; an exception from it leaves the line cleanly)."""
        ticket = object()
        with self._cond:
            self._line.append(ticket)
        try:
            while place := self._take_or_position(ticket):
                if on_wait is not None:
                    on_wait(place)
                with self._cond:
                    self._cond.wait(self._poll_s)
        except BaseException:
            with self._cond:
                self._line.remove(ticket)
                self._cond.notify_all()
            raise
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()
