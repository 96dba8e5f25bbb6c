"""Resuming file transfers between two apps (ClientEngine + TransferController each) through a
real server and real UDP sockets on 127.0.0.1: after the network path dies, after the
receiving app restarts, and after the sending app restarts. Each time the file arrives
byte-exact and the second attempt starts where the first stopped, not from zero.

The bytes go through a :class:`Relay` on the sender's side: it limits the rate (so that a
transfer can be cut in the middle, at the first progress past a threshold), can go down (a
dead network path), and counts what it forwards (what the second attempt sent on the wire).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import threading
import time
from collections import deque
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QTimer
from PySide6.QtNetwork import QAbstractSocket, QHostAddress, QUdpSocket

from messenger import paths
from messenger.client.connection import ConnectionState
from messenger.client.conversations import peer_key
from messenger.client.engine import ClientEngine
from messenger.client.localstore import LocalStore, TransferRecord, store_path
from messenger.client.transfers import (
    TransferController,
    TransferPrefs,
    TransferState,
    status_text,
)
from messenger.transfer import Settings, part_stem

LOCAL = QHostAddress("127.0.0.1")
S = TransferState
SIZE = 6 * 1024 * 1024
RATE = 4 * 1024 * 1024  # bytes/s through the relay on the first attempt
CUT_AT = 0.3  # cut once the receiver holds this fraction of the file
SETTINGS = Settings(idle_timeout=1.0)  # a dead path is noticed in about a second


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Relay(QObject):
    """Forwards datagrams between the sender and ``target_port``. Sender → receiver goes
    through a drop-tail queue of ``queue_limit`` bytes drained at ``rate`` bytes/s (None: at
    once), like a slow link; receiver → sender is held ``back_delay_ms`` first (0: at once);
    ``up = False`` drops everything both ways, also what is held. :attr:`forwarded` counts
    the bytes passed on to the receiver."""

    def __init__(self, target_port: int, rate: float | None = None,
                 queue_limit: int = 256 * 1024, back_delay_ms: int = 0) -> None:
        super().__init__()
        self.target_port, self.rate, self.queue_limit = target_port, rate, queue_limit
        self.back_delay_ms = back_delay_ms
        self.up = True
        self.forwarded = 0
        self.client: tuple[QHostAddress, int] | None = None
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.budget = 0.0
        self.last = time.monotonic()
        self.sock = QUdpSocket(self)
        assert self.sock.bind(LOCAL, 0)
        self.sock.setSocketOption(QAbstractSocket.SocketOption.ReceiveBufferSizeSocketOption,
                                  4 << 20)
        self.port = self.sock.localPort()
        self.sock.readyRead.connect(self._relay)
        self.timer = QTimer(self)
        self.timer.setInterval(2)
        self.timer.timeout.connect(self._drain)
        if rate is not None:
            self.timer.start()

    def _relay(self) -> None:
        while self.sock.hasPendingDatagrams():
            data, host, port = self.sock.readDatagram(65536)
            payload = data.data()
            if not self.up:
                continue
            if port == self.target_port:
                if self.client is not None and self.back_delay_ms:
                    QTimer.singleShot(self.back_delay_ms, self,
                                      lambda p=payload, c=self.client: self._back(p, c))
                elif self.client is not None:
                    self.sock.writeDatagram(payload, *self.client)
                continue
            self.client = (QHostAddress(host), port)
            if self.rate is None:
                self._forward(payload)
            elif self.queued + len(payload) <= self.queue_limit:
                self.queue.append(payload)
                self.queued += len(payload)

    def _drain(self) -> None:
        now = time.monotonic()
        self.budget = min(self.budget + (now - self.last) * self.rate, 32 * 1024)
        self.last = now
        while self.up and self.queue and self.budget >= len(self.queue[0]):
            payload = self.queue.popleft()
            self.queued -= len(payload)
            self.budget -= len(payload)
            self._forward(payload)
        if not self.up:
            self.queue.clear()
            self.queued = 0

    def _back(self, payload: bytes, client: tuple[QHostAddress, int]) -> None:
        if self.up:
            self.sock.writeDatagram(payload, *client)

    def _forward(self, payload: bytes) -> None:
        self.forwarded += len(payload)
        self.sock.writeDatagram(payload, LOCAL, self.target_port)

    def close(self) -> None:
        self.timer.stop()
        self.sock.close()


class Apps:
    """The two apps of a test; either can be restarted (a new engine and controller on the
    same data folder, logged in again)."""

    def __init__(self, qtbot, server, tmp_path: Path) -> None:
        self.qtbot, self.server, self.tmp_path = qtbot, server, tmp_path
        self.made: list[tuple[ClientEngine, TransferController]] = []
        self.relays: list[Relay] = []

    def login(self, user: str, auto_resume_delays: tuple[float, ...] = (),
              device: str = "") -> TransferController:
        """``user``'s app, logged in; by default it resumes only when told (Resume). A
        ``device`` name gives it a computer of its own (data and download folders)."""
        engine = ClientEngine(data_dir=self.tmp_path / device if device else None)
        with self.qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to(self.server.host, self.server.port)
            engine.login(user, f"{user}123")
        controller = TransferController(
            engine, TransferPrefs(
                download_dir=self.tmp_path / f"{user}-downloads{'-' + device if device else ''}"),
            settings=SETTINGS, route=self.route, auto_resume_delays=auto_resume_delays)
        self.made.append((engine, controller))
        return controller

    def quit(self, controller: TransferController) -> None:
        """The app quits as the window does: transfers first, then the connection."""
        controller.close()
        controller.client.close()
        self.qtbot.waitUntil(
            lambda: controller.client.state is ConnectionState.DISCONNECTED)

    def route(self, host: str, port: int) -> tuple[str, int]:
        """Every attempt goes through a new relay: slow for the first, fast afterwards."""
        self.relays.append(Relay(port, RATE if not self.relays else None))
        return "127.0.0.1", self.relays[-1].port

    def close(self) -> None:
        for engine, controller in self.made:
            controller.close()
            engine.close()
        for relay in self.relays:
            relay.close()
        self.qtbot.waitUntil(
            lambda: all(e.state is ConnectionState.DISCONNECTED for e, _ in self.made))


@pytest.fixture
def apps(qtbot, server, tmp_path):
    made = Apps(qtbot, server, tmp_path)
    yield made
    made.close()


@pytest.fixture
def source(tmp_path) -> Path:
    src = tmp_path / "film.bin"
    src.write_bytes(random.Random(7).randbytes(SIZE))
    return src


def start(qtbot, apps: Apps, source: Path, auto_resume_delays: tuple[float, ...] = ()
          ) -> tuple[TransferController, TransferController, str, str]:
    """alice offers ``source`` to bob, bob accepts; returns once bob holds :data:`CUT_AT`.
    alice's app resumes by itself after ``auto_resume_delays``."""
    bob = apps.login("bob")
    alice = apps.login("alice", auto_resume_delays)
    qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", source) is None
    recv_key = added.args[0]
    send_key = alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: bob.get(recv_key).done >= CUT_AT * SIZE, timeout=10_000)
    assert bob.get(recv_key).state is S.ACTIVE and alice.get(send_key).state is S.ACTIVE
    return alice, bob, send_key, recv_key


