"""The password check of "Open offline" (:mod:`messenger.client.offlinepass`)."""

from __future__ import annotations

from messenger.client import offlinepass
from messenger.client.offlinepass import MEMORY_KIB, TIME_COST, OfflinePasswords


def test_the_hash_checks_the_password_without_holding_it(monkeypatch):
    """Any password opened an account offline. The hash kept for the check is argon2id
    with the desktop parameters, never the password, and only that password matches it."""
    # (the real costs: tests/conftest.py makes them cheap for the other tests)
    monkeypatch.setattr(offlinepass, "TIME_COST", TIME_COST)
    monkeypatch.setattr(offlinepass, "MEMORY_KIB", MEMORY_KIB)
    passwords = OfflinePasswords()
    encoded = passwords.hash("alice123")
    assert encoded.startswith(f"$argon2id$v=19$m={MEMORY_KIB},t={TIME_COST},p=1$")
    assert "alice123" not in encoded
    assert passwords.matches(encoded, "alice123")
    assert not passwords.matches(encoded, "alice124")
    assert not passwords.matches(encoded, "")
    assert not passwords.matches("not a hash", "alice123")  # (a damaged value)
