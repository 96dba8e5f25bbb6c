"""Storage hunt: what was checked and held (kept as regression tests; all pass).

Upgrades from databases made by older versions (storage_old.py), a full disk under the
server, damaged and read-only app stores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from storage_old import (
    OLD,
    OUTBOX,
    QUEUED,
    cached,
    fill,
    free_port,
    login,
    old_copy,
    texts,
)

from messenger.client.connection import ConnectionState
from messenger.protocol import Error, GetGroups, GetHistory, GroupCreate, Login, Ok, Register, Send

sys.path.insert(0, str(Path(__file__).parents[1]))
from helpers.wire import WireClient, connect_as


@pytest.mark.parametrize("old", OLD)
def test_an_old_servers_queue_reaches_the_recipient_after_the_upgrade(
        qtbot, make_server, make_engine, tmp_path, old):
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    charlie = make_engine(data_dir=tmp_path / "charlie-app")
    login(qtbot, charlie, port, "charlie")
    qtbot.waitUntil(lambda: {"to charlie offline", "mc1"} <= set(cached(charlie, "alice"))
                    and "bc1" in cached(charlie, "#everyone"), timeout=10_000)

@pytest.mark.parametrize("old", OLD)
def test_an_old_apps_outbox_and_history_survive_the_upgrade(
        qtbot, make_server, make_engine, tmp_path, old):
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    alice = make_engine(data_dir=d / "app")
    login(qtbot, alice, port, "alice")
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=10_000)
    assert cached(alice, "bob") == ["u0", "u1", "u2", "mc1", "from bob", "typed offline"]
    # Bob on a new computer: the server's history of the pair is whole.
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    want = ["u0", "u1", "u2", "mc1", "from bob", "typed offline"]
    try:
        qtbot.waitUntil(lambda: cached(bob, "alice") == want, timeout=10_000)
    finally:
        print("bob's cache:", cached(bob, "alice"))

@pytest.mark.parametrize("old", QUEUED)
def test_a_group_message_queued_before_the_upgrade_comes_once_and_is_counted(
        qtbot, make_server, make_engine, tmp_path, old):
    """Charlie, a member of "team", was offline when alice's g1 was stored by the old
    server. After the upgrade he gets it, confirms and reads it: it must not come again at
    his next login, and alice's counts must say he read it."""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    alice = make_engine(data_dir=d / "app")
    login(qtbot, alice, port, "alice")
    charlie = make_engine(data_dir=tmp_path / "charlie")
    got = []
    charlie.message_received.connect(lambda key, m: got.append((key, m.text)))
    login(qtbot, charlie, port, "charlie")
    qtbot.waitUntil(lambda: "g1" in cached(charlie, "#group:team"), timeout=10_000)
    charlie.mark_read("#group:team")
    def counts():
        return next(m for m in alice.store.page("#group:team", limit=1000)
                    if m.text == "g1").counts

    try:
        qtbot.waitUntil(lambda: counts() is not None and counts()[1] >= 1, timeout=10_000)
    finally:
        print("alice's counts of g1:", counts())
    # charlie's next login: g1 is not replayed
    charlie.close()
    qtbot.waitUntil(lambda: charlie.state is ConnectionState.DISCONNECTED)
    got.clear()
    again = make_engine(data_dir=tmp_path / "charlie")
    again.message_received.connect(lambda key, m: got.append((key, m.text)))
    login(qtbot, again, port, "charlie")
    alice.send_unicast("charlie", "marker")
    qtbot.waitUntil(lambda: ("alice", "marker") in got, timeout=10_000)
    assert ("#group:team", "g1") not in got, got

@pytest.mark.parametrize("old", OLD)
def test_ticks_of_messages_read_before_the_upgrade_show_on_a_new_computer(
        qtbot, make_server, make_engine, tmp_path, old):
    """Bob read u0..u2 before the server was upgraded; alice on a new computer must see
    them read (as on her old one), not merely sent."""
    from messenger.client.models import DeliveryState
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    alice = make_engine(data_dir=tmp_path / "alice-new")
    login(qtbot, alice, port, "alice")
    qtbot.waitUntil(lambda: "u2" in cached(alice, "bob"), timeout=10_000)

    def states():
        return {i.text: i.state for i in alice.conversation("bob").items()
                if i.text in ("u0", "u1", "u2")}
    try:
        qtbot.waitUntil(lambda: len(states()) == 3 and set(states().values())
                        == {DeliveryState.READ}, timeout=5_000)
    finally:
        print(old, states(), [(m.text, m.state) for m in alice.store.page("bob")])