def part_file(apps: Apps, source: Path) -> Path:
    """Bob's partial file of ``source`` from alice (keyed by the SHA-256 and the sender)."""
    return (apps.tmp_path / "bob-downloads" / ".partial"
            / f"{part_stem(sha256_of(source), 'alice')}.part")


class Watch:
    """What the second attempt shows: the offset bob's app announced to alice (alice's card
    at ``connecting``) and the bytes bob held at his first progress."""

    def __init__(self, alice: TransferController, send_key: str,
                 bob: TransferController, recv_key: str) -> None:
        self.announced: list[int] = []
        self.first_progress: list[int] = []

        def on_alice(key: str) -> None:
            t = alice.get(key)
            if key == send_key and t.state is S.CONNECTING:
                self.announced.append(t.done)

        def on_bob(key: str) -> None:
            t = bob.get(key)
            if key == recv_key and t.state is S.ACTIVE:
                self.first_progress.append(t.done)

        alice.transfer_changed.connect(on_alice)
        bob.transfer_changed.connect(on_bob)


def finish(qtbot, apps: Apps, alice: TransferController, send_key: str,
           bob: TransferController, recv_key: str, source: Path, held: int) -> None:
    """alice resumes; the file arrives byte-exact and only what bob lacked travelled."""
    watch = Watch(alice, send_key, bob, recv_key)
    relays_before = len(apps.relays)
    assert alice.can_resume(send_key)
    assert alice.resume(send_key)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.DONE
                    and bob.get(recv_key).state is S.DONE, timeout=15_000)
    received = Path(bob.get(recv_key).path)
    assert received.parent == apps.tmp_path / "bob-downloads"
    assert sha256_of(received) == sha256_of(source)
    assert not part_file(apps, source).exists()
    # Resumed from the offset bob held: announced to alice, first progress there, and the
    # second attempt carried the rest only (plus QUIC's headers and the handshake).
    assert watch.announced[0] == held
    assert watch.first_progress[0] >= held
    assert len(apps.relays) == relays_before + 1
    wire = apps.relays[-1].forwarded
    assert wire < (SIZE - held) * 1.15 + 50_000 < SIZE
    # The cards say so, and the store has their final state.
    for controller, key in ((alice, send_key), (bob, recv_key)):
        assert controller.client.store.transfer(key).state == "done"


def test_resume_after_the_network_path_dies(qtbot, apps, source):
    alice, bob, send_key, recv_key = start(qtbot, apps, source)
    apps.relays[0].up = False  # the path dies: both sides notice by QUIC's idle timeout
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED
                    and bob.get(recv_key).state is S.FAILED, timeout=10_000)
    held = part_file(apps, source).stat().st_size
    assert CUT_AT * SIZE * 0.9 <= held < SIZE
    finish(qtbot, apps, alice, send_key, bob, recv_key, source, held)


def test_resume_after_the_receiving_app_restarts(qtbot, apps, source):
    alice, bob, send_key, recv_key = start(qtbot, apps, source)
    apps.quit(bob)  # alice's app learns it over QUIC at once
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED, timeout=10_000)
    held = part_file(apps, source).stat().st_size
    assert CUT_AT * SIZE * 0.9 <= held < SIZE

    bob = apps.login("bob")  # same data folder: the card comes back from the local store
    t = bob.get(recv_key)
    assert t is not None and t.state is S.FAILED and t.accepted and "interrupted" in t.error
    assert bob.model.row_of(recv_key) is not None
    assert bob.client.conversation("alice").row_of_transfer(recv_key) is not None
    finish(qtbot, apps, alice, send_key, bob, recv_key, source, held)  # accepted by itself


