"""Signalling of peer-to-peer transfers: offers, answers and per-transfer secrets.

The bytes of a transfer never pass through the server. It relays an offer to the recipient,
issues the per-transfer ``secret`` over TLS to both sides (the sender proves itself with it as
the first bytes of the QUIC stream), relays the receiver's UDP endpoint and certificate
fingerprint back, and forgets the transfer when it is answered negatively, cancelled, or older
than ``ttl`` seconds. A plain class: no sockets.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass

from messenger.protocol import ErrorCode, name_key

from .groups import RuleError

SHA256_HEX = frozenset("0123456789abcdef")


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

    def party(self, user: str) -> bool:
        return name_key(user) in (name_key(self.sender), name_key(self.recipient))

    def other(self, user: str) -> str:
        return self.recipient if name_key(user) == name_key(self.sender) else self.sender


class Transfers:
    """Open transfers by id. Raises :class:`RuleError` (a coded rule error) on bad requests."""

    def __init__(self, ttl: float = 24 * 3600.0, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._clock = clock
        self._open: dict[str, Transfer] = {}

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
        self.check(name, size, sha256)
        self._expire()
        transfer = Transfer(secrets.token_hex(8), sender, recipient, name, size, sha256,
                            secrets.token_hex(32), self._clock())
        self._open[transfer.transfer_id] = transfer
        return transfer

    def get(self, user: str, transfer_id: str) -> Transfer:
        """The transfer, provided ``user`` is one of its two parties."""
        transfer = self._open.get(transfer_id)
        if transfer is None or not transfer.party(user):
            raise RuleError(ErrorCode.UNKNOWN_TRANSFER, f"no open transfer {transfer_id!r}")
        return transfer

    def accept(self, user: str, transfer_id: str, session: Hashable | None = None,
               online: Collection[Hashable] = ()) -> Transfer:
        """The recipient accepts, from ``session``. When another of the recipient's sessions
        accepted first and is still in ``online`` (the recipient's sessions), it is
        ``accepted_elsewhere``: one device receives the file, and the sender gets one
        ``transfer_accepted``."""
        transfer = self.get(user, transfer_id)
        if name_key(user) != name_key(transfer.recipient):
            raise RuleError(ErrorCode.UNKNOWN_TRANSFER, "only the recipient accepts an offer")
        first = transfer.accepted_by
        if first is not None and first != session and first in online:
            raise RuleError(ErrorCode.ACCEPTED_ELSEWHERE,
                            "this offer was accepted on another device")
        transfer.accepted = True
        transfer.accepted_by = session
        return transfer

    def close(self, user: str, transfer_id: str, *, recipient_only: bool = False) -> Transfer:
        """Decline (``recipient_only``) or cancel: the transfer is forgotten."""
        transfer = self.get(user, transfer_id)
        if recipient_only and name_key(user) != name_key(transfer.recipient):
            raise RuleError(ErrorCode.UNKNOWN_TRANSFER, "only the recipient declines an offer")
        del self._open[transfer_id]
        return transfer

    def _expire(self) -> None:
        cutoff = self._clock() - self.ttl
        for tid in [t for t, tr in self._open.items() if tr.created < cutoff]:
            del self._open[tid]
