"""The login lock-out rule (LoginThrottle), a plain class driven with a fake clock: attempts
count from the moment they are queued, so parallel attempts get no more guesses than serial
ones, a right password is refused while the name is locked, and nothing extends a lock."""

from __future__ import annotations

import pytest

from messenger.server.auth import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(clock) -> LoginThrottle:
    return LoginThrottle(3, 10.0, clock=clock)


def test_serial_failures_lock_at_the_limit_and_the_lock_runs_out(throttle, clock):
    for _ in range(2):
        assert throttle.start("alice")
        assert throttle.failure("alice") == 0.0
    assert throttle.start("alice")
    assert throttle.failure("alice") == 10.0
    assert not throttle.start("alice")  # locked
    clock.now += 10.0
    assert throttle.start("alice") and throttle.success("alice") == 0.0


def test_attempts_in_flight_count_against_the_limit(throttle):
    assert [throttle.start("alice") for _ in range(5)] == [True, True, True, False, False]
    assert throttle.checking("alice") == 3
    assert throttle.start("bob")  # per name
    throttle.failure("alice")
    assert not throttle.start("alice")  # one failure + two in flight
    throttle.abandon("alice")  # no verdict: the slot is free, nothing counted
    assert throttle.start("alice")
    assert throttle.checking("alice") == 2


def test_parallel_guesses_get_no_more_than_serial_ones(throttle):
    """Twelve attempts queued at once (parallel connections): three are let in, and when
    they fail the name is locked; the old rule let every one of them be checked."""
    started = [throttle.start("alice") for _ in range(12)]
    assert started.count(True) == 3
    assert [throttle.failure("alice") for _ in range(3)] == [0.0, 0.0, 10.0]
    assert not throttle.start("alice") and throttle.checking("alice") == 0


def test_a_right_password_answered_while_the_name_is_locked_is_refused(throttle, clock):
    """An attempt checked while the lock started (as the server did before attempts were
    counted when queued) must not log in: the lock is re-checked at the verdict."""
    for _ in range(3):
        assert throttle.start("alice")
        throttle.failure("alice")
    clock.now += 4.0
    assert throttle.success("alice") == pytest.approx(6.0)  # refused, with the time left
    assert throttle.locked_for("alice") == pytest.approx(6.0)  # and still locked


def test_a_failure_while_locked_does_not_extend_the_lock(throttle, clock):
    for _ in range(3):
        assert throttle.start("alice")
        throttle.failure("alice")
    clock.now += 7.0
    assert throttle.failure("alice") == pytest.approx(3.0)
    assert throttle.locked_for("alice") == pytest.approx(3.0)
    clock.now += 3.0
    assert throttle.locked_for("alice") == 0.0
    assert throttle.start("alice")  # counting afresh