def test_resume_after_the_sending_app_restarts(qtbot, apps, source):
    alice, bob, send_key, recv_key = start(qtbot, apps, source)
    apps.quit(alice)
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.FAILED, timeout=10_000)
    held = part_file(apps, source).stat().st_size
    assert CUT_AT * SIZE * 0.9 <= held < SIZE

    alice = apps.login("alice")
    t = alice.get(send_key)
    assert t is not None and t.state is S.FAILED and "interrupted" in t.error
    assert (t.path, t.size, t.sha256) == (str(source.resolve()), SIZE, sha256_of(source))
    assert alice.model.row_of(send_key) is not None
    assert alice.client.conversation("bob").row_of_transfer(send_key) is not None
    finish(qtbot, apps, alice, send_key, bob, recv_key, source, held)


def test_a_changed_file_cannot_be_resumed(qtbot, apps, source):
    alice, _bob, send_key, _recv_key = start(qtbot, apps, source)
    apps.quit(alice)
    alice = apps.login("alice")
    assert alice.can_resume(send_key)
    with source.open("ab") as f:
        f.write(b"more")
    assert not alice.can_resume(send_key) and not alice.resume(send_key)
    source.unlink()
    assert not alice.can_resume(send_key)


def offer_unanswered(qtbot, apps: Apps, source: Path) -> tuple[TransferController,
                                                             TransferController, str, str]:
    """alice offers ``source`` to bob, who does not answer; returns (alice, bob, alice's key,
    bob's key) once bob has the card."""
    bob = apps.login("bob")
    alice = apps.login("alice")
    qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", source) is None
    send_key = alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.WAITING)
    return alice, bob, send_key, added.args[0]


def test_an_offer_lapsed_by_a_lost_connection_is_declined_by_the_server(qtbot, apps, source):
    """Bob's link drops while alice's offer waits for his answer: his card fails (the offer
    lapsed with the connection), and the server, seeing his last session end, declines it
    for him ("offer lapsed"), so alice's card ends at once instead of waiting for good (or
    for his next login, which an offer that reached a dead connection never had)."""
    alice, bob, send_key, recv_key = offer_unanswered(qtbot, apps, source)
    with qtbot.waitSignal(bob.client.reconnect_scheduled, timeout=10_000):
        bob.client._conn._socket.abort()
    assert bob.get(recv_key).state is S.FAILED
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.DECLINED, timeout=15_000)
    t = alice.get(send_key)
    assert (t.error, t.by_peer) == ("offer lapsed", True)
    assert status_text(t).startswith("Not delivered: bob went offline or quit before answering")
    with qtbot.waitSignal(bob.client.resumed, timeout=15_000):
        pass  # (his app's decline at the login finds the offer gone: nothing changes)
    assert bob.get(recv_key).state is S.FAILED and alice.get(send_key).state is S.DECLINED


def test_an_offer_lapsed_by_a_restart_ends_on_both_sides(qtbot, apps, source):
    """Bob's app quits while alice's offer waits for his answer: alice's card ends (the
    server declines it for him), and his restarted app shows the card as lapsed."""
    alice, bob, send_key, recv_key = offer_unanswered(qtbot, apps, source)
    apps.quit(bob)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.DECLINED, timeout=10_000)
    t = alice.get(send_key)
    assert (t.error, t.by_peer) == ("offer lapsed", True)
    bob = apps.login("bob")
    assert bob.get(recv_key).state is S.FAILED and "lapsed" in bob.get(recv_key).error


def test_discard_deletes_the_partial_file_and_the_next_offer_asks_again(qtbot, apps, source):
    alice, bob, send_key, recv_key = start(qtbot, apps, source)
    assert not bob.can_discard(recv_key) and not bob.discard(recv_key)  # still running
    apps.relays[0].up = False
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED
                    and bob.get(recv_key).state is S.FAILED, timeout=10_000)
    part = part_file(apps, source)
    assert part.stat().st_size > 0
    assert bob.can_discard(recv_key) and bob.discard(recv_key)
    assert not part.exists() and not part.parent.exists()
    t = bob.get(recv_key)
    assert (t.state, t.done) == (S.DISCARDED, 0)
    assert bob.client.store.transfer(recv_key).state == "discarded"
    assert not bob.can_discard(recv_key) and not bob.discard(recv_key)
    # alice's Resume is a new offer to bob: not resumed by itself, asked on a new card.
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.resume(send_key)
    new = bob.get(added.args[0])
    assert new.key != recv_key and new.state is S.INCOMING and not new.accepted
    assert bob.get(recv_key).state is S.DISCARDED


def test_stale_partial_files_go_when_the_transfers_are_loaded(qtbot, apps, server):
    """At login, partial files not written for a week go, whether a resumable receive
    refers to them or not (another account on the computer may resume into the folder);
    younger ones stay, and so does what is no partial file."""
    def record(key: str, sha: str, state: str) -> TransferRecord:
        return TransferRecord(key, "receive", "alice", "alice", f"{key}.bin", 10_000, sha,
                              "", "", state, 5000, accepted=True)

    store = LocalStore(store_path(paths.data_dir(), server.host, server.port, "bob"))
    store.save_transfer(record("r-failed", "ab" * 32, "failed"))
    store.save_transfer(record("r-running", "cd" * 32, "active"))  # interrupted: resumable
    store.save_transfer(record("r-old", "ef" * 32, "failed"))
    store.save_transfer(record("r-done", "12" * 32, "done"))
    store.close()
    folder = apps.tmp_path / "bob-downloads" / ".partial"
    folder.mkdir(parents=True)
    hour, now = 3600, time.time()
    ages = {
        f"{part_stem('ab' * 32, 'alice')}.part": 2 * hour,  # kept: resumable
        f"{part_stem('cd' * 32, 'alice')}.part": 2 * hour,  # kept: resumable
        f"{part_stem('ef' * 32, 'alice')}.part": 8 * 24 * hour,  # goes: a week old
        f"{part_stem('12' * 32, 'alice')}.part": 8 * 24 * hour,  # goes: that one is done
        f"{part_stem('ab' * 32, 'alice')}.1.part": 8 * 24 * hour,  # goes: nobody's, old
        f"{'34' * 32}.part": 2 * hour,  # kept: perhaps another account's, resumable
        "readme.txt": 30 * 24 * hour,  # kept: not a partial file
    }
    for name, age in ages.items():
        (folder / name).write_bytes(b"x" * 5000)
        os.utime(folder / name, (now - age, now - age))
    bob = apps.login("bob")
    assert bob.get("r-failed").state is S.FAILED and bob.get("r-running").state is S.FAILED
    assert sorted(p.name for p in folder.iterdir()) == sorted([
        f"{part_stem('ab' * 32, 'alice')}.part", f"{part_stem('cd' * 32, 'alice')}.part",
        f"{'34' * 32}.part", "readme.txt"])


