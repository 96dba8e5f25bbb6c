"""Exactly-once delivery in the app's engine: outbox, reconnect, resume, receipts, lazy history,
heartbeat — against a real in-process server."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import shiboken6
from helpers.servers import another_programs_lock
from helpers.wire import connect_as
from PySide6.QtCore import Qt, QTimer

import messenger
from messenger.client import engine as engine_module
from messenger.client import localstore
from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE, group_key, peer_key
from messenger.client.engine import LOCAL_STORE, ClientEngine, export_line
from messenger.client.liveness import Backoff, Heartbeat
from messenger.client.localstore import LocalStore, store_path
from messenger.client.models import ConversationModel, DeliveryState, MessageKind
from messenger.protocol import (
    RETRACTED_TEXT,
    Edit,
    Error,
    ErrorCode,
    Message,
    Ok,
    Read,
    Receipt,
    Send,
)


def login(qtbot, engine: ClientEngine, host: str, port: int, user: str) -> None:
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(host, port)
        engine.login(user, f"{user}123")


def alice_twice_and_bob(qtbot, server, make_engine, tmp_path: Path) -> tuple[
        ClientEngine, ClientEngine, ClientEngine]:
    """alice logged in on her desktop and her laptop (its own data folder), and bob."""
    desktop, bob = make_engine(), make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    for engine, user in ((desktop, "alice"), (laptop, "alice"), (bob, "bob")):
        login(qtbot, engine, server.host, server.port, user)
    return desktop, laptop, bob


def texts_from(engine: ClientEngine, key: str, sender: str) -> list[str]:
    return [i.text for i in engine.conversation(key).items() if i.sender == sender
            and i.kind in (MessageKind.OWN, MessageKind.OTHER)]


def cut_after(engine: ClientEngine, signal, count: int) -> list[int]:
    """Abort ``engine``'s socket (no logout, as a broken link) once ``signal`` fired ``count``
    times; returns the list that counts the emissions."""
    seen: list[int] = []

    def abort() -> None:
        if engine._conn._socket is not None:
            engine._conn._socket.abort()

    def on_signal(*args) -> None:
        seen.append(1)
        if len(seen) == count:
            QTimer.singleShot(0, abort)  # after this frame, as a real broken link would

    signal.connect(on_signal)
    return seen


def test_socket_cut_mid_burst_reconnects_without_loss_or_doubles(qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    cut_after(alice, alice.message_acked, 30)
    cut_after(bob, bob.message_received, 60)
    reconnects: list[float] = []
    alice.reconnect_scheduled.connect(reconnects.append)
    sent = [f"burst {i}" for i in range(120)]
    for text in sent:
        alice.send_unicast("bob", text)

    def settled() -> bool:
        # ``reconnects``: the cut is queued after the 30th ack; on a fast machine every ack
        # can arrive before it runs, so wait for it (and for the link that follows).
        return bool(reconnects) and alice.logged_in and bob.logged_in \
            and not alice.store.outbox() and len(texts_from(bob, "alice", "alice")) >= len(sent)

    qtbot.waitUntil(settled, timeout=20_000)
    assert texts_from(bob, "alice", "alice") == sent  # all, once each, in order
    own = [i for i in alice.conversation("bob").items() if i.kind is MessageKind.OWN]
    assert [i.text for i in own] == sent
    assert all(i.state is not DeliveryState.PENDING for i in own)
    seqs = [i.seq for i in own]
    assert len(set(seqs)) == len(seqs) == len(sent) and seqs == sorted(seqs)
    # Bob's cache holds what his window shows, once each.
    assert bob.store.count("alice") == len(sent)


def test_restarted_app_sends_its_unsent_messages_once(qtbot, make_server, make_engine,
                                                       tmp_path):
    data = tmp_path / "srv"
    first = make_server(demo=True, data_dir=data)
    port = first.port  # (the restart below binds it again)
    alice = make_engine()
    login(qtbot, alice, "127.0.0.1", port, "alice")
    first.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    cmids = [alice.send_unicast("bob", f"offline {i}") for i in range(3)]
    assert all(cmids)
    assert [i.state for i in alice.conversation("bob").items()] == [DeliveryState.PENDING] * 3
    alice.close()
    alice.store.close()
    alice.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(alice))

    make_server(data_dir=data, port=port)
    again = make_engine()
    with qtbot.waitSignal(again.login_succeeded, timeout=10_000):
        again.connect_to("127.0.0.1", port)
        again.login("alice", "alice123")
        # Shown at once, before the login is even answered.
    assert [i.client_msg_id for i in again.conversation("bob").items()] == cmids
    qtbot.waitUntil(lambda: not again.store.outbox(), timeout=10_000)
    bob = make_engine()
    login(qtbot, bob, "127.0.0.1", port, "bob")
    qtbot.waitUntil(lambda: len(texts_from(bob, "alice", "alice")) == 3, timeout=10_000)
    assert texts_from(bob, "alice", "alice") == [f"offline {i}" for i in range(3)]
    assert [i.state for i in again.conversation("bob").items()
            if i.kind is MessageKind.OWN] != [DeliveryState.PENDING] * 3


def test_receipts_move_the_senders_state_sent_delivered_read(qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    model = alice.conversation("bob")
    states: list[DeliveryState] = []

    def record(top, bottom, roles=()) -> None:
        state = model.data(top, ConversationModel.StateRole)
        if not states or states[-1] is not state:
            states.append(state)

    model.dataChanged.connect(record)
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        alice.send_unicast("bob", "did you read this?")
    qtbot.waitUntil(lambda: model.items()[-1].state is DeliveryState.DELIVERED, timeout=10_000)
    bob.mark_read("alice")
    qtbot.waitUntil(lambda: model.items()[-1].state is DeliveryState.READ, timeout=10_000)
    assert states == [DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ]
    assert model.items()[-1].read_by == ("bob",)
    assert alice.store.get_meta("receipts_after") is None  # unicast receipts are not logged
    cached = alice.store.message(model.items()[-1].seq)
    assert cached.state == "read"


def test_receipts_missed_while_logged_out_arrive_with_the_next_login(qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    for text in ("one", "two"):
        with qtbot.waitSignal(bob.message_received, timeout=10_000):
            alice.send_unicast("bob", text)
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED] * 2,
                    timeout=10_000)
    with qtbot.waitSignal(alice.logged_out, timeout=10_000):
        alice.logout()
    bob.mark_read("alice")
    bob.send_unicast("alice", "read both")  # reaches the server after the read
    qtbot.waitUntil(lambda: not bob.store.outbox(), timeout=10_000)
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        login(qtbot, alice, server.host, server.port, "alice")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.READ] * 2,
                    timeout=10_000)
    assert [alice.store.message(i.seq).state for i in alice.conversation("bob").items()
            if i.kind is MessageKind.OWN] == ["read", "read"]


def test_receipts_past_the_login_replay_cap_are_not_skipped_by_a_live_one(
        qtbot, make_server, make_engine):
    """alice's laptop was away while her desktop's 2,600 messages to bob and charlie were
    delivered and read (10,400 receipts). The server replayed 10,000 at a login and said
    nothing of the rest; a live receipt meanwhile (bob reads a new message) moved the
    laptop's ``receipts_after`` past the ones not replayed: they never came, and the laptop
    showed her last messages unread by charlie for good while her desktop showed them read.
    Now the whole log is replayed in pieces and live receipts wait for it."""
    server = make_server(demo=True, max_send_rate=0)
    laptop = make_engine()
    login(qtbot, laptop, server.host, server.port, "alice")
    with qtbot.waitSignal(laptop.logged_out, timeout=10_000):
        laptop.logout()
    desktop = connect_as(qtbot, server, "alice", "alice123")
    count = 2600
    first = desktop.next_id()
    for i in range(count):
        desktop.send(Send(id=first + i, client_msg_id=f"{desktop.next_id()}-{i}",
                          scope="multicast", to=["bob", "charlie"], text=f"m{i}"))
    last = desktop.reply(first + count - 1, timeout=60_000)
    assert isinstance(last, Ok)
    seqs = list(range(last.seq - count + 1, last.seq + 1))
    for user in ("bob", "charlie"):
        reader = connect_as(qtbot, server, user, f"{user}123")  # delivers the queue
        qtbot.waitUntil(lambda r=reader: len(r.messages()) >= count, timeout=60_000)
        reader.send(Read(seqs=seqs))
        reader.request(Send, client_msg_id=f"{user}-done", scope="unicast", to=[user],
                       text="done")  # (answered after the read is stored)
        reader.close()
    with qtbot.waitSignal(laptop.resumed, timeout=30_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    # A new message that bob reads while the laptop is online: its receipt comes live.
    bob = connect_as(qtbot, server, "bob", "bob123")
    new = desktop.request(Send, client_msg_id="new-1", scope="multicast",
                          to=["bob", "charlie"], text="one more")
    bob.send(Read(seqs=[new.seq]))
    qtbot.waitUntil(lambda: any(
        i.seq == new.seq and "bob" in i.read_by for i in laptop.conversation("bob").items()),
        timeout=10_000)
    with qtbot.waitSignal(laptop.logged_out, timeout=10_000):
        laptop.logout()
    with qtbot.waitSignal(laptop.resumed, timeout=30_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    (item,) = [i for i in laptop.conversation("charlie").items() if i.seq == seqs[-1]]
    assert "charlie" in item.read_by, (item.state, item.read_by)


@pytest.mark.parametrize("send_read_receipts", [True, False])
def test_read_receipts_can_be_switched_off(qtbot, server, make_engine, send_read_receipts):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    bob.send_read_receipts = send_read_receipts
    model = alice.conversation("bob")
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        alice.send_unicast("bob", "did you read this?")
    qtbot.waitUntil(lambda: model.items()[-1].state is DeliveryState.DELIVERED, timeout=10_000)
    bob.mark_read("alice")
    assert bob.unread("alice") == 0  # read here either way
    # bob answers: anything bob's app sent before reached the server before it, and its
    # receipt reached alice before the answer.
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "answer")
    assert (model.items()[0].state is DeliveryState.READ) is send_read_receipts


def test_group_message_tooltip_counts_deliveries(qtbot, server, make_engine):
    alice, bob, charlie = make_engine(), make_engine(), make_engine()
    for engine, user in ((alice, "alice"), (bob, "bob"), (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, user)
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lab", public=True)
    for engine in (bob, charlie):
        with qtbot.waitSignal(engine.group_joined, timeout=10_000):
            engine.join_group("lab")
    qtbot.waitUntil(lambda: len(alice.groups.group("lab").members) == 3, timeout=10_000)
    alice.send_group("lab", "meeting at 3")
    model = alice.conversation(group_key("lab"))
    row = model.rowCount() - 1

    def tip() -> str:
        return model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole)

    qtbot.waitUntil(lambda: "delivered to 2 of 2" in tip(), timeout=10_000)
    # Counted by the server (receipt_count), kept in the cache for the next start.
    assert model.item(row).counts == (2, 0, 2)
    assert alice.store.message(model.item(row).seq).counts == (2, 0, 2)


def test_final_error_fails_without_blocking_later_messages_and_retry_resends(
        qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(alice.request_failed, timeout=10_000) as failed:
        ghost = alice.send_unicast("ghost", "to nobody")
        alice.send_unicast("bob", "after the failure")
    assert failed.args[1] == ErrorCode.UNKNOWN_USER
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["after the failure"],
                    timeout=10_000)
    assert [i.client_msg_id for i in alice.store.outbox(state="failed")] == [ghost]
    assert alice.conversation("ghost").items()[0].state is DeliveryState.FAILED
    with qtbot.waitSignal(alice.request_failed, timeout=10_000):
        assert alice.retry(ghost)
    assert alice.discard(ghost)
    assert alice.store.outbox() == []
    assert all(i.client_msg_id != ghost for i in alice.conversation("ghost").items())


def test_history_pages_come_from_the_cache_then_the_server(qtbot, server, make_engine,
                                                          tmp_path):
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    for i in range(120):
        alice.send_unicast("charlie", f"m{i}")
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=10_000)
    # Another computer of alice's: an empty cache; the server has all 120.
    other = make_engine(data_dir=tmp_path / "laptop")
    login(qtbot, other, server.host, server.port, "alice")
    model = other.conversation("charlie")
    assert model.rowCount() == 0 and model.canFetchMore()
    while model.canFetchMore():
        with qtbot.waitSignal(other.history_loaded, timeout=10_000):
            model.fetchMore()
    assert [i.text for i in model.items()] == [f"m{i}" for i in range(120)]
    assert other.store.count("charlie") == 120
    # The same account's first computer: cached pages, no server round trip.
    first = alice.conversation("charlie")
    assert first.rowCount() == 120  # sent in this session: all shown
    home = alice.store.path.parents[2]
    alice.close()  # (the app quits: the next one opens its store)
    alice.close_store()
    cache_only = make_engine(data_dir=home)
    cache_only.open_store(server.host, server.port, "alice")
    cached = cache_only.conversation("charlie")
    assert cached.rowCount() == 50
    assert cached.canFetchMore()
    cached.fetchMore()
    assert cached.rowCount() == 100 and cached.items()[0].text == "m20"
    assert len(cached.find("M11")) == 11  # m11, m110…m119; ignoring case
    row = cached.load_until(cached.find("m1")[0])
    assert row == 0 and cached.items()[0].text == "m1"


def test_an_older_page_refused_for_now_does_not_end_the_conversations_history(
        qtbot, server, make_engine, tmp_path):
    """An operator's sqlite3 shell held a write lock on the server's database while a
    new account scrolled up in Everyone: the server answered that page with ``internal``
    ("try again"), and the app took it as the start of the conversation. Once the lock was
    gone, scrolling up loaded nothing more for the rest of the session (and the find bar
    said "No matches" as if it had searched everything)."""
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    for i in range(120):
        assert isinstance(charlie.send_text("broadcast", f"b{i}"), Ok)
    dave = make_engine(data_dir=tmp_path / "dave")  # (a new account: nothing queued)
    with qtbot.waitSignal(dave.resumed, timeout=10_000):
        with qtbot.waitSignal(dave.login_succeeded, timeout=10_000):
            dave.connect_to(server.host, server.port)
            dave.register("dave", "dave123456")
    model = dave.conversation(EVERYONE)
    assert model.canFetchMore()
    with another_programs_lock(server):
        with qtbot.waitSignal(dave.history_loaded, timeout=10_000) as loaded:
            model.fetchMore()
        assert loaded.args == [EVERYONE, 0]
    assert model.server_more is not False and model.canFetchMore()
    while model.canFetchMore():  # (what scrolling to the top again does, page by page)
        with qtbot.waitSignal(dave.history_loaded, timeout=10_000):
            model.fetchMore()
    assert [i.text for i in model.items() if i.seq is not None] == \
        [f"b{i}" for i in range(120)]
    assert model.server_more is False


def test_heartbeat_drops_a_link_silent_across_a_sleep_and_reconnects(qtbot, server,
                                                                      make_engine):
    now = [1000.0]
    alice = make_engine(clock=lambda: now[0], tick_ms=20,
                        heartbeat=Heartbeat(interval=5, timeout=15))
    login(qtbot, alice, server.host, server.port, "alice")
    with qtbot.waitSignals([alice.reconnecting, alice.login_succeeded], timeout=10_000):
        now[0] += 3600  # the laptop slept an hour: the next tick sees a dead link
    assert alice.logged_in


def test_after_a_sleep_the_next_reconnect_does_not_wait_out_an_old_backoff(qtbot, server,
                                                                          make_engine):
    """The wake was acted on only when it found the app waiting to reconnect: a link still
    up (or an attempt under way) at the wake that then dropped waited out the backoff grown
    before the sleep, 15–30 s (a sleep hunt)."""
    now = [1000.0]
    alice = make_engine(clock=lambda: now[0], tick_ms=20, backoff=Backoff(0.5, 30.0))
    login(qtbot, alice, server.host, server.port, "alice")
    for _ in range(8):  # the server was away for a while before this login
        alice._backoff.next_delay()
    ticks: list[float] = []
    alice._tick_timer.timeout.connect(lambda: ticks.append(now[0]))
    now[0] += 10  # the laptop slept 10 s; the link is still up at the wake
    qtbot.waitUntil(lambda: bool(ticks) and ticks[-1] == now[0])
    with qtbot.waitSignal(alice.reconnect_scheduled, timeout=10_000) as scheduled:
        alice._conn._socket.abort()  # and drops right after it
    assert scheduled.args[0] <= 1.0  # the first step, not 15–30 s


def test_a_first_login_to_a_server_gone_silent_fails_instead_of_waiting_for_ever(
        qtbot, server, make_engine):
    """The connect timeout ended with the server's hello and the heartbeat began only after
    a login: a server that went silent in between (hung, or the link died) left the login
    dialog at "Logging in…" for good (a sleep hunt)."""
    now = [1000.0]
    alice = make_engine(clock=lambda: now[0], tick_ms=20)
    alice.connect_to(server.host, server.port)
    qtbot.waitUntil(lambda: alice.state is ConnectionState.CONNECTED)
    (conn,) = server.server._conns.values()
    conn.paused = True  # the server reads nothing more from it: as if it hung
    with qtbot.waitSignal(alice.connection_failed, timeout=10_000) as failed:
        alice.login("alice", "alice123")
        now[0] += 16  # past the heartbeat's 15 s without an answer
    assert "No answer from the server" in failed.args[1]  # (the login dialog shows it)
    assert alice.state is ConnectionState.DISCONNECTED and not alice.auto_reconnect


def test_a_dead_link_is_noticed_within_15_s_of_its_last_byte(qtbot, server, make_engine):
    """The silence counts from the tick before the one that saw the last bytes (they may
    have come just after it): 14.5 s after that tick the link is dropped. Counted from the
    tick that saw them, a dead link took up to 16 s to notice."""
    now = [1000.0]
    ticks: list[float] = []
    alice, bob = make_engine(clock=lambda: now[0], tick_ms=20), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    alice._tick_timer.timeout.connect(lambda: ticks.append(now[0]))
    qtbot.waitUntil(lambda: len(ticks) >= 2)  # a tick at 1000
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "the last bytes")  # just after the tick at 1000
    now[0] = 1001.0
    count = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) > count)  # the tick at 1001 sees them
    with qtbot.waitSignal(alice.reconnecting, timeout=10_000):
        now[0] = 1014.5  # then nothing: 14.5 s after the tick before the bytes


def test_logout_never_reconnects_and_typing_is_relayed(qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(bob.typing_received, timeout=10_000) as typing:
        assert alice.notify_typing("bob")
    assert typing.args == ["alice", "alice"]
    assert not alice.notify_typing("bob")  # at most every 3 s
    with qtbot.waitSignal(alice.logged_out, timeout=10_000):
        alice.logout()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    assert not alice.auto_reconnect and not alice.reconnect_now()


def lab_with(qtbot, leader: ClientEngine, *members: ClientEngine) -> str:
    """``leader`` creates the public group "lab" and ``members`` join it; its key."""
    with qtbot.waitSignal(leader.group_joined, timeout=10_000):
        leader.create_group("lab", public=True)
    for engine in members:
        with qtbot.waitSignal(engine.group_joined, timeout=10_000):
            engine.join_group("lab")
    qtbot.waitUntil(lambda: len(leader.groups.group("lab").members) == 1 + len(members),
                    timeout=10_000)
    return group_key("lab")


def own_states(engine: ClientEngine, key: str) -> list[DeliveryState]:
    return [i.state for i in engine.conversation(key).items() if i.kind is MessageKind.OWN]


def restart(qtbot, make_engine, engine: ClientEngine, host: str, port: int, user: str,
            **kwargs) -> ClientEngine:
    """Quit ``engine``'s app and start a new one on the same data dir, logged in as ``user``
    and caught up with the server."""
    engine.close()
    engine.store.close()
    again = make_engine(**kwargs)
    with qtbot.waitSignal(again.resumed, timeout=10_000):
        login(qtbot, again, host, port, user)
    return again


def test_export_fetches_the_whole_conversation_into_an_empty_cache(
        qtbot, server, make_engine, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "EXPORT_PAGE", 40)  # several history pages…
    monkeypatch.setattr(engine_module, "EXPORT_CHUNK", 25)  # …and several writing turns
    # (the login brings the newest page only, not the unread ones below it)
    monkeypatch.setattr(engine_module, "DISCOVER_UNREAD_PAGES", 0)
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    for i in range(130):
        if i % 4 == 3:
            bob.send_unicast("alice", f"reply {i}")
        else:
            alice.send_unicast("bob", f"line {i}\nsecond line" if i == 6 else f"note {i}")
    qtbot.waitUntil(lambda: alice.store.count("bob") == 130 and not alice.store.outbox()
                    and {m.state for m in alice.store.iter_conversation("bob")
                         if m.sender == "alice"} == {"delivered"}, timeout=20_000)
    expected = "".join(export_line(m.ts, m.sender, m.text) + "\n"
                       for m in alice.store.iter_conversation("bob"))
    # Alice's laptop: an empty cache, but for the newest page the login brought.
    laptop = make_engine(data_dir=tmp_path / "laptop")
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    assert laptop.store.count("bob") == engine_module.PAGE
    out = tmp_path / "bob.txt"
    job = laptop.export_conversation("bob", out)
    phases: list[str] = []
    job.progress.connect(lambda: phases.append(job.phase))
    with qtbot.waitSignal(job.finished, timeout=20_000) as done:
        pass
    assert done.args == [130, True]
    assert phases.count("fetching") >= 4 and phases.count("writing") >= 5
    text = out.read_text(encoding="utf-8")
    assert text == expected  # every message once, oldest first, in the exact format
    lines = text.splitlines()
    assert len(lines) == 131 and lines.count("    second line") == 1
    stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] "
    assert all(re.match(stamp + r"(alice: note|alice: line|bob: reply) \d+$", line)
               for line in lines if line != "    second line")
    assert [p.name for p in tmp_path.glob("bob.txt*")] == ["bob.txt"]  # (no .part left)
    assert laptop.store.count("bob") == 130  # the cache has it all now
    # nothing more was loaded into a window
    assert laptop.conversation("bob").rowCount() == engine_module.PAGE
    # bob's app confirmed alice's messages before the laptop logged in: their ticks, which
    # came with the login ahead of the messages, apply to the exported rows too.
    assert {m.state for m in laptop.store.iter_conversation("bob")
            if m.sender == "alice"} == {"delivered"}


def test_scrolling_up_after_a_cancelled_export_passes_over_no_messages(
        qtbot, server, make_engine, tmp_path, monkeypatch):
    """On a new computer, dave opened Everyone (its newest page), started an export and
    cancelled it after its first page. Scrolling up then went from the newest page straight
    to the export's page, the oldest messages: the 60 in between were never shown (a hunt).
    The export fetched oldest first, so it left a hole in the cache, and an older page comes
    from the cache whenever it has rows below the oldest shown. It fetches newest first
    now: what it leaves in the cache runs on from the newest messages."""
    monkeypatch.setattr(engine_module, "EXPORT_PAGE", 40)
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    for i in range(150):
        assert isinstance(charlie.send_text("broadcast", f"b{i}"), Ok)
    dave = make_engine(data_dir=tmp_path / "dave")  # (a new account: nothing queued)
    with qtbot.waitSignal(dave.resumed, timeout=10_000):
        with qtbot.waitSignal(dave.login_succeeded, timeout=10_000):
            dave.connect_to(server.host, server.port)
            dave.register("dave", "dave123456")
    model = dave.conversation(EVERYONE)
    if not any(i.seq is not None for i in model.items()):
        with qtbot.waitSignal(dave.history_loaded, timeout=10_000):
            model.fetchMore()  # the tab opens: the newest page
    job = dave.export_conversation(EVERYONE, tmp_path / "everyone.txt")
    job.progress.connect(job.cancel)  # (Cancel, once its first page is in)
    with qtbot.waitSignal(job.failed, timeout=10_000):
        pass
    assert job.fetched == 40 and dave.store.count(EVERYONE) < 150
    while model.canFetchMore():  # (what scrolling to the top does, page by page)
        rows = model.rowCount()
        model.fetchMore()
        if model.rowCount() == rows:  # (from the server: later)
            with qtbot.waitSignal(dave.history_loaded, timeout=10_000):
                pass
    assert [i.text for i in model.items() if i.seq is not None] == \
        [f"b{i}" for i in range(150)]


def test_a_page_from_the_server_brings_a_deletion_the_cache_was_never_told_of(
        qtbot, server, make_engine, tmp_path):
    """A group message deleted after bob left the group (deletions reach members only):
    his cache kept the text for good, and an export that fetched the whole conversation
    from the server and called itself complete wrote the deleted text (a hunt)."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("lab", ["bob"])
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.accept_invitation("lab")
    with qtbot.waitSignal(alice.message_acked, timeout=5000) as acked:
        alice.send_group("lab", "the password is hunter2")
    seq, key = acked.args[1], group_key("lab")
    qtbot.waitUntil(lambda: bob.store.message(seq, key) is not None, timeout=5000)
    with qtbot.waitSignal(bob.group_left, timeout=10_000):
        bob.leave_group("lab")
    assert alice.retract(seq, key)
    qtbot.waitUntil(lambda: alice.store.message(seq, key).text == RETRACTED_TEXT,
                    timeout=5000)
    out = tmp_path / "lab.txt"
    job = bob.export_conversation(key, out)
    with qtbot.waitSignal(job.finished, timeout=10_000) as done:
        pass
    assert done.args[1] is True  # (complete: fetched from the server)
    assert "hunter2" not in out.read_text(encoding="utf-8")
    assert bob.store.message(seq, key).text == RETRACTED_TEXT
    assert [i.text for i in bob.conversation(key).items() if i.seq == seq] == [RETRACTED_TEXT]


