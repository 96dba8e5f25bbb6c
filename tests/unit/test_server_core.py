"""The server's rules, driven without sockets: frames in, actions out."""

from __future__ import annotations

import ipaddress
import json
import time

import pytest
from argon2 import PasswordHasher, Type

from messenger.protocol import (
    PROTOCOL_VERSION,
    ChangePassword,
    Delivered,
    Error,
    ErrorCode,
    GetRoster,
    GroupCreate,
    GroupJoin,
    GroupLeave,
    Hello,
    Login,
    Logout,
    Message,
    Ok,
    Ping,
    Pong,
    Presence,
    Read,
    Receipt,
    Register,
    Send,
)
from messenger.server import core as core_module
from messenger.server.auth import LoginThrottle, Passwords
from messenger.server.core import Crypto, Disconnect, Fanout, Out, ServerCore, run_inline
from messenger.server.ratelimit import address_block, local_ipv6_networks
from messenger.server.store import Store


class InlineCore(ServerCore):
    """Runs the argon2id work inline, as the server's worker threads would."""

    def handle(self, conn, frame):
        return run_inline(super().handle(conn, frame))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core(tmp_path, clock) -> ServerCore:
    # Cheap argon2id parameters keep the unit tests fast; the server uses the library defaults.
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    store = Store(tmp_path / "core.db")
    core = InlineCore(store, passwords, LoginThrottle(3, 10.0, clock=clock), max_text=100)
    for name in ("alice", "bob", "charlie"):
        store.create_account(name, passwords.hash(name + "123"))
    return core


_next_conn = iter(range(1, 10_000))


def frames_for(actions, conn):
    return [a.frame for a in actions if (isinstance(a, Out) and a.conn == conn)
            or (isinstance(a, Fanout) and conn in a.conns)]


def only(actions, conn):
    (frame,) = frames_for(actions, conn)
    return frame


def session(core, user=None, password=None) -> int:
    conn = next(_next_conn)
    core.connected(conn, f"127.0.0.1:{conn}")
    hello = only(core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION)), conn)
    assert isinstance(hello, Hello) and hello.max_frame
    if user:
        actions = core.handle(conn, Login(id=1, user=user, password=password or user + "123"))
        assert isinstance(frames_for(actions, conn)[0], Ok)
    return conn


def test_version_mismatch_is_explained_and_closes(core):
    core.connected(1, "x")
    actions = core.handle(1, Hello(protocol_version=99))
    err = only(actions, 1)
    assert err.code == ErrorCode.VERSION_MISMATCH and "99" in err.message
    assert Disconnect(1) in actions


@pytest.mark.parametrize("app_version, words", [
    (PROTOCOL_VERSION + 1, "the server is older than the app"),
    (PROTOCOL_VERSION - 1, "the app is older than the server"),
])
def test_version_mismatch_says_which_side_is_older(core, app_version, words):
    """The refusal read "update the app or the server" either way: the user of an app newer
    than the server updated an app that was already newest, and could not tell whom to ask."""
    core.connected(1, "x")
    err = only(core.handle(1, Hello(protocol_version=app_version)), 1)
    assert words in err.message
    assert ("update the app" in err.message) == (app_version < PROTOCOL_VERSION)
    assert ("update the server" in err.message) == (app_version > PROTOCOL_VERSION)


def test_hello_is_required_first(core):
    core.connected(1, "x")
    err = only(core.handle(1, Login(id=3, user="alice", password="alice123")), 1)
    assert (err.code, err.id) == (ErrorCode.HELLO_REQUIRED, 3)


def test_requests_need_login(core):
    conn = session(core)
    err = only(core.handle(conn, Send(id=2, client_msg_id="c", scope="broadcast", text="x")),
               conn)
    assert err.code == ErrorCode.NOT_LOGGED_IN
    assert isinstance(only(core.handle(conn, Ping(nonce=5)), conn), Pong)


def test_one_address_creates_a_bounded_number_of_accounts_an_hour(core, monkeypatch):
    """Accounts are permanent and in everyone's roster: one address registered 300 in a
    row (a security review). ``max_registrations`` an hour per address, in bursts of as
    many; another address is not held up; the hour gives the next."""
    now = [5000.0]
    monkeypatch.setattr(core_module.time, "monotonic", lambda: now[0])
    core.max_registrations = 3

    def register(name: str, host: str = "127.0.0.1"):
        conn = next(_next_conn)
        core.connected(conn, f"{host}:{conn}")
        core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))
        return only(core.handle(conn, Register(id=1, user=name, password="secret1")), conn)

    assert all(isinstance(register(f"user{n}"), Ok) for n in range(3))
    err = register("user3")
    assert err.code == ErrorCode.RATE_LIMITED and "127.0.0.1" in err.message
    assert 1190 <= err.retry_after <= 1200  # (one account per 20 min comes back)
    assert core.store.account("user3") is None
    assert isinstance(register("user3", "10.0.0.9"), Ok)  # another computer
    now[0] += err.retry_after
    assert isinstance(register("user4"), Ok)
    core.max_registrations = 0.5  # (half an account an hour: the first still comes)
    assert isinstance(register("half0", "10.0.0.10"), Ok)
    core.max_registrations = 0  # (no limit)
    assert all(isinstance(register(f"free{n}"), Ok) for n in range(5))


