"""The line for model work: slots are shared in arrival order and a waiter learns its place."""

from __future__ import annotations

import threading
import time

import pytest

from toymae.app.busy import WorkQueue


def test_a_free_slot_is_taken_without_waiting():
    queue, seen = WorkQueue(2), []
    with queue.slot(seen.append), queue.slot(seen.append):
        pass
    assert seen == [] and queue.waiting() == 0


def test_waiters_learn_their_place_and_go_in_arrival_order():
    queue = WorkQueue(1, poll_s=0.01)
    places: dict[str, list[int]] = {"a": [], "b": []}
    order: list[str] = []

    def worker(name: str) -> None:
        with queue.slot(places[name].append):
            order.append(name)

    with queue.slot():
        a = threading.Thread(target=worker, args=("a",))
        a.start()
        while queue.waiting() < 1:
            time.sleep(0.005)
        b = threading.Thread(target=worker, args=("b",))
        b.start()
        while queue.waiting() < 2:
            time.sleep(0.005)
        time.sleep(0.05)  # both have reported their place at least once
    a.join(5)
    b.join(5)
    assert order == ["a", "b"]
    assert places["a"][0] == 1 and set(places["a"]) == {1}
    assert places["b"][0] == 2 and places["b"][-1] in (1, 2)


def test_a_waiter_that_is_stopped_leaves_the_line():
    queue = WorkQueue(1, poll_s=0.01)

    class Stop(Exception):
        pass

    def stop(place: int) -> None:
        raise Stop  # as Streamlit stops a script whose visitor left or clicked again

    with queue.slot():
        with pytest.raises(Stop), queue.slot(stop):
            pass
        assert queue.waiting() == 0
    with queue.slot(stop):  # the slot was given back: no wait, so ``stop`` is never called
        pass


def test_an_error_in_the_body_gives_the_slot_back():
    queue = WorkQueue(1)
    with pytest.raises(RuntimeError), queue.slot():
        raise RuntimeError("a page failed")
    with queue.slot(lambda place: pytest.fail("the slot was not given back")):
        pass