def test_export_offline_writes_the_cache_and_says_it_is_incomplete(
        qtbot, server, make_engine, tmp_path):
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    alice.send_unicast("bob", "kept here")
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=10_000)
    with qtbot.waitSignal(alice.logged_out, timeout=10_000):
        alice.logout()
    job = alice.export_conversation("bob", tmp_path / "bob.txt")
    with qtbot.waitSignal(job.finished, timeout=10_000) as done:
        pass
    assert done.args == [1, False]
    assert (tmp_path / "bob.txt").read_text(encoding="utf-8").endswith("] alice: kept here\n")
    with pytest.raises(OSError):
        alice.export_conversation("bob", tmp_path / "no such folder" / "bob.txt")


def test_two_exports_to_the_same_file_do_not_mix_their_conversations(
        qtbot, server, make_engine, tmp_path, monkeypatch):
    """alice exported her long conversation with bob to ``chat.txt`` and, while it still
    fetched, the short one with charlie to the same ``chat.txt`` (the save dialog offers the
    last name; she confirmed the overwrite). Both wrote into one ``chat.txt.part``: charlie's
    said "Exported 2 messages to chat.txt" while the file held bob's conversation, and bob's,
    writing on into the renamed file, failed with "No such file or directory" (a hunt). Each
    export now has a temporary file of its own, and the newer export to a file cancels the
    one still running."""
    monkeypatch.setattr(engine_module, "EXPORT_PAGE", 20)  # several pages for bob's
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    for i in range(100):
        alice.send_unicast("bob", f"to bob {i}")
    alice.send_unicast("charlie", "to charlie 1")
    alice.send_unicast("charlie", "to charlie 2")
    qtbot.waitUntil(lambda: alice.store.count("bob") == 100
                    and alice.store.count("charlie") == 2 and not alice.store.outbox(),
                    timeout=30_000)
    out = tmp_path / "chat.txt"
    ended: dict[str, tuple] = {}
    for key in ("bob", "charlie"):
        job = alice.export_conversation(key, out)
        job.finished.connect(lambda n, c, k=key: ended.__setitem__(k, ("finished", n)))
        job.failed.connect(lambda m, k=key: ended.__setitem__(k, ("failed", m)))
    qtbot.waitUntil(lambda: len(ended) == 2, timeout=20_000)
    assert ended == {"bob": ("failed", "Export cancelled: another export to chat.txt started."),
                     "charlie": ("finished", 2)}
    expected = "".join(export_line(m.ts, m.sender, m.text) + "\n"
                       for m in alice.store.iter_conversation("charlie"))
    assert out.read_text(encoding="utf-8") == expected
    assert [p.name for p in tmp_path.glob("chat.txt*")] == ["chat.txt"]
    # A second export of one conversation replaces the first too (one export bar per tab).
    first = alice.export_conversation("bob", tmp_path / "bob-1.txt")
    second = alice.export_conversation("bob", tmp_path / "bob-2.txt")
    assert first.phase == "cancelled"
    with qtbot.waitSignal(second.finished, timeout=20_000) as done:
        pass
    assert done.args == [100, True]
    assert sorted(p.name for p in tmp_path.glob("*.txt*")) == ["bob-2.txt", "chat.txt"]


def test_export_that_hits_a_full_disk_says_so_and_leaves_no_part_file(
        qtbot, server, make_engine, tmp_path):
    """The disk filled up while an export wrote: the export bar stayed at "writing…" for
    good (Cancel did nothing) and the partial ``.part`` file stayed behind (a hunt). A write
    error whose data is still in the file's buffer raised again in ``_end``'s ``close()``,
    before the file was removed and ``failed`` said "Could not write …"."""
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    for i in range(600):
        alice.send_unicast("bob", f"n{i:04d}")
    qtbot.waitUntil(lambda: alice.store.count("bob") == 600 and not alice.store.outbox(),
                    timeout=30_000)
    with qtbot.waitSignal(alice.logged_out, timeout=10_000):
        alice.logout()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    out = tmp_path / "bob.txt"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # The export's file can hold 6,000 bytes, as on a nearly full disk (writes fail as with
    # ENOSPC: EFBIG); the caches were written before.
    resource.setrlimit(resource.RLIMIT_FSIZE, (6000, hard))
    try:
        job = alice.export_conversation("bob", out)
        failures: list[str] = []
        job.failed.connect(failures.append)
        qtbot.waitUntil(lambda: bool(failures), timeout=5000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert failures[0].startswith(f"Could not write {out}")
    assert job.phase == "failed"
    assert list(tmp_path.glob("bob.txt*")) == []
def meet_at_4(qtbot, server, make_engine) -> tuple[ClientEngine, ClientEngine, int]:
    """alice and bob logged in; alice wrote bob "meet at 2" and changed it to "meet at 4",
    which bob has. Returns (alice, bob, the message's seq)."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000) as acked:
        alice.send_unicast("bob", "meet at 2")
    seq = acked.args[1]
    assert alice.edit(seq, "bob", "meet at 4")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 4"], timeout=10_000)
    return alice, bob, seq


def test_an_export_says_which_messages_were_edited(qtbot, server, make_engine, tmp_path):
    """alice writes "meet at 2" and later changes it to "meet at 4": the window marks the
    bubble "edited", but bob's export wrote "[time] alice: meet at 4" at the original's time
    with nothing saying the text changed later (a hunt): as a record of the chat it said
    alice wrote at 2 pm what she wrote hours later. The line ends "(edited HH:MM)"."""
    _alice, bob, _seq = meet_at_4(qtbot, server, make_engine)
    edited = bob.conversation("alice").items()[-1].edited
    assert edited is not None  # the window says so
    out = tmp_path / "alice.txt"
    job = bob.export_conversation("alice", out)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        pass
    line = out.read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] alice: meet at 4 "
                        r"\(edited \d\d:\d\d\)", line), line
    assert line.endswith(time.strftime("(edited %H:%M)", time.localtime(edited)))


def test_an_export_line_names_the_day_of_an_edit_made_another_day():
    """An edit made another day says the day; a deleted message is not "edited"."""
    day = time.mktime((2026, 3, 2, 14, 0, 0, 0, 0, -1))
    assert export_line(day, "alice", "meet at 4", edited=day + 7200).endswith(
        "alice: meet at 4 (edited 16:00)")
    assert export_line(day, "alice", "meet at 4", edited=day + 86400).endswith(
        "alice: meet at 4 (edited 2026-03-03 14:00)")
    assert export_line(day, "alice", RETRACTED_TEXT, edited=day + 60).endswith(
        f"alice: {RETRACTED_TEXT}")


def test_an_export_marks_a_multicast_with_whom_else_it_went_to(
        qtbot, server, make_engine, tmp_path):
    """alice wrote to bob and charlie at once ("party at mine, don't tell dave"), then to
    bob alone. Bob's bubble says "also to charlie"; his export showed both as private
    messages. The multicast's line names the others now, in both apps' exports, and the
    sender is still the first word after the time."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        alice.send_multicast(["bob", "charlie"], "party at mine, don't tell dave")
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        alice.send_unicast("bob", "just for you")
    qtbot.waitUntil(lambda: not alice.store.outbox())
    stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]"
    for engine, key in ((bob, "alice"), (alice, "bob")):
        out = tmp_path / f"{engine.user}.txt"
        job = engine.export_conversation(key, out)
        with qtbot.waitSignal(job.finished, timeout=10_000):
            pass
        multi, single = out.read_text().splitlines()
        assert re.fullmatch(stamp + r" alice \(also to charlie\): party at mine, don't tell "
                            r"dave", multi), multi
        assert re.fullmatch(stamp + r" alice: just for you", single), single
    assert export_line(0.0, "alice", "hi", also=("bob", "charlie")).endswith(
        "] alice (also to bob, charlie): hi")


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b"])
def test_no_line_break_in_a_message_can_start_a_line_of_the_export(brk):
    """The app shows U+2028 as a line break; the export indented only \\n and \\r, so a
    message "see you<U+2028>[2026-11-01 01:12:00] alice: I owe bob 500 EUR" wrote a line
    that passed for alice's (a hunt). Every line break str.splitlines knows is indented."""
    forged = f"see you{brk}[2026-11-01 01:12:00] alice: I owe bob 500 EUR{brk}"
    lines = export_line(0.0, "bob", forged).split("\n")
    assert len(lines) == 3 and lines[0].endswith("] bob: see you")
    assert lines[1] == "    [2026-11-01 01:12:00] alice: I owe bob 500 EUR"
    assert lines[2] == "    "


def test_read_receipts_for_cached_messages_after_a_restart_go_once(
        qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    for i in range(3):
        alice.send_unicast("bob", f"while you were away {i}")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED] * 3,
                    timeout=10_000)
    assert bob.unread("alice") == 3  # bob never looked at alice's tab
    bob = restart(qtbot, make_engine, bob, server.host, server.port, "bob")
    assert bob.unread("alice") == 3  # the cache still knows what was never read
    assert [i.text for i in bob.conversation("alice").items()] == \
        [f"while you were away {i}" for i in range(3)]
    bob.mark_read("alice")  # the tab is viewed
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.READ] * 3,
                    timeout=10_000)
    assert {i.read_by for i in alice.conversation("bob").items()
            if i.kind is MessageKind.OWN} == {("bob",)}
    assert bob.unread("alice") == 0
    # Once: the next start neither counts them unread nor sends ``read`` again.
    bob = restart(qtbot, make_engine, bob, server.host, server.port, "bob")
    sent: list[object] = []
    send = bob._conn.send
    bob._conn.send = lambda frame: sent.append(frame) or send(frame)
    assert bob.unread("alice") == 0
    bob.mark_read("alice")
    alice.send_unicast("bob", "one more")
    qtbot.waitUntil(lambda: bob.unread("alice") == 1, timeout=10_000)
    bob.mark_read("alice")
    reads = [f.seqs for f in sent if isinstance(f, Read)]
    assert reads == [[alice.conversation("bob").items()[-1].seq]]  # only the new one
    qtbot.waitUntil(lambda: own_states(alice, "bob")[-1] is DeliveryState.READ,
                    timeout=10_000)


def test_read_receipts_for_messages_loaded_from_the_servers_history(
        qtbot, server, make_engine, tmp_path):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    alice.send_unicast("bob", "first")
    alice.send_unicast("bob", "second")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED] * 2,
                    timeout=10_000)
    # Bob's laptop: the messages went to his desktop, so only history has them here.
    laptop = make_engine(data_dir=tmp_path / "laptop")
    login(qtbot, laptop, server.host, server.port, "bob")
    model = laptop.conversation("alice")
    assert model.rowCount() == 0
    with qtbot.waitSignal(laptop.history_loaded, timeout=10_000):
        model.fetchMore()
    assert [i.text for i in model.items()] == ["first", "second"]
    assert laptop.unread("alice") == 2
    laptop.mark_read("alice")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.READ] * 2,
                    timeout=10_000)
    # Read on the laptop is read on the desktop too (the server's ``read`` to other sessions).
    qtbot.waitUntil(lambda: bob.unread("alice") == 0, timeout=10_000)


def test_read_on_one_device_is_read_on_the_others(qtbot, server, make_engine, tmp_path):
    """bob reads on his laptop what reached both his apps (private, multicast and group
    messages): his desktop's counts drop at once, stay down after a restart, and the desktop
    never sends a ``read`` of its own for them."""
    alice, desktop, charlie = make_engine(), make_engine(), make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    for engine, user in ((alice, "alice"), (desktop, "bob"), (laptop, "bob"),
                         (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, user)
    lab = lab_with(qtbot, alice, desktop)
    alice.send_unicast("bob", "private 1")
    alice.send_unicast("bob", "private 2")
    alice.send_multicast(["bob", "charlie"], "to both of you")
    alice.send_group("lab", "in the lab")
    for app in (desktop, laptop):
        qtbot.waitUntil(lambda app=app: (app.unread("alice"), app.unread(lab)) == (3, 1),
                        timeout=10_000)
    laptop.mark_read("alice")
    laptop.mark_read(lab)
    qtbot.waitUntil(lambda: (desktop.unread("alice"), desktop.unread(lab)) == (0, 0),
                    timeout=10_000)
    assert desktop.first_unread("alice") is None
    assert desktop.store.unread_seqs("alice", "bob") == []
    assert desktop.store.unread_seqs(lab, "bob") == []
    desktop = restart(qtbot, make_engine, desktop, server.host, server.port, "bob")
    sent: list[object] = []
    send = desktop._conn.send
    desktop._conn.send = lambda frame: sent.append(frame) or send(frame)
    assert (desktop.unread("alice"), desktop.unread(lab)) == (0, 0)
    desktop.mark_read("alice")
    desktop.mark_read(lab)
    alice.send_unicast("bob", "new")
    qtbot.waitUntil(lambda: desktop.unread("alice") == 1, timeout=10_000)
    desktop.mark_read("alice")
    assert [f.seqs for f in sent if isinstance(f, Read)] == \
        [[alice.conversation("bob").items()[-1].seq]]  # only the new one
    qtbot.waitUntil(lambda: laptop.unread("alice") == 0, timeout=10_000)
    # Own messages are left alone: alice's ticks on her own copies do not change.
    assert own_states(alice, "bob")[-1] is DeliveryState.READ


def test_read_receipts_off_still_sync_what_was_read_to_the_accounts_other_apps(
        qtbot, server, make_engine, tmp_path):
    """bob has read receipts off: what he reads on his laptop is read on his desktop and on
    a new computer too (a private ``read``), while alice's ticks stay at "delivered", also
    after she restarts (the private position is never told to senders)."""
    alice, desktop = make_engine(), make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    for engine, user in ((alice, "alice"), (desktop, "bob"), (laptop, "bob")):
        login(qtbot, engine, server.host, server.port, user)
    for app in (desktop, laptop):
        app.send_read_receipts = False
    lab = lab_with(qtbot, alice, desktop)
    alice.send_unicast("bob", "private 1")
    alice.send_unicast("bob", "private 2")
    alice.send_group("lab", "in the lab")
    for app in (desktop, laptop):
        qtbot.waitUntil(lambda app=app: (app.unread("alice"), app.unread(lab)) == (2, 1),
                        timeout=10_000)
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED] * 2,
                    timeout=10_000)
    laptop.mark_read("alice")
    laptop.mark_read(lab)
    qtbot.waitUntil(lambda: (desktop.unread("alice"), desktop.unread(lab)) == (0, 0),
                    timeout=10_000)
    # A new computer: the history's read_upto covers them.
    fresh = make_engine(data_dir=tmp_path / "new computer")
    login(qtbot, fresh, server.host, server.port, "bob")
    for key in ("alice", lab):
        with qtbot.waitSignal(fresh.history_loaded, timeout=10_000):
            fresh.conversation(key).fetchMore()
    assert (fresh.unread("alice"), fresh.unread(lab)) == (0, 0)
    # alice never learns: no read ticks, no read count, not even after a restart.
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        desktop.send_unicast("alice", "answer")  # after everything bob's apps sent
    assert own_states(alice, "bob") == [DeliveryState.DELIVERED] * 2
    group_row = [i for i in alice.conversation(lab).items() if i.kind is MessageKind.OWN]
    assert [i.counts for i in group_row] == [(1, 0, 1)]
    alice = restart(qtbot, make_engine, alice, server.host, server.port, "alice")
    assert own_states(alice, "bob") == [DeliveryState.DELIVERED] * 2