def test_protocol_errors_cannot_flood_the_log(core, caplog, monkeypatch):
    """One client that never logged in rotated the whole server.log away in about a second:
    400 frames with a 16 KB ``type``, each logged whole (an operator hunt). Each line is
    cut, and an address gets a bounded number of lines a minute."""
    from messenger.protocol import Codec, ProtocolError

    codec = Codec.for_server()
    conn = session(core)
    payload = json.dumps({"type": "x" * 16_000}).encode()
    with caplog.at_level("WARNING", logger="messenger.server.core"):
        for _ in range(200):
            try:
                codec.decode(payload)
            except ProtocolError as exc:
                err = only(core.protocol_error(conn, exc), conn)
    assert err.code == ErrorCode.UNKNOWN_TYPE and len(err.message) < 100
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == core_module.PROTOCOL_ERRORS_LOGGED
    assert max(map(len, lines)) < 300
    # The flood stopped: once its minute is over, the idle timer's call sums it up.
    start = time.monotonic()
    monkeypatch.setattr(core_module.time, "monotonic", lambda: start + 61.0)
    with caplog.at_level("WARNING", logger="messenger.server.core"):
        core.sum_up_protocol_errors()
    assert caplog.records[-1].getMessage().startswith(
        f"{200 - core_module.PROTOCOL_ERRORS_LOGGED} more log lines about 127.0.0.1")


def test_edits_and_group_changes_at_the_send_rate_cannot_flood_the_log(core, caplog):
    """(A hunt.) Every edit and delete wrote "alice: edited message N" to server.log, and
    every group made and transfer offered a line too: at the send rate (100 a second) one
    account rotated the log away in minutes. Those lines go within the address's log
    budget."""
    import logging

    from messenger.protocol import Edit

    alice = session(core, "alice")
    sent = only(core.handle(alice, Send(id=2, client_msg_id="m", scope="broadcast",
                                        text="typo")), alice)
    with caplog.at_level(logging.INFO, logger="messenger.server.core"):
        caplog.clear()  # (the login's lines, kept when an earlier test set the level)
        for n in range(60):
            core.handle(alice, Edit(id=10 + n, client_msg_id=f"e{n}", seq=sent.seq,
                                    text=f"fixed {n}"))
            core.handle(alice, GroupCreate(id=100 + n, group=f"g{n}"))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) <= core_module.PROTOCOL_ERRORS_LOGGED, lines[-3:]
    assert lines[0] == f"alice: edited message {sent.seq}"


def test_register_then_name_taken_ignoring_case(core):
    a = session(core)
    ok = only(core.handle(a, Register(id=1, user="Dora", password="secret1")), a)
    assert isinstance(ok, Ok) and ok.user == "Dora"
    assert "Dora" in [e.name for e in ok.roster]
    b = session(core)
    err = only(core.handle(b, Register(id=1, user="dORA", password="secret1")), b)
    assert err.code == ErrorCode.NAME_TAKEN


@pytest.mark.parametrize(("user", "code", "says"), [
    ("Everyone", ErrorCode.INVALID_NAME, "the conversation with everyone"),
    ("EVERYONE", ErrorCode.INVALID_NAME, "the conversation with everyone"),
    ("Every0ne", ErrorCode.INVALID_NAME, "the conversation with everyone"),
    ("EVERY0NE", ErrorCode.INVALID_NAME, "the conversation with everyone"),
    ("aIice", ErrorCode.NAME_TAKEN, "looks too much like 'alice'"),
    ("B0B", ErrorCode.NAME_TAKEN, "looks too much like 'bob'"),
])
def test_register_refuses_everyone_and_look_alikes_of_accounts(core, user, code, says):
    """An account named "Everyone" passed for the Everyone conversation (its tab read the
    same), "aIice" (capital i) for alice (a hunt); and "Every0ne" (digit 0), which the
    look-alike rule says reads the same, was still taken (a hunt). Names that only look
    different stay."""
    conn = session(core)
    err = only(core.handle(conn, Register(id=1, user=user, password="secret1")), conn)
    assert err.code == code and says in err.message
    for fine in ("alison", "bobby", "Everyone2"):
        conn = session(core)
        assert isinstance(only(core.handle(conn, Register(id=1, user=fine, password="secret1")),
                               conn), Ok)
    conn = session(core)  # (a look-alike of an account made after the first look)
    err = only(core.handle(conn, Register(id=1, user="b0bby", password="secret1")), conn)
    assert err.code == ErrorCode.NAME_TAKEN


@pytest.mark.parametrize(("user", "password", "code"), [
    ("", "secret1", ErrorCode.INVALID_NAME),
    ("x" * 33, "secret1", ErrorCode.INVALID_NAME),
    ("bad name", "secret1", ErrorCode.INVALID_NAME),
    ("../etc", "secret1", ErrorCode.INVALID_NAME),
    ("ok_name", "short", ErrorCode.INVALID_PASSWORD),
])
def test_register_validation(core, user, password, code):
    conn = session(core)
    assert only(core.handle(conn, Register(id=1, user=user, password=password)), conn).code == code


def test_an_account_has_a_bounded_number_of_sessions(core):
    """One account logged in again and again until the server ran out of open files and
    nobody could connect (a hunt): past MAX_SESSIONS_PER_ACCOUNT the next login is refused
    for now (a wrong password still gets bad_credentials), and a logout makes room."""
    conns = [session(core, "alice") for _ in range(core_module.MAX_SESSIONS_PER_ACCOUNT)]
    extra = session(core)
    full = only(core.handle(extra, Login(id=1, user="ALICE", password="alice123")), extra)
    assert full.code == ErrorCode.RATE_LIMITED and full.retry_after
    assert "16 connections" in full.message
    wrong = only(core.handle(extra, Login(id=2, user="alice", password="nope123")), extra)
    assert wrong.code == ErrorCode.BAD_CREDENTIALS
    session(core, "bob")  # others are not concerned
    core.disconnected(conns[0])
    assert isinstance(only(core.handle(extra, Login(id=3, user="alice", password="alice123")),
                           extra), Ok)