def test_a_new_offer_of_a_file_whose_earlier_offer_lapsed_is_news(qtbot, apps, source):
    """Bob's link dropped while alice's offer waited for his answer (his card failed, hers
    "Not delivered"); once he was back she sent the same file again. Bob's app put the new
    offer on the old, failed card far up in history and said nothing: no unread count, no
    ``transfer_added`` (no tab, no status line, no pop-up); alice waited for an answer. A
    card never accepted continues no other offer: the new one is a card of its own, news."""
    alice, bob, first_key, recv_key = offer_unanswered(qtbot, apps, source)
    with qtbot.waitSignal(bob.client.reconnect_scheduled, timeout=10_000):
        bob.client._conn._socket.abort()
    assert bob.get(recv_key).state is S.FAILED
    qtbot.waitUntil(lambda: alice.get(first_key).state is S.DECLINED, timeout=15_000)
    qtbot.waitUntil(lambda: bob.client.logged_in and alice.client.roster.contact("bob").online,
                    timeout=15_000)
    bob.client.mark_read(peer_key("alice"))
    assert bob.client.unread(peer_key("alice")) == 0
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", source) is None
    new = bob.get(added.args[0])
    assert new.key != recv_key and new.state is S.INCOMING and not new.accepted
    assert bob.client.unread(peer_key("alice")) == 1
    assert bob.get(recv_key).state is S.FAILED  # (the old card stays as it was)


def test_a_lapsed_re_offer_is_declined_under_its_own_id_after_a_restart(qtbot, apps, source):
    """A later offer of the same file (its first one lapsed with a restart) is a card of its
    own; when that one lapses with a restart too, it is declined under the server's id of
    that later offer (kept in the local store), and both cards come back lapsed."""
    alice, bob, first_key, recv_key = offer_unanswered(qtbot, apps, source)
    apps.quit(bob)
    bob = apps.login("bob")
    qtbot.waitUntil(lambda: alice.get(first_key).state is S.DECLINED, timeout=10_000)
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", source) is None
    second_key = alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole)
    new_key = added.args[0]
    t = bob.get(new_key)
    assert new_key != recv_key and t.state is S.INCOMING
    assert bob.client.store.transfer(new_key).transfer_id == t.transfer_id
    qtbot.waitUntil(lambda: alice.get(second_key).state is S.WAITING)
    apps.quit(bob)
    bob = apps.login("bob")
    for key in (recv_key, new_key):
        assert bob.get(key).state is S.FAILED and "lapsed" in bob.get(key).error
    qtbot.waitUntil(lambda: alice.get(second_key).state is S.DECLINED, timeout=10_000)
    assert (alice.get(second_key).error, alice.get(second_key).by_peer) == ("offer lapsed", True)


def test_an_interrupted_send_says_what_resume_does_or_why_there_is_none(qtbot, apps,
                                                                        tmp_path):
    """Alice's app quit while her offer was out; after the restart her card read "Failed:
    interrupted (the app was closed); Resume sends the rest": of an offer never accepted,
    nothing had been sent, and once she had moved the file away there was no Resume button
    at all and nothing said why (a hunt)."""
    bob = apps.login("bob")
    alice = apps.login("alice")
    qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
    kept, moved = tmp_path / "kept.pdf", tmp_path / "report.pdf"
    for path in (kept, moved):
        path.write_bytes(b"%PDF" + path.name.encode() * 1000)
    keys = []
    for path in (kept, moved):
        with qtbot.waitSignal(bob.transfer_added, timeout=10_000):
            assert alice.send_file("bob", path) is None
        keys.append(alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole))
    qtbot.waitUntil(lambda: all(alice.get(k).state is S.WAITING for k in keys))
    apps.quit(alice)
    moved.rename(tmp_path / "elsewhere.pdf")
    alice = apps.login("alice")
    kept_t, moved_t = (alice.get(k) for k in keys)
    assert kept_t.state is S.FAILED and alice.can_resume(kept_t.key)
    assert status_text(kept_t) == ("Failed: interrupted (the app was closed) before bob "
                                   "answered; Resume offers it again")
    assert moved_t.state is S.FAILED and not alice.can_resume(moved_t.key)
    assert status_text(moved_t) == ("Failed: interrupted (the app was closed), and the file "
                                    "is no longer there (moved or deleted)")


