"""Reconnect and heartbeat decisions, as plain classes (no Qt, no sockets).

:class:`Backoff` spaces reconnect attempts; :class:`Heartbeat` decides when to ping and when a
link is dead; :class:`OfflineGrace` holds back a contact's going offline for a few seconds. The
engine owns the timers and calls these with the current time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


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


class OfflineGrace(Generic[T]):
    """Which contacts' going offline is held back, and until when.

    A contact whose link blips (Wi-Fi drops for a moment, their app reconnects within a
    second) is announced offline, then online again: each time their conversation got "alice
    is offline." / "alice is online." and their row jumped down the list and back. Held for
    ``grace`` seconds, an offline that is followed by an online within them is dropped, and
    nothing shows; one still standing when they have passed is due (:meth:`due`) and
    applied then.

    Args:
        grace: seconds an offline is held back.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._held: dict[str, tuple[float, T]] = {}  # key → (due at, what to apply then)

    def hold(self, key: str, item: T, now: float) -> None:
        """``key`` went offline at ``now``: keep ``item`` (the event) until it is due. A
        second offline keeps the first one's time (it was offline since then)."""
        due = self._held[key][0] if key in self._held else now + self.grace
        self._held[key] = (due, item)

    def back(self, key: str) -> bool:
        """``key`` is online again: True when its offline was held (dropped now: it never
        shows)."""
        return self._held.pop(key, None) is not None

    def held(self, key: str) -> bool:
        """Whether an offline of ``key`` is held back."""
        return key in self._held

    def due(self, now: float) -> list[T]:
        """The held offlines whose time has come, oldest first; forgotten here."""
        ready = sorted((due, key) for key, (due, _) in self._held.items() if due <= now)
        return [self._held.pop(key)[1] for _, key in ready]

    def next_due(self) -> float | None:
        """When the next held offline is due (None: none is held)."""
        return min((due for due, _ in self._held.values()), default=None)

    def clear(self) -> None:
        """Forget them all (a login's roster says how everyone is)."""
        self._held.clear()