@pytest.mark.parametrize("receipts", [True, False])
def test_a_multicast_read_on_the_laptop_while_the_desktop_slept_is_not_unread_there(
        qtbot, server, make_engine, tmp_path, receipts):
    """The multicast came while bob's desktop was offline, and he read it on his laptop
    (with read receipts on or off): the desktop's catch-up page brings it with
    ``read_seqs`` (``read_upto`` covers no multicast), so it does not count as unread there;
    one he did not read does."""
    alice, desktop, charlie = make_engine(), make_engine(), make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    laptop.send_read_receipts = receipts
    for engine, user in ((alice, "alice"), (desktop, "bob"), (laptop, "bob"),
                         (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, user)
    alice.send_unicast("bob", "before")  # the desktop's cursor for alice starts here
    qtbot.waitUntil(lambda: desktop.unread("alice") == 1, timeout=10_000)
    desktop.mark_read("alice")
    with qtbot.waitSignal(desktop.reconnect_scheduled, timeout=10_000):
        desktop._conn._socket.abort()
    desktop._reconnect_timer.stop()  # asleep until told
    alice.send_multicast(["bob", "charlie"], "read on the laptop")
    qtbot.waitUntil(lambda: laptop.unread("alice") == 2, timeout=10_000)
    laptop.mark_read("alice")
    alice.send_multicast(["bob", "charlie"], "not read anywhere")
    qtbot.waitUntil(lambda: laptop.unread("alice") == 1, timeout=10_000)
    with qtbot.waitSignal(desktop.resumed, timeout=10_000):
        desktop.reconnect_now()
    qtbot.waitUntil(lambda: texts_from(desktop, "alice", "alice") ==
                    ["before", "read on the laptop", "not read anywhere"], timeout=10_000)
    assert desktop.unread("alice") == 1
    assert len(desktop.store.unread_seqs("alice", "bob")) == 1


@pytest.mark.parametrize("lost_link", [False, True])
def test_a_read_made_with_receipts_off_stays_private_when_they_are_switched_on(
        qtbot, server, make_engine, lost_link):
    """bob reads with receipts off (offline, or just before his link dies), then switches
    them on before the reconnect: the read goes again, still private; alice never sees it."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    bob.send_read_receipts = False
    alice.send_unicast("bob", "read this privately")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED],
                    timeout=10_000)
    if lost_link:
        bob.mark_read("alice")
        bob._conn._socket.abort()  # in the same turn: the read may never have left
    else:
        with qtbot.waitSignal(bob.reconnect_scheduled, timeout=10_000):
            bob._conn._socket.abort()
        bob._reconnect_timer.stop()
        bob.mark_read("alice")  # offline
    bob.send_read_receipts = True  # switched on before the reconnect
    sent: list[object] = []
    send = bob._conn.send
    bob._conn.send = lambda frame: sent.append(frame) or send(frame)
    with qtbot.waitSignal(bob.resumed, timeout=10_000):
        bob.reconnect_now()
    reads = [f for f in sent if isinstance(f, Read)]
    assert reads and all(f.private for f in reads)
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "answer")  # after the reads: any receipt came before it
    assert own_states(alice, "bob") == [DeliveryState.DELIVERED]


def bob_on_two_computers(qtbot, server, make_engine, tmp_path):
    """(alice, bob's desktop, bob's laptop), logged in, with charlie online too."""
    alice, desktop, charlie = make_engine(), make_engine(), make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    for engine, user in ((alice, "alice"), (desktop, "bob"), (laptop, "bob"),
                         (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, user)
    return alice, desktop, laptop


def read_on_the_laptop_while_the_desktop_sleeps(qtbot, alice, desktop, laptop) -> None:
    """The desktop loses its link and waits; bob reads alice's conversation on the laptop
    (and answers, so the read has reached the server); then the desktop reconnects."""
    with qtbot.waitSignal(desktop.reconnect_scheduled, timeout=10_000):
        desktop._conn._socket.abort()
    desktop._reconnect_timer.stop()  # asleep until told
    laptop.mark_read("alice")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        laptop.send_unicast("alice", "seen")  # after the read: the server has it
    with qtbot.waitSignal(desktop.resumed, timeout=20_000):
        desktop.reconnect_now()


def test_a_multicast_both_devices_had_and_one_read_while_the_other_slept(
        qtbot, server, make_engine, tmp_path):
    """Both of bob's apps got the multicast live; he read it on the laptop while the desktop
    was offline: the desktop's catch-up starts below it, so the page's ``read_seqs`` clears
    it there (``read_upto`` covers no multicast)."""
    alice, desktop, laptop = bob_on_two_computers(qtbot, server, make_engine, tmp_path)
    alice.send_multicast(["bob", "charlie"], "for both of you")
    for app in (desktop, laptop):
        qtbot.waitUntil(lambda app=app: app.unread("alice") == 1, timeout=10_000)
    read_on_the_laptop_while_the_desktop_sleeps(qtbot, alice, desktop, laptop)
    assert desktop.unread("alice") == 0
    assert desktop.store.unread_seqs("alice", "bob") == []
    assert texts_from(desktop, "alice", "alice") == ["for both of you"]  # not doubled


def test_a_multicast_read_elsewhere_behind_a_hundred_unread_unicasts_is_cleared_too(
        qtbot, server, make_engine, tmp_path):
    """As above with 100 unread private messages before the multicast: the desktop's catch-up
    still starts below the multicast (it once looked at the first 100 unread only)."""
    alice, desktop, laptop = bob_on_two_computers(qtbot, server, make_engine, tmp_path)
    for i in range(100):
        alice.send_unicast("bob", f"private {i}")
    alice.send_multicast(["bob", "charlie"], "for both of you")
    for app in (desktop, laptop):
        qtbot.waitUntil(lambda app=app: app.unread("alice") == 101, timeout=20_000)
    with qtbot.waitSignal(desktop.resumed, timeout=20_000):
        desktop._conn._socket.abort()  # a catch-up moves the cursor above the multicast
    assert desktop.unread("alice") == 101
    read_on_the_laptop_while_the_desktop_sleeps(qtbot, alice, desktop, laptop)
    assert desktop.store.unread_seqs("alice", "bob") == []
    assert desktop.unread("alice") == 0
    assert texts_from(desktop, "alice", "alice").count("for both of you") == 1


def test_a_conversation_begun_by_an_own_send_catches_up_what_another_device_sent(
        qtbot, server, make_engine, tmp_path):
    """alice writes to bob first from her desktop, then from her laptop (the server sends the
    desktop no copy of that), and bob answers live: after a reconnect the desktop's catch-up
    brings the laptop's message, from the desktop's own send on."""
    desktop, laptop, bob = alice_twice_and_bob(qtbot, server, make_engine, tmp_path)
    with qtbot.waitSignal(desktop.message_acked, timeout=10_000):
        desktop.send_unicast("bob", "from the desktop")
    with qtbot.waitSignal(laptop.message_acked, timeout=10_000):
        laptop.send_unicast("bob", "from the laptop")
    bob.send_unicast("alice", "answer")
    qtbot.waitUntil(lambda: texts_from(desktop, "bob", "bob") == ["answer"], timeout=10_000)
    with qtbot.waitSignal(desktop.resumed, timeout=10_000):
        desktop._conn._socket.abort()  # a broken link: reconnect and catch up
    qtbot.waitUntil(lambda: texts_from(desktop, "bob", "alice") ==
                    ["from the desktop", "from the laptop"], timeout=10_000)
    assert [i.text for i in desktop.conversation("bob").items()] == \
        ["from the desktop", "from the laptop", "answer"]


def test_a_message_typed_offline_is_shown_after_what_was_queued_meanwhile(
        qtbot, server, make_engine):
    """bob types while offline; alice's message queued for him meanwhile comes first at the
    reconnect, then his is acked with a higher seq: his window shows the server's order, as
    his cache and a restart do."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(bob.reconnect_scheduled, timeout=10_000):
        bob._conn._socket.abort()
    bob._reconnect_timer.stop()  # offline until told
    with qtbot.waitSignal(alice.message_acked, timeout=10_000):
        alice.send_unicast("bob", "queued for bob")
    bob.send_unicast("alice", "typed offline")
    with qtbot.waitSignal(bob.message_acked, timeout=10_000):
        bob.reconnect_now()
    shown = [(i.seq, i.text) for i in bob.conversation("alice").items()
             if i.kind in (MessageKind.OWN, MessageKind.OTHER)]
    assert [text for _, text in shown] == ["queued for bob", "typed offline"]
    assert shown == sorted(shown)
    assert [m.seq for m in bob.store.page("alice", limit=10)] == [seq for seq, _ in shown]


def test_a_multicast_that_lists_its_sender_stays_out_of_the_own_conversation(
        qtbot, server, make_engine):
    """alice has notes to herself and sends a multicast to herself and bob: it is filed with
    bob only, live and after a catch-up of her own conversation (whose history has it)."""
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000):
        alice.send_unicast("alice", "note to self")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000):
        alice.send_multicast(["alice", "bob"], "to bob and me")
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice._conn._socket.abort()  # a broken link: reconnect and catch up
    assert texts_from(alice, "alice", "alice") == ["note to self"]
    assert [m.text for m in alice.store.page("alice", limit=10)] == ["note to self"]
    assert texts_from(alice, "bob", "alice") == ["to bob and me"]


def test_read_while_offline_goes_after_the_next_login(qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    alice.send_unicast("bob", "see you")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED],
                    timeout=10_000)
    with qtbot.waitSignal(bob.reconnect_scheduled, timeout=10_000):
        bob._conn._socket.abort()
    bob.mark_read("alice")  # seen while the link was down
    assert bob.unread("alice") == 0
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.READ], timeout=10_000)


def test_offline_delivery_is_confirmed_and_replayed_to_a_restarted_sender(
        qtbot, server, make_engine):
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    alice.send_unicast("bob", "are you there?")  # bob is offline
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.SENT], timeout=10_000)
    bob = make_engine()
    login(qtbot, bob, server.host, server.port, "bob")  # the queued message arrives
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED],
                    timeout=10_000)
    bob.close()
    bob.store.close()
    alice.send_unicast("bob", "still there?")
    qtbot.waitUntil(lambda: own_states(alice, "bob")[-1] is DeliveryState.SENT,
                    timeout=10_000)
    alice.close()
    alice.store.close()
    # Bob's app starts while alice's is closed: the message is delivered and confirmed…
    bob = make_engine()
    login(qtbot, bob, server.host, server.port, "bob")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") ==
                    ["are you there?", "still there?"], timeout=10_000)
    # …and alice's next start gets the receipt replayed.
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED] * 2,
                    timeout=10_000)
    last = [i for i in alice.conversation("bob").items() if i.kind is MessageKind.OWN][-1]
    assert alice.store.message(last.seq).state == "delivered"



def test_a_new_link_is_judged_by_its_own_silence_not_the_outage_before(
        qtbot, make_server, make_engine, tmp_path):
    """After an outage longer than the heartbeat's timeout, a reconnect whose server is slow
    to say hello is not dropped at the first tick; its own 15 s of silence still drop it."""
    import ssl
    import threading

    srv = make_server(demo=True)
    now = [1000.0]
    alice = make_engine(clock=lambda: now[0], tick_ms=20, backoff=Backoff(0.05, 0.05),
                        heartbeat=Heartbeat(interval=5, timeout=15))
    login(qtbot, alice, srv.host, srv.port, "alice")
    port, data_dir = srv.port, srv.data_dir
    srv.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED, timeout=5000)
    now[0] += 20  # the server stays away for 20 s
    # It comes back slow: TLS is up at once, its hello does not come.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(data_dir / "server.crt"), str(data_dir / "server.key"))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    accepted: list[socket.socket] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            accepted.append(ctx.wrap_socket(conn, server_side=True))
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        qtbot.waitUntil(lambda: alice.state is ConnectionState.HANDSHAKING, timeout=10_000)
        ticks: list[int] = []
        alice._tick_timer.timeout.connect(lambda: ticks.append(1))
        qtbot.waitUntil(lambda: len(ticks) >= 5)
        assert alice.state is ConnectionState.HANDSHAKING  # not dropped for the outage
        failed: list[str] = []
        alice.connection_failed.connect(lambda code, text: failed.append(text))
        now[0] += 16  # 16 s without a word on this link: dead
        qtbot.waitUntil(lambda: bool(failed), timeout=5000)
        assert failed[0].startswith("No answer from the server")
    finally:
        listener.close()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()


def test_a_history_page_larger_than_a_mebibyte_arrives_and_keeps_the_link(
        qtbot, server, make_engine, tmp_path):
    """The server's frames are not bound by the 1 MiB it accepts (protocol.md §2): a page of
    50 long messages (3 MiB) must not make the app drop the link and ask again forever."""
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    long = "😀" * 15_990  # 64 kB in UTF-8
    for i in range(50):
        alice.send_unicast("charlie", f"{i} {long}")
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=20_000)
    other = make_engine(data_dir=tmp_path / "laptop")  # an empty cache
    login(qtbot, other, server.host, server.port, "alice")
    failed: list[str] = []
    other.connection_failed.connect(lambda code, text: failed.append(code))
    model = other.conversation("charlie")
    with qtbot.waitSignal(other.history_loaded, timeout=20_000):
        model.fetchMore()
    assert model.rowCount() == 50 and model.items()[-1].text == f"49 {long}"
    assert other.logged_in and failed == []


def test_the_network_coming_back_reconnects_at_once(qtbot, make_server, make_engine,
                                                    tmp_path):
    """The server was unreachable and the next try waits a minute: when the system says the
    network is up again (QNetworkInformation's reachability), the app tries at once. A
    network going down changes nothing, nor does it while online or logged out."""
    data = tmp_path / "srv"
    first = make_server(demo=True, data_dir=data)
    port = first.port
    alice = make_engine(backoff=Backoff(60.0, 60.0))
    login(qtbot, alice, "127.0.0.1", port, "alice")
    assert not alice.network_changed(True)  # online: nothing to do
    first.close()
    qtbot.waitUntil(lambda: alice._reconnect_timer.isActive(), timeout=10_000)
    make_server(data_dir=data, port=port)
    assert not alice.network_changed(False)
    assert alice._reconnect_timer.isActive()  # still waiting its minute
    with qtbot.waitSignal(alice.login_succeeded, timeout=10_000):
        assert alice.network_changed(True)
    alice.logout()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    assert not alice.network_changed(True)  # logged out on purpose: stays out


def test_a_send_refused_for_now_is_tried_again_by_itself(qtbot, make_server, make_engine):
    """``rate_limited`` leaves a message pending; it goes again by itself, without waiting
    for another message or a reconnect (that it waits for the error's ``retry_after``: the
    next test). The refusal is the real server's flood control: 2 messages a second, in
    bursts of 20, so the 21st waits."""
    srv = make_server(demo=True, max_send_rate=2.0)
    alice = make_engine()
    login(qtbot, alice, srv.host, srv.port, "alice")
    cids = [alice.send_unicast("bob", f"patience {n}") for n in range(21)]
    qtbot.waitUntil(alice._send_retry.isActive, timeout=10_000)  # refused for now
    # Answered (not stored): until it goes again it is not on the wire, so it may be deleted.
    assert [i.client_msg_id for i in alice.store.outbox()] == [cids[-1]]
    assert cids[-1] not in alice._inflight
    assert not alice.store.outbox_item(cids[-1]).attempted
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=10_000)
    item = next(i for i in alice.conversation("bob").items() if i.client_msg_id == cids[-1])
    assert item.state is DeliveryState.SENT and item.text == "patience 20"


def test_messages_refused_for_flooding_go_again_by_themselves_in_order(
        qtbot, make_server, make_engine, caplog):
    """A server that takes 5 messages a second from an account (bursts of 50): an outbox of
    70 is refused in part (``rate_limited``), stays pending, and goes again after the
    ``retry_after``: bob gets all 70, once each, in the order typed."""
    caplog.set_level(logging.INFO, logger=engine_module.log.name)
    srv = make_server(demo=True, max_send_rate=5.0)
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, srv.host, srv.port, "alice")
    login(qtbot, bob, srv.host, srv.port, "bob")
    refused: list[str] = []
    alice.request_failed.connect(lambda key, code, text: refused.append(code))
    typed = [f"quick {n:02}" for n in range(70)]
    for text in typed:
        alice.send_unicast("bob", text)
    qtbot.waitUntil(alice._send_retry.isActive, timeout=10_000)  # refused for now
    first = next(i.seq for i in alice.conversation("bob").items() if i.text == typed[0])
    alice.edit(first, "bob", "quick 00, edited")  # refused for now too, and sent again
    typed[0] = "quick 00, edited"
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == typed, timeout=20_000)
    assert not alice.store.outbox() and refused == []  # never shown as failed
    assert "refused for now (rate_limited)" in caplog.text
    seqs = [i.seq for i in bob.conversation("alice").items()]
    assert seqs == sorted(seqs)


def test_a_message_over_the_servers_frame_limit_fails_and_later_ones_go(
        qtbot, make_server, make_engine):
    srv = make_server(demo=True, max_frame=4096)
    alice = make_engine()
    login(qtbot, alice, srv.host, srv.port, "alice")
    failed: list[tuple[str, str]] = []
    alice.request_failed.connect(lambda key, code, text: failed.append((code, text)))
    alice.send_unicast("bob", "x" * 5000)
    alice.send_unicast("bob", "short")
    qtbot.waitUntil(lambda: [i.state for i in alice.conversation("bob").items()
                             if i.kind is MessageKind.OWN]
                    == [DeliveryState.FAILED, DeliveryState.SENT], timeout=5000)
    assert failed and failed[0][0] == ErrorCode.FRAME_TOO_LARGE
    assert "it accepts 4,096" in failed[0][1]
    assert alice.logged_in


def test_a_link_cut_right_after_each_relogin_backs_off_further(qtbot, server, make_engine):
    """The backoff starts over only once a re-login's link has lasted (STABLE_LINK_MS): a
    server that drops every new session at once is not hammered with logins."""
    alice = make_engine(backoff=Backoff(0.05, 5.0))
    login(qtbot, alice, server.host, server.port, "alice")
    delays: list[float] = []
    alice.reconnect_scheduled.connect(delays.append)
    alice.login_succeeded.connect(
        lambda user: QTimer.singleShot(0, lambda: alice._conn._socket.abort()))
    alice._conn._socket.abort()
    qtbot.waitUntil(lambda: len(delays) >= 4, timeout=10_000)
    assert delays[0] <= 0.1  # the first loss after a stable link: from the start
    assert delays[3] >= 0.4  # 0.1 · 2³ / 2: still growing across the re-logins