@pytest.mark.parametrize("old", OUTBOX)
def test_every_kind_of_message_in_an_old_outbox_goes_after_the_upgrade(
        qtbot, make_server, make_engine, tmp_path, old):
    """Alice's old app had a unicast, a group message, a broadcast and a multicast typed
    offline, plus one to an unknown user: after upgrading app and server, each goes once to
    where it was typed."""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=d / "app")
    login(qtbot, bob, port, "bob")
    alice = make_engine(data_dir=d / "app")
    login(qtbot, alice, port, "alice")
    qtbot.waitUntil(lambda: all(i.state == "failed" for i in alice.store.outbox()),
                    timeout=10_000)
    qtbot.waitUntil(lambda: "g offline" in cached(bob, "#group:team")
                    and "bc offline" in cached(bob, "#everyone")
                    and "mc offline" in cached(bob, "alice")
                    and "typed offline" in cached(bob, "alice"), timeout=10_000)
    for key in ("#group:team", "#everyone", "alice"):
        assert len(texts(bob, key)) == len(set(texts(bob, key))), texts(bob, key)
    assert [i.text for i in alice.store.outbox()] == ["to nobody"]
    assert "g offline" in texts(alice, "#group:team")
    assert "mc offline" in texts(alice, "bob") and "mc offline" in texts(alice, "charlie")

@pytest.mark.parametrize("old", OLD)
def test_a_resend_after_the_upgrade_of_a_message_the_old_server_stored_is_not_doubled(
        qtbot, make_server, make_engine, tmp_path, old):
    """The old server stored alice's u1 but its ok was lost; the outbox row (attempted) is
    what the old app kept. After the upgrade the resend must get the old seq, and bob must
    not get u1 twice (docs/protocol.md §10: the server remembers client_msg_id for good)."""
    import json as _json
    import sqlite3 as _sqlite3
    port = free_port()
    d = old_copy(tmp_path, old, port)
    srv_db = _sqlite3.connect(d / "srv" / "messenger.db")
    cid, seq = srv_db.execute(
        "SELECT client_msg_id, seq FROM messages WHERE text = 'u1'").fetchone()
    srv_db.close()
    store = _sqlite3.connect(d / "app" / "accounts" / f"127.0.0.1_{port}" / "alice.db")
    store.execute("DELETE FROM messages WHERE client_msg_id = ?", (cid,))
    store.execute("INSERT INTO outbox (client_msg_id, conv, scope, recipients, text, created)"
                  " VALUES (?, 'bob', 'unicast', ?, 'u1', 0)", (cid, _json.dumps(["bob"])))
    store.commit()
    store.close()
    make_server(data_dir=d / "srv", port=port)
    alice = make_engine(data_dir=d / "app")
    acks = []
    alice.message_acked.connect(lambda c, s, ts: acks.append((c, s)))
    login(qtbot, alice, port, "alice")
    qtbot.waitUntil(lambda: any(c == cid for c, _ in acks), timeout=10_000)
    assert dict(acks)[cid] == seq
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    qtbot.waitUntil(lambda: {"u0", "u2", "typed offline"} <= set(cached(bob, "alice")),
                    timeout=10_000)
    assert cached(bob, "alice").count("u1") == 1