def test_wrong_name_and_wrong_password_look_the_same(core):
    a, b = session(core), session(core)
    wrong_pw = only(core.handle(a, Login(id=1, user="alice", password="nope123")), a)
    wrong_name = only(core.handle(b, Login(id=1, user="nobody", password="nope123")), b)
    assert (wrong_pw.code, wrong_pw.message) == (wrong_name.code, wrong_name.message)
    assert wrong_pw.code == ErrorCode.BAD_CREDENTIALS


@pytest.mark.parametrize("name", ["alice", "nobody"])
def test_lockout_after_n_failures_and_unlock_after_the_time(core, clock, name):
    conn = session(core)
    replies = [only(core.handle(conn, Login(id=i, user=name, password="wrong12")), conn)
               for i in range(3)]
    assert [r.code for r in replies] == [ErrorCode.BAD_CREDENTIALS] * 2 + [ErrorCode.LOCKED_OUT]
    assert replies[-1].retry_after == 10.0 and "10 s" in replies[-1].message
    # Locked: even the right password is refused, with the time left.
    clock.now += 4
    err = only(core.handle(conn, Login(id=9, user=name.upper(), password=name + "123")), conn)
    assert err.code == ErrorCode.LOCKED_OUT and err.retry_after == pytest.approx(6.0)
    clock.now += 6.5
    reply = only(core.handle(conn, Login(id=10, user=name, password=name + "123")), conn)
    if name == "alice":
        assert isinstance(reply, Ok)
    else:
        assert reply.code == ErrorCode.BAD_CREDENTIALS


def test_logins_for_a_locked_name_are_one_activity_line_per_lock(core, clock, caplog):
    """(A hunt.) Each login for a locked name was refused at once and wrote "login for 'bob'
    from … refused: locked for … s more" to the activity log: 100,000 of them on one
    connection rotated the log of logins away. The first refusal of a lock is written; the
    others, from any connection, are counted and summed up in one line once the lock is
    over; a connection is closed at its tenth refused login."""
    import logging

    def login(conn, rid, password="wrong12"):
        return core.handle(conn, Login(id=rid, user="bob", password=password))

    guesser = session(core)
    for rid in range(3):
        login(guesser, rid)
    others = []
    for n in range(3):
        conn = next(_next_conn)
        core.connected(conn, f"10.0.0.{n + 1}:4000")
        core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))
        others.append(conn)
    with caplog.at_level(logging.INFO, logger="messenger.server.activity"):
        caplog.clear()  # (the failed logins, kept when an earlier test set the level)
        for rid in range(3, 9):  # (the guesser's 9th refused login: still open)
            actions = login(guesser, rid)
            assert only(actions, guesser).code == ErrorCode.LOCKED_OUT
        for conn in others:
            for rid in range(5):
                assert only(login(conn, rid, "bob123"), conn).code == ErrorCode.LOCKED_OUT
        closing = login(guesser, 99)
        core.sum_up_protocol_errors()  # (the lock holds: nothing to sum up yet)
        clock.now += 10.0
        core.sum_up_protocol_errors()
    lines = [r.getMessage() for r in caplog.records if r.name == "messenger.server.activity"]
    assert len(lines) == 2 and lines[0].startswith("login for 'bob' from 127.0.0.1:"), lines
    assert lines[1] == ("21 more logins for 'bob' refused while it was locked (from 127.0.0.1, "
                        "10.0.0.1, 10.0.0.2 and 1 other address)")
    # The guesser's connection: its tenth refused login is answered, then it is closed.
    first, last = frames_for(closing, guesser)
    assert (first.code, first.id) == (ErrorCode.LOCKED_OUT, 99)
    assert last.code == ErrorCode.RATE_LIMITED and last.id is None and "10 logins" in last.message
    assert closing[-1] == Disconnect(guesser)
    assert isinstance(only(login(others[0], 9, "bob123"), others[0]), Ok)  # (the lock is over)


def test_success_resets_the_failure_count(core):
    conn = session(core)
    for i in range(2):
        core.handle(conn, Login(id=i, user="bob", password="wrong12"))
    assert isinstance(only(core.handle(conn, Login(id=5, user="bob", password="bob123")), conn),
                      Ok)
    other = session(core)
    for i in range(2):
        err = only(core.handle(other, Login(id=i, user="bob", password="wrong12")), other)
        assert err.code == ErrorCode.BAD_CREDENTIALS


def test_presence_join_and_leave_reach_everyone_online(core):
    alice = session(core, "alice")
    charlie = session(core, "charlie")
    bob = next(_next_conn)
    core.connected(bob, "x")
    core.handle(bob, Hello(protocol_version=PROTOCOL_VERSION))
    actions = core.handle(bob, Login(id=1, user="bob", password="bob123"))
    for conn in (alice, charlie):
        presence = only(actions, conn)
        assert isinstance(presence, Presence) and (presence.user, presence.online) == ("bob", True)
    roster = frames_for(actions, bob)[0].roster
    assert {e.name: e.online for e in roster} == {"alice": True, "bob": True, "charlie": True}
    gone = core.disconnected(bob)
    assert {a.conn for a in gone} == {alice, charlie}
    assert all(a.frame.online is False and a.frame.user == "bob" for a in gone)


