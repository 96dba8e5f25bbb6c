"""Flood control: the token bucket with its penalty box, and the log budget, driven by a fake
clock."""

from __future__ import annotations

import logging

import pytest

from messenger.server.ratelimit import (
    LOG_SUMMARIES,
    PENALTY_SECONDS,
    LogBudget,
    TokenBucket,
    peer_address,
)


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


def test_the_log_budget_bounds_lines_per_address_and_in_all_and_sums_up_the_rest(caplog):
    """Lines peers cause (refused requests, failed handshakes, ...): 3 a window per address
    block here and 5 in all, the rest counted and summed up per block once its window is
    over (many addresses, one flood, must not rotate the log away either)."""
    now = [100.0]
    logger = logging.getLogger("messenger.server.test_budget")
    budget = LogBudget(logger, per_block=3, total=5, window=60.0, clock=lambda: now[0])
    assert [budget.allow("10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert [budget.allow("10.0.0.2") for _ in range(3)] == [True, True, False]  # (5 in all)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        budget.sum_up()
        assert not caplog.records  # (the window is not over)
        now[0] += 60.0
        budget.sum_up()
    assert sorted(r.getMessage().split(" within")[0] for r in caplog.records) == [
        "1 more log lines about 1 addresses", "1 more log lines about 10.0.0.1"]
    assert budget.allow("10.0.0.2")  # a new window
    # Past the total, many addresses are summed up in one line, not one each (a review);
    # so are summing-up lines past LOG_SUMMARIES.
    caplog.clear()
    budget = LogBudget(logger, per_block=1, total=30, window=60.0, clock=lambda: now[0])
    for n in range(100):
        budget.allow(f"10.1.0.{n}")
        budget.allow(f"10.1.0.{n}")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        now[0] += 60.0
        budget.sum_up()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == LOG_SUMMARIES + 2, lines
    assert any(line.startswith("141 more log lines about 71 addresses") for line in lines)


@pytest.mark.parametrize("host, shown, bare", [
    ("192.0.2.7", "192.0.2.7:50312", "192.0.2.7"),
    ("::ffff:192.0.2.7", "192.0.2.7:50312", "192.0.2.7"),
    ("::1", "[::1]:50312", "::1"),
    ("fd00::2", "[fd00::2]:50312", "fd00::2"),
    ("fe80::1%eth0", "[fe80::1%eth0]:50312", "fe80::1%eth0"),
])
def test_a_peer_address_is_shown_so_address_and_port_can_be_told_apart(host, shown, bare):
    """The activity log and /users showed "::1:50312" and "::ffff:192.0.2.7:50312" (a
    server on `--host ::`): an IPv6 address and its port cannot be told apart."""
    from messenger.server.core import Session

    assert peer_address(host, 50312) == shown
    assert Session(1, shown).host == bare
