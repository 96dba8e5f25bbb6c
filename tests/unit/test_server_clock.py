"""The app's view of the server's clock (:class:`ServerClock`), without sockets."""

from __future__ import annotations

import math

import pytest

from messenger.client.serverclock import ServerClock


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_offset_is_the_servers_time_at_the_midpoint_of_the_hello():
    """A server 10 minutes slow, with 0.2 s between our hello and its answer: it read its
    clock about 0.1 s after ours left."""
    local = Clock(1_000_000.2)
    clock = ServerClock(local)
    clock.observe(1_000_000.0, 1_000_000.1 - 600, 1_000_000.2)
    assert clock.offset == pytest.approx(-600.0)
    assert clock.now() == pytest.approx(1_000_000.2 - 600)
    assert clock.to_local(1_000_000.1 - 600) == pytest.approx(1_000_000.1)


def test_until_a_hello_tells_and_on_a_bogus_time_the_clocks_count_as_one():
    clock = ServerClock(Clock(500.0))
    assert (clock.offset, clock.now(), clock.to_local(42.0)) == (0.0, 500.0, 42.0)
    clock.observe(100.0, 700.0, 100.0)
    assert clock.offset == 600.0
    for bogus in (None, math.nan, math.inf, -1.0, 1e18):
        clock.observe(100.0, bogus, 100.0)
    clock.observe(100.0, 50.0, 99.0)  # the local clock went back meanwhile
    assert clock.offset == 600.0  # (kept from the last good hello)


def test_now_is_never_earlier_than_a_stamp_the_server_gave():
    """The offset is as good as half a round trip: a busy server that answered the hello
    late made a file sent just after a message read as earlier than it (the export listed
    it first). A stamp seen is a floor; a far one is a clock change, not taken."""
    local = Clock(1_000.0)
    clock = ServerClock(local)
    clock.observe(999.0, 1_000.0, 1_001.0)  # the server read its clock late: offset 0 kept
    clock.saw(1_000.3)  # the ack of a message, stamped by the server
    assert clock.now() == 1_000.3
    local.now = 1_001.0
    assert clock.now() == 1_001.0  # (the clock runs on past it)
    clock.saw(5_000.0)  # a server clock set forward: not a floor
    clock.saw(math.nan)
    assert clock.now() == 1_001.0