def test_a_refused_login_shows_nothing_of_that_account_and_the_next_one_sees_its_own(
        qtbot, server, make_engine, tmp_path):
    data = tmp_path / "shared"
    alice = make_engine(data_dir=data)
    login(qtbot, alice, server.host, server.port, "alice")
    alice.send_broadcast("alice says hi")
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=5000)
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    alice.send_unicast("charlie", "alice's unsent draft")  # stays in her outbox

    app = make_engine(data_dir=data)  # the same computer, the next start of the app
    refused: list[str] = []
    app.login_failed.connect(lambda code, text: refused.append(code))
    app.connect_to(server.host, server.port)
    app.login("alice", "WRONG")
    qtbot.waitUntil(lambda: bool(refused), timeout=10_000)
    everyone = app.conversation(EVERYONE)
    assert everyone.rowCount() == 0 or all(
        i.sender != "alice" for i in everyone.items()), "a refused login showed alice's data"
    with qtbot.waitSignal(app.login_succeeded, timeout=10_000):
        app.login("bob", "bob123")
    shown = [(key, i.kind, i.text) for key in app.conversation_keys()
             for i in app.conversation(key).items()]
    assert ("charlie", MessageKind.OWN, "alice's unsent draft") not in shown
    assert all(kind is not MessageKind.OWN for _, kind, _ in shown)
    qtbot.waitUntil(lambda: any(text == "alice says hi" and kind is MessageKind.OTHER
                                for _, kind, text in
                                [(k, i.kind, i.text) for k in app.conversation_keys()
                                 for i in app.conversation(k).items()]), timeout=5000)


def test_logging_in_as_another_account_replaces_what_the_models_show(
        qtbot, server, make_engine, tmp_path):
    app = make_engine(data_dir=tmp_path / "one")
    login(qtbot, app, server.host, server.port, "alice")
    app.send_unicast("bob", "from alice")
    qtbot.waitUntil(lambda: not app.store.outbox(), timeout=5000)
    app.logout()
    qtbot.waitUntil(lambda: not app.logged_in)
    with qtbot.waitSignal(app.login_succeeded, timeout=10_000):
        app.login("charlie", "charlie123")
    assert app.conversation("bob").rowCount() == 0  # alice's conversation with bob is gone
    assert app.store.path.name == "charlie.db"


def test_a_message_the_cache_cannot_store_is_not_confirmed_and_comes_again(
        qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    bob.store._db.execute("PRAGMA query_only = 1")  # the disk refuses writes (full, locked…)
    alice.send_unicast("bob", "keep me")
    everyone = bob.conversation(EVERYONE)
    qtbot.waitUntil(lambda: any(i.kind is MessageKind.ERROR and "Could not save" in i.text
                                for i in everyone.items()), timeout=5000)
    assert texts_from(bob, "alice", "alice") == []
    bob.store._db.execute("PRAGMA query_only = 0")  # space again; the link drops and comes back
    with qtbot.waitSignal(bob.login_succeeded, timeout=10_000):
        bob._conn._socket.abort()
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["keep me"], timeout=5000)
    assert bob.store.count("alice") == 1


def test_a_message_on_the_wire_cannot_be_deleted_an_offline_one_can(
        qtbot, server, make_engine):
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    on_its_way = alice.send_unicast("bob", "on its way")
    assert not alice.discard(on_its_way)  # sent, the ack not back yet
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["on its way"], timeout=5000)
    qtbot.waitUntil(lambda: not alice.store.outbox())
    assert texts_from(alice, "bob", "alice") == ["on its way"]
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    unsent = alice.send_unicast("bob", "never mind")
    assert alice.discard(unsent)
    assert texts_from(alice, "bob", "alice") == ["on its way"] and not alice.store.outbox()


def test_a_message_whose_ok_was_lost_with_the_link_cannot_be_deleted_until_resent(
        qtbot, server, make_engine, tmp_path):
    """The send left alice's machine and bob got it, but the link died before its ``ok``:
    deleting it then (also after an app restart) would leave bob with a message alice no
    longer sees. It stays pending, goes again after the login, and ends sent, once."""
    alice, bob = make_engine(data_dir=tmp_path / "alice"), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    cid = alice.send_unicast("bob", "its ok lost")
    alice._conn._socket.flush()  # on its way to the server, then the link breaks
    alice._conn._socket.abort()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    alice._reconnect_timer.stop()
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["its ok lost"], timeout=5000)
    assert not alice.discard(cid)
    alice.close()
    path = alice.store.path
    alice.store.close()
    on_disk = LocalStore(path)  # the mark is on disk: a restarted app refuses too
    assert on_disk.outbox_item(cid).attempted
    on_disk.close()
    again = make_engine(data_dir=tmp_path / "alice")
    login(qtbot, again, server.host, server.port, "alice")
    qtbot.waitUntil(lambda: not again.store.outbox(), timeout=5000)
    assert texts_from(again, "bob", "alice") == ["its ok lost"]
    assert own_states(again, "bob") != [DeliveryState.PENDING]
    assert texts_from(bob, "alice", "alice") == ["its ok lost"]  # once


def test_a_read_receipt_replayed_before_a_lost_ok_still_ticks_the_message(
        qtbot, server, make_engine):
    """The ``ok`` of a send is lost with the link and the recipient reads the message
    meanwhile: at the next login the receipts come before the resent message's ``ok``; the
    message still ends "read" in the sender's window (before, it stayed "sent")."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    alice.send_unicast("bob", "first")
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=5000)
    alice.send_unicast("bob", "second, its ok lost")
    alice._conn._socket.flush()  # on its way to the server, then the link breaks
    alice._conn._socket.abort()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    alice._reconnect_timer.stop()  # alice stays away until bob has read it
    qtbot.waitUntil(lambda: bob.store.count("alice") == 2, timeout=5000)
    bob.mark_read("alice")
    bob.send_unicast("alice", "read them")  # its ack: the server has handled the read too
    qtbot.waitUntil(lambda: not bob.store.outbox(), timeout=5000)
    with qtbot.waitSignal(alice.login_succeeded, timeout=10_000):
        assert alice.reconnect_now()

    def states() -> list[DeliveryState]:
        return [i.state for i in alice.conversation("bob").items()
                if i.kind is MessageKind.OWN]

    qtbot.waitUntil(lambda: states() == [DeliveryState.READ] * 2, timeout=5000)
    assert [m.state for m in alice.store.page("bob") if m.sender == "alice"] == ["read"] * 2


def test_received_messages_are_confirmed_after_a_synced_commit(qtbot, server, make_engine):
    """``delivered`` means "stored": the app syncs its cache (survives a power loss) before
    it confirms, once for all the messages of an event-loop pass."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    with qtbot.waitSignal(bob.resumed, timeout=10_000):  # (its login's requests answered)
        login(qtbot, bob, server.host, server.port, "bob")
    statements: list[str] = []
    bob.store._db.set_trace_callback(statements.append)
    for i in range(5):
        alice.send_unicast("bob", f"burst {i}")

    def states() -> list[DeliveryState]:
        return [i.state for i in alice.conversation("bob").items()
                if i.kind is MessageKind.OWN]

    qtbot.waitUntil(lambda: states() == [DeliveryState.DELIVERED] * 5, timeout=5000)
    bob.store._db.set_trace_callback(None)
    inserts = [i for i, s in enumerate(statements)
               if s.startswith("INSERT OR IGNORE INTO messages")]
    syncs = [i for i, s in enumerate(statements) if "'synced'" in s]
    assert len(inserts) == 5 and syncs and syncs[-1] > inserts[-1]
    assert "PRAGMA synchronous=FULL" in statements[inserts[-1]:syncs[-1]]
    assert len(syncs) <= len(inserts)


def laptop_put_away(qtbot, server, make_engine, tmp_path,
                    text: str) -> tuple[ClientEngine, ClientEngine]:
    """alice, and bob's laptop (its own data dir) that got ``text`` from her and was then
    closed."""
    alice = make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, laptop, server.host, server.port, "bob")
    alice.send_unicast("bob", text)
    qtbot.waitUntil(lambda: texts_from(laptop, "alice", "alice") == [text], timeout=5000)
    laptop.close()
    qtbot.waitUntil(lambda: laptop.state is ConnectionState.DISCONNECTED)
    return alice, laptop


def test_an_edit_another_device_confirmed_still_reaches_this_one(qtbot, server, make_engine,
                                                                 tmp_path):
    """bob's laptop is off while alice edits; bob's phone takes the edit off the account's
    queue. The laptop's catch-up after its next login carries the edit (not as a line)."""
    alice, laptop = laptop_put_away(qtbot, server, make_engine, tmp_path, "meet at 3")
    seq = alice.store.page("bob")[-1].seq
    phone = make_engine(data_dir=tmp_path / "phone")
    login(qtbot, phone, server.host, server.port, "bob")
    with qtbot.waitSignal(phone.history_loaded, timeout=5000):
        phone.conversation("alice").fetchMore()  # bob opens the conversation on his phone
    assert alice.edit(seq, peer_key("bob"), "meet at 4")
    qtbot.waitUntil(lambda: texts_from(phone, "alice", "alice") == ["meet at 4"], timeout=5000)
    phone.close()  # confirmed by the phone: nothing queued for the laptop
    qtbot.waitUntil(lambda: phone.state is ConnectionState.DISCONNECTED)
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "bob")
    assert texts_from(laptop, "alice", "alice") == ["meet at 4"]
    assert laptop.store.page("alice")[-1].text == "meet at 4"
    assert not [i for i in laptop.conversation("alice").items()
                if i.kind is MessageKind.SYSTEM]  # the edit is no line of its own


def test_a_read_receipt_lost_with_the_link_is_sent_again(qtbot, server, make_engine):
    """bob reads just as his link dies (the frame never leaves his machine): after his
    reconnect the read goes again, and alice sees it read."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    alice.send_unicast("bob", "did you read this?")

    def state() -> DeliveryState:
        return next(i.state for i in alice.conversation("bob").items()
                    if i.kind is MessageKind.OWN)

    qtbot.waitUntil(lambda: state() is DeliveryState.DELIVERED, timeout=5000)
    bob.mark_read("alice")
    bob._conn._socket.abort()  # in the same turn: the read is still in the socket's buffer
    qtbot.waitUntil(lambda: bob.logged_in, timeout=10_000)
    qtbot.waitUntil(lambda: state() is DeliveryState.READ, timeout=5000)


def test_a_read_receipt_lost_with_the_link_goes_again_after_an_app_restart(
        qtbot, server, make_engine, tmp_path):
    """bob reads just as his link dies, and quits before it comes back: the read is not
    lost with the app (its row already says "read here"); the restarted app sends it."""
    alice, bob = make_engine(), make_engine(data_dir=tmp_path / "bob")
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    alice.send_unicast("bob", "did you read this?")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.DELIVERED],
                    timeout=5000)
    bob.mark_read("alice")
    bob._conn._socket.abort()  # in the same turn: the read is still in the socket's buffer
    qtbot.waitUntil(lambda: bob.state is ConnectionState.DISCONNECTED)
    bob._reconnect_timer.stop()
    bob.close()
    bob.store.close()
    again = make_engine(data_dir=tmp_path / "bob")
    login(qtbot, again, server.host, server.port, "bob")
    qtbot.waitUntil(lambda: own_states(alice, "bob") == [DeliveryState.READ], timeout=5000)
    qtbot.waitUntil(lambda: again.store.get_meta("reads_unconfirmed") == "[]",
                    timeout=5000)  # the pong after it: nothing left to send again


def test_connecting_again_while_a_send_is_on_the_wire_sends_it_after_the_new_login(
        qtbot, server, make_engine):
    """connect_to() drops the session with a send unanswered: the new login sends it again
    (before, it counted as still on the wire and stayed pending for good)."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    alice.send_unicast("bob", "across the switch")
    login(qtbot, alice, server.host, server.port, "alice")  # in the same turn
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=5000)
    assert own_states(alice, "bob") != [DeliveryState.PENDING]
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["across the switch"],
                    timeout=5000)


def test_a_changed_password_is_the_one_automatic_relogins_use(qtbot, server, make_engine):
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    with qtbot.waitSignal(alice.password_change_failed, timeout=10_000) as refused:
        assert alice.change_password("not-it", "brand-new-pw")
    assert refused.args[0] == ErrorCode.BAD_CREDENTIALS
    with qtbot.waitSignal(alice.password_changed, timeout=10_000):
        assert alice.change_password("alice123", "brand-new-pw")
    with qtbot.waitSignal(alice.login_succeeded, timeout=10_000):  # after a broken link
        alice._conn._socket.abort()
    assert alice.logged_in
    # A change whose answer is lost with the link is reported as not made.
    with qtbot.waitSignal(alice.password_change_failed, timeout=10_000) as lost:
        assert alice.change_password("brand-new-pw", "third-password")
        alice._conn._socket.abort()
    assert lost.args[0] == engine_module.NOT_CONNECTED
    qtbot.waitUntil(lambda: alice.logged_in, timeout=10_000)  # with brand-new-pw still


def test_a_change_whose_answer_was_lost_is_found_out_at_the_next_login(qtbot, server,
                                                                        make_engine,
                                                                        monkeypatch):
    """The server stored the new password, then the link broke before its ``ok``: the app
    says it does not know, and its re-login, refused with the old password, uses the new
    one (instead of stopping with "the password was refused"); it says so in that order
    (it said "the new password, then the old one": a hunt)."""
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    store = server.server.store
    stored = store.set_password_hash

    def stored_then_cut(key: str, pw_hash: str) -> None:
        stored(key, pw_hash)
        alice._conn._socket.abort()

    monkeypatch.setattr(store, "set_password_hash", stored_then_cut)
    with qtbot.waitSignal(alice.password_change_failed, timeout=10_000) as lost:
        assert alice.change_password("alice123", "made-after-all")
    assert lost.args[0] == engine_module.NOT_CONNECTED and "may or may not" in lost.args[1]
    assert "tries the old password, then the new one" in lost.args[1]
    monkeypatch.setattr(store, "set_password_hash", stored)
    qtbot.waitUntil(lambda: alice.logged_in, timeout=10_000)
    with qtbot.waitSignal(alice.login_succeeded, timeout=10_000):  # and again, with it kept
        alice._conn._socket.abort()


def test_the_other_sessions_are_logged_out_by_a_change_and_do_not_retry(qtbot, server,
                                                                       make_engine):
    here, there = make_engine(), make_engine()
    login(qtbot, here, server.host, server.port, "alice")
    login(qtbot, there, server.host, server.port, "alice")
    retries: list[float] = []
    there.reconnect_scheduled.connect(retries.append)
    with qtbot.waitSignal(there.request_failed, timeout=10_000) as told:
        assert here.change_password("alice123", "changed-here")
    assert told.args[1] == ErrorCode.PASSWORD_CHANGED
    qtbot.waitUntil(lambda: there.state is ConnectionState.DISCONNECTED, timeout=10_000)
    assert retries == [] and not there._reconnect_timer.isActive()
    notices = [i.text for i in there.conversation(EVERYONE).items()]
    assert any("You were logged out" in t and "was changed" in t for t in notices), notices
    assert not [t for t in notices if t.startswith("Disconnected")]  # one line says it all
    assert here.logged_in


def test_a_relogin_refused_by_its_own_lock_stops_instead_of_locking_forever(
        qtbot, make_server, make_engine):
    """With ``--max-failed-logins 1`` the refusal of a wrong password is ``locked_out``
    itself. alice's password was reset while her laptop was offline: its re-login with the
    old one was locked out, came back once the lock was over, was locked out again, and so
    on forever (each try locking the account again, up to 15 minutes a time), never asking
    her. A lock met again after the last one ran out is its own failure: it stops, as for a
    refused password."""
    server = make_server(demo=True, max_failed_logins=1, lockout_seconds=0.2)
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    core = server.server
    core.store.set_password_hash("alice", core.passwords.hash("reset-by-operator"))
    refused: list[str] = []
    alice.login_failed.connect(lambda code, _message: refused.append(code))
    alice._conn._socket.abort()
    qtbot.waitUntil(lambda: not alice.auto_reconnect or len(refused) >= 6, timeout=20_000)
    # (a coarse timer may fire a try a little before a lock ends: locked_out, not counted)
    assert refused[-1] == ErrorCode.BAD_CREDENTIALS and 2 <= len(refused) <= 4, refused
    assert set(refused[:-1]) == {ErrorCode.LOCKED_OUT}
    assert not alice.auto_reconnect and not alice._reconnect_timer.isActive()
    notices = [i.text for i in alice.conversation(EVERYONE).items()]
    assert "Could not log in again: the password was refused. Log out and in again." \
        in notices


def test_a_change_whose_answer_was_lost_is_found_out_also_when_one_failure_locks(
        qtbot, make_server, make_engine, monkeypatch):
    """The same with ``--max-failed-logins 1``: the old password's refusal is a lock, not
    ``bad_credentials``; once a lock is met again after the last one, the re-login after
    the lock uses the new password of the change whose answer was lost, and gets in."""
    server = make_server(demo=True, max_failed_logins=1, lockout_seconds=0.2)
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    store = server.server.store
    stored = store.set_password_hash

    def stored_then_cut(key: str, pw_hash: str) -> None:
        stored(key, pw_hash)
        alice._conn._socket.abort()

    monkeypatch.setattr(store, "set_password_hash", stored_then_cut)
    refused: list[str] = []
    alice.login_failed.connect(lambda code, _message: refused.append(code))
    with qtbot.waitSignal(alice.login_succeeded, timeout=20_000):
        assert alice.change_password("alice123", "made-after-all")
    assert set(refused) == {ErrorCode.LOCKED_OUT} and 2 <= len(refused) <= 4, refused
    assert alice.auto_reconnect


def test_a_catch_up_cut_off_by_a_lost_link_is_finished_after_the_reconnect(
        qtbot, server, make_engine, tmp_path):
    """bob's phone took 520 messages off the account's queue while his laptop was off; the
    laptop's catch-up (pages of 500) loses its link after the first page, with a newer
    message already cached from the login's replay. The reconnect fetches the rest: the
    laptop ends with every message once, none skipped below the newer one."""
    alice, laptop = laptop_put_away(qtbot, server, make_engine, tmp_path, "first")
    phone = make_engine(data_dir=tmp_path / "phone")
    login(qtbot, phone, server.host, server.port, "bob")
    burst = [f"while away {i}" for i in range(520)]
    for text in burst:
        alice.send_unicast("bob", text)
    qtbot.waitUntil(lambda: len(texts_from(phone, "alice", "alice")) == len(burst),
                    timeout=20_000)
    qtbot.waitUntil(lambda: not phone._to_confirm and not alice.store.outbox(), timeout=5000)
    phone.close()  # confirmed by the phone: only what follows is queued for the laptop
    qtbot.waitUntil(lambda: phone.state is ConnectionState.DISCONNECTED)
    alice.send_unicast("bob", "newest")
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=5000)
    cut_after(laptop, laptop.history_loaded, 1)
    reconnects: list[float] = []
    laptop.reconnect_scheduled.connect(reconnects.append)
    login(qtbot, laptop, server.host, server.port, "bob")
    want = ["first", *burst, "newest"]
    qtbot.waitUntil(lambda: bool(reconnects) and laptop.logged_in
                    and len(texts_from(laptop, "alice", "alice")) >= len(want), timeout=15_000)
    assert sorted(texts_from(laptop, "alice", "alice")) == sorted(want)
    assert laptop.store.count("alice") == len(want)


def test_a_catch_up_refused_for_now_is_asked_again_in_the_same_session(
        qtbot, server, make_engine, tmp_path, caplog):
    """An operator's sqlite3 shell held a write lock on the server's database just as bob's
    laptop logged in: its catch-up of his conversation with alice was refused ("try again
    shortly"), and was not asked again. What his phone had taken off the account's queue
    meanwhile never showed on the laptop until its next login, which on a desktop that
    stays logged in can be days (a hunt). It is asked again once the lock is gone."""
    caplog.set_level(logging.INFO, logger="messenger")
    alice, laptop = laptop_put_away(qtbot, server, make_engine, tmp_path, "first")
    phone = make_engine(data_dir=tmp_path / "phone")
    login(qtbot, phone, server.host, server.port, "bob")
    for i in range(3):
        alice.send_unicast("bob", f"while away {i}")
    qtbot.waitUntil(lambda: "while away 2" in texts_from(phone, "alice", "alice"),
                    timeout=10_000)
    qtbot.waitUntil(lambda: not phone._to_confirm and not alice.store.outbox(), timeout=5000)
    phone.close()  # confirmed by the phone: nothing is queued for the laptop
    qtbot.waitUntil(lambda: phone.state is ConnectionState.DISCONNECTED)
    with another_programs_lock(server, after=laptop.login_succeeded), \
            qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "bob")
    assert "history of alice refused: internal" in caplog.text
    want = ["first", "while away 0", "while away 1", "while away 2"]
    qtbot.waitUntil(lambda: texts_from(laptop, "alice", "alice") == want, timeout=10_000)
    assert laptop.store.count("alice") == 4
    assert laptop.store.get_meta("resume:alice") == str(alice.store.page("bob")[-1].seq)