def test_an_offer_withdrawn_because_its_sender_quit_does_not_say_the_recipient_was_offline(
        qtbot, apps, source):
    """Alice's app quit while her offer waited for bob, online all along; at her next login
    her app withdrew it ("offer lapsed"), and bob read "Withdrawn: you were offline when
    alice offered it." (a hunt). It says alice went offline."""
    alice, bob, _send_key, recv_key = offer_unanswered(qtbot, apps, source)
    apps.quit(alice)
    assert bob.client.logged_in and bob.get(recv_key).state is S.INCOMING
    apps.login("alice")
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.CANCELLED, timeout=10_000)
    assert status_text(bob.get(recv_key)) == ("Withdrawn: alice went offline before you "
                                              "answered; alice can send it again.")


def test_an_own_offer_lapsed_by_a_lost_connection_is_withdrawn_at_the_next_login(
        qtbot, apps, source):
    """Alice's link drops while her offer waits for bob's answer: her card fails, and once
    her app has logged in again it withdraws the offer, so bob's card stops offering a file
    nobody will send."""
    alice, bob, send_key, recv_key = offer_unanswered(qtbot, apps, source)
    with qtbot.waitSignal(alice.client.reconnect_scheduled, timeout=10_000):
        alice.client._conn._socket.abort()
    assert alice.get(send_key).state is S.FAILED
    assert bob.get(recv_key).state is S.INCOMING  # the server cannot know
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.CANCELLED, timeout=15_000)
    t = bob.get(recv_key)
    assert (t.error, t.by_peer) == ("offer lapsed", True)


def test_an_own_offer_lapsed_by_a_restart_is_withdrawn_at_the_next_login(qtbot, apps, source):
    alice, bob, send_key, recv_key = offer_unanswered(qtbot, apps, source)
    apps.quit(alice)
    assert bob.get(recv_key).state is S.INCOMING
    alice = apps.login("alice")
    assert alice.get(send_key).state is S.FAILED
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.CANCELLED, timeout=10_000)
    assert bob.get(recv_key).error == "offer lapsed"


def test_withdrawing_a_lapsed_offer_keeps_the_recipients_partial_file(qtbot, apps, source):
    """Bob accepted while alice was away (the server says she is offline: his card fails at
    once, accepted); her app, back, withdraws the lapsed offer. What he held of the file
    stays, and so does his accepted card, for the next offer to resume."""
    alice, bob, _, recv_key = offer_unanswered(qtbot, apps, source)
    part = part_file(apps, source)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(source.read_bytes()[:100_000])  # from an earlier attempt
    apps.quit(alice)  # her offer lapses
    assert bob.accept(recv_key) is None  # bob accepts meanwhile
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.FAILED, timeout=5000)
    card = bob.get(recv_key)
    assert card.accepted and "offered it from is no longer connected" in card.error
    with qtbot.waitSignal(bob.client.transfer_cancelled, timeout=10_000) as withdrawn:
        apps.login("alice")
    assert withdrawn.args[0].reason == "offer lapsed"
    assert bob.get(recv_key).state is S.FAILED and bob.get(recv_key).accepted
    endpoint = bob.transfer_engine._worker.endpoint
    qtbot.waitUntil(lambda: endpoint.registrations == [])
    assert part.read_bytes() == source.read_bytes()[:100_000]


def test_a_resume_while_the_receiver_still_waits_for_the_first_attempt_continues_it(
        qtbot, apps, source):
    """alice's first attempt cannot reach bob and fails (idle timeout) while bob's accepted
    card still waits for it (his watchdog: 30 s). Her Resume continues that card: no second
    question, and the new attempt starts from the bytes bob's partial file holds (it
    downloaded from zero into a numbered partial file, leaving the real one unused)."""
    hole = QUdpSocket()
    assert hole.bind(LOCAL, 0)
    bob = apps.login("bob")
    alice = apps.login("alice")
    qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
    alice.route = lambda host, port: ("127.0.0.1", hole.localPort())  # unreachable
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", source) is None
    recv_key = added.args[0]
    send_key = alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole)
    part = part_file(apps, source)
    part.parent.mkdir(parents=True)
    held = 2 * 1024 * 1024
    part.write_bytes(source.read_bytes()[:held])  # from an earlier attempt
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED, timeout=10_000)
    assert bob.get(recv_key).state is S.CONNECTING
    alice.route = apps.route  # the path works now
    asked_again: list[str] = []
    bob.transfer_added.connect(asked_again.append)
    watch = Watch(alice, send_key, bob, recv_key)
    assert alice.resume(send_key)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.DONE
                    and bob.get(recv_key).state is S.DONE, timeout=15_000)
    assert asked_again == []
    assert watch.announced[0] == held
    assert sha256_of(Path(bob.get(recv_key).path)) == sha256_of(source)
    assert not part.parent.exists() or not list(part.parent.glob("*.part"))  # none left
    hole.close()


def test_a_second_receive_of_the_same_file_announces_no_offset_of_the_first(qtbot, apps,
                                                                             source):
    """alice sends one file twice and bob accepts both while the first runs: the second
    announced the first one's partial file as its offset (both cards jumped ahead, then went
    back to 0: the engine gives it a numbered partial file of its own; a transfer hunt)."""
    bob = apps.login("bob")
    alice = apps.login("alice")
    qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
    keys = []
    for _ in range(2):
        with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
            assert alice.send_file("bob", source) is None
        keys.append((alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole),
                     added.args[0]))
    held = SIZE // 4  # an earlier attempt left a quarter of the file
    part = part_file(apps, source)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(source.read_bytes()[:held])
    watch = Watch(alice, keys[1][0], bob, keys[1][1])
    assert bob.accept(keys[0][1]) is None
    assert bob.accept(keys[1][1]) is None  # the first is connecting: it owns the file
    assert (bob.get(keys[0][1]).done, bob.get(keys[1][1]).done) == (held, 0)
    qtbot.waitUntil(lambda: all(c.get(k).state is S.DONE for c, k in (
        (alice, keys[0][0]), (alice, keys[1][0]), (bob, keys[0][1]), (bob, keys[1][1]))),
        timeout=30_000)
    assert watch.announced == [0]
    assert all(sha256_of(Path(bob.get(k).path)) == sha256_of(source) for _, k in keys)


