"""The password check of "Open offline": an argon2id hash of the account's password, kept in
its local store's ``meta`` table at each login and password change, so that the login
dialog's "Open offline" (no server to ask) shows the messages only for that password.

Plain Python (argon2-cffi), no Qt, no I/O: the engine reads and writes the ``meta`` value.
The password itself is never written. The local store is not encrypted: anyone with the
operating-system account can read its files; this check only keeps the app from showing
them to whoever types any password while the server cannot be reached.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

OFFLINE_PASSWORD_META = "offline_password"
"""Local store ``meta`` key: the argon2id hash (``$argon2id$v=19$m=…``) of the password of
the last login (or password change) of the account on this computer."""

TIME_COST = 2
"""argon2id passes (OWASP's minimum for 19 MiB: a desktop hashes it in ≈ 40 ms)."""
MEMORY_KIB = 19 * 1024
"""argon2id memory (KiB): 19 MiB, OWASP's recommended minimum."""


class OfflinePasswords:
    """Hash a password to keep for "Open offline" and check one typed against it."""

    def __init__(self, time_cost: int | None = None, memory_kib: int | None = None) -> None:
        """``time_cost`` and ``memory_kib`` default to :data:`TIME_COST` and
        :data:`MEMORY_KIB` (looked up at each call: the tests make them cheap, as they do
        the test servers' own argon2 costs)."""
        self._hasher = PasswordHasher(
            time_cost=TIME_COST if time_cost is None else time_cost,
            memory_cost=MEMORY_KIB if memory_kib is None else memory_kib,
            parallelism=1, type=Type.ID)

    def hash(self, password: str) -> str:
        """The encoded argon2id hash of ``password`` (a new salt each time)."""
        return self._hasher.hash(password)

    def matches(self, encoded: str, password: str) -> bool:
        """True when ``password`` is the one ``encoded`` was made from (False for a hash
        that cannot be read, e.g. damaged)."""
        try:
            return self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