def test_a_full_disk_acks_only_what_was_stored(qtbot, make_server, small_disk):
    """The disk fills while alice sends: each `ok` she got must name a message that is in
    the database after a restart (docs/protocol.md §10), and nothing may be delivered that
    was not stored."""
    data = small_disk / "srv"
    server = make_server(demo=True, data_dir=data)
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    assert isinstance(alice.send_text("unicast", "before", to=["bob"]), Ok)
    print(sorted((p.name, p.stat().st_size) for p in data.iterdir()))
    fill(small_disk / "filler", leave=64 * 1024)
    acked: dict[str, int] = {}
    failed = []
    server.server.storageFailed.connect(failed.append)
    ids = {}
    for i in range(60):
        rid = alice.next_id()
        ids[rid] = f"full-{i}"
        alice.send(Send(id=rid, client_msg_id=f"full-{i}", scope="unicast",
                        text=f"{i} " + "x" * 8000, to=["bob"]))
    qtbot.waitUntil(lambda: bool(failed) or alice.closed or all(
        any(getattr(f, "id", None) == rid for f in alice.frames) for rid in ids),
        timeout=20_000)
    for f in alice.frames:
        if isinstance(f, Ok) and f.id in ids:
            acked[ids[f.id]] = f.seq
    print("acked", len(acked), "failed", failed, "errors",
          [(f.code, f.message) for f in alice.frames if isinstance(f, Error)])
    delivered = [m.text.split()[0] for m in bob.messages()]
    server.close()
    (small_disk / "filler").unlink()
    again = make_server(data_dir=data)
    check = connect_as(qtbot, again, "bob", "bob123")
    history = check.request(GetHistory,
                            conversation="user:alice", limit=200)
    stored = {m.client_msg_id for m in history.messages} if isinstance(history, Ok) else set()
    print("stored", len(stored))
    assert set(acked) <= stored, sorted(set(acked) - stored)
    assert all(f"full-{d}" in stored for d in delivered if d != "before")

@pytest.mark.parametrize("what", ["register", "group", "login"])
def test_a_full_disk_acks_no_account_or_group_that_was_not_stored(qtbot, make_server,
                                                                  small_disk, what):
    data = small_disk / "srv"
    server = make_server(demo=True, data_dir=data)
    alice = connect_as(qtbot, server, "alice", "alice123")
    for i in range(30):  # some WAL in use
        assert isinstance(alice.send_text("unicast", f"{i} " + "y" * 4000, to=["bob"]), Ok)
    fill(small_disk / "filler")
    failed = []
    server.server.storageFailed.connect(failed.append)
    if what == "register":
        c = WireClient(qtbot, server.host, server.port)
        c.hello()
        c.send(Register(id=1, user="dora", password="dora12345"))
        qtbot.waitUntil(lambda: bool(failed) or c.closed or any(
            getattr(f, "id", None) == 1 for f in c.frames), timeout=10_000)
        answers = [f for f in c.frames if getattr(f, "id", None) == 1]
    elif what == "group":
        rid = alice.next_id()
        alice.send(GroupCreate(id=rid, group="fullgroup"))
        qtbot.waitUntil(lambda: bool(failed) or alice.closed or any(
            getattr(f, "id", None) == rid for f in alice.frames), timeout=10_000)
        answers = [f for f in alice.frames if getattr(f, "id", None) == rid]
    else:
        c = WireClient(qtbot, server.host, server.port)
        c.hello()
        c.send(Login(id=1, user="bob", password="bob123"))
        qtbot.waitUntil(lambda: bool(failed) or c.closed or any(
            getattr(f, "id", None) == 1 for f in c.frames), timeout=10_000)
        answers = [f for f in c.frames if getattr(f, "id", None) == 1]
    print(what, answers, failed, server.server._server.isListening())
    server.close()
    (small_disk / "filler").unlink()
    again = make_server(data_dir=data)
    if what == "register" and answers and isinstance(answers[0], Ok):
        connect_as(qtbot, again, "dora", "dora12345")
    if what == "group" and answers and isinstance(answers[0], Ok):
        a2 = connect_as(qtbot, again, "alice", "alice123")
        groups = a2.request(GetGroups)
        assert "fullgroup" in str(groups), groups

