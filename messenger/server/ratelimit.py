"""Flood control for what an account writes: a token bucket with a penalty box; for what
peers put into the server's log (:class:`LogBudget`) and the logins refused while a name is
locked put into the activity log (:class:`LockedLogins`); and what the per-address limits
count as one address (:func:`address_block`). Plain Python, no Qt:
:class:`~messenger.server.core.ServerCore` holds one bucket per account."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

PENALTY_SECONDS = 1.0
"""After a refusal, everything is refused for this long (s): a client that pipelines its
sends gets them all back and resends them in order, instead of having every other one
taken as tokens trickle in (which would reorder its messages)."""


IPV6_BLOCK_BITS = 64
"""The IPv6 prefix that counts as one address for the per-address limits: one subscriber's
/64 (RFC 6177 §3, RFC 7421 §1: a host may take any of its 2^64 addresses at will)."""


def address_block(host: str,
                  local_networks: Collection[ipaddress.IPv6Network] = ()) -> str:
    """What the per-address limits count ``host`` (an IP address as Qt prints it) as: an
    IPv4 address itself, also when mapped into IPv6 (``::ffff:192.0.2.7`` → ``192.0.2.7``);
    a global IPv6 address as its /64 (``2001:db8::1`` → ``2001:db8::/64``), or a client
    with a /64 of its own would have 2^64 addresses' worth of allowance. Not so for an IPv6
    address on a network of this server's own (``local_networks``: the /64s of its
    interfaces) nor a private one (link-local ``fe80::/10``, unique local ``fc00::/7``,
    loopback), as for private IPv4: there a /64 is a whole classroom or office, one
    computer per address. Anything else (not an IP address) is returned as it is."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if address.is_private or any(address in net for net in local_networks):
            return str(address)
        return str(ipaddress.IPv6Network((address, IPV6_BLOCK_BITS), strict=False))
    return str(address)


