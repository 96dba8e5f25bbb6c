"""End to end: what the server told someone survives a crash, and what a lost ``ok`` hid
comes back. Real ``messenger --server`` processes (SIGKILLed and started again on the same
port and data dir) and app engines in this process, each with a store of its own."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import shiboken6
from helpers.rawclient import ServerProcess
from PySide6.QtCore import QTimer

from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE, group_key
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.models import DeliveryState, MessageKind
from messenger.protocol import RETRACTED_TEXT

REPO = Path(__file__).resolve().parents[2]


class Server:
    """A ``messenger --server`` process that can be SIGKILLed and started again on the same
    port and data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.procs: list[ServerProcess] = []

    def start(self) -> int:
        proc = ServerProcess([sys.executable, "-m", "messenger", "--server", "--host",
                              "127.0.0.1", "--port", str(self.port), "--data-dir",
                              str(self.data_dir), "--demo"], cwd=REPO)
        self.procs.append(proc)
        _, self.port = proc.start()
        return self.port

    def kill(self) -> None:
        proc = self.procs[-1].proc
        assert proc is not None
        proc.kill()
        proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.proc is not None:
                proc.stop()


@pytest.fixture
def srv(tmp_path):
    server = Server(tmp_path / "srvdata")
    server.start()
    yield server
    server.close()


@pytest.fixture
def apps(qtbot, tmp_path):
    """``apps(user, port, device="")``: an app engine with a data dir of its own (one per
    user and device), logged in."""
    made: list[ClientEngine] = []

    def factory(user: str, port: int, *, device: str = "") -> ClientEngine:
        engine = ClientEngine(backoff=Backoff(0.05, 0.4),
                              data_dir=tmp_path / f"app-{user}{device}")
        made.append(engine)
        with qtbot.waitSignal(engine.login_succeeded, timeout=15_000):
            engine.connect_to("127.0.0.1", port)
            engine.login(user, f"{user}123")
        return engine

    yield factory
    alive = [e for e in made if shiboken6.isValid(e)]
    for engine in alive:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in alive))


def shown(engine: ClientEngine, key: str) -> list[tuple[int | None, str]]:
    """(seq, text) of the chat messages the window shows in ``key``."""
    return [(i.seq, i.text) for i in engine.conversation(key).items()
            if i.kind in (MessageKind.OWN, MessageKind.OTHER)]


def all_shown(engine: ClientEngine, key: str, texts: list[str]) -> bool:
    return set(texts) <= {t for s, t in shown(engine, key) if s is not None}


@pytest.mark.parametrize("how", ["sigkill", "sigkill-2s-later"])
@pytest.mark.parametrize("where", ["private", "group"])
def test_a_read_the_sender_saw_survives_a_server_crash(qtbot, srv, apps, where, how):
    """bob reads alice's messages twice in a row (a second batch right after the first);
    alice sees both batches "read". Then the server crashes (SIGKILL) and starts again, at
    once or after two quiet seconds. What bob read stays read: a new computer of bob's counts
    none of it unread, and a new computer of alice's shows it read. (The server kept the
    second read in memory only, for half a second or, on a quiet server, until the next
    request: after the crash bob had the messages unread again and alice lost the ticks she
    had been shown.)"""
    alice, bob = apps("alice", srv.port), apps("bob", srv.port)
    key_b = "alice" if where == "private" else group_key("lab")
    key_a = "bob" if where == "private" else group_key("lab")
    if where == "group":
        with qtbot.waitSignal(alice.group_joined, timeout=10_000):
            alice.create_group("lab", public=True)
        with qtbot.waitSignal(bob.group_joined, timeout=10_000):
            bob.join_group("lab")

    def send(text: str) -> None:
        if where == "private":
            alice.send_unicast("bob", text)
        else:
            alice.send_group("lab", text)

    def read(item) -> bool:
        return item.state is DeliveryState.READ or (item.counts is not None
                                                    and item.counts[1] >= 1)

    def read_at(engine: ClientEngine, texts: list[str]) -> bool:
        own = {i.text: i for i in engine.conversation(key_a).items()
               if i.kind is MessageKind.OWN}
        return all(t in own and read(own[t]) for t in texts)

    first = [f"first {n}" for n in range(5)]
    second = [f"second {n}" for n in range(5)]
    for batch in (first, second):
        for text in batch:
            send(text)
        qtbot.waitUntil(lambda b=batch: all_shown(bob, key_b, b), timeout=10_000)
        bob.mark_read(key_b)
        qtbot.waitUntil(lambda b=batch: read_at(alice, b), timeout=10_000)
    if how == "sigkill-2s-later":  # a quiet server: nothing happens for two seconds
        later: list[bool] = []
        QTimer.singleShot(2000, lambda: later.append(True))
        qtbot.waitUntil(lambda: bool(later), timeout=5_000)
    srv.kill()
    srv.start()
    qtbot.waitUntil(lambda: bob.logged_in and alice.logged_in, timeout=10_000)
    bob_laptop = apps("bob", srv.port, device="-laptop")
    qtbot.waitUntil(lambda: all_shown(bob_laptop, key_b, first + second), timeout=10_000)
    alice_laptop = apps("alice", srv.port, device="-laptop")
    qtbot.waitUntil(lambda: all_shown(alice_laptop, key_a, first + second), timeout=10_000)
    assert bob_laptop.unread(key_b) == 0, "bob's new computer counts unread what he read"
    not_read = [i.text for i in alice_laptop.conversation(key_a).items()
                if i.kind is MessageKind.OWN and not read(i)]
    assert not not_read, f"alice's new computer shows what bob read as not read: {not_read}"


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_a_change_made_on_the_laptop_while_the_desktops_ok_was_lost_shows_on_the_desktop(
        qtbot, srv, apps, change):
    """alice sends to bob from her desktop; the server stores it, but the link dies before
    the ``ok``. Her laptop got the copy and she edits (or deletes) it there; bob sees that.
    When the desktop is back, its window shows the edited text or "This message was
    deleted." as its cache does (it showed the text as first typed: the catch-up's copy
    stood for the lost ``ok`` and only numbered the pending row)."""
    desktop = apps("alice", srv.port, device="-desktop")
    laptop = apps("alice", srv.port, device="-laptop")
    bob = apps("bob", srv.port)
    desktop.send_unicast("bob", "earlier")  # (the conversation was under way)
    qtbot.waitUntil(lambda: desktop.store is not None and not desktop.store.outbox()
                    and len(shown(laptop, "bob")) == 1, timeout=10_000)
    desktop.send_unicast("bob", "hello at 5")
    desktop._conn._socket.flush()  # on its way to the server, then the link breaks
    desktop._conn._socket.abort()
    qtbot.waitUntil(lambda: desktop.state is ConnectionState.DISCONNECTED)
    desktop._reconnect_timer.stop()  # the desktop stays away while she edits on the laptop
    qtbot.waitUntil(lambda: [t for _, t in shown(laptop, "bob")] == ["earlier", "hello at 5"],
                    timeout=10_000)
    seq = shown(laptop, "bob")[1][0]
    assert seq is not None
    if change == "edit":
        laptop.edit(seq, "bob", "hello at 6")
        now = "hello at 6"
    else:
        laptop.retract(seq, "bob")
        now = RETRACTED_TEXT
    qtbot.waitUntil(lambda: [t for _, t in shown(bob, "alice")] == ["earlier", now],
                    timeout=10_000)
    with qtbot.waitSignal(desktop.resumed, timeout=10_000):
        assert desktop.reconnect_now()
    qtbot.waitUntil(lambda: desktop.store is not None and not desktop.store.outbox(),
                    timeout=10_000)
    assert shown(desktop, "bob")[1:] == [(seq, now)]


