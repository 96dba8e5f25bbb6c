"""End to end: the server process is killed with SIGKILL in the middle of a burst from two
senders and restarted on the same port and data dir. The app engines (in this process)
reconnect by themselves, their outboxes resend what was not acknowledged, and the recipient
ends with every message exactly once, in order per sender. The same for a clean stop
(SIGTERM)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers.rawclient import ServerProcess
from PySide6.QtCore import QTimer

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.models import MessageKind

REPO = Path(__file__).resolve().parents[2]
BURST = 200
KILL_AFTER_ACKS = 50


def server_command(data_dir: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "messenger", "--server", "--host", "127.0.0.1",
            "--port", str(port), "--data-dir", str(data_dir), "--demo"]


def logged_in_engines(qtbot, engines: list[ClientEngine], port: int) -> list[ClientEngine]:
    """alice, bob and charlie logged in to the server on ``port``, reconnecting quickly."""
    made = [ClientEngine(backoff=Backoff(0.05, 0.5)) for _ in range(3)]
    engines.extend(made)
    for engine, user in zip(made, ("alice", "bob", "charlie"), strict=True):
        with qtbot.waitSignal(engine.login_succeeded, timeout=20_000):
            engine.connect_to("127.0.0.1", port)
            engine.login(user, f"{user}123")
    return made


def type_steadily(alice: ClientEngine, bob: ClientEngine, send) -> tuple[dict, QTimer]:
    """alice and bob each type BURST messages ("alice 000", ...), one each every 2 ms, sent
    with ``send(engine, text)``; returns what was typed so far per user and the timer (it
    stops when all are typed)."""
    typed: dict[str, list[str]] = {"alice": [], "bob": []}
    timer = QTimer()

    def type_next() -> None:
        for engine, user in ((alice, "alice"), (bob, "bob")):
            if len(typed[user]) < BURST:
                text = f"{user} {len(typed[user]):03d}"
                typed[user].append(text)
                send(engine, text)
        if len(typed["alice"]) == BURST and len(typed["bob"]) == BURST:
            timer.stop()

    timer.setInterval(2)
    timer.timeout.connect(type_next)
    timer.start()
    return typed, timer


@pytest.fixture
def engines(qtbot):
    made: list[ClientEngine] = []
    yield made
    for engine in made:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in made))


def test_sigkill_mid_burst_every_message_arrives_exactly_once(qtbot, tmp_path, engines):
    data_dir = tmp_path / "data"
    first = ServerProcess(server_command(data_dir, 0), cwd=REPO)
    _, port = first.start()  # (port 0: no race for a port picked beforehand; the
    # restart binds the same one again, which is what this test is about)
    second: ServerProcess | None = None
    try:
        alice, bob, charlie = logged_in_engines(qtbot, engines, port)

        acked: set[str] = set()
        acked_before_kill: set[str] = set()

        def on_ack(cmid: str, seq: int, ts: float) -> None:
            acked.add(cmid)
            if len(acked) == KILL_AFTER_ACKS and not acked_before_kill:
                first.proc.kill()  # SIGKILL: no clean shutdown, no logout
                acked_before_kill.update(acked)

        alice.message_acked.connect(on_ack)
        bob.message_acked.connect(on_ack)

        # The users type steadily: one message each per timer tick, so the kill lands in
        # the middle of the burst and later messages are typed while the server is down.
        cmid_text: dict[str, str] = {}

        def to_charlie(engine: ClientEngine, text: str) -> None:
            cmid_text[engine.send_unicast("charlie", text)] = text

        typed, _timer = type_steadily(alice, bob, to_charlie)  # (kept: it must live on)

        qtbot.waitUntil(lambda: bool(acked_before_kill), timeout=20_000)
        first.proc.wait(timeout=10)
        assert first.proc.returncode == -9
        assert KILL_AFTER_ACKS <= len(acked_before_kill) < 2 * BURST
        second = ServerProcess(server_command(data_dir, port), cwd=REPO)
        second.start()

        def done() -> bool:
            return (len(typed["alice"]) == BURST and len(typed["bob"]) == BURST
                    and not alice.store.outbox() and not bob.store.outbox()
                    and received("alice") == typed["alice"]
                    and received("bob") == typed["bob"])

        def received(sender: str) -> list[str]:
            return [i.text for i in charlie.conversation(sender).items()
                    if i.kind is MessageKind.OTHER]

        qtbot.waitUntil(done, timeout=30_000)
        # Exactly once, in order per sender (checked by `done`), and once in the cache too.
        for sender in ("alice", "bob"):
            got = received(sender)
            assert len(got) == len(set(got)) == BURST
            assert charlie.store.count(sender) == BURST
        # Every message acked before the kill reached charlie exactly once.
        everything = received("alice") + received("bob")
        for cmid in acked_before_kill:
            assert everything.count(cmid_text[cmid]) == 1
        assert alice.auto_reconnect and bob.auto_reconnect and charlie.logged_in
    finally:
        if first.proc is not None and first.proc.poll() is None:
            first.stop()
        if second is not None:
            second.stop()


def test_sigkill_mid_group_burst_every_member_gets_each_message_once(qtbot, tmp_path, engines):
    """The same with a group: its messages have no row per member (schema 6), only
    membership spans and per-member cursors that are written lazily, so the restarted server
    must neither lose a message for a member nor, once apps drop what they have by seq, show
    one twice."""
    data_dir = tmp_path / "data"
    first = ServerProcess(server_command(data_dir, 0), cwd=REPO)
    _, port = first.start()  # (port 0: no race for a port picked beforehand; the
    # restart binds the same one again, which is what this test is about)
    second: ServerProcess | None = None
    try:
        alice, bob, charlie = logged_in_engines(qtbot, engines, port)
        with qtbot.waitSignal(alice.group_joined, timeout=10_000):
            alice.create_group("lab", public=True)
        for engine in (bob, charlie):
            with qtbot.waitSignal(engine.group_joined, timeout=10_000):
                engine.join_group("lab")

        acked: set[str] = set()
        killed: list[bool] = []

        def on_ack(cmid: str, seq: int, ts: float) -> None:
            acked.add(cmid)
            if len(acked) == KILL_AFTER_ACKS and not killed:
                first.proc.kill()
                killed.append(True)

        alice.message_acked.connect(on_ack)
        bob.message_acked.connect(on_ack)
        typed, timer = type_steadily(alice, bob,
                                     lambda engine, text: engine.send_group("lab", text))
        qtbot.waitUntil(lambda: bool(killed), timeout=20_000)
        first.proc.wait(timeout=10)
        second = ServerProcess(server_command(data_dir, port), cwd=REPO)
        second.start()

        def received(engine: ClientEngine, sender: str) -> list[str]:
            return [i.text for i in engine.group_conversation("lab").items()
                    if i.kind is MessageKind.OTHER and i.text.startswith(sender + " ")]

        def done() -> bool:
            return (not timer.isActive() and not alice.store.outbox() and not bob.store.outbox()
                    and received(charlie, "alice") == typed["alice"]
                    and received(charlie, "bob") == typed["bob"]
                    and received(bob, "alice") == typed["alice"]
                    and received(alice, "bob") == typed["bob"])

        qtbot.waitUntil(done, timeout=30_000)
        for engine, senders in ((charlie, ("alice", "bob")), (bob, ("alice",)),
                                (alice, ("bob",))):
            for sender in senders:
                got = received(engine, sender)
                assert len(got) == len(set(got)) == BURST  # exactly once, in order (done)
    finally:
        if first.proc is not None and first.proc.poll() is None:
            first.stop()
        if second is not None:
            second.stop()


def test_a_clean_stop_mid_burst_loses_and_doubles_nothing(qtbot, tmp_path, engines):
    """SIGTERM (a restart, `systemctl stop`) in the middle of a burst: the server closes
    each connection after its last frames (acks still in Qt's buffers had been lost, and
    the app sent those messages again). After the restart the recipient has every message
    exactly once."""
    import signal

    data_dir = tmp_path / "data"
    first = ServerProcess(server_command(data_dir, 0), cwd=REPO)
    _, port = first.start()
    second = None
    try:
        alice, bob, charlie = logged_in_engines(qtbot, engines, port)
        acked: set[str] = set()
        stopped: list[bool] = []

        def on_ack(cmid: str, seq: int, ts: float) -> None:
            acked.add(cmid)
            if len(acked) == KILL_AFTER_ACKS and not stopped:
                first.proc.send_signal(signal.SIGTERM)
                stopped.append(True)

        alice.message_acked.connect(on_ack)
        bob.message_acked.connect(on_ack)
        typed, timer = type_steadily(
            alice, bob, lambda engine, text: engine.send_unicast("charlie", text))
        qtbot.waitUntil(lambda: bool(stopped), timeout=20_000)
        assert first.proc.wait(timeout=15) == 0, first.describe()
        second = ServerProcess(server_command(data_dir, port), cwd=REPO)
        second.start()

        def received(sender: str) -> list[str]:
            return [i.text for i in charlie.conversation(sender).items()
                    if i.kind is MessageKind.OTHER]

        def done() -> bool:
            return (not timer.isActive() and not alice.store.outbox()
                    and not bob.store.outbox() and received("alice") == typed["alice"]
                    and received("bob") == typed["bob"])

        qtbot.waitUntil(done, timeout=30_000)
        for sender in ("alice", "bob"):
            got = received(sender)
            assert len(got) == len(set(got)) == BURST
    finally:
        if first.proc is not None and first.proc.poll() is None:
            first.stop()
        if second is not None:
            second.stop()
