"""Upgrades: databases made by OLDER versions of Messenger (a server's and the app's
stores, tests/helpers/old_stores.py), opened by this one."""

from __future__ import annotations

import json
import sqlite3

import pytest
from helpers.old_stores import FORMER, OLD, OUTBOX, QUEUED, cached, free_port, login, old_copy

from messenger.client.connection import ConnectionState
from messenger.client.models import DeliveryState, MessageKind


def texts(engine, key: str) -> list[str]:
    """What the conversation ``key`` shows (messages only)."""
    return [i.text for i in engine.conversation(key).items()
            if i.kind in (MessageKind.OWN, MessageKind.OTHER)]


def test_an_old_apps_unsent_message_under_another_address_still_goes(
        qtbot, make_server, make_engine, tmp_path):
    """The old app (before server homes and ``hello.instance``) kept alice's message typed
    offline in its store under 127.0.0.1. After the upgrade she first logged in as
    "localhost" (the same server, the same certificate: its home from then on), then at
    127.0.0.1 again, where she typed it: it was never sent (it waited in a store the new
    app never opens again, for it names no server instance). Now a store that names none,
    kept under an address pinned to this certificate from before, is this server's: its
    unsent messages move home and go."""
    port = free_port()
    d = old_copy(tmp_path, "s8-l5", port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")  # (127.0.0.1 pinned, as the old app had it)
    first = make_engine(data_dir=d / "app")
    login(qtbot, first, port, "alice", host="localhost")
    assert first.store.outbox() == []
    first.close()
    qtbot.waitUntil(lambda: first.state is ConnectionState.DISCONNECTED)
    first.store.close()
    again = make_engine(data_dir=d / "app")
    login(qtbot, again, port, "alice")  # at 127.0.0.1, where the message waited
    assert again.home == ("localhost", port)
    assert again.moved_from == ("127.0.0.1", port)
    qtbot.waitUntil(lambda: "typed offline" in cached(bob, "alice"), timeout=10_000)
    assert cached(bob, "alice").count("typed offline") == 1
    assert again.store.outbox() == []


@pytest.mark.parametrize("old", ["s2-l1", "s5-l3", "s6-l4"])
def test_an_old_servers_group_history_is_found_by_a_new_computer(
        qtbot, make_server, make_engine, tmp_path, old):
    """Bob, a member of "team" since before the server was upgraded, logs in on a new
    computer: its g1 never came, for the login's `conversations` list did not name the
    group (it looked only at membership spans, and the 5 → 6 migration opened those at its
    last seq). Groups of older messages are found by their `deliveries` rows now. (s6-l4:
    a control, made by a server with spans.)"""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    qtbot.waitUntil(lambda: "from bob" in cached(bob, "alice"), timeout=10_000)
    qtbot.waitUntil(lambda: "g1" in cached(bob, "#group:team"), timeout=10_000)


@pytest.mark.parametrize("old", FORMER)
def test_a_group_left_before_the_upgrade_is_listed_on_a_new_computer(
        qtbot, make_server, make_engine, tmp_path, old):
    """Bob left "club" before the server was upgraded. On a new computer his former groups
    are listed after the first catch-up, with their history: this one was not (no span
    said he had been a member, so `conversations` did not name it and `history` refused it
    as not_member)."""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    qtbot.waitUntil(lambda: "from bob" in cached(bob, "alice"), timeout=10_000)
    qtbot.waitUntil(lambda: "c1" in cached(bob, "#group:club")
                    and "club" in bob.groups.former(), timeout=10_000)
    assert "team" in bob.groups.names() and "club" not in bob.groups.names()


@pytest.mark.parametrize("old", OLD)
def test_an_old_servers_queue_reaches_the_recipient_after_the_upgrade(
        qtbot, make_server, make_engine, tmp_path, old):
    """Charlie never logged in while the old server stored alice's unicast, multicast and
    broadcast to him: after the upgrade his first login gets them."""
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
    """Alice's old app keeps its history and sends what she typed offline once; bob on a
    new computer finds the whole conversation on the upgraded server."""
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
    port = free_port()
    d = old_copy(tmp_path, old, port)
    srv_db = sqlite3.connect(d / "srv" / "messenger.db")
    cid, seq = srv_db.execute(
        "SELECT client_msg_id, seq FROM messages WHERE text = 'u1'").fetchone()
    srv_db.close()
    store = sqlite3.connect(d / "app" / "accounts" / f"127.0.0.1_{port}" / "alice.db")
    store.execute("DELETE FROM messages WHERE client_msg_id = ?", (cid,))
    store.execute("INSERT INTO outbox (client_msg_id, conv, scope, recipients, text, created)"
                  " VALUES (?, 'bob', 'unicast', ?, 'u1', 0)", (cid, json.dumps(["bob"])))
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