def test_second_session_of_same_user_does_not_flap_presence(core):
    alice = session(core, "alice")
    bob1 = session(core, "bob")
    conn = next(_next_conn)
    core.connected(conn, "x")
    core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))
    actions = core.handle(conn, Login(id=1, user="bob", password="bob123"))
    assert frames_for(actions, alice) == []
    assert core.disconnected(bob1) == []


def test_sender_is_decided_by_the_server(core):
    alice, bob = session(core, "alice"), session(core, "bob")
    actions = core.handle(alice, Send(id=4, client_msg_id="m1", scope="unicast", text="hi",
                                      to=["BOB"]))
    ack = only(actions, alice)
    assert isinstance(ack, Ok) and ack.seq and ack.ts
    msg = only(actions, bob)
    assert isinstance(msg, Message)
    assert (msg.sender, msg.to, msg.text, msg.seq) == ("alice", ["bob"], "hi", ack.seq)


def test_multicast_reaches_exactly_its_recipients(core):
    alice, bob, charlie = session(core, "alice"), session(core, "bob"), session(core, "charlie")
    actions = core.handle(alice, Send(id=1, client_msg_id="m", scope="multicast", text="yo",
                                      to=["bob", "charlie", "Bob"]))
    assert only(actions, bob).to == ["bob", "charlie"]
    assert only(actions, charlie).text == "yo"
    assert isinstance(only(actions, alice), Ok)


def test_broadcast_reaches_everyone_else(core):
    alice, bob, charlie = session(core, "alice"), session(core, "bob"), session(core, "charlie")
    actions = core.handle(bob, Send(id=1, client_msg_id="b", scope="broadcast", text="all"))
    assert only(actions, alice).scope == "broadcast"
    assert only(actions, charlie).sender == "bob"
    assert isinstance(only(actions, bob), Ok)


def test_unknown_user_stores_nothing(core):
    alice, bob = session(core, "alice"), session(core, "bob")
    actions = core.handle(alice, Send(id=7, client_msg_id="u", scope="multicast", text="x",
                                      to=["bob", "zed"]))
    err = only(actions, alice)
    assert (err.code, err.id) == (ErrorCode.UNKNOWN_USER, 7) and "zed" in err.message
    assert frames_for(actions, bob) == []
    assert core.store.pending("bob") == []


@pytest.mark.parametrize(("send", "code"), [
    (Send(id=1, client_msg_id="a", scope="unicast", text="   ", to=["bob"]),
     ErrorCode.EMPTY_MESSAGE),
    (Send(id=1, client_msg_id="a", scope="unicast", text="x" * 101, to=["bob"]),
     ErrorCode.MESSAGE_TOO_LONG),
    (Send(id=1, client_msg_id="a", scope="unicast", text="x", to=["bob", "charlie"]),
     ErrorCode.BAD_REQUEST),
    (Send(id=1, client_msg_id="a", scope="multicast", text="x", to=[]), ErrorCode.BAD_REQUEST),
    (Send(id=1, client_msg_id="", scope="broadcast", text="x"), ErrorCode.BAD_REQUEST),
])
def test_bad_sends_get_explicit_errors(core, send, code):
    alice = session(core, "alice")
    assert only(core.handle(alice, send), alice).code == code


def test_offline_recipient_gets_it_at_next_login_until_delivered(core):
    alice = session(core, "alice")
    ack = only(core.handle(alice, Send(id=1, client_msg_id="o", scope="unicast", text="later",
                                       to=["bob"])), alice)
    bob = session(core)
    actions = core.handle(bob, Login(id=1, user="bob", password="bob123"))
    (msg,) = [f for f in frames_for(actions, bob) if isinstance(f, Message)]
    assert (msg.seq, msg.text) == (ack.seq, "later")
    core.disconnected(bob)
    # Not confirmed with `delivered`: it comes again at the next login.
    bob2 = session(core)
    actions = core.handle(bob2, Login(id=1, user="bob", password="bob123"))
    assert [f.seq for f in frames_for(actions, bob2) if isinstance(f, Message)] == [ack.seq]
    core.handle(bob2, Delivered(seqs=[ack.seq]))
    core.disconnected(bob2)
    bob3 = session(core)
    actions = core.handle(bob3, Login(id=1, user="bob", password="bob123"))
    assert [f for f in frames_for(actions, bob3) if isinstance(f, Message)] == []


def test_a_long_queue_is_replayed_in_pieces_each_once_and_in_order(core, monkeypatch):
    """The login replay goes in pieces of about REPLAY_PIECE_BYTES (the server asks for the
    next once the last is written): unicast and group messages, each once, oldest first,
    and a message that came live after the login is not replayed again."""
    monkeypatch.setattr(core_module, "REPLAY_PIECE_BYTES", 600)
    alice = session(core, "alice")
    core.handle(alice, GroupCreate(id=1, group="lab", public=True))
    bob = session(core, "bob")
    core.handle(bob, GroupJoin(id=2, group="lab"))
    core.disconnected(bob)
    sent = []
    for n in range(12):
        scope, extra = (("group", {"to": ["lab"]}) if n % 3 == 0 else
                        ("unicast", {"to": ["bob"]}))
        sent.append(only(core.handle(alice, Send(id=10 + n, client_msg_id=f"q{n}", scope=scope,
                                                 text="x" * 90, **extra)), alice).seq)
    bob = session(core)
    actions = core.handle(bob, Login(id=1, user="bob", password="bob123"))
    chat = [f.seq for f in frames_for(actions, bob) if isinstance(f, Message) and not f.notice]
    assert 0 < len(chat) < 12 and core_module.ReplayMore(bob) in actions
    got = chat
    live = frames_for(core.handle(alice, Send(id=99, client_msg_id="live", scope="unicast",
                                              text="now", to=["bob"])), bob)
    assert [f.text for f in live] == ["now"]
    while core_module.ReplayMore(bob) in actions:
        actions = core.replay_next(bob)
        got += [f.seq for f in frames_for(actions, bob) if isinstance(f, Message)
                and not f.notice]
    assert got == sent
    assert core.replay_next(bob) == []