def test_the_conversation_list_refused_for_now_is_asked_again_in_the_same_session(
        qtbot, server, make_engine, tmp_path, caplog):
    """bob logs in on a new computer just as an operator's sqlite3 shell holds a write lock
    on the server's database: the login's `conversations` (what the account has, to find
    the conversations this computer has nothing of) was refused "for now" and not asked
    again, so his conversation with alice, read on his phone, was missing from the new
    computer until its next login. It is asked again once the lock is gone."""
    caplog.set_level(logging.INFO, logger="messenger")
    alice = make_engine()
    phone = make_engine(data_dir=tmp_path / "phone")
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, phone, server.host, server.port, "bob")
    alice.send_unicast("bob", "welcome aboard")
    qtbot.waitUntil(lambda: texts_from(phone, "alice", "alice") == ["welcome aboard"],
                    timeout=10_000)
    qtbot.waitUntil(lambda: not phone._to_confirm and not alice.store.outbox(), timeout=5000)
    phone.close()  # confirmed by the phone: nothing is queued for the new computer
    qtbot.waitUntil(lambda: phone.state is ConnectionState.DISCONNECTED)
    new = make_engine(data_dir=tmp_path / "new-computer")
    with another_programs_lock(server, after=new.login_succeeded), \
            qtbot.waitSignal(new.resumed, timeout=10_000):
        login(qtbot, new, server.host, server.port, "bob")
    assert "conversations refused: internal" in caplog.text
    qtbot.waitUntil(lambda: new.store.count("alice") == 1, timeout=10_000)
    assert texts_from(new, "alice", "alice") == ["welcome aboard"]


def test_what_this_account_sent_from_another_device_reaches_this_one_after_a_relogin(
        qtbot, server, make_engine, tmp_path):
    """bob's phone writes to alice while his laptop is online: the server sends the laptop
    no copy (no echo to the sender), and alice's live answer must not move the laptop's
    resume cursor past it. The laptop's next catch-up brings it."""
    alice = make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    phone = make_engine(data_dir=tmp_path / "phone")
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, laptop, server.host, server.port, "bob")
    login(qtbot, phone, server.host, server.port, "bob")
    alice.send_unicast("bob", "hello")
    qtbot.waitUntil(lambda: texts_from(laptop, "alice", "alice") == ["hello"], timeout=5000)
    phone.send_unicast("alice", "from the phone")
    qtbot.waitUntil(lambda: texts_from(alice, "bob", "bob") == ["from the phone"],
                    timeout=5000)
    alice.send_unicast("bob", "reply")
    qtbot.waitUntil(lambda: texts_from(laptop, "alice", "alice") == ["hello", "reply"],
                    timeout=5000)
    again = restart(qtbot, make_engine, laptop, server.host, server.port, "bob",
                    data_dir=tmp_path / "laptop")
    assert [m.text for m in again.store.page("alice", limit=10)] == \
        ["hello", "from the phone", "reply"]


def test_a_new_device_gets_the_receipts_of_what_was_sent_before_it(
        qtbot, server, make_engine, tmp_path):
    """alice's laptop logs in for the first time (receipt cursor 0): the login asks for the
    whole receipt log, so her earlier multicast, read by both, shows read once its history
    is fetched (with no cursor sent, nothing was replayed and it stayed "sent")."""
    phone, bob, charlie = (make_engine(data_dir=tmp_path / "phone"), make_engine(),
                           make_engine())
    for engine, name in ((phone, "alice"), (bob, "bob"), (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, name)
    phone.send_multicast(["bob", "charlie"], "to both")
    for engine in (bob, charlie):
        qtbot.waitUntil(lambda e=engine: texts_from(e, "alice", "alice") == ["to both"],
                        timeout=5000)
        engine.mark_read("alice")
    qtbot.waitUntil(lambda: own_states(phone, "bob") == [DeliveryState.READ]
                    and own_states(phone, "charlie") == [DeliveryState.READ], timeout=5000)
    laptop = make_engine(data_dir=tmp_path / "laptop")
    login(qtbot, laptop, server.host, server.port, "alice")
    for key in ("bob", "charlie"):
        with qtbot.waitSignal(laptop.history_loaded, timeout=5000):
            laptop.conversation(key).fetchMore()
        qtbot.waitUntil(lambda k=key: own_states(laptop, k) == [DeliveryState.READ],
                        timeout=5000)


def test_a_connection_refused_for_too_many_from_this_address_says_why(
        qtbot, make_server, make_engine):
    """The address already holds the connections without a login that the server allows:
    the refusal comes before the server's hello, and the app says why the connection failed
    (not a "Server error" notice)."""
    from helpers.wire import WireClient

    server = make_server(demo=True, max_prelogin_per_host=1)
    squatter = WireClient(qtbot, server.host, server.port)  # connected, never logs in
    # (and taken by the server: its TLS handshake done there too, not only on the client's
    # side, which finishes first; else alice met "handshakes under way", another refusal)
    qtbot.waitUntil(lambda: len(server.server._conns) == 1)
    alice = make_engine()
    with qtbot.waitSignal(alice.connection_failed, timeout=10_000) as failed:
        alice.connect_to(server.host, server.port)
        alice.login("alice", "alice123")
    _code, message = failed.args
    assert "have not logged in" in message and not alice.logged_in
    assert not [i for i in alice.conversation(EVERYONE).items() if "Server error" in i.text]
    squatter.close()


def alice_wrote_to_bob(qtbot, server, make_engine, *texts: str):
    """alice and bob logged in; alice sent bob ``texts`` (each arrived). Returns (alice, bob,
    the seqs of alice's messages)."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    for text in texts:
        with qtbot.waitSignal(bob.message_received, timeout=10_000):
            alice.send_unicast("bob", text)
    seqs = [i.seq for i in alice.conversation("bob").items() if i.kind is MessageKind.OWN]
    return alice, bob, seqs


def test_an_edit_and_a_delete_on_a_link_that_died_are_made_after_the_reconnect(
        qtbot, server, make_engine):
    """An edit still in the app's buffer when the link dies (it never reached the server),
    and a delete that reached it but whose answer was lost, both go again after the
    reconnect: every app shows them, and a repeat changes nothing (they were forgotten)."""
    alice, bob, (first, second) = alice_wrote_to_bob(qtbot, server, make_engine,
                                                     "meet at 2", "oops, wrong chat")
    assert alice.retract(second, "bob")
    alice._conn._socket.flush()  # the delete reaches the server ...
    assert alice.edit(first, "bob", "meet at 3")  # ... the edit stays in the buffer
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice._conn._socket.abort()  # the link dies before any answer
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") ==
                    ["meet at 3", engine_module.RETRACTED_TEXT], timeout=10_000)
    qtbot.waitUntil(lambda: not alice._requests, timeout=10_000)  # both answered
    assert texts_from(alice, "bob", "alice") == ["meet at 3", engine_module.RETRACTED_TEXT]
    assert not [i for i in alice.conversation("bob").items() if i.kind is MessageKind.ERROR]


def test_a_group_create_whose_answer_was_lost_is_settled_after_the_reconnect(
        qtbot, server, make_engine):
    """The server made the group but the link died before its ``ok``: after the reconnect
    the app answers the create dialog from the group list (``group_joined``); a leave whose
    answer was lost is reported failed (it may or may not have been made), not left hanging."""
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    outcome: list[str] = []
    alice.group_joined.connect(lambda name: outcome.append("joined " + name))
    alice.group_failed.connect(lambda op, g, code, msg: outcome.append(f"{op} failed {code}"))
    assert alice.create_group("lab", ["bob"])  # the dialog shows "Creating…"
    alice._conn._socket.flush()  # it reaches the server (which makes the group) ...
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice._conn._socket.abort()  # ... but the link dies before the ok comes back
    qtbot.waitUntil(lambda: outcome == ["joined lab"], timeout=10_000)
    assert alice.groups.group("lab").member
    assert alice.leave_group("lab")
    alice._conn._socket.abort()  # not even sent
    qtbot.waitUntil(lambda: outcome[1:] == [f"leave failed {engine_module.NOT_CONNECTED}"],
                    timeout=10_000)
    qtbot.waitUntil(lambda: alice.logged_in, timeout=10_000)
    assert alice.groups.group("lab").member  # it was not made


def test_reconnect_now_starts_the_backoff_over(qtbot, make_server, make_engine, tmp_path):
    """"Reconnect now" resets the backoff (architecture.md): the next automatic wait is the
    first step again, not double the last."""
    first = make_server(demo=True, data_dir=tmp_path / "srv")
    alice = make_engine(backoff=Backoff(1.0, 30.0, rng=lambda: 1.0))  # waits 2, 4, 8 …
    login(qtbot, alice, "127.0.0.1", first.port, "alice")
    delays: list[float] = []
    alice.reconnect_scheduled.connect(delays.append)
    first.close()  # the server is gone: every try is refused at once
    qtbot.waitUntil(lambda: len(delays) == 1, timeout=10_000)
    for n in (2, 3):
        assert alice.reconnect_now()
        qtbot.waitUntil(lambda n=n: len(delays) == n, timeout=10_000)
    assert delays == [2.0, 2.0, 2.0]


def test_sends_on_the_wire_at_a_close_go_again_at_the_next_login_of_the_same_engine(
        qtbot, server, make_engine, tmp_path):
    """A send written just before ``close()`` (no ok came) leaves the outbox after the next
    ``login()`` of the same engine: the closed link left nothing counted as in flight."""
    alice, bob = make_engine(data_dir=tmp_path / "a"), make_engine()
    login(qtbot, bob, server.host, server.port, "bob")
    login(qtbot, alice, server.host, server.port, "alice")
    alice.send_unicast("bob", "sent just before closing")
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    assert alice.store.outbox()  # still waiting for its ok
    with qtbot.waitSignal(alice.login_succeeded, timeout=10_000):
        alice.login("alice", "alice123")  # connects by itself
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=10_000)
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["sent just before closing"],
                    timeout=10_000)


def test_drops_and_reconnects_in_a_row_leave_one_line_in_everyone(qtbot, server, make_engine):
    """Each drop added "Disconnected: …" and "Reconnected to …" to the Everyone tab; a run of
    them with nothing between now shows as one line, the latest. A message between keeps
    the lines before it (they say when the link was down)."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")

    def link_lines() -> list[str]:
        return [i.text for i in alice.conversation(EVERYONE).items()
                if i.kind in (MessageKind.SYSTEM, MessageKind.ERROR)
                and ("Reconnected" in i.text or "Disconnected" in i.text
                     or "Logged in" in i.text)]

    for _ in range(3):
        with qtbot.waitSignal(alice.resumed, timeout=10_000):
            alice._conn._socket.abort()
    assert len(link_lines()) == 1 and link_lines()[0].startswith("Reconnected to ")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_broadcast("still there?")
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice._conn._socket.abort()
    assert len(link_lines()) == 2  # the one before the message stays


def test_a_lost_answer_to_creating_a_group_one_is_in_already_is_a_failure(
        qtbot, server, make_engine):
    """alice leads "lab" already; creating it again is refused (name taken), and the refusal
    is lost with the link: the next login's group list has her as a member, which was so
    before she asked, so the create is reported failed, not made."""
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lab", ["bob"])
    outcome: list[str] = []
    alice.group_joined.connect(lambda name: outcome.append("joined " + name))
    alice.group_failed.connect(lambda op, g, code, msg: outcome.append(f"{op} failed"))
    assert alice.create_group("lab", ["charlie"])
    alice._conn._socket.flush()  # the server refuses it ...
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice._conn._socket.abort()  # ... and the refusal is lost with the link
    qtbot.waitUntil(lambda: bool(outcome), timeout=10_000)
    assert outcome == ["create failed"]


def test_a_rate_limited_edit_due_during_an_outage_is_made_after_the_reconnect(
        qtbot, make_server, make_engine):
    """Flood control refuses an edit for now; the link dies before its retry is due: the
    retry waits for the next login of the same account and is made then (it was dropped
    with "logged in as someone else")."""
    srv = make_server(demo=True, max_send_rate=1)  # bursts of 10
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, srv.host, srv.port, "alice")
    login(qtbot, bob, srv.host, srv.port, "bob")
    for i in range(10):
        alice.send_unicast("bob", f"m{i}")
    qtbot.waitUntil(lambda: len(texts_from(bob, "alice", "alice")) == 10, timeout=10_000)
    seq = next(i.seq for i in alice.conversation("bob").items() if i.kind is MessageKind.OWN)
    refused: list[int] = []
    alice._conn.frame_received.connect(
        lambda f: refused.append(1) if isinstance(f, Error)
        and f.code == ErrorCode.RATE_LIMITED else None)
    assert alice.edit(seq, "bob", "m0, edited")
    qtbot.waitUntil(lambda: bool(refused) and not alice._requests, timeout=10_000)
    with qtbot.waitSignal(alice.reconnect_scheduled, timeout=10_000):
        alice._conn._socket.abort()
    alice._reconnect_timer.stop()  # offline while the retry comes due
    qtbot.waitUntil(lambda: bool(alice._redo), timeout=10_000)
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice.reconnect_now()
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice")[0] == "m0, edited",
                    timeout=10_000)
    assert not [i for i in alice.conversation("bob").items() if i.kind is MessageKind.ERROR]


def test_what_a_lost_link_left_unanswered_when_reconnecting_stops(qtbot, server, make_engine):
    """A create and an edit a lost link left unanswered wait for the next login; a logout
    before it (no login of this session will come) reports the create failed instead of
    leaving the dialog on "Creating…", and keeps the edit: the next app of the account
    makes it after its login."""
    alice, bob, (seq,) = alice_wrote_to_bob(qtbot, server, make_engine, "meet at 2")
    failed: list[str] = []
    alice.group_failed.connect(lambda op, g, code, msg: failed.append(f"{op} {g}"))
    assert alice.create_group("lab", ["bob"]) and alice.edit(seq, "bob", "meet at 3")
    with qtbot.waitSignal(alice.reconnect_scheduled, timeout=10_000):
        alice._conn._socket.abort()  # neither was sent
    alice._reconnect_timer.stop()
    assert not failed and alice._redo
    alice.logout()
    assert failed == ["create lab"]
    assert not [i for i in alice.conversation("bob").items() if i.kind is MessageKind.ERROR]
    again = make_engine()  # the app started again
    login(qtbot, again, server.host, server.port, "alice")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 3"], timeout=10_000)
    qtbot.waitUntil(lambda: not again._saved_changes(), timeout=10_000)


def test_an_edit_and_a_delete_unanswered_at_quit_are_made_after_the_next_start(
        qtbot, server, make_engine):
    """The app quits with an edit and a delete on the wire (no answer yet): they are saved
    with the account's cache and made after the next start's login (they were lost without
    a word; found by the soak)."""
    alice, bob, (first, second) = alice_wrote_to_bob(qtbot, server, make_engine,
                                                     "meet at 2", "oops")
    assert alice.edit(first, "bob", "meet at 3") and alice.retract(second, "bob")
    alice._conn._socket.abort()  # the quit: nothing of them left the app
    alice.close()
    again = make_engine()
    login(qtbot, again, server.host, server.port, "alice")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") ==
                    ["meet at 3", engine_module.RETRACTED_TEXT], timeout=10_000)
    qtbot.waitUntil(lambda: not again._saved_changes(), timeout=10_000)
    assert texts_from(again, "bob", "alice") == ["meet at 3", engine_module.RETRACTED_TEXT]


def test_an_edit_sent_late_does_not_overwrite_a_newer_edit_from_another_device(
        qtbot, server, make_engine, tmp_path):
    """The laptop edits a message while its link is down (the edit waits); the desktop edits
    the same message meanwhile. When the laptop's edit arrives, the server refuses it (made
    on an older text: edit_conflict) and the laptop says so: the newer text stays (the
    last edit to arrive won; found by the soak)."""
    desktop, laptop, bob = alice_twice_and_bob(qtbot, server, make_engine, tmp_path)
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        laptop.send_unicast("bob", "meet at 2")
    seq = next(i.seq for i in laptop.conversation("bob").items() if i.kind is MessageKind.OWN)
    assert laptop.edit(seq, "bob", "meet at 3")  # still in the app's buffer when ...
    with qtbot.waitSignal(laptop.reconnect_scheduled, timeout=10_000):
        laptop._conn._socket.abort()  # ... the link dies
    laptop._reconnect_timer.stop()  # offline a while
    assert desktop.edit(seq, "bob", "meet at 4")  # the newer edit
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 4"], timeout=10_000)
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        laptop.reconnect_now()
    qtbot.waitUntil(lambda: any("changed on another device" in i.text
                                for i in laptop.conversation("bob").items()
                                if i.kind is MessageKind.ERROR), timeout=10_000)
    assert texts_from(bob, "alice", "alice") == ["meet at 4"]
    assert not laptop._saved_changes()


def test_two_offline_edits_do_not_overwrite_a_newer_edit_from_another_device(
        qtbot, server, make_engine, tmp_path):
    """The laptop is offline and the user edits the same message twice there (a typo fix of
    the fix); meanwhile the desktop edits it too. Back online, the laptop's first edit was
    refused as made on an older text, but the second one went without a ``base`` and
    silently overwrote the desktop's newer edit on every device (a hunt). Now the second
    waits for the first's answer and is made on the same text: both are refused."""
    desktop, laptop, bob = alice_twice_and_bob(qtbot, server, make_engine, tmp_path)
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        laptop.send_unicast("bob", "meet at 2")
    seq = next(i.seq for i in laptop.conversation("bob").items() if i.kind is MessageKind.OWN)
    qtbot.waitUntil(lambda: desktop.store.message(seq) is not None, timeout=10_000)
    with qtbot.waitSignal(laptop.reconnect_scheduled, timeout=10_000):
        laptop._conn._socket.abort()
    laptop._reconnect_timer.stop()  # offline a while
    assert laptop.edit(seq, "bob", "meet at 3")
    assert laptop.edit(seq, "bob", "meet at 3pm")  # a second edit, still offline
    assert desktop.edit(seq, "bob", "meet at 4")  # the newer edit, made online
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 4"], timeout=10_000)
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        laptop.reconnect_now()
    qtbot.waitUntil(lambda: not laptop._saved_changes(), timeout=10_000)
    qtbot.waitUntil(lambda: any("changed on another device" in i.text
                                for i in laptop.conversation("bob").items()
                                if i.kind is MessageKind.ERROR), timeout=10_000)
    assert server.server.store.message(seq).text == "meet at 4"
    assert texts_from(bob, "alice", "alice") == ["meet at 4"]


def test_an_edit_made_after_an_offline_delete_is_refused_plainly(qtbot, server, make_engine):
    """Offline, alice deletes a message for everyone (it waits for the link), then edits it.
    Back online the deletion was made, then the edit refused with "Could not edit the
    message: you have no message 3 to edit" (a hunt). The edit is refused at once, saying
    why, and nothing of it goes."""
    alice, bob, (seq,) = alice_wrote_to_bob(qtbot, server, make_engine, "meet at 2")
    with qtbot.waitSignal(alice.reconnect_scheduled, timeout=10_000):
        alice._conn._socket.abort()
    alice._reconnect_timer.stop()
    assert alice.retract(seq, "bob") and alice.deletion_waiting(seq)
    assert not alice.edit(seq, "bob", "meet at 3")
    errors = [i.text for i in alice.conversation("bob").items()
              if i.kind is MessageKind.ERROR]
    assert errors == ["Not edited: this message is being deleted."]
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice.reconnect_now()
    qtbot.waitUntil(lambda: not alice._saved_changes(), timeout=10_000)
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == [RETRACTED_TEXT],
                    timeout=10_000)
    assert not alice.deletion_waiting(seq)
    assert [i.text for i in alice.conversation("bob").items()
            if i.kind is MessageKind.ERROR] == errors