def statuses(controller: TransferController, key: str) -> list[str]:
    """The status lines card ``key`` shows from now on."""
    seen: list[str] = []
    controller.transfer_changed.connect(
        lambda k: seen.append(status_text(controller.get(k))) if k == key else None)
    return seen


def arrived(qtbot, apps: Apps, alice, send_key: str, bob, recv_key: str, source: Path,
            timeout: int = 15_000) -> None:
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.DONE
                    and bob.get(recv_key).state is S.DONE, timeout=timeout)
    assert sha256_of(Path(bob.get(recv_key).path)) == sha256_of(source)
    assert not part_file(apps, source).exists()


def test_a_send_cut_by_a_dead_path_resumes_by_itself(qtbot, apps, source):
    """The path dies for longer than QUIC's idle timeout (a Wi-Fi blackout, a laptop lid):
    the send failed for good and waited for a click on Resume. Now it is offered again by
    itself, bob's app accepts it by itself, and it goes on from where it stopped."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (0.5, 1.0))
    shown = statuses(alice, send_key)
    apps.relays[0].up = False
    with qtbot.waitSignal(alice.transfer_changed, timeout=10_000,
                          check_params_cb=lambda k: k == send_key
                          and alice.get(k).state is S.FAILED):
        pass
    t = alice.get(send_key)
    assert t.auto_resume and t.retry_at > 0
    assert re.fullmatch(r"Interrupted: connection lost \(.+\) · trying again at \d\d:\d\d:\d\d",
                        status_text(t)), status_text(t)
    held_before = bob.get(recv_key).done
    arrived(qtbot, apps, alice, send_key, bob, recv_key, source)
    assert len(apps.relays) == 2  # one more attempt, on a path that works
    assert apps.relays[-1].forwarded < (SIZE - held_before) * 1.15 + 50_000
    assert any(" · trying again at " in line for line in shown)
    assert not alice.get(send_key).auto_resume


class SlowWayBack(Apps):
    """The first attempt's relay is fast to the receiver and holds what comes back 300 ms:
    cut then, the receiver's last frames (its Done) are lost on the way."""

    def route(self, host: str, port: int) -> tuple[str, int]:
        self.relays.append(Relay(port, back_delay_ms=300 if not self.relays else 0))
        return "127.0.0.1", self.relays[-1].port


def test_a_send_whose_done_was_lost_does_not_make_the_recipient_download_it_again(
        qtbot, server, tmp_path, source):
    """Bob's app stored and verified the whole file, then the path died before its Done
    reached alice (Wi-Fi dropped, a laptop lid). Alice's app saw a lost connection after
    its last byte and resumed by itself; the resume named bob's card, which was done, so
    bob's app showed a brand-new offer of the file he had (a second copy, "name (1)",
    without asking when alice is on his auto-accept list), and alice's card never said the
    file was delivered. Now bob's app answers "already received" and her card says Sent."""
    apps = SlowWayBack(qtbot, server, tmp_path)
    try:
        bob = apps.login("bob")
        alice = apps.login("alice", (0.2,))
        qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
        with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
            assert alice.send_file("bob", source) is None
        recv_key = added.args[0]
        send_key = alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole)
        assert bob.accept(recv_key) is None
        qtbot.waitUntil(lambda: bob.get(recv_key).state is S.DONE, timeout=15_000)
        apps.relays[0].up = False  # the Done (held 300 ms on the way back) is lost
        assert alice.get(send_key).state is not S.DONE
        new_cards: list[str] = []
        bob.transfer_added.connect(new_cards.append)
        saved = Path(bob.get(recv_key).path)
        qtbot.waitUntil(lambda: alice.get(send_key).state is S.DONE
                        or alice.get(send_key).state is S.DECLINED or bool(new_cards),
                        timeout=15_000)
        assert new_cards == [] and alice.get(send_key).resumed
        t = alice.get(send_key)
        assert (t.state, t.error, t.done) == (S.DONE, "", SIZE)
        assert bob.get(recv_key).state is S.DONE and bob.model.rowCount() == 1
        assert sorted(p.name for p in saved.parent.iterdir() if p.is_file()) == [saved.name]
        assert alice.client.store.transfer(send_key).state == "done"
    finally:
        apps.close()


def test_a_send_whose_recipient_quit_resumes_when_they_are_back(qtbot, apps, source):
    """bob's app quits mid-transfer (his end says so over QUIC): alice's card waits for him
    and resumes by itself when he logs in again, into his partial file."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (0.2,))
    shown = statuses(alice, send_key)
    apps.quit(bob)
    qtbot.waitUntil(lambda: any(line.endswith(" · resumes when bob is online")
                                for line in shown), timeout=10_000)
    assert alice.get(send_key).state is S.FAILED
    held = part_file(apps, source).stat().st_size
    bob = apps.login("bob")
    arrived(qtbot, apps, alice, send_key, bob, recv_key, source)
    assert apps.relays[-1].forwarded < (SIZE - held) * 1.15 + 50_000


def test_cancel_stops_an_automatic_resume_on_both_sides(qtbot, apps, source):
    """alice cancels a send that would resume by itself: it stops, and bob's card, failed
    and waiting to take it again ("it resumes when alice sends it again"), says it was
    cancelled, and his partial file goes, as for a cancel while it ran (it stayed; a review)."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (60.0,))
    apps.relays[0].up = False
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED
                    and bob.get(recv_key).state is S.FAILED, timeout=10_000)
    assert alice.get(send_key).auto_resume
    assert alice.cancel(send_key)
    t = alice.get(send_key)
    assert t.state is S.CANCELLED and not t.auto_resume and not alice._resume_timers
    assert not alice.cancel(send_key)  # (ended now)
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.CANCELLED, timeout=10_000)
    assert bob.get(recv_key).by_peer
    assert not part_file(apps, source).exists()  # (as for a cancel while it ran)