def test_the_whole_receipt_log_is_replayed_in_pieces_and_live_ones_wait_for_it(
        core, monkeypatch):
    """A login's receipt replay used to stop at 10,000 without saying so, and a live receipt
    then moved the app's ``receipts_after`` past the rest (the laptop never learnt that
    charlie read her last messages). Now every logged receipt comes, in pieces of
    REPLAY_RECEIPTS; a live one waits for the replay (which reads it from the log), so the
    numbers a connection gets only rise."""
    monkeypatch.setattr(core_module, "REPLAY_RECEIPTS", 3)
    alice = session(core, "alice")
    seqs = [only(core.handle(alice, Send(id=n, client_msg_id=f"m{n}", scope="multicast",
                                         text="hi", to=["bob", "charlie"])), alice).seq
            for n in range(4)]
    core.disconnected(alice)
    for user in ("bob", "charlie"):
        core.handle(session(core, user), Read(seqs=seqs))
    laptop = session(core)
    actions = core.handle(laptop, Login(id=1, user="alice", password="alice123",
                                        receipts_after=0))
    rids = [f.rid for f in frames_for(actions, laptop) if isinstance(f, Receipt)]
    assert len(rids) == 3 and core_module.ReplayMore(laptop) in actions
    # bob reads a new message meanwhile: its receipt waits for the replay.
    new = only(core.handle(alice := session(core, "alice"), Send(
        id=9, client_msg_id="new", scope="multicast", text="one more", to=["bob", "charlie"])),
        alice).seq
    bob = session(core, "bob")
    assert [f for f in frames_for(core.handle(bob, Read(seqs=[new])), laptop)
            if isinstance(f, Receipt)] == []
    while core_module.ReplayMore(laptop) in actions:
        actions = core.replay_next(laptop)
        rids += [f.rid for f in frames_for(actions, laptop) if isinstance(f, Receipt)]
    assert len(rids) == 9 and rids == sorted(rids)  # 8 reads and the live one, each once
    assert core.replay_next(laptop) == []
    # Caught up: the next one comes live.
    (receipt,) = frames_for(core.handle(session(core, "charlie"), Read(seqs=[new])), laptop)
    assert (receipt.seq, receipt.user) == (new, "charlie") and receipt.rid > rids[-1]


def test_read_goes_to_the_accounts_other_sessions_once(core):
    alice = session(core, "alice")
    desktop, laptop, phone = session(core, "bob"), session(core, "bob"), session(core, "bob")
    seqs = [only(core.handle(alice, Send(id=n, client_msg_id=f"r{n}", scope="unicast",
                                         text="hi", to=["bob"])), alice).seq for n in (1, 2)]
    own = only(core.handle(desktop, Send(id=3, client_msg_id="mine", scope="unicast",
                                         text="mine", to=["alice"])), desktop).seq
    # "delivered" is not "read": nothing goes to the other sessions.
    actions = core.handle(laptop, Delivered(seqs=seqs))
    assert [f for c in (desktop, phone) for f in frames_for(actions, c)] == []
    # Only the first transition of a message bob received, to every session but the reader.
    actions = core.handle(laptop, Read(seqs=[seqs[0], own, 999_999]))
    for other in (desktop, phone):
        assert frames_for(actions, other) == [Read(seqs=[seqs[0]])]
    assert [f for f in frames_for(actions, laptop) if isinstance(f, Read)] == []
    actions = core.handle(phone, Read(seqs=seqs))  # seqs[0] was read already
    assert frames_for(actions, desktop) == [Read(seqs=[seqs[1]])]
    assert frames_for(actions, laptop) == [Read(seqs=[seqs[1]])]
    assert [f for f in frames_for(core.handle(phone, Read(seqs=seqs)), desktop)] == []


def test_an_account_sending_too_fast_is_refused_for_a_moment_and_others_carry_on(core):
    core.max_send_rate = 1.0  # one message a second, bursts of ten: the test sends faster
    store = core.store
    alice, bob = session(core, "alice"), session(core, "bob")

    def send(conn, n, to="charlie"):
        return only(core.handle(conn, Send(id=n, client_msg_id=f"m{n}", scope="unicast",
                                           text=f"m{n}", to=[to])), conn)

    assert all(isinstance(send(alice, n), Ok) for n in range(10))
    refused = send(alice, 10)
    assert isinstance(refused, Error) and refused.code == ErrorCode.RATE_LIMITED
    assert refused.id == 10 and 0 < refused.retry_after <= 1.0
    again = send(alice, 3)  # a retry of a stored message: its ok, not a refusal
    assert isinstance(again, Ok) and again.seq == store.message_by_client_id("alice", "m3").seq
    assert isinstance(send(bob, 1), Ok)  # another account carries on
    assert [m.text for m in store.history("charlie", "user:alice")] == \
        [f"m{n}" for n in range(10)]