def test_two_edits_in_a_row_before_an_answer_are_both_made(qtbot, server, make_engine):
    """A second edit of a message made before the first one's answer (twice while the link
    is down) is no conflict with the first: the last text wins, nothing is refused."""
    alice, bob, (seq,) = alice_wrote_to_bob(qtbot, server, make_engine, "meet at 2")
    assert alice.edit(seq, "bob", "meet at 3") and alice.edit(seq, "bob", "meet at 4")
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        alice._conn._socket.abort()  # neither reached the server
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 4"], timeout=10_000)
    qtbot.waitUntil(lambda: not alice._saved_changes(), timeout=10_000)
    assert not [i for i in alice.conversation("bob").items() if i.kind is MessageKind.ERROR]
    # Three in a row online: each waits for the one before it and is made on its text.
    for text in ("meet at 5", "meet at 6", "meet at 7"):
        assert alice.edit(seq, "bob", text)
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 7"], timeout=10_000)
    qtbot.waitUntil(lambda: not alice._saved_changes(), timeout=10_000)
    assert not [i for i in alice.conversation("bob").items() if i.kind is MessageKind.ERROR]


def test_a_deleted_message_is_not_labelled_edited(qtbot, server, make_engine):
    """alice edits a message, then deletes it for everyone. bob's bubble read "This message
    was deleted." with "edited 14:02" beside it: the deletion replaced the text but kept the
    item's (and the cache's) ``edited`` time, which the delegate draws (a hunt). Neither
    the model nor the cache says "edited" for a deleted message."""
    alice, bob, seq = meet_at_4(qtbot, server, make_engine)
    assert bob.store.message(seq).edited is not None
    assert alice.retract(seq, "bob")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == [RETRACTED_TEXT],
                    timeout=10_000)
    for engine in (alice, bob):
        model = engine.conversation("bob" if engine is alice else "alice")
        index = model.index(model.row_of_seq(seq), 0)
        assert model.data(index, ConversationModel.EditedRole) is None
        assert "edited" not in model.data(index, Qt.ItemDataRole.AccessibleTextRole)
        assert engine.store.message(seq).edited is None


def test_a_message_can_be_edited_again_and_again(qtbot, server, make_engine):
    """Each edit is made on the text the app shows, whose edited time is the one the server
    checks ``base`` against: the second edit was refused as a conflict (the server kept the
    edit's own clock reading, the apps the notice's ``ts``, microseconds apart)."""
    alice, bob, (seq,) = alice_wrote_to_bob(qtbot, server, make_engine, "v0")
    for text in ("v1", "v2", "v3"):
        assert alice.edit(seq, "bob", text)
        qtbot.waitUntil(lambda t=text: texts_from(bob, "alice", "alice") == [t]
                        and not alice._saved_changes(), timeout=10_000)
    assert not [i for i in alice.conversation("bob").items() if i.kind is MessageKind.ERROR]
    assert server.server.store.message(seq).edited == alice.store.message(seq).edited


def test_an_own_message_acked_late_below_a_new_cursor_leaves_no_gap(
        qtbot, server, make_engine, tmp_path):
    """alice's laptop writes to charlie for the first time, and the link dies before the
    ``ok``. charlie answers twice while the laptop is away: the desktop confirms the first
    answer, then goes; the second stays queued. At the laptop's next login the replay brings
    the second answer first (it starts the conversation's resume cursor), then the resent
    message's ``ok`` comes with its older seq. The first answer, between the two, must not be
    skipped: the laptop ends with all three, now and after a reconnect."""
    desk = make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    charlie = make_engine()
    for engine, user in ((desk, "alice"), (laptop, "alice"), (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, user)
    laptop.send_unicast("charlie", "from the laptop")
    laptop._conn._socket.flush()  # on its way to the server, then the link breaks
    laptop._conn._socket.abort()
    qtbot.waitUntil(lambda: laptop.state is ConnectionState.DISCONNECTED)
    laptop._reconnect_timer.stop()  # offline until told
    qtbot.waitUntil(lambda: texts_from(charlie, "alice", "alice") == ["from the laptop"],
                    timeout=5000)
    charlie.send_unicast("alice", "first answer")
    qtbot.waitUntil(lambda: texts_from(desk, "charlie", "charlie") == ["first answer"],
                    timeout=5000)
    qtbot.waitUntil(lambda: not desk._to_confirm, timeout=5000)
    desk.close()  # (its delivered goes before the logout: nothing queued for the laptop)
    qtbot.waitUntil(lambda: desk.state is ConnectionState.DISCONNECTED)
    with qtbot.waitSignal(charlie.message_acked, timeout=5000):
        charlie.send_unicast("alice", "second answer")
    with qtbot.waitSignal(laptop.message_acked, timeout=10_000):
        laptop.reconnect_now()
    want = ["from the laptop", "first answer", "second answer"]
    qtbot.waitUntil(lambda: [m.text for m in laptop.store.page("charlie", limit=10)] == want,
                    timeout=5000)  # (caught up at once, from the late ok's seq)
    assert texts_from(laptop, "charlie", "charlie") == want[1:]
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        laptop._conn._socket.abort()  # and a later catch-up keeps it so
    assert [m.text for m in laptop.store.page("charlie", limit=10)] == want


@pytest.mark.parametrize("hello", [True, False], ids=["a-page", "an-empty-page"])
def test_a_conversation_opened_from_the_servers_history_catches_up_from_its_newest_page(
        qtbot, server, make_engine, tmp_path, hello):
    """alice's laptop, new, opens her conversation with charlie: its newest page comes from
    the server (with charlie's hello, or empty). Then she writes to charlie from her desktop
    (no copy comes to the laptop), and charlie answers live. The answer must not start the
    laptop's resume cursor above the desktop's message: the next catch-up brings it, between
    the two (an empty first page starts the cursor at 0)."""
    desk, charlie = make_engine(), make_engine()
    for engine, user in ((desk, "alice"), (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, user)
    if hello:
        with qtbot.waitSignal(charlie.message_acked, timeout=5000):
            charlie.send_unicast("alice", "hello")
    laptop = make_engine(data_dir=tmp_path / "laptop")
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    opened = laptop.conversation("charlie")  # alice opens the conversation: its newest page
    if hello:  # came with the login (the server listed the conversation)
        assert [i.text for i in opened.items()] == ["hello"] and not opened.canFetchMore()
    else:  # comes now, empty
        with qtbot.waitSignal(laptop.history_loaded, timeout=5000):
            opened.fetchMore()
    with qtbot.waitSignal(desk.message_acked, timeout=5000):
        desk.send_unicast("charlie", "from the desktop")
    charlie.send_unicast("alice", "answer")
    first = ["hello"] if hello else []
    qtbot.waitUntil(lambda: texts_from(laptop, "charlie", "charlie") == [*first, "answer"],
                    timeout=5000)
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        laptop._conn._socket.abort()  # a broken link: reconnect and catch up
    assert [m.text for m in laptop.store.page("charlie", limit=10)] == \
        [*first, "from the desktop", "answer"]


def test_a_message_deleted_before_it_came_is_not_unread(qtbot, server, make_engine,
                                                        tmp_path):
    """bob writes to alice and deletes it while she is offline: at her login it comes as
    "This message was deleted." and counted as unread (a badge for nothing to read, also on
    a new computer opening the conversation from the server's history); it is read at once
    now, with no notification."""
    deleted_text = engine_module.RETRACTED_TEXT
    bob = make_engine()
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(bob.message_acked, timeout=5000) as acked:
        bob.send_unicast("alice", "oops, wrong person")
    first = acked.args[1]
    assert bob.retract(first, "alice")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "bob") == [deleted_text], timeout=5000)
    with qtbot.waitSignal(bob.message_acked, timeout=5000) as acked:
        bob.send_unicast("alice", "hello")
    hello = acked.args[1]
    alice = make_engine()
    noticed: list = []
    alice.message_received.connect(lambda key, item: noticed.append(item.text))
    login(qtbot, alice, server.host, server.port, "alice")
    qtbot.waitUntil(lambda: texts_from(alice, "bob", "bob") == [deleted_text, "hello"],
                    timeout=5000)
    assert alice.unread("bob") == 1 and noticed == ["hello"]
    assert alice.store.unread_seqs("bob", "alice") == [hello]
    # A new computer opening the conversation from the server's history: the same.
    laptop = make_engine(data_dir=tmp_path / "laptop")
    login(qtbot, laptop, server.host, server.port, "alice")
    with qtbot.waitSignal(laptop.history_loaded, timeout=5000):
        laptop.conversation("bob").fetchMore()
    assert texts_from(laptop, "bob", "bob") == [deleted_text, "hello"]
    assert first not in laptop.store.unread_seqs("bob", "alice")


def test_a_message_deleted_while_the_app_was_closed_is_not_unread_after_a_restart(
        qtbot, server, make_engine, tmp_path):
    """60 unread from alice (more than the page a conversation opens with); bob quits,
    alice deletes the first: after bob's restart the badge said 60, the "New messages" line
    above "This message was deleted." (its deletion came before the conversation was
    loaded, and the cache still counted it unread: a hunt)."""
    alice, bob = make_engine(), make_engine(data_dir=tmp_path / "bob")
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    seqs: list[int] = []
    alice.message_acked.connect(lambda _cid, seq, _ts: seqs.append(seq))
    for i in range(60):
        alice.send_unicast("bob", f"m{i}")
    qtbot.waitUntil(lambda: len(texts_from(bob, "alice", "alice")) == 60 and len(seqs) == 60,
                    timeout=20_000)
    qtbot.waitUntil(lambda: not server.server.store.pending("bob"), timeout=10_000)
    bob.close()
    bob.close_store()
    assert alice.retract(min(seqs), "bob")
    qtbot.waitUntil(lambda: texts_from(alice, "bob", "alice")[0] == engine_module.RETRACTED_TEXT,
                    timeout=5000)
    again = make_engine(data_dir=tmp_path / "bob")
    with qtbot.waitSignal(again.resumed, timeout=10_000):
        login(qtbot, again, server.host, server.port, "bob")
    qtbot.waitUntil(lambda: again.store.message(min(seqs)).text == engine_module.RETRACTED_TEXT)
    assert again.unread("alice") == 59
    assert again.first_unread("alice") == sorted(seqs)[1]


def test_a_second_computer_finds_conversations_it_had_nothing_of(qtbot, server, make_engine,
                                                                  tmp_path):
    """While the laptop was away the desktop confirmed a first private message from bob, a
    broadcast and a group message: the laptop had no cursor for those conversations, so its
    catch-up skipped them; they stayed empty there, with no unread count (a sleep hunt)."""
    desktop, laptop, bob = alice_twice_and_bob(qtbot, server, make_engine, tmp_path)
    lab = lab_with(qtbot, bob, desktop)  # the laptop gets no message of it while online
    qtbot.waitUntil(lambda: laptop.groups.group("lab") is not None
                    and laptop.groups.group("lab").member)
    with qtbot.waitSignal(laptop.logged_out, timeout=10_000):
        laptop.logout()
    with qtbot.waitSignal(desktop.message_received, timeout=10_000):
        bob.send_unicast("alice", "first words")
    with qtbot.waitSignal(desktop.message_received, timeout=10_000):
        bob.send_group("lab", "lab news")
    with qtbot.waitSignal(desktop.message_received, timeout=10_000) as last:
        bob.send_broadcast("to all")
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    # Gone through up to there: the next login asks only for what came later.
    assert laptop.store.get_meta("conversations_after") == str(last.args[1].seq)
    assert texts_from(laptop, peer_key("bob"), "bob") == ["first words"]
    assert texts_from(laptop, lab, "bob") == ["lab news"]
    assert texts_from(laptop, EVERYONE, "bob") == ["to all"]
    assert [laptop.unread(k) for k in (peer_key("bob"), lab, EVERYONE)] == [1, 1, 1]
    assert laptop.store.count(peer_key("bob")) == 1  # cached, and the cursor started
    with qtbot.waitSignal(laptop.logged_out, timeout=10_000):
        laptop.logout()
    with qtbot.waitSignal(desktop.message_received, timeout=10_000):
        bob.send_unicast("alice", "second words")
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    assert texts_from(laptop, peer_key("bob"), "bob") == ["first words", "second words"]


def test_a_new_computer_shows_the_unread_badge_of_every_contact_who_wrote(
        qtbot, server, make_engine, tmp_path, monkeypatch):
    """A teacher with 120 students who each wrote her (received on her desktop, not read)
    logged in on a new computer: only the 100 newest conversations were fetched at a login
    (DISCOVER_MAX), so 20 students' rows had no badge, and no count in the title, until the
    app next logged in. The list must still not send thousands of requests at once (a diff
    review): at most DISCOVER_MAX are on their way, the next goes as one is answered.
    (Here DISCOVER_MAX is 1, and the class two people.)"""
    monkeypatch.setattr(engine_module, "DISCOVER_MAX", 1)
    desktop, bob, charlie = make_engine(), make_engine(), make_engine()
    for engine, user in ((desktop, "alice"), (bob, "bob"), (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, user)
    for engine in (bob, charlie):  # confirmed by the desktop: the laptop gets no copy
        with qtbot.waitSignal(desktop.message_received, timeout=5000):
            engine.send_unicast("alice", f"from {engine.user}")
    laptop = make_engine(data_dir=tmp_path / "laptop")
    in_flight: list[int] = []
    laptop.history_loaded.connect(lambda *_: in_flight.append(len(laptop._discovering)))
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    assert [laptop.roster.contact(n).unread for n in ("bob", "charlie")] == [1, 1]
    assert laptop.store.count("charlie") == 1 and laptop.store.count("bob") == 1
    assert in_flight == [1, 1]  # (charlie's, the newest, then bob's: one at a time)
    assert laptop.store.get_meta("conversations_after") is not None  # gone through


def test_what_one_computer_sends_shows_on_the_accounts_other_one_at_once(
        qtbot, server, make_engine, tmp_path):
    """The laptop showed the desktop's reply only after its next login (a GUI review)."""
    desktop, laptop, bob = alice_twice_and_bob(qtbot, server, make_engine, tmp_path)
    with qtbot.waitSignal(laptop.message_received, timeout=5000):
        bob.send_unicast("alice", "question")
    desktop.send_unicast("bob", "answer from the desktop")
    qtbot.waitUntil(lambda: texts_from(laptop, "bob", "alice") == ["answer from the desktop"],
                    timeout=5000)
    (own,) = [i for i in laptop.conversation("bob").items() if i.sender == "alice"]
    assert own.kind is MessageKind.OWN and own.seq is not None
    assert laptop.unread("bob") == 1  # (bob's question; its own message is no unread one)
    assert laptop.store.count("bob") == 2  # cached: a restart shows it too


def test_a_queued_message_does_not_hide_what_the_other_computer_confirmed(
        qtbot, server, make_engine, tmp_path):
    """The laptop is away; the desktop gets and confirms bob's first message (a conversation
    new to the laptop), then goes away too; bob's second message waits for alice. At the
    laptop's login the queued message comes first, starts the conversation's cursor, and the
    login's `conversations` answer then skips the conversation: the first message is never
    fetched, and the badge says 1 where the desktop says 2."""
    desktop, laptop, bob = alice_twice_and_bob(qtbot, server, make_engine, tmp_path)
    with qtbot.waitSignal(laptop.logged_out, timeout=10_000):
        laptop.logout()
    with qtbot.waitSignal(desktop.message_received, timeout=10_000):
        bob.send_unicast("alice", "first words")
    qtbot.waitUntil(lambda: not server.server.store.pending("alice"))  # confirmed
    with qtbot.waitSignal(desktop.logged_out, timeout=10_000):
        desktop.logout()
    with qtbot.waitSignal(bob.message_acked, timeout=10_000):
        bob.send_unicast("alice", "second words")  # queued for alice
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    assert texts_from(laptop, peer_key("bob"), "bob") == ["first words", "second words"]
    assert laptop.unread(peer_key("bob")) == 2


@pytest.mark.parametrize("how", ["restart", "new computer"])
def test_a_group_left_counts_no_unread_after_the_next_login(
        qtbot, server, make_engine, tmp_path, how):
    """alice leaves lab with two messages unread (the count goes, as nothing is left to open
    to clear it). Since former members read a group's history, the next login's catch-up
    of lab (restart), or its `conversations` page (new computer), succeeds: the model comes
    back and counts the messages unread again, in the window title's total, with no group
    in the list to open to clear them."""
    alice = make_engine(data_dir=tmp_path / "alice")
    bob = make_engine(data_dir=tmp_path / "bob")
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    lab = lab_with(qtbot, bob, alice)
    for text in ("one", "two"):
        with qtbot.waitSignal(alice.message_received, timeout=10_000):
            bob.send_group("lab", text)
    assert alice.unread(lab) == 2
    with qtbot.waitSignal(alice.group_left, timeout=10_000):
        alice.leave_group("lab")
    assert alice.unread(lab) == 0 and alice.groups.group("lab") is None
    qtbot.waitUntil(lambda: not server.server.store.pending("alice"))  # confirmed
    if how == "restart":
        alice = restart(qtbot, make_engine, alice, server.host, server.port, "alice",
                        data_dir=tmp_path / "alice")
    else:
        alice = restart(qtbot, make_engine, alice, server.host, server.port, "alice",
                        data_dir=tmp_path / "new computer")
    assert alice.groups.group("lab") is None  # (not in the list: nothing to open)
    total = sum(alice.unread(k) for k in alice.conversation_keys())  # the window title
    assert total == 0, {k: alice.unread(k) for k in alice.conversation_keys()}


def test_a_computer_away_fills_the_gap_of_a_group_left_meanwhile(
        qtbot, server, make_engine, tmp_path):
    """The laptop misses two lab messages (away), the desktop gets them and then leaves lab:
    at the laptop's next login its catch-up (a former member reads the history of its
    membership) fills the gap; the group is gone from its list, so nothing counts unread."""
    desktop, laptop, bob = alice_twice_and_bob(qtbot, server, make_engine, tmp_path)
    lab = lab_with(qtbot, bob, desktop)
    qtbot.waitUntil(lambda: laptop.groups.group("lab") is not None
                    and laptop.groups.group("lab").member, timeout=10_000)
    with qtbot.waitSignal(laptop.message_received, timeout=10_000):
        bob.send_group("lab", "zero")
    laptop.mark_read(lab)
    with qtbot.waitSignal(laptop.logged_out, timeout=10_000):
        laptop.logout()
    for text in ("one", "two"):
        with qtbot.waitSignal(desktop.message_received, timeout=10_000):
            bob.send_group("lab", text)
    with qtbot.waitSignal(desktop.group_left, timeout=10_000):
        desktop.leave_group("lab")
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    assert texts_from(laptop, lab, "bob") == ["zero", "one", "two"]
    assert laptop.groups.group("lab") is None
    assert laptop.unread(lab) == 0


def test_a_conversation_opened_empty_catches_up_after_a_restart(
        qtbot, server, make_engine, tmp_path):
    """The laptop opened its (empty) conversation with charlie: the empty newest page set
    its cursor to 0, with nothing cached. The app quits; charlie writes, the desktop gets and
    confirms it. At the laptop's next login the catch-up skips charlie (it goes over the
    cached conversations and open windows only), and so does the `conversations` answer
    (charlie has a cursor): no message, no unread count, until alice opens it herself."""
    desktop = make_engine(data_dir=tmp_path / "desktop")
    laptop = make_engine(data_dir=tmp_path / "laptop")
    charlie = make_engine(data_dir=tmp_path / "charlie")
    for engine, user in ((desktop, "alice"), (laptop, "alice"), (charlie, "charlie")):
        login(qtbot, engine, server.host, server.port, user)
    with qtbot.waitSignal(laptop.history_loaded, timeout=10_000):
        laptop.conversation(peer_key("charlie")).fetchMore()  # empty: cursor 0
    assert laptop.store.get_meta("resume:charlie") == "0"
    laptop.close()
    laptop.store.close()
    with qtbot.waitSignal(desktop.message_received, timeout=10_000):
        charlie.send_unicast("alice", "hello laptop?")
    qtbot.waitUntil(lambda: not server.server.store.pending("alice"))  # confirmed
    laptop = make_engine(data_dir=tmp_path / "laptop")
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")
    assert laptop.store.count(peer_key("charlie")) == 1
    assert laptop.unread(peer_key("charlie")) == 1


def test_a_new_account_does_not_count_older_broadcasts_as_unread(qtbot, server, make_engine):
    """A new account's first login fetches Everyone's newest page (the `conversations` list
    names it): every broadcast from before the account existed counted as unread (a soak
    hunt). They are history; one sent after the account came is news."""
    alice = make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    with qtbot.waitSignal(alice.message_acked, timeout=5000):
        alice.send_broadcast("old news")
    zoe = make_engine()
    with qtbot.waitSignal(zoe.resumed, timeout=10_000):
        with qtbot.waitSignal(zoe.login_succeeded, timeout=10_000):
            zoe.connect_to(server.host, server.port)
            zoe.register("zoe", "zoe-secret")
    assert texts_from(zoe, EVERYONE, "alice") == ["old news"]  # shown, as history
    assert zoe.unread(EVERYONE) == 0
    with qtbot.waitSignal(zoe.message_received, timeout=5000):
        alice.send_broadcast("fresh news")
    assert zoe.unread(EVERYONE) == 1

@contextlib.contextmanager
def store_held_elsewhere(path: Path):
    """Another app (a process of its own) has the local store at ``path`` open meanwhile."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from messenger.client.localstore import "
         "LocalStore; s = LocalStore(sys.argv[1]); print('open', flush=True); "
         "sys.stdin.read(); s.close()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(messenger.__file__).parents[1])})
    try:
        assert holder.stdout.readline().strip() == "open"
        yield
    finally:
        holder.communicate("", timeout=10)


def refused_as_in_use(qtbot, engine: ClientEngine, server, user: str) -> None:
    with qtbot.waitSignal(engine.login_failed, timeout=10_000) as refused:
        engine.connect_to(server.host, server.port)
        engine.login(user, f"{user}123")
    code, message = refused.args
    assert code == LOCAL_STORE and "already open in another Messenger window" in message
    assert not engine.logged_in and engine.store is None
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_a_second_app_on_the_same_account_and_folder_is_refused(qtbot, server, make_engine,
                                                                tmp_path):
    """Two apps of one account on one data folder each showed about half of what came (each
    took what the other had cached first as seen; a client hunt): while another process has
    the account's store open, a login ends with a clear reason; once it quits, it works."""
    home = tmp_path / "home"
    second = make_engine(data_dir=home)
    with store_held_elsewhere(store_path(home, server.host, server.port, "alice")):
        refused_as_in_use(qtbot, second, server, "alice")
    login(qtbot, second, server.host, server.port, "alice")
    assert second.store is not None


def test_a_refused_login_leaves_nothing_of_its_account_to_the_next(qtbot, server,
                                                                  make_engine, tmp_path):
    """The server sends an account's queue and waiting offers right behind the login's
    ok: after a login refused here (the store in use), they were shown to the next account
    logged in from the same window — bob's private messages to alice with their unread
    count, and alice's file offer in charlie's Transfers (a hunt)."""
    home = tmp_path / "home"
    bob, laptop = make_engine(), make_engine(data_dir=tmp_path / "laptop")
    login(qtbot, bob, server.host, server.port, "bob")
    login(qtbot, laptop, server.host, server.port, "alice")
    with qtbot.waitSignal(laptop.transfer_offered, timeout=5000):
        bob.offer_transfer("alice", "for-alice-only.pdf", 10, "ab" * 32, "", "127.0.0.1", 9)
    laptop.close()
    qtbot.waitUntil(lambda: laptop.state is ConnectionState.DISCONNECTED)
    for n in range(3):
        with qtbot.waitSignal(bob.message_acked, timeout=5000):
            bob.send_unicast("alice", f"private note {n} for alice")
    second = make_engine(data_dir=home)
    with store_held_elsewhere(store_path(home, server.host, server.port, "alice")):
        refused_as_in_use(qtbot, second, server, "alice")
        with qtbot.waitSignal(second.resumed, timeout=10_000):
            with qtbot.waitSignal(second.login_succeeded, timeout=10_000):
                second.login("charlie", "charlie123")
    shown = [i.text for k in second.conversation_keys() for i in second.conversation(k).items()]
    assert not any("alice" in t for t in shown), shown
    assert not any(second.unread(k) for k in second.conversation_keys())
    assert second.take_early_transfer_events() == []
    with qtbot.waitSignal(laptop.resumed, timeout=10_000):
        login(qtbot, laptop, server.host, server.port, "alice")  # none of it was lost
    assert texts_from(laptop, peer_key("bob"), "bob") == [
        f"private note {n} for alice" for n in range(3)]


def test_a_damaged_cache_is_set_aside_and_filled_again_from_the_server(
        qtbot, server, make_engine, tmp_path):
    """A damaged cache hung the login on "Logging in…" for good while the messages that
    came were confirmed, stored nowhere (a client hunt): it is set aside, a new one is made,
    Everyone says so, and the history comes again from the server."""
    alice, bob = make_engine(data_dir=tmp_path / "home"), make_engine()
    login(qtbot, bob, server.host, server.port, "bob")
    login(qtbot, alice, server.host, server.port, "alice")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "before the damage")
    path = alice.store.path
    alice.close()
    alice.close_store()
    Path(f"{path}-wal").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 200)
    bob.send_unicast("alice", "while it was closed")
    again = make_engine(data_dir=tmp_path / "home")
    with qtbot.waitSignal(again.resumed, timeout=10_000):
        login(qtbot, again, server.host, server.port, "alice")
    notices = [i.text for i in again.conversation(EVERYONE).items()]
    assert any("were damaged" in t and ".damaged-" in t for t in notices), notices
    assert len(list(path.parent.glob(f"{path.name}.damaged-*"))) == 1
    model = again.conversation("bob")
    qtbot.waitUntil(lambda: [i.text for i in model.items()] == [
        "before the damage", "while it was closed"], timeout=10_000)


