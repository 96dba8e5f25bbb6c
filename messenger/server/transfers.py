"""Signalling of peer-to-peer transfers: offers, answers and per-transfer secrets.

The bytes of a transfer never pass through the server. It relays an offer to the recipient,
issues the per-transfer ``secret`` over TLS to both sides (the sender proves itself with it as
the first bytes of the QUIC stream), relays the receiver's UDP endpoint and certificate
fingerprint back, and forgets the transfer when it is answered negatively, cancelled, or older
than ``ttl`` seconds. One sender may have at most ``max_per_sender`` offers waiting for an
answer (and :data:`MAX_ACCEPTED_PER_SENDER` accepted ones), so that offers cannot pile up in
the server's memory. A plain class: no sockets.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass
from typing import Any

from messenger.protocol import ErrorCode, name_key

from .groups import RuleError

SHA256_HEX = frozenset("0123456789abcdef")
MAX_OPEN_PER_SENDER = 100
"""Default bound on the offers one user may have waiting for an answer (offered and not yet
accepted, declined, cancelled or expired)."""

MAX_ACCEPTED_PER_SENDER = 10_000
"""Bound on the accepted transfers one user may have open (they stay open for resuming until
cancelled or expired); far above what a day of sending files makes."""


@dataclass
class Transfer:
    """One offer: who sends what to whom, its secret, and whether it was accepted."""

    transfer_id: str
    sender: str
    recipient: str
    name: str
    size: int
    sha256: str
    secret: str
    created: float
    accepted: bool = False
    accepted_by: Hashable | None = None
    """The session (connection id) that accepted: only it may accept again while online."""
    root: str = ""
    """A resume's first attempt (the transfer its chain of resumes began with), or ""."""
    offered_from: Hashable | None = None
    """The sender's session (connection id) that made the offer."""
    sender_elsewhere: frozenset[Hashable] = frozenset()
    """The sender's other sessions when it was made (other devices: they never had it, so
    cannot send it)."""
    offered: Any = None
    """The ``transfer_offered`` event the recipient's sessions got (sent again to a session
    of theirs that logs in while the offer waits)."""

    def party(self, user: str) -> bool:
        return name_key(user) in (name_key(self.sender), name_key(self.recipient))

    def other(self, user: str) -> str:
        return self.recipient if name_key(user) == name_key(self.sender) else self.sender