def test_flood_control_never_lets_a_later_send_overtake_a_refused_one(core, monkeypatch):
    """The default rate (100 a second, bursts of 1,000); the app pipelines an outbox of 2,400
    that reaches the server 1 ms apart, then sends the refused ones again, in order: the
    conversation has all of them in the order typed."""
    now = [5000.0]
    monkeypatch.setattr(core_module.time, "monotonic", lambda: now[0])
    alice = session(core, "alice")

    def send(n):
        return only(core.handle(alice, Send(id=n + 1, client_msg_id=f"m{n:05}",
                                            scope="unicast", text=f"m{n:05}", to=["bob"])),
                    alice)

    answers = []
    for n in range(2400):
        now[0] += 0.001
        answers.append(send(n))
    refused = [n for n, a in enumerate(answers) if isinstance(a, Error)]
    assert refused and refused == list(range(refused[0], 2400))  # none taken after one
    assert {answers[n].code for n in refused} == {ErrorCode.RATE_LIMITED}
    while refused:  # the app's outbox: again after retry_after, in order, until taken
        now[0] += max(answers[refused[0]].retry_after, 0.5)
        answers = {n: send(n) for n in refused}
        refused = [n for n in refused if isinstance(answers[n], Error)]
    assert [m.text for m in core.store.history("bob", "user:alice", limit=3000)] == \
        [f"m{n:05}" for n in range(2400)]
    core.max_send_rate = 0.05  # a burst of less than one message still lets one through
    core._send_buckets.clear()
    assert isinstance(only(core.handle(alice, Send(id=1, client_msg_id="slow", scope="unicast",
                                                   text="slow", to=["bob"])), alice), Ok)


def test_a_retry_of_a_stored_message_while_flooding_holds_up_nothing(core, monkeypatch):
    """A resend of a stored message (its ``ok`` was lost with the link) that met an empty
    bucket got its ``ok`` but became the refused one that later sends wait behind: every new
    message was refused for 10 s (found by a server fuzzer)."""
    now = [5000.0]
    monkeypatch.setattr(core_module.time, "monotonic", lambda: now[0])
    core.max_send_rate = 1.0  # bursts of ten
    alice = session(core, "alice")

    def send(cid):
        return only(core.handle(alice, Send(id=1, client_msg_id=cid, scope="unicast",
                                             text=cid, to=["bob"])), alice)

    assert all(isinstance(send(f"m{n}"), Ok) for n in range(10))
    assert isinstance(send("m0"), Ok)  # the resend, with the bucket empty
    now[0] += 1.0  # one message's worth
    assert isinstance(send("new"), Ok)


def test_joining_and_leaving_in_a_loop_is_flood_controlled_like_sending(core):
    """Each join or leave stores a notice for every member: a loop of them, unlimited, put
    201 notices in bob's conversation in half a second (found by a server fuzzer)."""
    core.max_send_rate = 1.0  # bursts of ten
    alice, bob = session(core, "alice"), session(core, "bob")

    def reply(frame, conn=bob):
        return next(f for f in frames_for(core.handle(conn, frame), conn)
                    if isinstance(f, Ok | Error) and f.id == frame.id)

    assert isinstance(reply(GroupCreate(id=1, group="lab", public=True), alice), Ok)

    answers = []
    for n in range(6):
        answers += [reply(GroupJoin(id=2 * n, group="lab")),
                    reply(GroupLeave(id=2 * n + 1, group="lab"))]
    refused = [a for a in answers if isinstance(a, Error)]
    assert len(answers) - len(refused) == 10 and refused
    assert {a.code for a in refused} == {ErrorCode.RATE_LIMITED}
    assert "changes a second" in refused[0].message and refused[0].retry_after > 0
    assert isinstance(only(core.handle(alice, Send(id=9, client_msg_id="a", scope="unicast",
                                                   text="hi", to=["bob"])), alice), Ok)


def test_retried_client_msg_id_is_stored_and_delivered_once(core):
    alice, bob = session(core, "alice"), session(core, "bob")
    send = Send(id=1, client_msg_id="same", scope="unicast", text="once", to=["bob"])
    first = core.handle(alice, send)
    second = core.handle(alice, Send(id=2, client_msg_id="same", scope="unicast", text="once",
                                     to=["bob"]))
    assert only(first, alice).seq == only(second, alice).seq
    assert len(frames_for(first, bob)) == 1 and frames_for(second, bob) == []


def test_roster_and_logout(core):
    alice = session(core, "alice")
    ok = only(core.handle(alice, GetRoster(id=3)), alice)
    assert [e.name for e in ok.roster] == ["alice", "bob", "charlie"]
    actions = core.handle(alice, Logout(id=4))
    assert isinstance(only(actions, alice), Ok) and Disconnect(alice) in actions


def test_the_roster_says_where_a_user_is_online_from_not_where_they_left(tmp_path, clock):
    """alice logged in at the lab desktop, then on her laptop, and left the desktop: /users
    (and the roster's address) still said she was online "from" the desktop she left, the
    one address where she was not. The address moves to her newest session still open."""
    passwords = Passwords(PasswordHasher(**CHEAP))
    store = Store(tmp_path / "timed.db")
    for name in ("alice", "bob"):
        store.create_account(name, passwords.hash(name + "123"))
    core = InlineCore(store, passwords, LoginThrottle(3, 10.0, clock=clock), clock=clock)
    bob = session(core, "bob")
    desktop = session(core, "alice")
    clock.now += 10
    laptop = session(core, "alice")
    clock.now += 10
    phone = session(core, "alice")

    def alice_address() -> str | None:
        ok = only(core.handle(bob, GetRoster(id=3)), bob)
        (entry,) = [e for e in ok.roster if e.name == "alice"]
        assert entry.online and entry.since == 1000.0  # (the run began at the desktop)
        return entry.address

    assert alice_address() == f"127.0.0.1:{desktop}"
    assert core.disconnected(laptop) == []  # (not the address shown: it stays)
    assert alice_address() == f"127.0.0.1:{desktop}"
    assert core.disconnected(desktop) == []
    assert alice_address() == f"127.0.0.1:{phone}"