def test_a_recipients_cancel_stops_an_automatic_resume(qtbot, apps, source):
    """bob cancels (another of his devices, or his card still connecting) after alice's
    send failed: it was offered to him again by itself, up to five times (a review)."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (60.0,))
    apps.relays[0].up = False
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED, timeout=10_000)
    assert alice.get(send_key).auto_resume
    bob.client.cancel_transfer(bob.get(recv_key).transfer_id, "no, thanks")
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.CANCELLED, timeout=10_000)
    t = alice.get(send_key)
    assert t.by_peer and not t.auto_resume and not alice._resume_timers
    assert status_text(t) == "Cancelled by bob: no, thanks"


def test_an_automatic_resume_goes_on_after_the_sending_app_restarts(qtbot, apps, source):
    """alice's card waited for bob ("resumes when bob is online") when she quit: after her
    restart it was a plain failure, and nothing happened when bob came back (a review)."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (0.2,))
    apps.quit(bob)
    qtbot.waitUntil(lambda: status_text(alice.get(send_key)).endswith(
        " · resumes when bob is online"), timeout=10_000)
    held = part_file(apps, source).stat().st_size
    apps.quit(alice)
    alice = apps.login("alice", (0.2,))
    assert status_text(alice.get(send_key)).endswith(" · resumes when bob is online")
    bob = apps.login("bob")
    arrived(qtbot, apps, alice, send_key, bob, recv_key, source)
    assert apps.relays[-1].forwarded < (SIZE - held) * 1.15 + 50_000


def test_a_resume_made_while_the_link_is_down_goes_when_it_is_back(qtbot, apps, source):
    """A resume that found the server link down (hashing took a while, Wi-Fi flapped) was a
    plain "not connected" failure: the automatic resume ended for good (a review)."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (60.0,))
    apps.relays[0].up = False
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED, timeout=10_000)
    with qtbot.waitSignal(alice.client.reconnect_scheduled, timeout=10_000):
        alice.client._conn._socket.abort()
    alice.client._reconnect_timer.stop()
    assert alice.resume(send_key)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED, timeout=10_000)
    assert status_text(alice.get(send_key)) == \
        "Interrupted: not connected to the server · resumes when bob is online"
    alice.client.reconnect_now()
    arrived(qtbot, apps, alice, send_key, bob, recv_key, source)


def test_a_resume_nobody_answered_goes_again_when_its_recipient_is_back(qtbot, apps, source):
    """bob's laptop sleeps mid-transfer: alice's resume went to a connection the server had
    not yet found dead, and waited for an answer for good (bob's next login never saw it).
    When bob goes offline it is withdrawn, and it goes again when he is back."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (0.2,))
    bob.client.transfer_offered.disconnect(bob._on_offered)  # (asleep: offers go unanswered)
    apps.relays[0].up = False
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.WAITING
                    and alice.get(send_key).resumed, timeout=15_000)
    held = part_file(apps, source).stat().st_size
    apps.quit(bob)  # (the server finds the connection dead)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED, timeout=10_000)
    assert status_text(alice.get(send_key)) == \
        "Interrupted: bob went offline · resumes when bob is online"
    bob = apps.login("bob")
    arrived(qtbot, apps, alice, send_key, bob, recv_key, source)
    assert apps.relays[-1].forwarded < (SIZE - held) * 1.15 + 50_000


def test_a_resume_that_comes_before_the_receiver_noticed_continues_its_card(qtbot, apps,
                                                                            source):
    """bob's laptop slept mid-transfer: alice's attempt failed and her app offered the file
    again, which reached bob's app as it woke, before his own end of the old attempt had
    noticed anything (15 s later). It was taken for a new file: a second card asking bob,
    alice "Waiting for bob to accept" for good, or (accepted) a second partial file from
    zero (a sleep hunt). Now it continues bob's card, from his partial file."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (0.2,))
    old = bob.get(recv_key).transfer_id
    gate = threading.Event()
    bob.transfer_engine._post.emit(lambda: gate.wait(30))  # (bob's transfers stand still)
    try:
        qtbot.waitUntil(lambda: bob.get(recv_key).transfer_id != old
                        and bob.get(recv_key).state is S.CONNECTING, timeout=15_000)
        held = bob.get(recv_key).done
    finally:
        gate.set()
    assert held > 0 and bob.model.rowCount() == 1  # (one card: the same)
    arrived(qtbot, apps, alice, send_key, bob, recv_key, source)
    assert apps.relays[-1].forwarded < (SIZE - held) * 1.15 + 50_000
    assert not list(part_file(apps, source).parent.glob("*.part"))  # (no second one)


def test_a_resume_waiting_on_another_device_reaches_the_one_with_the_partial_file(
        qtbot, apps, source):
    """bob's laptop quits mid-transfer while his desktop stays online: alice's resume went
    to the desktop only, as a new file, and the laptop (which holds the partial file and
    would take it by itself) never saw it when it came back; alice waited for good (a sleep
    hunt). Now the server gives a waiting offer to a session that logs in, and the laptop
    continues its card; the desktop's card ends as taken on another device."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (0.2,))
    desktop = apps.login("bob", device="desktop")
    apps.quit(bob)
    qtbot.waitUntil(lambda: desktop.model.rowCount() == 1, timeout=15_000)
    offered = desktop.model.transfers()[0]
    assert offered.state is S.INCOMING and alice.get(send_key).state is S.WAITING
    held = part_file(apps, source).stat().st_size
    bob = apps.login("bob")  # the laptop is back: its card takes the offer by itself
    arrived(qtbot, apps, alice, send_key, bob, recv_key, source)
    assert apps.relays[-1].forwarded < (SIZE - held) * 1.15 + 50_000
    qtbot.waitUntil(lambda: desktop.get(offered.key).state is S.CANCELLED, timeout=10_000)
    assert desktop.get(offered.key).error == "accepted on another device"


