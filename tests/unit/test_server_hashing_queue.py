"""The bound on queued password hashes, decided by ServerCore without sockets: past it,
``register``/``login`` get ``rate_limited`` with a ``retry_after``, and nothing is counted as a
failed login."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from messenger.protocol import PROTOCOL_VERSION, Error, ErrorCode, Hello, Login, Ok, Register
from messenger.server.auth import LoginThrottle, Passwords, _Failures
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


def test_parallel_logins_get_no_more_guesses_than_the_lockout_allows(tmp_path):
    """Twelve connections send a login for one name before any hash is done, the right
    password last: only ``max_failures`` (3) are checked, the others are refused at once
    (``rate_limited``, not counted), and once the three have failed the name is locked,
    for the right password too. The old rule checked all twelve and accepted the last."""
    store = Store(tmp_path / "server.db")
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, type=Type.ID))
    store.create_account("alice", passwords.hash("alice123"))
    core = ServerCore(store, passwords, LoginThrottle(3, 60.0))
    queued = []
    refused = []
    for conn in range(1, 13):
        connect(core, conn)
        password = "alice123" if conn == 12 else f"wrong-{conn}"
        action = only(core.handle(conn, Login(id=conn, user="ALICE", password=password)))
        (queued if isinstance(action, Crypto) else refused).append(action)
    assert len(queued) == 3 and core.throttle.checking("alice") == 3
    assert {a.frame.code for a in refused} == {ErrorCode.RATE_LIMITED}
    assert all(a.frame.retry_after >= 1.0 and "being checked" in a.frame.message
               for a in refused)
    codes = [only(c.done(c.work())).frame.code for c in queued]
    assert codes == [ErrorCode.BAD_CREDENTIALS] * 2 + [ErrorCode.LOCKED_OUT]
    late = only(core.handle(12, Login(id=99, user="alice", password="alice123")))
    assert late.frame.code == ErrorCode.LOCKED_OUT and core.hashing == 0
    store.close()


def test_a_right_password_is_refused_when_the_name_locks_while_it_is_checked(tmp_path):
    """The verdict re-checks the lock: a right password whose hash finishes after the name
    got locked is answered ``locked_out``, and the lock is not extended by late failures."""
    store = Store(tmp_path / "server.db")
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, type=Type.ID))
    store.create_account("alice", passwords.hash("alice123"))
    now = [100.0]
    throttle = LoginThrottle(3, 60.0, clock=lambda: now[0])
    core = ServerCore(store, passwords, throttle)
    for conn in (1, 2, 3):
        connect(core, conn)
    right = only(core.handle(1, Login(id=1, user="alice", password="alice123")))
    wrong = only(core.handle(2, Login(id=2, user="alice", password="wrong-pass")))
    assert isinstance(right, Crypto) and isinstance(wrong, Crypto)
    # The name gets locked meanwhile. (Counting attempts when queued keeps failures from
    # getting there first; the check at the verdict is the second line of defence.)
    throttle._state["alice"] = _Failures(0, now[0] + 60.0)
    now[0] += 20.0
    err = only(right.done(right.work())).frame
    assert err.code == ErrorCode.LOCKED_OUT and err.retry_after == pytest.approx(40.0)
    assert only(wrong.done(wrong.work())).frame.retry_after == pytest.approx(40.0)
    assert throttle.locked_for("alice") == pytest.approx(40.0) and core.hashing == 0
    assert core.sessions[1].key is None
    store.close()


def test_a_failed_password_check_is_no_verdict(core):
    """The worker raised (done gets the exception): ``internal``, the attempt's slot is freed
    and it is not counted as a failure (max_failures=1 here would lock the name)."""
    connect(core, 1)
    crypto = only(core.handle(1, Login(id=4, user="alice", password="alice123")))
    err = only(crypto.done(RuntimeError("out of memory"))).frame
    assert (err.code, err.id) == (ErrorCode.INTERNAL, 4)
    assert core.throttle.checking("alice") == 0 and core.throttle.locked_for("alice") == 0
    again = only(core.handle(1, Login(id=5, user="alice", password="alice123")))
    assert isinstance(only(again.done(again.work())).frame, Ok)


def test_each_lock_of_a_name_in_a_row_lasts_twice_as_long(tmp_path):
    """A guesser got 3 guesses per 10 s per name without end (a security review): each lock
    in a row now doubles, up to 15 minutes; a right password, or an hour without a failure,
    starts again at the first lock's length."""
    now = [100.0]
    throttle = LoginThrottle(3, 10.0, clock=lambda: now[0])

    def lock(key: str = "alice") -> float:
        for _ in range(3):
            assert throttle.start(key)
            seconds = throttle.failure(key)
        now[0] += seconds
        return seconds

    assert [lock() for _ in range(9)] == [10, 20, 40, 80, 160, 320, 640, 900, 900]
    assert throttle.start("alice")
    assert throttle.success("alice") == 0.0
    assert lock() == 10.0
    assert lock() == 20.0
    now[0] += 3601.0
    assert lock() == 10.0
    assert lock("bob") == 10.0  # (names are apart)