def test_already_logged_in(core):
    alice = session(core, "alice")
    err = only(core.handle(alice, Login(id=2, user="bob", password="bob123")), alice)
    assert err.code == ErrorCode.ALREADY_LOGGED_IN


def test_error_frames_carry_request_ids(core):
    alice = session(core, "alice")
    err = only(core.handle(alice, Send(id=42, client_msg_id="x", scope="unicast", text="x",
                                       to=["ghost"])), alice)
    assert isinstance(err, Error) and err.id == 42


def test_a_hash_of_old_parameters_is_redone_on_a_worker_not_the_event_loop(tmp_path, clock):
    """After the argon2 parameters change, the first login stores a new hash; the hashing is
    a Crypto action (a worker), never done while handling the frame."""
    old = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    new = Passwords(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1, type=Type.ID))
    store = Store(tmp_path / "rehash.db")
    store.create_account("alice", old.hash("alice123"))
    core = ServerCore(store, new, LoginThrottle(3, 10.0, clock=clock))
    conn = next(_next_conn)
    core.connected(conn, "127.0.0.1:1")
    core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))
    calls: list[str] = []
    hash_now = new.hash
    new.hash = lambda password: calls.append(password) or hash_now(password)  # type: ignore
    (check,) = core.handle(conn, Login(id=1, user="alice", password="alice123"))
    after_check = check.done(check.work())
    assert calls == []  # verifying and answering the login hash nothing anew
    assert any(isinstance(a, Out) and isinstance(a.frame, Ok) for a in after_check)
    (rehash,) = [a for a in after_check if type(a).__name__ == "Crypto"]
    assert rehash.done(rehash.work()) == [] and calls == ["alice123"]
    assert not new.needs_rehash(store.account("alice").pw_hash)


def crypto_of(actions):
    """The one Crypto action among ``actions`` (a worker's job, run when the test says)."""
    (job,) = [a for a in actions if isinstance(a, Crypto)]
    return job


def password_core(tmp_path, clock, stored: Passwords, used: Passwords) -> ServerCore:
    """A core whose alice has a hash made with ``stored``'s parameters; it uses ``used``."""
    store = Store(tmp_path / "passwords.db")
    store.create_account("alice", stored.hash("alice123"))
    return ServerCore(store, used, LoginThrottle(3, 10.0, clock=clock))


def hello_conn(core) -> int:
    conn = next(_next_conn)
    core.connected(conn, f"127.0.0.1:{conn}")
    core.handle(conn, Hello(protocol_version=PROTOCOL_VERSION))
    return conn


CHEAP = dict(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)


def test_a_login_checked_against_a_password_changed_meanwhile_is_refused(tmp_path, clock):
    """The laptop's login with the old password is being checked when the desktop's change
    lands: it must not get in (it would never be told ``password_changed``)."""
    core = password_core(tmp_path, clock, *[Passwords(PasswordHasher(**CHEAP))] * 2)
    desktop, laptop = hello_conn(core), hello_conn(core)
    run_inline(core.handle(desktop, Login(id=1, user="alice", password="alice123")))
    check = crypto_of(core.handle(laptop, Login(id=1, user="alice", password="alice123")))
    verdict = check.work()  # right, against the hash of then
    changed = run_inline(core.handle(desktop, ChangePassword(
        id=2, password="alice123", new_password="changed1")))
    assert isinstance(only(changed, desktop), Ok)
    err = only(check.done(verdict), laptop)
    assert isinstance(err, Error) and err.code == ErrorCode.BAD_CREDENTIALS
    assert "changed" in err.message
    assert core.sessions[laptop].key is None  # not logged in
    assert core.online["alice"].conns == {desktop}


def test_a_rehash_neither_fails_nor_undoes_a_password_change(tmp_path, clock):
    """New argon2 parameters: the login's re-hash (of the same password) lands between a
    password change's check and its save, or after the change: the change is made, once."""
    old = Passwords(PasswordHasher(**CHEAP))
    new = Passwords(PasswordHasher(**{**CHEAP, "time_cost": 2}))
    for rehash_after_change in (False, True):
        core = password_core(tmp_path / str(rehash_after_change), clock, old, new)
        conn = hello_conn(core)
        check = crypto_of(core.handle(conn, Login(id=1, user="alice", password="alice123")))
        rehash = crypto_of(check.done(check.work()))  # logged in; the re-hash waits
        change = crypto_of(core.handle(conn, ChangePassword(id=2, password="alice123",
                                                            new_password="changed1")))
        save = crypto_of(change.done(change.work()))  # checked; the new hash waits
        if rehash_after_change:
            assert isinstance(only(save.done(save.work()), conn), Ok)
            assert rehash.done(rehash.work()) == []
        else:
            assert rehash.done(rehash.work()) == []
            assert isinstance(only(save.done(save.work()), conn), Ok)
        stored = core.store.account("alice").pw_hash
        assert new.verify(stored, "changed1") and not new.verify(stored, "alice123")


