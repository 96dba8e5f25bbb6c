"""Reconnect and heartbeat decisions, as plain classes (no Qt, no sockets).

:class:`Backoff` spaces reconnect attempts; :class:`Heartbeat` decides when to ping and when a
link is dead. The engine owns the timers and calls these with the current time.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Exponential backoff with jitter for reconnect attempts.

    The n-th delay (n = 0, 1, …) is drawn uniformly from ``[d/2, d]`` with
    ``d = min(maximum, 2 · initial · 2ⁿ)`` ("equal jitter"), so clients that lost the same
    server at the same moment spread out from the first attempt on, and every delay lies
    between ``initial`` and ``maximum``: the first in ``[initial, 2 · initial]``, the last
    ones in ``[maximum/2, maximum]``.

    Args:
        initial: first delay bound in seconds (0.5).
        maximum: largest delay in seconds (30).
        rng: ``random.random``-like source of [0, 1) for tests.
    """

    def __init__(self, initial: float = 0.5, maximum: float = 30.0,
                 rng: Callable[[], float] = random.random) -> None:
        self.initial = initial
        self.maximum = maximum
        self._rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; counts the attempt."""
        bound = min(self.maximum, 2 * self.initial * (2 ** min(self.attempts, 32)))
        self.attempts += 1
        return bound / 2 + self._rng() * bound / 2

    def reset(self) -> None:
        """After a successful login: the next loss starts again from ``initial``."""
        self.attempts = 0


class Heartbeat:
    """When to ping and when to give a silent link up.

    Any frame received counts as a sign of life. After ``interval`` seconds of silence the
    client sends a ``ping``; after ``timeout`` seconds of silence the link is dead. Times come
    from a monotonic clock; a machine that slept past ``timeout`` is seen as dead at the first
    check after waking.

    Args:
        interval: silence before a ping, seconds (5).
        timeout: silence before the link counts as dead, seconds (14: checked once a second,
            a dead link is then noticed within 15 s, as issue 4 asks).
    """

    def __init__(self, interval: float = 5.0, timeout: float = 14.0) -> None:
        if not 0 < interval < timeout:
            raise ValueError("need 0 < interval < timeout")
        self.interval = interval
        self.timeout = timeout
        self._last_rx = 0.0
        self._last_ping = 0.0

    def received(self, now: float) -> None:
        self._last_rx = now

    def check(self, now: float) -> str:
        """``"dead"``, ``"ping"`` (send one now) or ``"ok"``."""
        silent = now - self._last_rx
        if silent >= self.timeout:
            return "dead"
        if silent >= self.interval and now - self._last_ping >= self.interval:
            self._last_ping = now
            return "ping"
        return "ok"
