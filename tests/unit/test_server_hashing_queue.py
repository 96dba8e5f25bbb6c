"""The bound on queued password hashes, decided by ServerCore without sockets: past it,
``register``/``login`` get ``rate_limited`` with a ``retry_after``, and nothing is counted as a
failed login."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from messenger.protocol import PROTOCOL_VERSION, Error, ErrorCode, Hello, Login, Ok, Register
from messenger.server.auth import LoginThrottle, Passwords
from messenger.server.core import Crypto, Out, ServerCore
from messenger.server.store import Store


@pytest.fixture
def core(tmp_path):
    store = Store(tmp_path / "server.db")
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, type=Type.ID))
    store.create_account("alice", passwords.hash("alice123"))
    core = ServerCore(store, passwords, LoginThrottle(max_failures=1, lockout_seconds=60.0),
                      max_hashing=2)
    yield core
    store.close()


def connect(core: ServerCore, conn: int) -> None:
    core.connected(conn, f"127.0.0.1:{1000 + conn}")
    core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))


def only(actions: list) -> object:
    assert len(actions) == 1
    return actions[0]


def test_past_the_bound_logins_are_rate_limited_until_a_hash_is_done(core):
    for conn in (1, 2, 3, 4):
        connect(core, conn)
    first = only(core.handle(1, Login(id=1, user="alice", password="alice123")))
    second = only(core.handle(2, Register(id=1, user="bob", password="bob-pass")))
    assert isinstance(first, Crypto) and isinstance(second, Crypto) and core.hashing == 2
    # A wrong password for "dave", refused before any hashing: it must not count as a
    # failure (with max_failures=1, it would lock "dave").
    refused = only(core.handle(3, Login(id=7, user="dave", password="wrong-pass")))
    assert isinstance(refused, Out) and isinstance(refused.frame, Error)
    assert (refused.frame.code, refused.frame.id) == (ErrorCode.RATE_LIMITED, 7)
    assert refused.frame.retry_after >= 1.0 and "busy" in refused.frame.message
    refused = only(core.handle(4, Register(id=2, user="carol", password="carol-pass")))
    assert refused.frame.code == ErrorCode.RATE_LIMITED
    ok = only(first.done(first.work()))
    assert isinstance(ok.frame, Ok) and ok.frame.user == "alice" and core.hashing == 1
    again = only(core.handle(4, Register(id=3, user="carol", password="carol-pass")))
    assert isinstance(again, Crypto) and core.hashing == 2
    assert only(core.handle(3, Login(id=8, user="dave", password="wrong-pass"))).frame.code \
        == ErrorCode.RATE_LIMITED  # full again
    for crypto in (second, again):
        assert isinstance(crypto.done(crypto.work())[0].frame, Ok)
    assert core.hashing == 0
    # Not locked by the refused attempts: this one is hashed, and fails as a wrong password.
    wrong = only(core.handle(3, Login(id=9, user="dave", password="wrong-pass")))
    assert isinstance(wrong, Crypto)
    assert only(wrong.done(wrong.work())).frame.code == ErrorCode.LOCKED_OUT  # 1st failure


def test_a_hash_for_a_connection_that_closed_still_frees_its_slot(core):
    connect(core, 1)
    crypto = only(core.handle(1, Login(id=1, user="alice", password="alice123")))
    core.disconnected(1)
    assert crypto.done(crypto.work()) == [] and core.hashing == 0


def test_one_address_cannot_fill_the_queue(tmp_path):
    """Past ``max_hashing_per_host`` one address is refused while another still gets in; a
    finished hash (also for a connection that closed) frees the address's slot."""
    store = Store(tmp_path / "server.db")
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, type=Type.ID))
    store.create_account("alice", passwords.hash("alice123"))
    core = ServerCore(store, passwords, LoginThrottle(), max_hashing=4, max_hashing_per_host=2)
    for conn, host in ((1, "10.0.0.1"), (2, "10.0.0.1"), (3, "10.0.0.1"), (4, "10.0.0.2")):
        core.connected(conn, f"{host}:{40000 + conn}")
        core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))
    first = only(core.handle(1, Login(id=1, user="alice", password="alice123")))
    second = only(core.handle(2, Login(id=1, user="alice", password="alice123")))
    assert isinstance(first, Crypto) and isinstance(second, Crypto)
    refused = only(core.handle(3, Login(id=5, user="alice", password="alice123")))
    assert (refused.frame.code, refused.frame.id) == (ErrorCode.RATE_LIMITED, 5)
    assert "10.0.0.1" in refused.frame.message and refused.frame.retry_after >= 1.0
    other = only(core.handle(4, Login(id=1, user="alice", password="alice123")))
    assert isinstance(other, Crypto) and core.hashing == 3  # the queue itself is not full
    core.disconnected(1)
    assert first.done(first.work()) == []
    again = only(core.handle(3, Login(id=6, user="alice", password="alice123")))
    assert isinstance(again, Crypto)
    for crypto in (second, other, again):
        assert isinstance(crypto.done(crypto.work())[0].frame, Ok)
    assert core.hashing == 0 and core._hashing_by_host == {}
    store.close()