def peer_address(host: str, port: int) -> str:
    """``host`` (an IP address as Qt prints it) and ``port`` as the logs and ``roster``
    show them: ``192.0.2.7:50312``, also for an IPv4 client of a server on ``::`` (Qt
    prints ``::ffff:192.0.2.7``), and ``[2001:db8::1]:50312`` for IPv6, whose address and
    port a bare colon cannot tell apart (an operator hunt)."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return f"{host}:{port}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"{address.ipv4_mapped}:{port}"
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def local_ipv6_networks(addresses: Iterable[str]) -> frozenset[ipaddress.IPv6Network]:
    """The /64s of this computer's global IPv6 ``addresses`` (its interfaces'), for
    :func:`address_block`."""
    nets = set()
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.partition("%")[0])
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address) and not address.is_private:
            nets.add(ipaddress.IPv6Network((address, IPV6_BLOCK_BITS), strict=False))
    return frozenset(nets)


class TokenBucket:
    """Allows ``rate`` actions a second on average and bursts of up to ``burst`` (the
    classic token bucket, RFC 2697 §3's committed burst without the colours); once empty,
    refuses everything for :data:`PENALTY_SECONDS`.

    Args:
        rate: tokens added per second (> 0).
        burst: the bucket's size, and what it starts with.
    """

    __slots__ = ("blocked_until", "burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now
        self.blocked_until = 0.0

    def take(self, now: float) -> float:
        """Take one token at monotonic time ``now`` (s): 0.0 when allowed, else the seconds
        to wait before trying again."""
        if now < self.blocked_until:
            return self.blocked_until - now
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        self.blocked_until = now + PENALTY_SECONDS
        return PENALTY_SECONDS


LOG_LINES_PER_BLOCK = 20
"""Lines a minute that one address block's connections may put into the server's log one by
one (refused requests, protocol errors, failed TLS handshakes, ...); the rest are counted."""
LOG_LINES_TOTAL = 600
"""The same for all addresses together (many addresses, one flood)."""
LOG_SUMMARIES = 20
"""Summing-up lines one :meth:`LogBudget.sum_up` writes one by one; the rest in one line."""
LOG_BLOCKS_KEPT = 10_000
"""Address blocks counted at once; past it the counts start over (nothing is lost but lines)."""


class LogBudget:
    """How many log lines peers may cause, so that no client rotates ``server.log`` away
    (the certificate's fingerprint line with it): 300 pings before ``hello`` were 300 lines,
    40,000 tiny frames (under 1 MB) all five files. Each address block (:func:`address_block`)
    has :data:`LOG_LINES_PER_BLOCK` lines a minute and all of them together
    :data:`LOG_LINES_TOTAL`; what is over is counted, and one line per block sums it up once
    its minute is over (:meth:`sum_up`, called on the server's idle timer, and by the next
    :meth:`allow` of that block), :data:`LOG_SUMMARIES` at most, then one for the rest;
    lines past the total are summed up in one line for all addresses (5,000 addresses wrote
    5,000 summing-up lines; a review).

    Args:
        logger: where the summing-up lines go.
        per_block, total: lines a window, per block and in all.
        window: seconds.
        clock: monotonic seconds (default :func:`time.monotonic`, looked up at each call).
        what: what the lines are, for the summing-up lines.
    """

    def __init__(self, logger: logging.Logger, *, per_block: int = LOG_LINES_PER_BLOCK,
                 total: int = LOG_LINES_TOTAL, window: float = 60.0,
                 clock: Callable[[], float] | None = None,
                 what: str = "refused requests, protocol errors, failed connections") -> None:
        self._log = logger
        self._what = what
        self.per_block = per_block
        self.total = total
        self.window = window
        self._clock = clock or (lambda: time.monotonic())
        self._blocks: dict[str, list[float | int]] = {}  # block → [since, lines, over]
        self._since = self._clock()
        self._lines = 0
        self._over_total = 0  # lines refused in this window because of the total
        self._over_blocks: set[str] = set()  # (their addresses, up to LOG_BLOCKS_KEPT)

    def allow(self, block: str) -> bool:
        """Whether a line caused by ``block`` may be logged now (it is counted either way)."""
        now = self._clock()
        if now - self._since >= self.window:
            self._sum_up_total()
            self._since, self._lines = now, 0
        if self._lines >= self.total:
            self._over_total += 1
            if len(self._over_blocks) < LOG_BLOCKS_KEPT:
                self._over_blocks.add(block)
            return False
        entry = self._blocks.get(block)
        if entry is not None and now - entry[0] >= self.window:
            self._sum_up(block, entry)
            entry = None
        if entry is None:
            if len(self._blocks) >= LOG_BLOCKS_KEPT:
                self.sum_up(force=True)
            entry = self._blocks[block] = [now, 0, 0]
        if entry[1] < self.per_block:
            entry[1] += 1
            self._lines += 1
            return True
        entry[2] += 1
        return False

    def sum_up(self, force: bool = False) -> None:
        """Log the count of lines not logged for each block whose window is over (all of
        them with ``force``), and forget those blocks; likewise the lines past the total."""
        now = self._clock()
        if force or now - self._since >= self.window:
            self._sum_up_total()
        written = more = blocks = 0
        for block, entry in list(self._blocks.items()):
            if force or now - entry[0] >= self.window:
                if written < LOG_SUMMARIES:
                    written += self._sum_up(block, entry)
                else:
                    del self._blocks[block]
                    more, blocks = more + int(entry[2]), blocks + (entry[2] > 0)
        if more:
            self._log.warning("%d more log lines about %d other addresses within a minute, "
                              "not written one by one", more, blocks)

    def _sum_up(self, block: str, entry: list[float | int]) -> int:
        """Forget ``block``; the summing-up lines written for it (0 or 1)."""
        del self._blocks[block]
        if not entry[2]:
            return 0
        self._log.warning("%d more log lines about %s within a minute (%s), not written "
                          "one by one", entry[2], block, self._what)
        return 1

    def _sum_up_total(self) -> None:
        if self._over_total:
            self._log.warning("%d more log lines about %d addresses within a minute, past the "
                              "%d a minute in all, not written one by one", self._over_total,
                              len(self._over_blocks), self.total)
        self._over_total = 0
        self._over_blocks = set()


LOCKS_KEPT = 10_000
"""Locked names whose refused logins :class:`LockedLogins` counts at once; past it, they are
all summed up (nothing is lost but the lines one by one)."""
LOCK_ADDRESSES_NAMED = 3
"""Addresses a summing-up line of :class:`LockedLogins` names; the rest are counted."""
LOCK_ADDRESSES_KEPT = 1_000
"""Addresses counted per lock; past it, "1000 or more"."""


@dataclass(slots=True)
class _Lock:
    who: str
    until: float
    refused: int = 0  # after the first
    hosts: dict[str, None] = field(default_factory=dict)  # (in order of their first refusal)


class LockedLogins:
    """Logins refused because their name is locked, for the activity log: the first refusal
    of each lock is written one by one (by the caller), the rest of that lock's are counted and
    summed up in one line once the lock is over (:meth:`sum_up`). A line for each refusal let
    anyone who can reach the port rotate the activity log away, the record of an intrusion
    with it: 100,000 logins for a locked name on one connection, answered at once (a hunt).

    Args:
        logger: where the summing-up lines go (the activity log).
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._locks: dict[str, _Lock] = {}  # throttle key → its lock's refusals

    def __len__(self) -> int:
        return len(self._locks)

    def refused(self, key: str, who: str, host: str, until: float) -> bool:
        """Count a login for name ``key`` (``who``, as the log names it) from IP address
        ``host``, refused during the lock that ends at ``until`` (any number that stays the
        same for the whole lock: :meth:`~.auth.LoginThrottle.lock_ends`). True when it is the
        lock's first refusal, to be written one by one."""
        lock = self._locks.get(key)
        if lock is not None and lock.until != until:  # (a lock after one not summed up yet)
            self._sum_up(key, lock)
            lock = None
        if lock is None:
            if len(self._locks) >= LOCKS_KEPT:
                self.sum_up(lambda _key, _until: False)
            self._locks[key] = _Lock(who, until, hosts={host: None})
            return True
        lock.refused += 1
        if len(lock.hosts) < LOCK_ADDRESSES_KEPT:
            lock.hosts[host] = None
        return False

    def sum_up(self, holds: Callable[[str, float], bool]) -> None:
        """Write the summing-up line of each lock that is over (``holds(key, until)`` False)
        and forget it."""
        for key, lock in list(self._locks.items()):
            if not holds(key, lock.until):
                self._sum_up(key, lock)

    def _sum_up(self, key: str, lock: _Lock) -> None:
        del self._locks[key]
        if not lock.refused:
            return
        hosts = list(lock.hosts)
        named = ", ".join(hosts[:LOCK_ADDRESSES_NAMED])
        if len(hosts) > LOCK_ADDRESSES_NAMED:
            others = len(hosts) - LOCK_ADDRESSES_NAMED
            more = "or more " if len(hosts) >= LOCK_ADDRESSES_KEPT else ""
            named += f" and {others} {more}other address{'es' if others > 1 else ''}"
        self._log.warning("%d more logins for %s refused while it was locked (from %s)",
                          lock.refused, lock.who, named)
