"""Password hashing (argon2id) and the login lock-out rule. Plain classes, no I/O."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    """Hash and verify passwords with argon2id (RFC 9106; argon2-cffi's default parameters).

    ``verify_or_dummy`` spends the same time whether or not the account exists, so a wrong
    user name cannot be told from a wrong password by timing.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher(type=Type.ID)
        self._dummy = self._hasher.hash("not a password of anyone")

    def hash(self, password: str) -> str:
        """Return the encoded argon2id hash (``$argon2id$v=19$m=…``) of ``password``."""
        return self._hasher.hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        """True when ``password`` matches ``encoded``; with ``encoded`` None, hash a dummy and
        return False."""
        try:
            self._hasher.verify(encoded or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return encoded is not None

    def needs_rehash(self, encoded: str) -> bool:
        return self._hasher.check_needs_rehash(encoded)


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    """Lock a login name after ``max_failures`` consecutive failures for ``lockout_seconds``.

    Keys are case-folded login names, existing or not, so that the lock-out cannot reveal
    whether an account exists. A success resets the count. ``clock`` returns seconds
    (monotonic); tests pass their own.

    A password check takes a while (argon2id on a worker), so attempts are counted from the
    moment they are queued: :meth:`start` refuses an attempt while the failures so far plus the
    attempts still being checked reach ``max_failures``, so parallel connections get no more
    guesses than one connection would. Every started attempt ends in exactly one of
    :meth:`success`, :meth:`failure` or :meth:`abandon`.
    """

    MAX_TRACKED = 100_000

    def __init__(self, max_failures: int = 3, lockout_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= max_failures <= 5:
            raise ValueError("max_failures must be between 1 and 5")
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._clock = clock
        self._state: dict[str, _Failures] = {}
        # Attempts started and not ended, by key. Bounded by the server's hashing queue.
        self._checking: dict[str, int] = {}

    def locked_for(self, key: str) -> float:
        """Seconds ``key`` stays locked (0.0 when it is not locked)."""
        state = self._state.get(key)
        if state is None:
            return 0.0
        left = state.locked_until - self._clock()
        if left <= 0 and state.locked_until:
            # The lock ran out: start counting afresh.
            del self._state[key]
            return 0.0
        return max(left, 0.0)

    def checking(self, key: str) -> int:
        """Attempts for ``key`` started and not ended yet."""
        return self._checking.get(key, 0)

    def start(self, key: str) -> bool:
        """Count an attempt for ``key`` whose password is about to be checked. False (and
        nothing counted) when ``key`` is locked, or when its failures plus the attempts being
        checked reach ``max_failures``: were they all to fail, this one would be a guess
        past the limit."""
        if self.locked_for(key) > 0:
            return False
        state = self._state.get(key)
        if (state.count if state else 0) + self.checking(key) >= self.max_failures:
            return False
        self._checking[key] = self.checking(key) + 1
        return True

    def _end(self, key: str) -> None:
        left = self.checking(key) - 1
        if left > 0:
            self._checking[key] = left
        else:
            self._checking.pop(key, None)

    def abandon(self, key: str) -> None:
        """End a started attempt without a verdict (the check itself failed)."""
        self._end(key)

    def failure(self, key: str) -> float:
        """End an attempt as failed; return the lock-out in seconds it started (0.0 if none).
        A lock already running is not extended: its seconds left are returned."""
        self._end(key)
        locked = self.locked_for(key)
        if locked > 0:
            return locked
        if len(self._state) >= self.MAX_TRACKED and key not in self._state:
            self._expire()
        state = self._state.setdefault(key, _Failures())
        state.count += 1
        if state.count >= self.max_failures:
            state.count = 0
            state.locked_until = self._clock() + self.lockout_seconds
            return self.lockout_seconds
        return 0.0

    def success(self, key: str) -> float:
        """End an attempt whose password was right. When ``key`` is locked meanwhile, the
        login must be refused: return the seconds left and keep the lock. Otherwise the
        failure count starts again at zero and 0.0 is returned."""
        self._end(key)
        locked = self.locked_for(key)
        if locked > 0:
            return locked
        self._state.pop(key, None)
        return 0.0

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._state.items() if s.locked_until <= now]:
            del self._state[key]