class Transfers:
    """Open transfers by id. Raises :class:`RuleError` (a coded rule error) on bad requests.

    Transfers older than ``ttl`` seconds (of ``clock``, monotonic: a wall clock set forward a
    day would have expired every offer) are forgotten: swept from the oldest at each offer and
    look-up (amortised constant time: ``_order`` is in creation order), and never found."""

    def __init__(self, ttl: float = 24 * 3600.0, clock: Callable[[], float] = time.monotonic,
                 max_per_sender: int = MAX_OPEN_PER_SENDER) -> None:
        self.ttl = ttl
        self.max_per_sender = max_per_sender
        self._clock = clock
        self._open: dict[str, Transfer] = {}
        # Every open transfer, oldest first, and closed ones not yet popped: a deque, since
        # finding a dict's first item after many deletions at its front scans their slots.
        self._order: deque[Transfer] = deque()
        self._by_sender: dict[str, int] = {}  # sender key → open transfers
        self._waiting_by_sender: dict[str, int] = {}  # sender key → offers not accepted yet
        # recipient key → ids of those offers (a dict: in the order they were made)
        self._waiting_to: dict[str, dict[str, None]] = {}
        self.expired: list[Transfer] = []
        """Offers forgotten unanswered by :meth:`sweep`, for the core to tell both sides of
        (it empties the list)."""

    def __len__(self) -> int:
        return len(self._open)

    def open_by(self, sender: str) -> int:
        """How many transfers ``sender`` has open (waiting for an answer or accepted)."""
        return self._by_sender.get(name_key(sender), 0)

    def waiting_by(self, sender: str) -> int:
        """How many of ``sender``'s offers wait for an answer."""
        return self._waiting_by_sender.get(name_key(sender), 0)

    @staticmethod
    def check(name: str, size: int, sha256: str) -> None:
        """Raise RuleError(bad_request) for an ill-formed offer."""
        if not name or len(name) > 255:
            raise RuleError(ErrorCode.BAD_REQUEST, "a file name has 1-255 characters")
        if size < 0:
            raise RuleError(ErrorCode.BAD_REQUEST, "size must not be negative")
        if len(sha256) != 64 or not set(sha256) <= SHA256_HEX:
            raise RuleError(ErrorCode.BAD_REQUEST, "sha256 must be 64 lower-case hex digits")

    def offer(self, sender: str, recipient: str, name: str, size: int, sha256: str) -> Transfer:
        """A new open transfer. Raises RuleError(bad_request) for an ill-formed offer, and
        RuleError(rate_limited) when ``sender`` has ``max_per_sender`` offers waiting for an
        answer (or :data:`MAX_ACCEPTED_PER_SENDER` transfers open)."""
        self.check(name, size, sha256)
        self.sweep()
        if self.waiting_by(sender) >= self.max_per_sender:
            raise RuleError(
                ErrorCode.RATE_LIMITED,
                f"you have {self.max_per_sender} file offers waiting for an answer, the most "
                f"the server keeps: cancel some, or wait until they are answered or expire "
                f"(after {self.ttl / 3600:g} h), before offering more")
        if self.open_by(sender) >= self.max_per_sender + MAX_ACCEPTED_PER_SENDER:
            raise RuleError(
                ErrorCode.RATE_LIMITED,
                f"you have {self.open_by(sender):,} file transfers open, the most the server "
                f"keeps: wait until some expire (after {self.ttl / 3600:g} h)")
        transfer = Transfer(secrets.token_hex(8), sender, recipient, name, size, sha256,
                            secrets.token_hex(32), self._clock())
        self._open[transfer.transfer_id] = transfer
        self._order.append(transfer)
        if len(self._order) > 2 * len(self._open) + 64:  # mostly closed ones: compact
            self._order = deque(t for t in self._order
                                if self._open.get(t.transfer_id) is t)
        key = name_key(sender)
        self._by_sender[key] = self._by_sender.get(key, 0) + 1
        self._waiting_by_sender[key] = self._waiting_by_sender.get(key, 0) + 1
        self._waiting_to.setdefault(name_key(recipient), {})[transfer.transfer_id] = None
        return transfer

    def waiting_to(self, recipient: str) -> list[Transfer]:
        """The offers to ``recipient`` not accepted yet, oldest first."""
        ids = self._waiting_to.get(name_key(recipient), {})
        return [self._open[i] for i in ids if i in self._open]

    def lapse(self, recipient: str) -> list[Transfer]:
        """Forget and return the offers to ``recipient`` not accepted yet: they went offline
        (their last session ended), so nobody can answer them, and an offer that reached a
        connection not yet found dead was never seen. Accepted transfers stay (a resume)."""
        ids = self._waiting_to.pop(name_key(recipient), {})
        lapsed = [self._open[i] for i in ids if i in self._open]
        for transfer in lapsed:
            self._forget(transfer)
        return lapsed

    def get(self, user: str, transfer_id: str) -> Transfer:
        """The transfer, provided ``user`` is one of its two parties."""
        self.sweep()
        transfer = self._open.get(transfer_id)
        if transfer is not None and transfer.created < self._clock() - self.ttl:
            self._forget(transfer)  # (out of creation order when the clock went back)
            if not transfer.accepted and len(self.expired) < 10_000:
                self.expired.append(transfer)
            transfer = None
        if transfer is None or not transfer.party(user):
            raise RuleError(ErrorCode.UNKNOWN_TRANSFER, f"no open transfer {transfer_id!r}")
        return transfer

    def accept(self, user: str, transfer_id: str, session: Hashable | None = None,
               online: Collection[Hashable] = (), offset: int = 0) -> Transfer:
        """The recipient accepts, from ``session``, holding the first ``offset`` bytes
        (0 to the file's size, else ``bad_request``). When another of the recipient's
        sessions accepted first and is still in ``online`` (the recipient's sessions), it is
        ``accepted_elsewhere``: one device receives the file, and the sender gets one
        ``transfer_accepted``."""
        transfer = self.get(user, transfer_id)
        if name_key(user) != name_key(transfer.recipient):
            raise RuleError(ErrorCode.UNKNOWN_TRANSFER, "only the recipient accepts an offer")
        if not 0 <= offset <= transfer.size:
            raise RuleError(ErrorCode.BAD_REQUEST, f"offset must be 0 to the file's size "
                            f"({transfer.size} bytes)")
        first = transfer.accepted_by
        if first is not None and first != session and first in online:
            raise RuleError(ErrorCode.ACCEPTED_ELSEWHERE,
                            "this offer was accepted on another device")
        if not transfer.accepted:
            self._uncount(self._waiting_by_sender, transfer)
            self._unwait(transfer)
        transfer.accepted = True
        transfer.accepted_by = session
        return transfer

    def close(self, user: str, transfer_id: str, *, recipient_only: bool = False) -> Transfer:
        """Decline (``recipient_only``) or cancel: the transfer is forgotten."""
        transfer = self.get(user, transfer_id)
        if recipient_only and name_key(user) != name_key(transfer.recipient):
            raise RuleError(ErrorCode.UNKNOWN_TRANSFER, "only the recipient declines an offer")
        if recipient_only and transfer.accepted:
            # (e.g. one device declines an offer it saw lapse while another one receives it)
            raise RuleError(ErrorCode.ACCEPTED_ELSEWHERE,
                            "this offer was accepted already: cancel the transfer instead")
        self._forget(transfer)
        return transfer

    def sweep(self) -> int:
        """Forget the transfers older than ``ttl``, oldest first, up to the first younger one;
        return how many."""
        cutoff = self._clock() - self.ttl
        swept = 0
        order, open_ = self._order, self._open
        while order:
            oldest = order[0]
            if open_.get(oldest.transfer_id) is not oldest:  # closed already
                order.popleft()
            elif oldest.created < cutoff:
                order.popleft()
                self._forget(oldest)
                if not oldest.accepted and len(self.expired) < 10_000:
                    self.expired.append(oldest)
                swept += 1
            else:
                break
        return swept

    def _forget(self, transfer: Transfer) -> None:
        """Drop ``transfer`` from ``_open`` (``_order`` drops it when the sweep gets there)."""
        del self._open[transfer.transfer_id]
        self._uncount(self._by_sender, transfer)
        if not transfer.accepted:
            self._uncount(self._waiting_by_sender, transfer)
            self._unwait(transfer)

    def _unwait(self, transfer: Transfer) -> None:
        key = name_key(transfer.recipient)
        ids = self._waiting_to.get(key)
        if ids is not None:
            ids.pop(transfer.transfer_id, None)
            if not ids:
                del self._waiting_to[key]

    @staticmethod
    def _uncount(counts: dict[str, int], transfer: Transfer) -> None:
        key = name_key(transfer.sender)
        left = counts[key] - 1
        if left:
            counts[key] = left
        else:
            del counts[key]
