"""Lease deadlines kept in memory (the memory backend, the RabbitMQ backend's
own leases): due in order, and no memory kept for answered leases."""

from __future__ import annotations

from symphra_django.backends.deadlines import Deadlines


def test_due_keys_come_out_earliest_first_and_only_once():
    deadlines: Deadlines[str] = Deadlines()
    deadlines.set("late", 30.0, "t1")
    deadlines.set("early", 10.0, "t2")
    deadlines.set("later", 50.0, "t3")
    assert deadlines.pop_due(40.0) == [("early", "t2"), ("late", "t1")]
    assert deadlines.pop_due(40.0) == []
    assert len(deadlines) == 1


def test_a_discarded_key_is_never_due():
    deadlines: Deadlines[str] = Deadlines()
    deadlines.set("answered", 10.0, "t")
    deadlines.discard("answered")
    assert deadlines.pop_due(100.0) == []


def test_a_new_deadline_replaces_the_old_one():
    deadlines: Deadlines[str] = Deadlines()
    deadlines.set("task", 10.0, "t")
    deadlines.set("task", 60.0, "t")  # extended
    assert deadlines.pop_due(30.0) == []
    assert deadlines.pop_due(60.0) == [("task", "t")]


def test_a_new_lease_of_the_same_key_is_due_with_its_own_token():
    deadlines: Deadlines[str] = Deadlines()
    deadlines.set("task", 10.0, "first")
    deadlines.set("task", 20.0, "second")
    assert deadlines.pop_due(100.0) == [("task", "second")]


def test_answered_leases_leave_no_entries_behind():
    deadlines: Deadlines[int] = Deadlines()
    for key in range(100_000):
        deadlines.set(key, 1e9 + key, "t")
        if key >= 10:  # ten leases stay held, the rest are answered
            deadlines.discard(key)
    assert len(deadlines) == 10
    assert deadlines.heap_size() <= 200
    assert [key for key, _ in deadlines.pop_due(2e9)] == list(range(10))