def _burst(client, to: str, count: int) -> Ok:
    """``count`` unicasts from wire client ``client`` to ``to``; the last one's ``ok``."""
    first = client.next_id()
    for i in range(count):
        client.send(Send(id=first + i, client_msg_id=f"{client.next_id()}-{i}",
                         scope="unicast", to=[to], text=f"m{i}"))
    last = client.reply(first + count - 1)
    assert isinstance(last, Ok)
    return last


def test_reads_and_edits_fit_a_server_with_a_small_max_frame(qtbot, make_server, make_engine):
    """On a server started with a small (valid) ``--max-frame``, a ``read`` of 900 seqs was
    too large: the server closed the link, the app reconnected and sent it again, for good
    (a review). Reads and deliveries go in batches that fit; an edit that does not fit is
    refused here, with a notice, and the link stays."""
    server = make_server(demo=True, max_frame=4096)  # (--max-frame takes 4096 and up)
    alice = connect_as(qtbot, server, "alice", "alice123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    count = 900  # (within the default send burst)
    _burst(charlie, "alice", count)  # (other traffic first: bob's seqs have four digits)
    last = _burst(alice, "bob", count)
    bob = make_engine()
    reconnects: list[float] = []
    bob.reconnect_scheduled.connect(reconnects.append)
    login(qtbot, bob, server.host, server.port, "bob")
    qtbot.waitUntil(lambda: bob.unread(peer_key("alice")) == count, timeout=20_000)
    bob.mark_read(peer_key("alice"))
    alice.wait_for(lambda f: isinstance(f, Receipt) and f.seq == last.seq
                   and f.state == "read", timeout=10_000)
    with qtbot.waitSignal(bob.message_acked, timeout=10_000):
        bob.send_unicast("alice", "short")
    own = next(i for i in bob.conversation(peer_key("alice")).items() if i.text == "short")
    with qtbot.waitSignal(bob.request_failed, timeout=5_000) as failed:
        assert not bob.edit(own.seq, peer_key("alice"), "\u00e9" * 3_000)
    assert failed.args[1] == ErrorCode.FRAME_TOO_LARGE
    notices = [i.text for i in bob.conversation(peer_key("alice")).items()]
    assert any(t.startswith("Not edited: the new text is too large for this server")
               for t in notices), notices
    assert bob.logged_in and not reconnects


def restarted(qtbot, make_server, server, *engines: ClientEngine):
    """A server on ``server``'s data folder and port again, and ``engines`` logged in to
    it (they were logged out by its stop)."""
    again = make_server(demo=True, data_dir=server.data_dir, port=server.port)
    for engine in engines:
        engine.reconnect_now()
    qtbot.waitUntil(lambda: all(e.logged_in for e in engines), timeout=20_000)
    return again


def sends_each(qtbot, sender: ClientEngine, to: ClientEngine, texts: list[str]) -> None:
    """``sender`` sends ``texts`` to ``to``'s user one by one, each waited for there."""
    for text in texts:
        with qtbot.waitSignal(to.message_received, timeout=10_000):
            sender.send_unicast(to.user, text)


def test_a_server_with_a_new_database_is_not_taken_for_the_old_one(
        qtbot, make_server, make_engine, tmp_path):
    """A server whose database was reset (or restored, or reinstalled) at the same address
    numbers messages from 1 again: the app took new messages whose seq it had cached as
    seen, confirmed them, and never showed them, while the sender saw "delivered" (an
    operator hunt). The old cache is set aside, the conversations start again, and what
    was typed meanwhile is sent."""
    server = make_server(demo=True)
    alice, bob = make_engine(data_dir=tmp_path / "home"), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    for i in range(3):
        with qtbot.waitSignal(alice.message_received, timeout=10_000):
            bob.send_unicast("alice", f"before {i}")
    path = alice.store.path
    server.close()
    qtbot.waitUntil(lambda: not alice.logged_in and not bob.logged_in, timeout=20_000)
    alice.send_unicast("bob", "typed while it was down")
    for part in server.data_dir.glob("messenger.db*"):
        part.unlink()  # (the operator starts over; the certificate stays)
    restarted(qtbot, make_server, server, alice, bob)
    qtbot.waitUntil(lambda: texts_from(bob, peer_key("alice"), "alice")[-1:] == [
        "typed while it was down"], timeout=10_000)
    sends_each(qtbot, bob, alice, [f"after {i}" for i in range(3)])
    qtbot.waitUntil(lambda: texts_from(alice, peer_key("bob"), "bob") == [
        "after 0", "after 1", "after 2"], timeout=10_000)
    notices = [i.text for i in alice.conversation(EVERYONE).items()]
    assert any("has another message database" in t for t in notices), notices
    assert len(list(path.parent.glob(f"{path.name}.server-reset-*"))) == 1


def test_a_server_reset_met_at_another_address_sets_the_old_store_aside_all_the_same(
        qtbot, make_server, make_engine, tmp_path):
    """The store is kept under the server's home (the address its certificate was first met
    at); a reset met when it is typed another way ("localhost") still sets the home's
    store aside and sends what was typed meanwhile (it waited there unsent otherwise)."""
    server = make_server(demo=True)
    alice, bob = make_engine(data_dir=tmp_path / "home"), make_engine()
    login(qtbot, alice, "127.0.0.1", server.port, "alice")
    path = alice.store.path
    server.close()
    qtbot.waitUntil(lambda: not alice.logged_in, timeout=20_000)
    assert alice.send_unicast("bob", "typed while it was down")
    alice.close()
    for part in server.data_dir.glob("messenger.db*"):
        part.unlink()  # (the operator starts over; the certificate stays)
    again = make_server(demo=True, data_dir=server.data_dir, port=server.port)
    alice = make_engine(data_dir=tmp_path / "home")
    login(qtbot, alice, "localhost", again.port, "alice")
    assert alice.home == ("127.0.0.1", again.port) and alice.store.path == path
    login(qtbot, bob, again.host, again.port, "bob")
    qtbot.waitUntil(lambda: texts_from(bob, peer_key("alice"), "alice") == [
        "typed while it was down"], timeout=10_000)
    assert len(list(Path(path).parent.glob(f"{Path(path).name}.server-reset-*[0-9]"))) == 1


def test_a_store_kept_under_another_address_of_the_same_server_moves_to_its_home(
        qtbot, server, make_engine, tmp_path):
    """A store made under the address typed before the app knew servers by their
    certificate (an older version) holds this server's messages, one of them typed offline:
    logging in there again moves its unsent messages into the home's store (they go now),
    and sets it aside."""
    home = tmp_path / "home"
    alice = make_engine(data_dir=home)
    login(qtbot, alice, "localhost", server.port, "alice")
    typed_path = Path(alice.store.path)
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    (home / "accounts" / "servers.json").unlink()  # (as an older app left it)
    store = LocalStore(typed_path)  # a message typed there while the server was away
    store.enqueue(peer_key("bob"), "unicast", ["bob"], "typed under localhost")
    store.close()
    first = make_engine(data_dir=home)
    login(qtbot, first, "127.0.0.1", server.port, "alice")  # (its home from now on)
    assert first.store.outbox() == []
    first.close()
    qtbot.waitUntil(lambda: first.state is ConnectionState.DISCONNECTED)
    bob = make_engine()
    login(qtbot, bob, server.host, server.port, "bob")
    again = make_engine(data_dir=home)
    login(qtbot, again, "localhost", server.port, "alice")
    assert again.home == ("127.0.0.1", server.port)
    assert again.moved_from == ("localhost", server.port)
    qtbot.waitUntil(lambda: texts_from(bob, peer_key("alice"), "alice") == [
        "typed under localhost"], timeout=10_000)
    assert not typed_path.exists()
    assert len(list(typed_path.parent.glob(f"{typed_path.name}.moved-*[0-9]"))) == 1


def test_a_damaged_server_homes_file_does_not_strand_the_outbox(qtbot, make_server,
                                                                make_engine, tmp_path):
    """servers.json (which address a server's stores are kept under) was written by a
    rename without an fsync, so a power loss could leave it empty, and an unreadable map
    was taken as empty and overwritten at the next login: alice's home under 127.0.0.1,
    holding a message typed offline, was no longer hers when she next logged in as
    "localhost" (a new, empty store was made there), and her message was never sent. The
    damaged map is set aside and rebuilt from the pins and the stores."""
    server = make_server(demo=True)
    port = server.port
    app = tmp_path / "app"
    alice = make_engine(data_dir=app)
    login(qtbot, alice, "127.0.0.1", port, "alice")
    server.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    alice.send_unicast("bob", "typed offline")
    alice.close()
    alice.store.close()
    homes = app / "accounts" / "servers.json"
    homes.write_bytes(b"")  # (a power loss after its rename)
    again_server = make_server(data_dir=server.data_dir, port=port)
    bob = make_engine()
    login(qtbot, bob, again_server.host, port, "bob")
    again = make_engine(data_dir=app)
    login(qtbot, again, "localhost", port, "alice")
    assert again.home == ("127.0.0.1", port)
    qtbot.waitUntil(lambda: texts_from(bob, peer_key("alice"), "alice") == ["typed offline"],
                    timeout=10_000)
    assert len(list(homes.parent.glob("servers.json.damaged-*"))) == 1
    assert not (app / "accounts" / f"localhost_{port}").exists()


def talked_then_stopped(qtbot, make_server, make_engine, tmp_path, text: str):
    """A server, alice (with a data dir) and bob logged in, bob's ``text`` received, then
    the server stopped: returns ``(server, alice, bob)``."""
    server = make_server(demo=True)
    alice, bob = make_engine(data_dir=tmp_path / "home"), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", text)
    server.close()
    qtbot.waitUntil(lambda: not alice.logged_in and not bob.logged_in, timeout=20_000)
    return server, alice, bob


def backed_up(qtbot, make_server, make_engine, tmp_path):
    """:func:`talked_then_stopped` with "in the backup", then the server's database copied
    (the operator's nightly copy): returns ``(server, alice, bob, backup folder)``."""
    server, alice, bob = talked_then_stopped(qtbot, make_server, make_engine, tmp_path,
                                             "in the backup")
    backup = tmp_path / "backup"
    backup.mkdir()
    for part in server.data_dir.glob("messenger.db*"):
        shutil.copy2(part, backup / part.name)  # (the operator's nightly copy)
    return server, alice, bob, backup


def restore(server, backup) -> None:
    """The operator puts the copy back (the server stopped)."""
    for part in server.data_dir.glob("messenger.db*"):
        part.unlink()
    for part in backup.iterdir():
        shutil.copy2(part, server.data_dir / part.name)


def test_a_server_restored_from_an_older_copy_is_not_taken_for_the_one_cached(
        qtbot, make_server, make_engine, tmp_path):
    """The same database restored from a backup says the same instance, but hands out
    again the numbers of what came after the copy: the app would take those as seen. Its
    cache is ahead of the server's highest seq: set aside, as for a new database. The
    sender's app, whose cache is ahead too, sends again its messages the server lost."""
    server, alice, bob, backup = backed_up(qtbot, make_server, make_engine, tmp_path)
    again = restarted(qtbot, make_server, server, alice, bob)
    sends_each(qtbot, bob, alice, [f"lost with the disk {i}" for i in range(3)])
    again.close()
    qtbot.waitUntil(lambda: not alice.logged_in and not bob.logged_in, timeout=20_000)
    restore(server, backup)
    restarted(qtbot, make_server, server, alice, bob)
    qtbot.waitUntil(lambda: not bob.store.outbox(), timeout=10_000)  # (the lost ones)
    sends_each(qtbot, bob, alice, [f"after the restore {i}" for i in range(3)])
    qtbot.waitUntil(lambda: texts_from(alice, peer_key("bob"), "bob") == [
        "in the backup", *(f"lost with the disk {i}" for i in range(3)),
        *(f"after the restore {i}" for i in range(3))], timeout=10_000)
    notices = [i.text for i in alice.conversation(EVERYONE).items()]
    assert any("has another message database" in t for t in notices), notices


def test_a_cache_written_by_a_newer_app_is_left_alone_and_the_login_says_why(
        qtbot, server, make_engine, tmp_path):
    """After a downgrade, the older app read a newer app's store, and the first value it did
    not know (a ValueError) had the file set aside as damaged, with the newer app's unsent
    messages in it (a review): the login ends with a reason, and the file is untouched."""
    home = tmp_path / "home"
    alice = make_engine(data_dir=home)
    login(qtbot, alice, server.host, server.port, "alice")
    path = alice.store.path
    alice.store.enqueue(peer_key("bob"), "unicast", ["bob"], "typed in the newer app")
    alice.close()
    alice.close_store()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {localstore.SCHEMA_VERSION + 1}")
    db.execute("UPDATE outbox SET state = 'scheduled'")  # (a state only the newer app knows)
    db.commit()
    db.close()
    again = make_engine(data_dir=home)
    with qtbot.waitSignal(again.login_failed, timeout=10_000) as refused:
        again.connect_to(server.host, server.port)
        again.login("alice", "alice123")
    code, message = refused.args
    assert code == LOCAL_STORE and "newer version of Messenger" in message, message
    assert not again.logged_in and again.store is None
    assert not list(path.parent.glob(f"{path.name}.damaged-*"))
    db = sqlite3.connect(path)
    assert db.execute("SELECT text, state FROM outbox").fetchall() == [
        ("typed in the newer app", "scheduled")]
    db.close()


@pytest.mark.parametrize("online", [True, False])
def test_a_read_is_kept_to_send_before_the_rows_say_read_here(qtbot, server, make_engine,
                                                              online):
    """A crash between marking rows "read here" (never sent again) and keeping the receipts
    not known to have arrived lost them for good: the sender's ticks stayed delivered and
    the account's other computer kept them unread (a client hunt). They are kept first."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "read me")
    if not online:
        alice.close()
        qtbot.waitUntil(lambda: not alice.logged_in)
    writes: list[str] = []
    alice.store._db.set_trace_callback(
        lambda sql: writes.append(sql) if sql.startswith(("UPDATE", "INSERT")) else None)
    alice.mark_read(peer_key("bob"))
    alice.store._db.set_trace_callback(None)
    kept = next(i for i, sql in enumerate(writes) if "reads_unconfirmed" in sql or
                "'reads_unconfirmed'" in sql)
    marked = next(i for i, sql in enumerate(writes) if "SET state = 'read'" in sql)
    assert kept < marked, writes


def damage_page_holding(path, text: bytes) -> None:
    """Zero the page of the file that holds ``text`` (a bad sector, a torn write)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = path.read_bytes()
    at = data.index(text) // page_size * page_size
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(bytes(page_size))


def test_a_store_damaged_in_one_page_ends_the_login_with_a_reason_or_sets_it_aside(
        qtbot, server, make_engine, tmp_path):
    """One page damaged (header and schema intact: a bad sector, a torn write): the store
    opened, the login then failed half-way reading the cache and stayed on "Logging in…"
    for good, the outbox unsent (a client hunt). The whole file is checked at login."""
    bob = connect_as(qtbot, server, "bob", "bob123")
    first = bob.next_id()
    for i in range(100):  # (enough for the table to span pages)
        bob.send(Send(id=first + i, client_msg_id=f"{bob.next_id()}-{i}", scope="unicast",
                      to=["alice"], text=f"message {i} " + "x" * 200))
    bob.reply(first + 99)
    alice = make_engine(data_dir=tmp_path / "home")
    with qtbot.waitSignal(alice.resumed, timeout=10_000):
        login(qtbot, alice, server.host, server.port, "alice")
    qtbot.waitUntil(lambda: alice.store.count(peer_key("bob")) == 100, timeout=10_000)
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    path = alice.store.path
    alice.close_store()
    damage_page_holding(path, b"message 50 x")

    again = make_engine(data_dir=tmp_path / "home")
    ended: list[str] = []
    again.login_succeeded.connect(lambda user: ended.append("succeeded"))
    again.login_failed.connect(lambda code, message: ended.append(f"failed: {message}"))
    again.connect_to(server.host, server.port)
    again.login("alice", "alice123")
    # The login ends one way or the other: it does not stay on "Logging in…".
    qtbot.waitUntil(lambda: bool(ended), timeout=10_000)
    assert ended == ["succeeded"]
    notices = [i.text for i in again.conversation(EVERYONE).items()]
    assert any("damaged" in t and "no message waited" in t for t in notices), notices
    qtbot.waitUntil(lambda: again.store.count(peer_key("bob")) > 0, timeout=10_000)


def test_messages_typed_offline_survive_a_cache_set_aside_as_damaged(
        qtbot, make_server, make_engine, tmp_path):
    """The history cache is damaged (its ``messages`` table), its outbox is not: what was
    typed offline was lost with the set-aside file (a client hunt); it is carried over."""
    server = make_server(demo=True)
    alice, bob = make_engine(data_dir=tmp_path / "home"), make_engine()
    login(qtbot, bob, server.host, server.port, "bob")
    login(qtbot, alice, server.host, server.port, "alice")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "before the damage")
    server.close()
    qtbot.waitUntil(lambda: not alice.logged_in, timeout=10_000)
    assert alice.send_unicast("bob", "typed offline, then the app was closed")
    path = alice.store.path
    alice.close()
    alice.close_store()
    db = sqlite3.connect(path)  # (the outbox row is there and readable)
    assert db.execute("SELECT text FROM outbox").fetchall() == [
        ("typed offline, then the app was closed",)]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchone()[0]
    db.close()
    with open(path, "r+b") as f:  # the history cache's table is damaged
        f.seek((root - 1) * page_size)
        f.write(bytes(page_size))

    make_server(demo=True, data_dir=server.data_dir, port=server.port)  # (back up)
    bob.reconnect_now()
    again = make_engine(data_dir=tmp_path / "home")
    with qtbot.waitSignal(again.resumed, timeout=10_000):
        login(qtbot, again, server.host, server.port, "alice")
    notices = [i.text for i in again.conversation(EVERYONE).items()]
    assert any("damaged" in t and "the 1 messages not sent yet were kept" in t
               for t in notices), notices
    qtbot.waitUntil(lambda: bob.logged_in, timeout=10_000)
    # Sent once the app is back (bob gets it), not left behind in the set-aside file.
    qtbot.waitUntil(lambda: any(
        i.text == "typed offline, then the app was closed"
        for i in bob.conversation(peer_key("alice")).items()), timeout=5_000)