def test_an_address_has_a_budget_of_failed_logins_across_names(tmp_path):
    """One address guessed every name of the roster at once (a security review): past 20
    failures, its logins are refused before the password is checked (``rate_limited``,
    not counted), until the budget refills (one failure per 30 s); other addresses log in."""
    store = Store(tmp_path / "server.db")
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, type=Type.ID))
    store.create_account("alice", passwords.hash("alice123"))
    now = [100.0]
    core = ServerCore(store, passwords, LoginThrottle(3, 10.0, clock=lambda: now[0]))
    for n in range(20):  # (5 a connection: a connection is closed at its 10th refusal)
        if n % 5 == 0:
            connect(core, 10 + n // 5)
        crypto = only(core.handle(10 + n // 5, Login(id=n, user=f"name{n}",
                                                     password="guess-one")))
        assert only(crypto.done(crypto.work())).frame.code == ErrorCode.BAD_CREDENTIALS
    connect(core, 1)
    refused = only(core.handle(1, Login(id=99, user="alice", password="alice123")))
    assert refused.frame.code == ErrorCode.RATE_LIMITED and core.hashing == 0
    assert refused.frame.retry_after == pytest.approx(30.0)
    assert "from your address 127.0.0.1" in refused.frame.message
    assert core.throttle.locked_for("alice") == 0  # (not a failure of the name)
    core.connected(2, "10.0.0.7:5000")
    core.handle(2, Hello(protocol_version=PROTOCOL_VERSION))
    other = only(core.handle(2, Login(id=1, user="alice", password="alice123")))
    assert isinstance(only(other.done(other.work())).frame, Ok)
    now[0] += 30.0
    again = only(core.handle(1, Login(id=100, user="alice", password="alice123")))
    assert isinstance(again, Crypto)
    store.close()


def test_a_name_with_no_account_is_not_written_to_the_activity_log(core, caplog):
    """A password typed into the name field was written to the activity log (a security
    review); a name with no account is logged as such."""
    import logging

    connect(core, 1)
    with caplog.at_level(logging.INFO, logger="messenger.server.activity"):
        for user, n in (("My Secret Pass 2024!", 1), ("alice", 2)):
            crypto = only(core.handle(1, Login(id=n, user=user, password="wrong-pass")))
            crypto.done(crypto.work())
        core.handle(1, Login(id=3, user="My Secret Pass 2024!", password="wrong-pass"))
    lines = [r.getMessage() for r in caplog.records if r.name == "messenger.server.activity"]
    assert [line.split(" from ")[0] for line in lines if line.startswith("failed")] == [
        "failed login for a name with no account", "failed login for 'alice'"]
    assert not [line for line in lines if "Secret" in line], lines  # (nor its lock-out)
    assert any(line.startswith("login for a name with no account") and "refused" in line
               for line in lines), lines


def login(core: ServerCore, conn: int, user: str, password: str, rid: int = 1) -> object:
    """The frame ``conn`` gets for a login (its password checked at once when queued)."""
    action = only(core.handle(conn, Login(id=rid, user=user, password=password)))
    if isinstance(action, Crypto):
        action = only(action.done(action.work()))
    return action.frame