def _pending_store(qtbot, make_server, make_engine, tmp_path, history=300):
    """alice's store with ``history`` cached messages from bob and one message typed
    while the server was down; the server running again; returns (server, data dir, path)."""
    port = free_port()
    first = make_server(demo=True, data_dir=tmp_path / "srv", port=port)
    app = tmp_path / "app"
    alice = make_engine(data_dir=app)
    bob = make_engine(data_dir=tmp_path / "bobapp")
    login(qtbot, alice, port, "alice")
    login(qtbot, bob, port, "bob")
    for i in range(history):
        bob.send_unicast("alice", f"h{i} " + "z" * 200)
    qtbot.waitUntil(lambda: alice.store.count("bob") == history, timeout=20_000)
    first.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    alice.send_unicast("bob", "typed offline")
    path = Path(alice.store.path)
    alice.close()
    alice.store.close()
    bob.close()
    server = make_server(data_dir=tmp_path / "srv", port=port)
    return server, app, path, port

@pytest.mark.parametrize("damage", ["garbage-wal", "garbage-shm"])
def test_a_damaged_store_still_logs_in_and_keeps_the_outbox(qtbot, make_server, make_engine,
                                                            tmp_path, damage):
    _server, app, path, port = _pending_store(qtbot, make_server, make_engine, tmp_path)
    if damage == "truncated":
        size = path.stat().st_size
        os.truncate(path, size // 2)
    elif damage == "garbage-wal":
        Path(f"{path}-wal").write_bytes(os.urandom(50_000))
    elif damage == "garbage-shm":
        Path(f"{path}-shm").write_bytes(os.urandom(32768))
    elif damage == "empty":
        os.truncate(path, 0)
    print(sorted((p.name, p.stat().st_size) for p in path.parent.iterdir()))
    alice = make_engine(data_dir=app)
    bob = make_engine(data_dir=tmp_path / "bobapp")
    failed = []
    alice.login_failed.connect(lambda *a: failed.append(a))
    login(qtbot, bob, port, "bob")
    alice.connect_to("127.0.0.1", port)
    alice.login("alice", "alice123")
    qtbot.waitUntil(lambda: bool(failed) or alice.logged_in, timeout=10_000)
    assert not failed, failed
    qtbot.waitUntil(lambda: "typed offline" in cached(bob, "alice"), timeout=10_000)

def test_a_read_only_data_folder_ends_the_login_with_the_reason(qtbot, make_server,
                                                                make_engine, small_disk):
    port = free_port()
    d = old_copy(small_disk, "s8-l5", port)
    make_server(data_dir=small_disk.parent / "srv", demo=True, port=port)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        alice = make_engine(data_dir=d / "app")
        failed = []
        alice.login_failed.connect(lambda *a: failed.append(a))
        alice.connect_to("127.0.0.1", port)
        alice.login("alice", "alice123")
        qtbot.waitUntil(lambda: bool(failed) or alice.logged_in, timeout=10_000)
        print(failed)
        assert failed and "read-only" in failed[0][1].lower(), failed
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)


@pytest.mark.parametrize("old", OLD)
def test_an_old_store_catches_up_what_another_device_confirmed_after_the_upgrade(
        qtbot, make_server, make_engine, tmp_path, old):
    """Bob's old store (no resume cursors) gets, after the upgrade, what his other
    computer confirmed meanwhile: unicast, broadcast and group."""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    alice = make_engine(data_dir=d / "app")
    login(qtbot, alice, port, "alice")
    other = make_engine(data_dir=tmp_path / "bob-other")
    login(qtbot, other, port, "bob")
    alice.send_unicast("bob", "after 1")
    alice.send_broadcast("after bc")
    alice.send_group("team", "after g")
    qtbot.waitUntil(lambda: "after 1" in cached(other, "alice") and "after g" in
                    cached(other, "#group:team") and "after bc" in cached(other, "#everyone"),
                    timeout=10_000)
    other.close()
    qtbot.waitUntil(lambda: not other.logged_in)
    bob = make_engine(data_dir=d / "app")
    login(qtbot, bob, port, "bob")
    try:
        qtbot.waitUntil(lambda: "after 1" in cached(bob, "alice") and "after g" in
                        cached(bob, "#group:team") and "after bc" in cached(bob, "#everyone"),
                        timeout=5_000)
    finally:
        print(old, cached(bob, "alice"), cached(bob, "#group:team"), cached(bob, "#everyone"))