def test_one_address_cannot_pile_up_connections_without_a_login(tmp_path):
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    store = Store(tmp_path / "prelogin.db")
    store.create_account("alice", passwords.hash("alice123"))
    core = InlineCore(store, passwords, LoginThrottle(), max_prelogin_per_host=3)
    for conn in (1, 2, 3):
        assert core.connected(conn, f"10.0.0.9:{4000 + conn}") == []
    actions = core.connected(4, "10.0.0.9:4004")
    err = only(actions, 4)
    assert err.code == ErrorCode.RATE_LIMITED and "10.0.0.9" in err.message
    assert err.retry_after and Disconnect(4) in actions
    core.disconnected(4)
    assert core.connected(5, "10.0.0.7:4000") == []  # another address has its own share
    # A login frees its place; so does a connection that goes.
    core.handle(1, Hello(protocol_version=PROTOCOL_VERSION))
    assert isinstance(frames_for(core.handle(1, Login(id=1, user="alice",
                                                      password="alice123")), 1)[0], Ok)
    assert core.connected(6, "10.0.0.9:4006") == []
    assert Disconnect(7) in core.connected(7, "10.0.0.9:4007")
    core.disconnected(7)
    core.disconnected(2)
    assert core.connected(8, "10.0.0.9:4008") == []
    core.disconnected(1)  # (logged in: it was not counted any more)
    assert Disconnect(9) in core.connected(9, "10.0.0.9:4009")
    store.close()


def test_an_ipv6_64_counts_as_one_address_for_the_connection_limit(tmp_path):
    """An IPv6 client has a /64 of its own and may take any of its addresses: each counted
    as an address of its own, one computer had 2^64 shares of the per-address limits. An
    IPv4 address mapped into IPv6 is that IPv4 address."""
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    store = Store(tmp_path / "prelogin6.db")
    core = InlineCore(store, passwords, LoginThrottle(), max_prelogin_per_host=2)
    assert core.connected(1, "2a01:4f8:1:2::1:4001") == []
    assert core.connected(2, "2a01:4f8:1:2:aaaa::99%eth0:4002") == []
    err = only(actions := core.connected(3, "2a01:4f8:1:2:ffff:ffff:ffff:ffff:4003"), 3)
    assert err.code == ErrorCode.RATE_LIMITED and "2a01:4f8:1:2::/64" in err.message
    assert Disconnect(3) in actions
    core.disconnected(3)
    assert core.connected(4, "2a01:4f8:1:3::1:4004") == []  # the next /64: another client
    assert core.connected(5, "::ffff:10.0.0.9:4005") == []
    assert core.connected(6, "10.0.0.9:4006") == []
    assert Disconnect(7) in core.connected(7, "10.0.0.9:4007")
    store.close()


@pytest.mark.parametrize(("host", "block"), [
    ("192.0.2.7", "192.0.2.7"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("2a01:4f8:1:2::1", "2a01:4f8:1:2::/64"),
    ("2a01:4f8:1:2:aaaa::99%eth0", "2a01:4f8:1:2::/64"),
    # A LAN's own addresses are one computer each (a /64 is the whole classroom): the
    # server's networks, link-local, unique local, loopback.
    ("2a01:4f8:9:9::17", "2a01:4f8:9:9::17"),
    ("fe80::1%eth0", "fe80::1"),
    ("fd12:3456:789a:1::5", "fd12:3456:789a:1::5"),
    ("::1", "::1"),
    ("not an address", "not an address"),
])
def test_address_block(host, block):
    local = local_ipv6_networks(["127.0.0.1", "::1", "fe80::2%eth0", "2a01:4f8:9:9::1"])
    assert local == {ipaddress.IPv6Network("2a01:4f8:9:9::/64")}
    assert address_block(host, local) == block


def test_two_look_alike_registrations_hashed_at_once_do_not_both_succeed(core):
    """(A review.) the look-alike check runs only before the password is hashed; two
    registrations hashed at once ("alice2" free: "aIice2" and "alice2") both get their
    accounts."""
    conns = []
    for i, user in enumerate(("alice2", "aIice2")):
        conn = 500 + i
        core.connected(conn, f"10.0.0.{i + 1}:4000")
        ServerCore.handle(core, conn, Hello(protocol_version=PROTOCOL_VERSION, agent="t"))
        [crypto] = [a for a in ServerCore.handle(core, conn, Register(id=1, user=user,
                                                                      password="secret1"))
                    if isinstance(a, Crypto)]
        conns.append((conn, crypto))
    results = [crypto.done(crypto.work()) for _conn, crypto in conns]  # (both hashed first)
    oks = [a.frame for actions in results for a in actions
           if type(getattr(a, "frame", None)) is Ok]
    assert len(oks) == 1, "both look-alike accounts were created"


def test_server_log_never_names_the_files_people_send(core, caplog):
    """(A privacy hunt.) server.log said "transfer …: alice offers hiv-test-results.pdf
    (52000 bytes) to bob" for every file offered: the server keeps no file names anywhere
    else (files go peer to peer), and message texts are never logged, yet an operator's log,
    rotated, backed up or pasted into a bug report, listed what everyone sent to whom by
    name. The line keeps the transfer id, the people and the size."""
    import logging

    from messenger.protocol import Endpoint, TransferOffer

    alice, bob = session(core, "alice"), session(core, "bob")
    secret = "hiv-test-results.pdf"
    with caplog.at_level(logging.DEBUG, logger="messenger"):
        actions = core.handle(alice, TransferOffer(
            id=5, to="bob", name=secret, size=52000, sha256="ab" * 32,
            endpoint=Endpoint(host="127.0.0.1", port=4000)))
    ok = frames_for(actions, alice)[0]
    assert isinstance(ok, Ok) and ok.transfer_id
    assert frames_for(actions, bob)[0].name == secret  # (the recipient is told, of course)
    lines = [r.getMessage() for r in caplog.records]
    assert any(ok.transfer_id in line and "52000 bytes" in line for line in lines), lines
    assert not [line for line in lines if "hiv-test" in line]
