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

    def failure(self, key: str) -> float:
        """Record a failed login; return the lock-out in seconds it started (0.0 if none)."""
        if len(self._state) >= self.MAX_TRACKED and key not in self._state:
            self._expire()
        state = self._state.setdefault(key, _Failures())
        state.count += 1
        if state.count >= self.max_failures:
            state.count = 0
            state.locked_until = self._clock() + self.lockout_seconds
            return self.lockout_seconds
        return 0.0

    def success(self, key: str) -> None:
        """Record a successful login: the failure count starts again at zero."""
        self._state.pop(key, None)

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._state.items() if s.locked_until <= now]:
            del self._state[key]