def test_a_guesser_elsewhere_does_not_lock_a_name_out_where_it_logs_in(tmp_path):
    """With locks doubling to 15 minutes, 13 wrong guesses an hour from anywhere kept any
    named account locked all day, its right password refused (a review). A name's logins
    from an address it logged in from lately count apart: the owner logs in there while the
    guesser's lock runs; a guesser at that address is locked there on its own."""
    store = Store(tmp_path / "server.db")
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, type=Type.ID))
    store.create_account("alice", passwords.hash("alice123"))
    now = [100.0]
    core = ServerCore(store, passwords, LoginThrottle(3, 10.0, clock=lambda: now[0]))
    core.connected(1, "10.0.0.7:5000")  # alice's office
    core.handle(1, Hello(protocol_version=PROTOCOL_VERSION))
    assert isinstance(login(core, 1, "alice", "alice123"), Ok)
    core.disconnected(1)

    core.connected(2, "203.0.113.9:4000")  # a guesser elsewhere
    core.handle(2, Hello(protocol_version=PROTOCOL_VERSION))
    for rid in range(2):
        assert login(core, 2, "Alice", f"guess{rid}", rid).code == ErrorCode.BAD_CREDENTIALS
    assert login(core, 2, "alice", "guess2", 2).code == ErrorCode.LOCKED_OUT  # (the third)
    assert login(core, 2, "alice", "alice123", 9).code == ErrorCode.LOCKED_OUT

    core.connected(3, "10.0.0.7:5001")  # alice at the office, while that lock runs
    core.handle(3, Hello(protocol_version=PROTOCOL_VERSION))
    assert isinstance(login(core, 3, "alice", "alice123"), Ok)
    core.disconnected(3)

    core.connected(4, "10.0.0.7:5002")  # a guesser at the office gets its own few guesses
    core.handle(4, Hello(protocol_version=PROTOCOL_VERSION))
    for rid in range(2):
        assert login(core, 4, "alice", f"guess{rid}", rid).code == ErrorCode.BAD_CREDENTIALS
    assert login(core, 4, "alice", "guess2", 2).code == ErrorCode.LOCKED_OUT
    assert login(core, 4, "alice", "alice123", 9).code == ErrorCode.LOCKED_OUT
    now[0] += 30 * 24 * 3600.0 + 1  # (a month away: the address is forgotten)
    assert core.throttle.lock_key("alice", "10.0.0.7") == "alice"
    store.close()


def test_one_guesser_behind_a_shared_address_does_not_shut_out_those_known_there(tmp_path):
    """Everyone behind one NAT (or on one proxy) shares an address's failure budget: one
    guesser spending it refused a colleague's right password for hours (a review). Names
    that logged in from there lately skip the budget; new names still meet it."""
    store = Store(tmp_path / "server.db")
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, type=Type.ID))
    for user in ("alice", "bob"):
        store.create_account(user, passwords.hash(f"{user}123"))
    core = ServerCore(store, passwords, LoginThrottle(3, 10.0, clock=lambda: 100.0))
    connect(core, 1)
    assert isinstance(login(core, 1, "alice", "alice123"), Ok)
    for n in range(20):  # (5 a connection: a connection is closed at its 10th refusal)
        if n % 5 == 0:
            connect(core, 10 + n // 5)
        assert login(core, 10 + n // 5, f"name{n}", "guess", n).code \
            == ErrorCode.BAD_CREDENTIALS
    connect(core, 2)
    assert login(core, 2, "bob", "bob123", 99).code == ErrorCode.RATE_LIMITED  # (new here)
    connect(core, 3)
    assert isinstance(login(core, 3, "alice", "alice123"), Ok)  # (known here)
    store.close()


def test_a_name_keeps_its_latest_sixteen_known_addresses():
    """One account logging in from address after address (a /48 has 65,536 /64s) filled the
    table of known addresses and pushed everyone else's out (a review)."""
    throttle = LoginThrottle(3, 10.0, clock=lambda: 100.0)
    throttle.remember("alice", "10.0.0.7")
    for n in range(40):
        throttle.remember("mallory", f"2a01:4f8:{n:x}::/64")
    assert throttle.lock_key("alice", "10.0.0.7") == "alice@10.0.0.7"
    assert sum(k == "mallory" for k, _ in throttle._known) == 16
    assert throttle.lock_key("mallory", "2a01:4f8:0::/64") == "mallory"  # (the oldest went)
    assert throttle.lock_key("mallory", "2a01:4f8:27::/64") == "mallory@2a01:4f8:27::/64"
    throttle.remember("mallory", "2a01:4f8:18::/64")  # (again: the latest now)
    throttle.remember("mallory", "10.9.9.9")
    assert throttle.lock_key("mallory", "2a01:4f8:18::/64") != "mallory"