def own_items(engine, key):
    return [(i.text, i.state) for i in engine.conversation(key).items()
            if i.kind is MessageKind.OWN]


def test_a_message_typed_offline_shows_in_its_conversation_after_a_server_reset(
        qtbot, make_server, make_engine, tmp_path):
    """The server's database was reset while alice typed offline: her message was sent (bob
    got it) but gone from her own conversation until a restart, so she typed it again (a
    client hunt): the outbox is carried over before the conversations are filled."""
    server, alice, bob = talked_then_stopped(qtbot, make_server, make_engine, tmp_path,
                                             "before the reset")
    alice.send_unicast("bob", "typed while it was down")
    assert own_items(alice, peer_key("bob")) == [("typed while it was down", DeliveryState.PENDING)]
    for part in server.data_dir.glob("messenger.db*"):
        part.unlink()  # (the operator starts over)
    make_server(demo=True, data_dir=server.data_dir, port=server.port)
    alice.reconnect_now()
    bob.reconnect_now()
    qtbot.waitUntil(lambda: alice.logged_in and bob.logged_in, timeout=20_000)
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=10_000)  # sent
    qtbot.waitUntil(lambda: [i.text for i in bob.conversation(peer_key("alice")).items()
                             if i.kind is MessageKind.OTHER] == ["typed while it was down"],
                    timeout=10_000)
    # alice sees what she sent, with its ticks, where she typed it.
    texts = [t for t, _ in own_items(alice, peer_key("bob"))]
    assert texts == ["typed while it was down"], alice.conversation(peer_key("bob")).items()


def test_restored_server_that_moved_past_the_cache_still_shows_every_new_message(
        qtbot, make_server, make_engine, tmp_path):
    """Restored from an older copy, the server handed out more seqs (others' outboxes
    flushed first) than the app had cached since: ``seq_high`` did not show the rewind, and
    new messages whose seq was cached were taken as seen, never shown, yet confirmed (a
    client hunt). A seq that comes as another message sets the cache aside."""
    server, alice, bob, backup = backed_up(qtbot, make_server, make_engine, tmp_path)
    again = restarted(qtbot, make_server, server, alice)
    charlie = make_engine()
    login(qtbot, charlie, server.host, server.port, "charlie")
    sends_each(qtbot, charlie, alice, [f"lost with the disk {i}" for i in range(3)])
    again.close()
    qtbot.waitUntil(lambda: not alice.logged_in and not charlie.logged_in, timeout=20_000)
    alice.close()  # (alice's computer is off while the operator restores)
    charlie.close()  # (and charlie's for good)
    restore(server, backup)
    restarted(qtbot, make_server, server, bob)
    after = [f"after the restore {i}" for i in range(6)]  # (more than were lost)
    for text in after:
        with qtbot.waitSignal(bob.message_acked, timeout=10_000):
            bob.send_unicast("alice", text)
    again = make_engine(data_dir=tmp_path / "home")
    with qtbot.waitSignal(again.resumed, timeout=10_000):
        login(qtbot, again, server.host, server.port, "alice")
    # Every message bob sent after the restore is on alice's screen (bob sees them all
    # "delivered"); charlie's are in the set-aside cache.
    qtbot.waitUntil(lambda: texts_from(again, peer_key("bob"), "bob")[-6:] == after,
                    timeout=10_000)
    assert not texts_from(again, peer_key("charlie"), "charlie")
    notices = [i.text for i in again.conversation(EVERYONE).items()]
    assert any("has another message database" in t for t in notices), notices


def test_own_messages_the_restored_server_lost_are_sent_again(
        qtbot, make_server, make_engine, tmp_path):
    """alice's message was stored (✓) after the operator's last copy; the server is
    restored from that copy: the app, which still has it, sends it again rather than let it
    vanish from both sides."""
    server, alice, bob, backup = backed_up(qtbot, make_server, make_engine, tmp_path)
    again = make_server(demo=True, data_dir=server.data_dir, port=server.port)
    alice.reconnect_now()
    qtbot.waitUntil(lambda: alice.logged_in, timeout=20_000)
    with qtbot.waitSignal(alice.message_acked, timeout=10_000):
        alice.send_unicast("bob", "stored after the copy")
    again.close()
    qtbot.waitUntil(lambda: not alice.logged_in, timeout=20_000)
    restore(server, backup)
    make_server(demo=True, data_dir=server.data_dir, port=server.port)
    alice.reconnect_now()
    bob.reconnect_now()
    qtbot.waitUntil(lambda: alice.logged_in and bob.logged_in, timeout=20_000)
    qtbot.waitUntil(lambda: "stored after the copy" in texts_from(
        bob, peer_key("alice"), "alice"), timeout=5_000)


def test_every_own_message_the_restored_server_lost_is_sent_again(
        qtbot, make_server, make_engine, tmp_path):
    """(A review.) after a rewind the app sends again only its own messages above
    ``ok.seq_high`` (or above the clashing seq - 1). The restored server lost everything above
    the copy, though: an own message whose number the restored server had handed out again (to
    someone else) before this app logged in is neither on the server nor sent again."""
    server, alice, bob, backup = backed_up(qtbot, make_server, make_engine, tmp_path)
    again = make_server(demo=True, data_dir=server.data_dir, port=server.port)
    alice.reconnect_now()
    qtbot.waitUntil(lambda: alice.logged_in, timeout=20_000)
    for text in ("stored after the copy 1", "stored after the copy 2"):
        with qtbot.waitSignal(alice.message_acked, timeout=10_000):
            alice.send_unicast("bob", text)
    again.close()
    qtbot.waitUntil(lambda: not alice.logged_in, timeout=20_000)
    restore(server, backup)
    make_server(demo=True, data_dir=server.data_dir, port=server.port)
    # charlie is back first and writes to bob: the restored server hands out the first
    # number after the copy again (alice's "copy 1" had it).
    charlie = make_engine()
    login(qtbot, charlie, server.host, server.port, "charlie")
    bob.reconnect_now()
    qtbot.waitUntil(lambda: bob.logged_in, timeout=20_000)
    with qtbot.waitSignal(bob.message_received, timeout=10_000):
        charlie.send_unicast("bob", "first after the restore")
    alice.reconnect_now()
    qtbot.waitUntil(lambda: alice.logged_in, timeout=20_000)
    qtbot.waitUntil(lambda: "stored after the copy 2" in texts_from(
        bob, peer_key("alice"), "alice"), timeout=10_000)
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=10_000)
    assert "stored after the copy 1" in texts_from(bob, peer_key("alice"), "alice")


def test_a_big_backlog_comes_a_slice_per_turn_once_in_order_and_confirmed(
        qtbot, make_server, make_engine):
    """bob was away while alice wrote him 1,500 messages (and corrected one of them); at his
    login the server's queue reaches the app in large reads. Every message shows once, in
    order, counted unread, the corrected one with its new text, alice is told each was
    delivered, and no turn of the event loop handles more than a slice of them (cached in
    one transaction), so the window keeps answering.

    Each frame of a read was handled in one turn of the event loop, each message cached in
    its own transaction: 14,000 messages froze the window for 2–3 s (a hunt; the figures
    are in docs/performance.md, from benchmarks/backlog.py)."""
    n = 1500
    server = make_server(demo=True, max_send_rate=0)
    alice = connect_as(qtbot, server, "alice", "alice123")
    first = alice.next_id()
    for i in range(n):
        alice.send(Send(id=first + i, client_msg_id=f"m{i:04}", scope="unicast", to=["bob"],
                        text=f"message {i}"))
        alice.next_id()
    qtbot.waitUntil(lambda: sum(isinstance(f, Ok) for f in alice.frames) == n,
                    timeout=60_000)
    seqs = {f.id - first: f.seq for f in alice.frames if isinstance(f, Ok) and f.seq}
    assert sorted(seqs) == list(range(n))
    assert isinstance(alice.request(Edit, seq=seqs[700], client_msg_id="e700",
                                    text="message 700, corrected"), Ok)

    bob = make_engine()
    bob._conn.frames_per_turn = 50
    turn = [0]
    per_turn: dict[int, int] = {}
    ticker = QTimer()  # (a 0 ms timer: each of its ticks is a new turn of the event loop)
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: turn.__setitem__(0, turn[0] + 1))

    def count(frame: object) -> None:
        if isinstance(frame, Message):
            per_turn[turn[0]] = per_turn.get(turn[0], 0) + 1

    bob._conn.frame_received.connect(count)
    transactions: list[str] = []  # (each BEGIN on bob's local store from his login on)
    bob.login_succeeded.connect(lambda _: bob.store._db.set_trace_callback(
        lambda sql: transactions.append(sql) if sql.startswith("BEGIN") else None))
    ticker.start()
    login(qtbot, bob, server.host, server.port, "bob")
    qtbot.waitUntil(lambda: bob.unread(peer_key("alice")) == n, timeout=60_000)

    def shown() -> list:
        return [i for i in bob.conversation(peer_key("alice")).items()
                if i.kind is MessageKind.OTHER]

    qtbot.waitUntil(lambda: shown()[700].text == "message 700, corrected")  # (if it came)
    ticker.stop()
    assert [i.seq for i in shown()] == [seqs[i] for i in range(n)]
    assert [i.text for i in shown()] == [f"message {i}" if i != 700 else
                                         "message 700, corrected" for i in range(n)]
    # One slice a turn; a ticker's turn may see the end of one and the start of the next.
    assert max(per_turn.values()) <= 2 * bob._conn.frames_per_turn, per_turn
    # The cache takes each run of a turn in one transaction (it took one a message; about
    # one a turn now, a turn that takes several reads one each).
    assert len(transactions) < n / 10, (len(transactions), len(per_turn))
    qtbot.waitUntil(lambda: {f.seq for f in alice.frames if isinstance(f, Receipt)
                             and f.state == "delivered"} >= set(seqs.values()),
                    timeout=20_000)


def test_a_new_server_at_the_old_address_of_a_moved_one_gets_its_own_store(
        qtbot, make_server, make_engine, tmp_path):
    """Server A moved to another port (the app met it there: its key, pinned there too,
    kept its store at the first address), and server B, another one with its own alice
    and bob, took A's old port. Logging in to B there (its new key trusted after the
    warning) took A's store for B's: set aside as a "reset" of B, and the message alice
    had typed offline for A's bob went to B's bob; back on A, her history and choices
    were gone. B now gets a home of its own, and A keeps its store and settings."""
    a = make_server(demo=True)
    port, app = a.port, tmp_path / "app"
    alice = make_engine(data_dir=app)
    login(qtbot, alice, "127.0.0.1", port, "alice")
    path = Path(alice.store.path)
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    a.close()
    moved = make_server(demo=True, data_dir=a.data_dir)  # A, at another port
    alice = make_engine(data_dir=app)
    login(qtbot, alice, "127.0.0.1", moved.port, "alice")
    assert alice.home == ("127.0.0.1", port)
    moved.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    assert alice.send_unicast("bob", "for the bob of A")
    alice.close()
    alice.close_store()
    make_server(demo=True, port=port)  # another server (another key) at A's old port
    b_bob, b_alice = make_engine(data_dir=tmp_path / "b_bob"), make_engine(data_dir=app)
    b_alice.pins.remove("127.0.0.1", port)  # (the user forgot the old pin, trusts B's)
    login(qtbot, b_bob, "127.0.0.1", port, "bob")
    login(qtbot, b_alice, "127.0.0.1", port, "alice")
    assert b_alice.home != ("127.0.0.1", port) and Path(b_alice.store.path) != path
    b_alice.close()
    qtbot.waitUntil(lambda: b_alice.state is ConnectionState.DISCONNECTED)
    b_alice.close_store()
    again = make_server(demo=True, data_dir=a.data_dir, port=moved.port)
    a_bob, a_alice = make_engine(data_dir=tmp_path / "a_bob"), make_engine(data_dir=app)
    login(qtbot, a_bob, "127.0.0.1", again.port, "bob")
    login(qtbot, a_alice, "127.0.0.1", again.port, "alice")
    assert a_alice.home == ("127.0.0.1", port) and Path(a_alice.store.path) == path
    qtbot.waitUntil(lambda: texts_from(a_bob, peer_key("alice"), "alice") ==
                    ["for the bob of A"], timeout=10_000)
    assert texts_from(b_bob, peer_key("alice"), "alice") == []


def test_a_server_on_a_new_key_at_its_home_keeps_its_store_though_its_other_name_is_pinned(
        qtbot, make_server, make_engine, tmp_path):
    """The same server (its database) on a new key (its certificate made again), met at its
    home while its other name ("localhost") is still pinned to the old key: its store
    there is still its own, and the message typed offline goes."""
    server = make_server(demo=True)
    port, app = server.port, tmp_path / "app"
    alice = make_engine(data_dir=app)
    login(qtbot, alice, "127.0.0.1", port, "alice")
    path = Path(alice.store.path)
    alice.close()
    qtbot.waitUntil(lambda: alice.state is ConnectionState.DISCONNECTED)
    alice = make_engine(data_dir=app)
    login(qtbot, alice, "localhost", port, "alice")  # (pinned there too)
    server.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    assert alice.send_unicast("bob", "typed while it was down")
    alice.close()
    alice.close_store()
    for name in ("server.crt", "server.key"):
        (server.data_dir / name).unlink()  # (the operator makes a new certificate)
    again = make_server(demo=True, data_dir=server.data_dir, port=port)
    assert again.fingerprint != server.fingerprint
    bob, alice = make_engine(data_dir=tmp_path / "bob"), make_engine(data_dir=app)
    alice.pins.remove("127.0.0.1", port)  # (the user forgot the old pin, trusts the new)
    login(qtbot, bob, "127.0.0.1", port, "bob")
    login(qtbot, alice, "127.0.0.1", port, "alice")
    assert alice.home == ("127.0.0.1", port) and Path(alice.store.path) == path
    qtbot.waitUntil(lambda: texts_from(bob, peer_key("alice"), "alice") == [
        "typed while it was down"], timeout=10_000)


def test_a_server_on_a_new_key_met_at_its_other_name_keeps_its_home(
        qtbot, make_server, make_engine, tmp_path):
    """The same server (its database) on a new key (its certificate made again), met by
    its other name ("localhost"; its home is 127.0.0.1): the new key made "localhost" a
    new home, with a new, empty store, so the message alice had typed offline waited in
    the old home's store for good, and her choices there (read receipts off, mutes, the
    auto-accepted people, drafts, tabs) were gone. The stores of a home that name its
    ``hello.instance`` are its own: that home is the new key's."""
    server = make_server(demo=True)
    port, app = server.port, tmp_path / "app"
    alice = make_engine(data_dir=app)
    login(qtbot, alice, "127.0.0.1", port, "alice")
    path = Path(alice.store.path)
    server.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    assert alice.send_unicast("bob", "typed while it was down")
    alice.close()
    alice.close_store()
    for name in ("server.crt", "server.key"):
        (server.data_dir / name).unlink()  # (the operator makes a new certificate)
    again = make_server(demo=True, data_dir=server.data_dir, port=port)
    assert again.fingerprint != server.fingerprint
    bob, alice = make_engine(data_dir=tmp_path / "bob"), make_engine(data_dir=app)
    login(qtbot, alice, "localhost", port, "alice")  # (not pinned there: a new key)
    assert alice.home == ("127.0.0.1", port) and Path(alice.store.path) == path
    login(qtbot, bob, "localhost", port, "bob")
    qtbot.waitUntil(lambda: texts_from(bob, peer_key("alice"), "alice") == [
        "typed while it was down"], timeout=10_000)
