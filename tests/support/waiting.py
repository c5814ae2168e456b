"""Waiting for something another thread, process or server does.

Tests never sleep for a fixed time hoping the other side is done: they ask
``wait_until`` to poll a condition, which returns as soon as it holds and
fails the test with a message naming what never happened. It is the contract
kit's helper, shared by the whole suite.
"""

from symphra_django.testing.waiting import wait_for_time, wait_until

__all__ = ["wait_for_time", "wait_until"]
