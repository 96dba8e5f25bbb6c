"""Flood control: the token bucket with its penalty box, driven by a fake clock."""

from __future__ import annotations

import pytest

from messenger.server.ratelimit import PENALTY_SECONDS, TokenBucket


def test_a_burst_then_the_rate_then_a_penalty_box():
    bucket = TokenBucket(rate=2.0, burst=4.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [0.0] * 4  # the burst
    assert bucket.take(0.1) == PENALTY_SECONDS  # empty: refused, and boxed
    # In the box everything is refused, although tokens trickle in (order is kept).
    assert bucket.take(0.9) == pytest.approx(0.1 + PENALTY_SECONDS - 0.9)
    assert bucket.take(1.1) == 0.0  # out: 2 tokens came in a second
    assert bucket.take(1.1) == 0.0
    assert bucket.take(1.1) > 0


def test_tokens_never_pile_up_beyond_the_burst():
    bucket = TokenBucket(rate=10.0, burst=3.0, now=0.0)
    assert [bucket.take(1000.0) for _ in range(3)] == [0.0] * 3
    assert bucket.take(1000.0) == PENALTY_SECONDS