def test_edits_and_deletes_in_flight_when_the_server_is_killed_all_land_once(qtbot, srv, apps):
    """alice edits and deletes her messages (private, multicast, group, Everyone) in a burst;
    the server is SIGKILLed a few ms into it. After the restart every app shows each message
    once, with its last edit or as deleted, the same as its cache, and alice's app has every
    change answered (nothing left to redo) and no error line."""
    rng = random.Random(1)
    alice, bob, charlie = (apps(u, srv.port) for u in ("alice", "bob", "charlie"))
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lab", public=True)
    for member in (bob, charlie):
        with qtbot.waitSignal(member.group_joined, timeout=10_000):
            member.join_group("lab")
    lab = group_key("lab")
    sent: list[tuple[str | None, str]] = []  # (client_msg_id, key at alice)
    for n in range(40):
        text = f"m{n:02d}"
        if n % 4 == 0:
            sent.append((alice.send_unicast("bob", text), "bob"))
        elif n % 4 == 1:
            sent.append((alice.send_multicast(["bob", "charlie"], text), "bob"))
        elif n % 4 == 2:
            sent.append((alice.send_group("lab", text), lab))
        else:
            sent.append((alice.send_broadcast(text), EVERYONE))
    qtbot.waitUntil(lambda: alice.store is not None and not alice.store.outbox(),
                    timeout=10_000)
    final: dict[int, str] = {}
    for n, (cmid, key) in enumerate(sent):
        seq = next(i.seq for i in alice.conversation(key).items() if i.client_msg_id == cmid)
        assert seq is not None
        final[seq] = f"m{n:02d}"
        choice = rng.random()
        if choice < 0.3:
            alice.retract(seq, key)
            final[seq] = RETRACTED_TEXT
        elif choice < 0.8:
            alice.edit(seq, key, f"m{n:02d} edited once")
            final[seq] = f"m{n:02d} edited once"
            if rng.random() < 0.5:
                alice.edit(seq, key, f"m{n:02d} edited twice")
                final[seq] = f"m{n:02d} edited twice"
    QTimer.singleShot(5, srv.kill)
    qtbot.waitUntil(lambda: not srv.procs[-1].is_running(), timeout=10_000)
    srv.start()
    views = ((bob, ["alice", lab, EVERYONE]), (charlie, ["alice", lab, EVERYONE]),
             (alice, ["bob", "charlie", lab, EVERYONE]))

    def settled() -> bool:
        if alice._saved_changes():  # (answered: nothing left to redo)
            return False
        for engine, keys in views:
            if not engine.logged_in:
                return False
            for key in keys:
                if any(s is None or final.get(s) != t for s, t in shown(engine, key)):
                    return False
        return True

    qtbot.waitUntil(settled, timeout=20_000)
    for engine, keys in views:
        for key in keys:
            rows = shown(engine, key)
            seqs = [s for s, _ in rows]
            assert seqs == sorted(set(seqs)), (engine.user, key, seqs)
            assert engine.store is not None
            assert [(m.seq, m.text) for m in engine.store.iter_conversation(key)
                    if not m.notice] == rows, (engine.user, key, "cache differs")
    for key in ("bob", "charlie", lab, EVERYONE):
        errors = [i.text for i in alice.conversation(key).items()
                  if i.kind is MessageKind.ERROR]
        assert not errors, (key, errors)