def test_a_cancel_made_while_the_recipient_was_away_reaches_them_at_their_login(
        qtbot, apps, source):
    """alice cancelled while bob's app was closed: bob's card kept saying "it resumes when
    alice sends it again" and his partial file stayed a week (a sleep hunt). The server now
    tells him at his next login; his card says it was cancelled (its partial file gone)."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (60.0,))
    apps.quit(bob)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED, timeout=10_000)
    assert alice.cancel(send_key)
    bob = apps.login("bob")
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.CANCELLED, timeout=10_000)
    assert bob.get(recv_key).by_peer
    assert not part_file(apps, source).exists()  # (as for a cancel while it ran)
    assert status_text(bob.get(recv_key)) == "Cancelled by alice"


def test_a_resume_cancelled_while_the_device_with_the_partial_file_was_away_ends_its_card(
        qtbot, apps, source):
    """bob's laptop (holding the partial file) quit mid-transfer, his desktop stayed online:
    alice's resume went to the desktop, and alice cancelled it. The laptop, back, still said
    "it resumes when alice sends it again" for good (a sleep hunt): it never saw the resume.
    The server now tells it the chain's first attempt was cancelled."""
    alice, bob, send_key, recv_key = start(qtbot, apps, source, (0.2,))
    desktop = apps.login("bob", device="desktop")
    apps.quit(bob)
    qtbot.waitUntil(lambda: desktop.model.rowCount() == 1
                    and alice.get(send_key).state is S.WAITING, timeout=15_000)
    assert alice.cancel(send_key)
    qtbot.waitUntil(lambda: desktop.model.transfers()[0].state is S.CANCELLED, timeout=10_000)
    bob = apps.login("bob")
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.CANCELLED, timeout=10_000)
    assert status_text(bob.get(recv_key)) == "Cancelled by alice"
    assert not part_file(apps, source).exists()


class FirstTwoSlow(Apps):
    """The first two attempts go through slow relays (to be cut); later ones are fast."""

    def route(self, host: str, port: int) -> tuple[str, int]:
        self.relays.append(Relay(port, RATE / 2 if len(self.relays) < 2 else None))
        return "127.0.0.1", self.relays[-1].port


def test_the_same_file_sent_twice_and_both_resumed_finish_on_their_own_cards(
        qtbot, server, tmp_path, source):
    """Both resumes went to one receive card (the second took it from the first, whose send
    was then refused for good) and the other card waited for good (a hunt): a resume goes
    to the card it names."""
    apps = FirstTwoSlow(qtbot, server, tmp_path)
    try:
        bob, alice = apps.login("bob"), apps.login("alice")
        qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
        recv: list[str] = []
        bob.transfer_added.connect(recv.append)
        assert alice.send_files("bob", [source, source]) is None
        qtbot.waitUntil(lambda: len(recv) == 2, timeout=10_000)
        sends = [t.key for t in alice.model.transfers()]
        for key in recv:
            assert bob.accept(key) is None
        qtbot.waitUntil(lambda: all(bob.get(k).state is S.ACTIVE and
                                    bob.get(k).done > SIZE // 10 for k in recv),
                        timeout=15_000)
        apps.quit(bob)
        qtbot.waitUntil(lambda: all(alice.get(k).state is S.FAILED for k in sends),
                        timeout=10_000)
        bob = apps.login("bob")
        added: list[str] = []
        bob.transfer_added.connect(added.append)
        for key in sends:
            assert alice.resume(key)
        qtbot.waitUntil(lambda: all(alice.get(k).state is S.DONE for k in sends) and
                        all(bob.get(k).state is S.DONE for k in recv), timeout=30_000)
        assert added == []  # (each resume continued a card: none came as a new one)
    finally:
        apps.close()


def test_a_download_folder_deleted_mid_transfer_still_gets_the_whole_file(
        qtbot, apps, tmp_path, source):
    """The user cleaned up Downloads while a file arrived: the receive failed at the end
    and left an empty file under the real name, and a resume then saved "name (1)" beside
    it (a hunt). The bytes, still in the open partial file, are saved under the real name."""
    bob, alice = apps.login("bob"), apps.login("alice")
    qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", source) is None
    key = added.args[0]
    assert bob.accept(key) is None
    qtbot.waitUntil(lambda: bob.get(key).done >= SIZE // 4, timeout=10_000)
    folder = bob.download_dir
    shutil.rmtree(folder)
    qtbot.waitUntil(lambda: bob.get(key).final, timeout=20_000)
    t = bob.get(key)
    assert t.state is S.DONE, t.error
    assert sorted(p.name for p in folder.iterdir()) == [source.name]
    assert hashlib.sha256((folder / source.name).read_bytes()).hexdigest() == \
        hashlib.sha256(source.read_bytes()).hexdigest()
