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


MAX_LOCKOUT_SECONDS = 900.0
"""The longest lock of a name (s): each lock in a row doubles the next, up to this."""
FORGET_LOCKS_SECONDS = 3600.0
"""A name's locks in a row are forgotten after this long (s) without a failure for it."""
HOST_FAILURE_BURST = 20
"""Failed logins one IP address may make at once, across all names."""
HOST_FAILURE_REFILL_SECONDS = 30.0
"""After :data:`HOST_FAILURE_BURST`, one more failed login per this many seconds (s)."""
KNOWN_ADDRESSES_PER_NAME = 16
"""The most addresses kept as known for one name (the oldest goes): one account logging in
from address after address cannot push everyone else's out of the table."""
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600.0
"""How long (s) after its last login from an address (its /64 for IPv6) a name's logins
from there count apart (:meth:`LoginThrottle.lock_key`)."""


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0
    locks: int = 0  # locks in a row: the next one lasts lockout_seconds * 2**locks
    last: float = 0.0  # monotonic time of the last failure


class LoginThrottle:
    """Lock a login name after ``max_failures`` consecutive failures, for ``lockout_seconds``
    the first time and twice as long each time again (up to :data:`MAX_LOCKOUT_SECONDS`;
    the doubling is forgotten after a success or :data:`FORGET_LOCKS_SECONDS` without a
    failure); and give each IP address a budget of failures across all names
    (:data:`HOST_FAILURE_BURST`, then one per :data:`HOST_FAILURE_REFILL_SECONDS`; a token
    bucket): a guesser gets a few guesses an hour per name, and cannot guess every name of
    the roster at once at full speed (a security review: 3 guesses per 10 s per name,
    without end, for every name at once).

    Logins of a name from an address it logged in from within :data:`KNOWN_ADDRESS_SECONDS`
    count apart (:meth:`lock_key`) and skip the address budget: a guesser elsewhere who keeps
    a name locked (13 guesses an hour did it all day; a review) does not lock its owner out
    where the owner usually logs in, and one guesser behind an office's shared address does
    not shut out colleagues who logged in from there before. A guesser at that address still
    gets a few guesses per lock of the pair. Kept in memory, like the locks.

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
                 clock: Callable[[], float] = time.monotonic, *,
                 host_burst: int = HOST_FAILURE_BURST,
                 host_refill_seconds: float = HOST_FAILURE_REFILL_SECONDS) -> None:
        if not 1 <= max_failures <= 5:
            raise ValueError("max_failures must be between 1 and 5")
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.host_burst = host_burst
        self.host_refill_seconds = host_refill_seconds
        self._clock = clock
        self._state: dict[str, _Failures] = {}
        # IP address → (failures it may still make, when that was worked out)
        self._hosts: dict[str, tuple[float, float]] = {}
        # Attempts started and not ended, by key. Bounded by the server's hashing queue.
        self._checking: dict[str, int] = {}
        # (name key, address) → when the name last logged in from there (clock seconds)
        self._known: dict[tuple[str, str], float] = {}
        self._known_hosts: dict[str, list[str]] = {}  # name key → its known addresses

    def lock_key(self, key: str, host: str) -> str:
        """The key a login of name ``key`` from address ``host`` counts under (for
        :meth:`locked_for`, :meth:`start` and the verdicts): ``key``, or from an address
        the name logged in from within :data:`KNOWN_ADDRESS_SECONDS` (:meth:`remember`),
        ``"key@host"``, whose failures and locks are the pair's own."""
        when = self._known.get((key, host))
        if when is None:
            return key
        if self._clock() - when > KNOWN_ADDRESS_SECONDS:
            del self._known[(key, host)]
            hosts = self._known_hosts.get(key)
            if hosts is not None and host in hosts:
                hosts.remove(host)
            return key
        return f"{key}@{host}"

    def remember(self, key: str, host: str) -> None:
        """Name ``key`` logged in from ``host`` (its password was right), or was registered
        from there. A name keeps
        its :data:`KNOWN_ADDRESSES_PER_NAME` latest addresses."""
        hosts = self._known_hosts.setdefault(key, [])
        if host in hosts:
            hosts.remove(host)
        elif len(hosts) >= KNOWN_ADDRESSES_PER_NAME:
            self._known.pop((key, hosts.pop(0)), None)
        hosts.append(host)
        if len(self._known) >= self.MAX_TRACKED and (key, host) not in self._known:
            for pair in sorted(self._known, key=self._known.__getitem__)[
                    :len(self._known) // 2]:  # (the oldest half)
                del self._known[pair]
                left = self._known_hosts.get(pair[0])
                if left is not None and pair[1] in left:
                    left.remove(pair[1])
                    if not left:
                        del self._known_hosts[pair[0]]
        self._known[(key, host)] = self._clock()

    def locked_for(self, key: str) -> float:
        """Seconds ``key`` stays locked (0.0 when it is not locked)."""
        state = self._state.get(key)
        if state is None:
            return 0.0
        now = self._clock()
        left = state.locked_until - now
        if left <= 0 and state.locked_until:
            # The lock ran out: start counting afresh (the next lock still doubles).
            state.locked_until = 0.0
            if not state.locks or now - state.last > FORGET_LOCKS_SECONDS:
                del self._state[key]
            return 0.0
        return max(left, 0.0)

    def lock_ends(self, key: str) -> float:
        """When ``key``'s lock ends, on this throttle's clock (0.0 when it was never locked
        or its lock is over and forgotten): the same number for the whole of one lock."""
        state = self._state.get(key)
        return state.locked_until if state is not None else 0.0

    def host_wait(self, host: str) -> float:
        """Seconds until IP address ``host`` may try a password again (0.0: it may now), by
        its budget of failures across all names."""
        tokens = self._host_tokens(host, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) * self.host_refill_seconds

    def _host_tokens(self, host: str, now: float) -> float:
        tokens, stamp = self._hosts.get(host, (float(self.host_burst), now))
        return min(float(self.host_burst), tokens + (now - stamp) / self.host_refill_seconds)

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

    def failure(self, key: str, host: str | None = None) -> float:
        """End an attempt as failed (from IP address ``host``, which spends one of its
        budget); return the lock-out in seconds it started (0.0 if none). A lock already
        running is not extended: its seconds left are returned."""
        self._end(key)
        now = self._clock()
        if host is not None:
            if len(self._hosts) >= self.MAX_TRACKED and host not in self._hosts:
                self._expire()
            # (checks already running when the budget ran out may take it below zero)
            self._hosts[host] = (max(-float(self.host_burst),
                                     self._host_tokens(host, now) - 1.0), now)
        locked = self.locked_for(key)
        if locked > 0:
            return locked
        if len(self._state) >= self.MAX_TRACKED and key not in self._state:
            self._expire()
        state = self._state.setdefault(key, _Failures())
        if now - state.last > FORGET_LOCKS_SECONDS:
            state.locks = 0
        state.count += 1
        state.last = now
        if state.count >= self.max_failures:
            seconds = min(self.lockout_seconds * 2 ** min(state.locks, 30),
                          max(MAX_LOCKOUT_SECONDS, self.lockout_seconds))
            state.count = 0
            state.locks += 1
            state.locked_until = now + seconds
            return seconds
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
        for key in [k for k, s in self._state.items()
                    if s.locked_until <= now and now - s.last > FORGET_LOCKS_SECONDS]:
            del self._state[key]
        if len(self._state) >= self.MAX_TRACKED:  # (a flood of names: forget unlocked ones)
            for key in [k for k, s in self._state.items() if s.locked_until <= now]:
                del self._state[key]
        for host in [h for h in self._hosts if self._host_tokens(h, now) >= self.host_burst]:
            del self._hosts[host]
        if len(self._hosts) >= self.MAX_TRACKED:  # (addresses without end: the oldest go)
            for host in sorted(self._hosts, key=lambda h: self._hosts[h][1])[
                    :len(self._hosts) // 2]:
                del self._hosts[host]
