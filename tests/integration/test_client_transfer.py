"""File transfers between two ClientEngines, each with a TransferController, through a real
server (signalling) and real UDP sockets on 127.0.0.1 (the bytes)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import subprocess
import threading
from pathlib import Path

import pytest
from helpers.disks import tmpfs
from PySide6.QtCore import QObject
from PySide6.QtNetwork import QAbstractSocket, QHostAddress, QUdpSocket

from messenger.client.connection import ConnectionState
from messenger.client.conversations import group_key
from messenger.client.engine import ClientEngine
from messenger.client.models import MessageKind
from messenger.client.transfers import (
    TransferController,
    TransferPrefs,
    TransferState,
    status_text,
)
from messenger.protocol import TransferCancelled

MEDIA = Path("/work/shared/media/bigbuckbunny.mp4")
LOCAL = QHostAddress("127.0.0.1")
S = TransferState


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


class SlowRelay(QObject):
    """Forwards datagrams between the sender and ``target_port``, dropping 10% each way, so
    that a transfer lasts long enough to be cancelled in the middle."""

    def __init__(self, target_port: int, loss: float = 0.1) -> None:
        super().__init__()
        self.rng = random.Random(5)
        self.loss, self.target_port, self.client = loss, target_port, None
        self.sock = QUdpSocket(self)
        assert self.sock.bind(LOCAL, 0)
        self.sock.setSocketOption(QAbstractSocket.SocketOption.ReceiveBufferSizeSocketOption,
                                  4 << 20)
        self.port = self.sock.localPort()
        self.sock.readyRead.connect(self._relay)

    def _relay(self) -> None:
        while self.sock.hasPendingDatagrams():
            data, host, port = self.sock.readDatagram(65536)
            if port == self.target_port:
                dest = self.client
            else:
                self.client = (QHostAddress(host), port)
                dest = (LOCAL, self.target_port)
            if dest is not None and self.rng.random() >= self.loss:
                self.sock.writeDatagram(data.data(), dest[0], dest[1])


class BlackHole(QObject):
    """A UDP socket on 127.0.0.1 that reads every datagram and answers none: a receiver
    behind a firewall that drops UDP, as far as the sender can tell."""

    def __init__(self) -> None:
        super().__init__()
        self.sock = QUdpSocket(self)
        assert self.sock.bind(LOCAL, 0)
        self.port = self.sock.localPort()
        self.swallowed = 0
        self.sock.readyRead.connect(self._drain)

    def _drain(self) -> None:
        while self.sock.hasPendingDatagrams():
            self.sock.readDatagram(65536)
            self.swallowed += 1


@pytest.fixture
def peers(qtbot, server, tmp_path):
    """``peers(alice_prefs, bob_prefs, on=server, **options)`` → (alice, bob): logged-in
    engines with controllers (on the ``server`` fixture's server unless ``on`` names
    another; ``options`` for both TransferControllers; a contact's going offline shows at
    once: ``offline_grace_ms`` 0); bob's download folder is tmp_path/bob-downloads."""
    made: list[tuple[ClientEngine, TransferController]] = []

    def login(user: str, on=None, controller_options=None, **prefs) -> TransferController:
        engine = ClientEngine(offline_grace_ms=0)
        with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to((on or server).host, (on or server).port)
            engine.login(user, f"{user}123")
        controller = TransferController(
            engine, TransferPrefs(download_dir=tmp_path / f"{user}-downloads", **prefs),
            **(controller_options or {}))
        made.append((engine, controller))
        return controller

    def factory(alice_prefs=None, bob_prefs=None, on=None, **options):
        bob = login("bob", on, options, **(bob_prefs or {}))
        alice = login("alice", on, options, **(alice_prefs or {}))
        qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
        return alice, bob

    yield factory
    for engine, controller in made:
        controller.close()
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e, _ in made))


def state(controller: TransferController, key: str) -> TransferState:
    return controller.get(key).state


def offer(qtbot, alice, bob, path: Path) -> tuple[str, str]:
    """Alice offers ``path`` to bob; returns (alice's key, bob's key) once bob has the card."""
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", path) is None
    send_key = alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole)
    return send_key, added.args[0]


def test_offer_accept_delivers_the_file_byte_exact(qtbot, peers, tmp_path):
    alice, bob = peers()
    src = MEDIA
    send_key, recv_key = offer(qtbot, alice, bob, src)
    t = bob.get(recv_key)
    assert (t.state, t.name, t.size, t.peer, t.is_video) == (S.INCOMING, src.name,
                                                             src.stat().st_size, "alice", True)
    assert t.sha256 == sha256_of(src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING)
    # Both conversations show a card.
    for controller, key in ((alice, "bob"), (bob, "alice")):
        kinds = [i.kind for i in controller.client.conversation(key).items()]
        assert MessageKind.TRANSFER in kinds
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(alice, send_key) is S.DONE and state(bob, recv_key) is S.DONE,
                    timeout=20_000)
    received = Path(bob.get(recv_key).path)
    assert received.parent == tmp_path / "bob-downloads"
    assert sha256_of(received) == sha256_of(src)
    assert bob.get(recv_key).done == src.stat().st_size
    assert tree(tmp_path / "bob-downloads") == [received.name]


def _has_ipv6_loopback() -> bool:
    sock = QUdpSocket()
    try:
        return sock.bind(QHostAddress("::1"), 0)
    finally:
        sock.close()


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 on this machine")
def test_a_file_arrives_when_the_chat_server_is_reached_over_ipv6(qtbot, peers, make_server,
                                                                  tmp_path):
    """Two apps that reached the chat server over IPv6 (a name resolving to an IPv6 address
    first, as on most LANs today; here ``::1``) chatted fine, but every file failed after the
    idle timeout with "connection lost": the transfer socket was bound to 0.0.0.0 (IPv4 only)
    while the endpoint the receiver announced, and the one the server saw, were IPv6."""
    alice, bob = peers(on=make_server(demo=True, host="::1"))
    src = tmp_path / "notes.bin"
    src.write_bytes(random.Random(3).randbytes(200_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING, timeout=10_000)
    assert bob.accept(recv_key) is None
    # (both ends: the receiver is done first, the sender at its answer a moment later; the
    # wait ended at bob's done, and under load alice's card still said connecting)
    qtbot.waitUntil(lambda: alice.get(send_key).final and bob.get(recv_key).final,
                    timeout=20_000)
    assert (state(alice, send_key), alice.get(send_key).error) == (S.DONE, "")
    t = bob.get(recv_key)
    assert (t.state, t.error) == (S.DONE, "")
    assert sha256_of(Path(t.path)) == sha256_of(src)


def test_a_receiver_that_udp_never_reaches_is_not_called_a_lost_connection(qtbot, peers,
                                                                           tmp_path):
    """The recipient's computer drops UDP (a firewall, a guest Wi-Fi that isolates clients):
    the QUIC handshake never completes. The sender's card said "connection lost (Idle
    timeout); the transfer can resume where it stopped" -- of a connection never made and a
    transfer never started -- and resumed by itself again and again, each try ending the same
    way. It says bob's computer could not be reached, and does not retry by itself."""
    from messenger.transfer import Settings

    hole = BlackHole()
    alice, bob = peers(settings=Settings(idle_timeout=1.0), auto_resume_delays=(0.2,),
                       route=lambda host, port: ("127.0.0.1", hole.port))
    src = tmp_path / "notes.bin"
    src.write_bytes(random.Random(4).randbytes(50_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING, timeout=10_000)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(alice, send_key) is S.FAILED, timeout=10_000)
    assert hole.swallowed > 0  # (the handshake went out, nothing came back)
    t = alice.get(send_key)
    assert t.error == "could not reach bob's computer (no answer: a firewall blocking UDP?)"
    assert not t.auto_resume and alice.can_resume(send_key)  # (Resume, when it is mended)
    assert status_text(t).startswith("Failed: could not reach bob's computer"), status_text(t)


def test_decline_tells_the_sender(qtbot, peers, tmp_path):
    alice, bob = peers()
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING)
    assert bob.decline(recv_key, "not now")
    qtbot.waitUntil(lambda: state(alice, send_key) is S.DECLINED)
    t = alice.get(send_key)
    assert t.by_peer and t.error == "not now"
    assert state(bob, recv_key) is S.DECLINED
    assert tree(tmp_path / "bob-downloads") == []


def test_offer_to_an_offline_user_fails_clearly(qtbot, peers, tmp_path):
    alice, bob = peers()
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 100)
    # Refused before anything is hashed or sent: the roster says charlie is offline.
    reason = alice.send_file("charlie", src)
    assert reason is not None and "offline" in reason
    assert alice.model.rowCount() == 0
    # The server's verdict when the roster is out of date: user_offline, shown on the card.
    bob.client.close()
    qtbot.waitUntil(lambda: not alice.client.roster.contact("bob").online)
    alice.client.roster.set_online("bob", True)  # a stale roster
    assert alice.send_file("bob", src) is None
    key = alice.model.index(0, 0).data(alice.model.IdRole)
    qtbot.waitUntil(lambda: state(alice, key) is S.FAILED)
    assert "offline" in alice.get(key).error


def test_a_file_that_grew_before_it_was_hashed_is_offered_at_its_hashed_size(qtbot, peers,
                                                                              tmp_path):
    """A file still being written by another program (a download, a log) when it was
    dropped: its size was taken at the drop and its hash a moment later, of the longer file.
    The offer said the old size with the new hash, and once bob accepted, both cards failed
    ("the file changed since it was offered", "sender's file has 2000 bytes, the offer said
    1000") though nothing had changed since. The offer says the size that was hashed."""
    alice, bob = peers()
    busy = []  # (two big files first: both hashing threads are taken while the file grows)
    for i in range(2):
        big = tmp_path / f"big{i}.bin"
        with open(big, "wb") as f:
            f.truncate(256 << 20)
        busy.append(big)
    assert alice.send_files("bob", busy) is None
    src = tmp_path / "download.log"
    src.write_bytes(b"a" * 1000)
    with qtbot.waitSignal(bob.transfer_added, timeout=20_000,
                          check_params_cb=lambda key: bob.get(key).name == src.name) as added:
        assert alice.send_file("bob", src) is None
        with open(src, "ab") as f:
            f.write(b"b" * 1000)  # (the other program writes on)
    send_key = next(t.key for t in alice.model.transfers() if t.name == src.name)
    recv_key = added.args[0]
    assert (alice.get(send_key).size, bob.get(recv_key).size) == (2000, 2000)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: alice.get(send_key).final and bob.get(recv_key).final,
                    timeout=20_000)
    assert (state(alice, send_key), alice.get(send_key).error) == (S.DONE, "")
    assert Path(bob.get(recv_key).path).read_bytes() == b"a" * 1000 + b"b" * 1000


def test_size_over_the_limit_is_declined_before_any_byte_moves(qtbot, peers, tmp_path):
    alice, bob = peers(bob_prefs={"size_limit": 1000})
    src = tmp_path / "big.bin"
    src.write_bytes(b"y" * 5000)
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.DECLINED)
    assert "too large" in alice.get(send_key).error
    t = bob.get(recv_key)
    assert t.state is S.DECLINED and "too large" in t.error
    assert bob.transfer_engine is None  # no socket was even opened
    assert tree(tmp_path / "bob-downloads") == []


@pytest.mark.parametrize("side", ["sender", "receiver"])
def test_cancel_from_either_side_leaves_no_partial_file(qtbot, peers, tmp_path, side):
    relays: list[SlowRelay] = []

    def through_relay(host: str, port: int) -> tuple[str, int]:
        relays.append(SlowRelay(port))
        return "127.0.0.1", relays[-1].port

    alice, bob = peers()
    alice.route = through_relay
    src = tmp_path / "big.bin"
    src.write_bytes(random.Random(1).randbytes(20_000_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    bob.accept(recv_key)
    downloads = tmp_path / "bob-downloads"
    qtbot.waitUntil(lambda: bob.get(recv_key).done > 500_000, timeout=15_000)
    assert state(bob, recv_key) is S.ACTIVE and tree(downloads) != []
    (alice if side == "sender" else bob).cancel(send_key if side == "sender" else recv_key)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.CANCELLED
                    and state(bob, recv_key) is S.CANCELLED, timeout=10_000)
    assert alice.get(send_key).by_peer == (side == "receiver")
    assert bob.get(recv_key).by_peer == (side == "sender")
    qtbot.waitUntil(lambda: tree(downloads) == [], timeout=5_000)


def test_a_cancel_that_overtakes_the_finish_shows_the_saved_file(qtbot, peers, tmp_path):
    """The peer's cancel comes through the server just as the file is complete: between the
    engine's 100 % progress and its ``finished`` (queued from the transfer thread). The file was
    saved and verified, so the card ends Done with its path, not Cancelled."""
    alice, bob = peers()
    src = tmp_path / "notes.bin"
    src.write_bytes(random.Random(2).randbytes(300_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    assert bob.accept(recv_key) is None
    tid = bob.get(recv_key).transfer_id
    cancels: list[str] = []

    def on_progress(transfer_id: str, done: int, total: int, _rate: float) -> None:
        if transfer_id == tid and done == total and not cancels:
            cancels.append(transfer_id)  # delivered at once, before the queued finished
            bob.client.transfer_cancelled.emit(
                TransferCancelled(transfer_id=tid, user="alice", reason="changed my mind"))
            assert bob.get(recv_key).state is S.CANCELLED

    bob.transfer_engine.progress.connect(on_progress)
    qtbot.waitUntil(lambda: bool(cancels) and bob.get(recv_key).state is S.DONE, timeout=20_000)
    received = Path(bob.get(recv_key).path)
    assert received.parent == tmp_path / "bob-downloads"
    assert sha256_of(received) == sha256_of(src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.DONE, timeout=10_000)


def test_a_group_tab_offers_the_file_to_every_online_member(qtbot, peers, tmp_path):
    alice, bob = peers()
    client = alice.client
    with qtbot.waitSignal(bob.client.invitation_received, timeout=10_000):
        client.create_group("crew", ["bob", "charlie"])
    with qtbot.waitSignal(client.groups.dataChanged, timeout=10_000):
        bob.client.accept_invitation("crew")
    qtbot.waitUntil(lambda: "bob" in client.groups.group("crew").members)
    src = tmp_path / "plan.txt"
    src.write_text("the plan")
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000):
        assert alice.send_file(group_key("crew"), src) is None
    # charlie is offline (and only invited): one offer, to bob, shown in the group's tab.
    assert [t.peer for t in alice.model.transfers()] == ["bob"]
    kinds = [i.kind for i in client.group_conversation("crew").items()]
    assert MessageKind.TRANSFER in kinds


def test_an_accepted_receive_whose_sender_never_connects_fails_and_keeps_its_part(
        qtbot, peers, tmp_path):
    """Alice's datagrams go into a black hole (an unreachable endpoint): her send would only
    end by QUIC's idle timeout, and her app does not tell bob's. Bob's card used to stay
    "connecting" for good; now it fails after ``connect_timeout``, keeps the partial file
    (so a resume still works) and is no longer registered with his transfer engine."""
    hole = QUdpSocket()
    assert hole.bind(LOCAL, 0)  # bound, never read: nothing comes back
    alice, bob = peers()
    alice.route = lambda host, port: ("127.0.0.1", hole.localPort())
    bob.connect_timeout = 0.5
    src = tmp_path / "data.bin"
    data = random.Random(3).randbytes(100_000)
    src.write_bytes(data)
    send_key, recv_key = offer(qtbot, alice, bob, src)
    part = bob.partial_path(bob.get(recv_key))
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:4000])  # held from an earlier attempt
    assert bob.accept(recv_key) is None
    assert state(bob, recv_key) is S.CONNECTING
    # alice's engine tries; it reports progress of 0 bytes while the connection is still
    # being set up, and her card keeps saying "connecting" meanwhile
    qtbot.waitUntil(lambda: state(alice, send_key) is S.CONNECTING)
    qtbot.waitUntil(lambda: state(bob, recv_key) is S.FAILED, timeout=5_000)
    t = bob.get(recv_key)
    assert "did not connect within 0.5 s" in t.error and t.accepted
    endpoint = bob.transfer_engine._worker.endpoint
    qtbot.waitUntil(lambda: endpoint.registrations == [])
    assert part.read_bytes() == data[:4000]
    assert state(alice, send_key) is S.CONNECTING  # still trying (15 s), no byte moved
    hole.close()


def test_an_accepted_file_offered_again_under_another_name_asks_again(qtbot, peers,
                                                                     tmp_path):
    """An accepted receive failed (the sender never connected); the same bytes offered
    again under another name and type were taken for its resume: accepted without asking,
    renamed to what bob never saw ("holiday.jpg" → "holiday.jpg.desktop"; a security
    review). Only an offer under the card's own name continues it."""
    hole = QUdpSocket()
    assert hole.bind(LOCAL, 0)
    alice, bob = peers()
    alice.route = lambda host, port: ("127.0.0.1", hole.localPort())
    bob.connect_timeout = 0.5
    src = tmp_path / "holiday.jpg"
    src.write_bytes(random.Random(4).randbytes(50_000))
    _send_key, recv_key = offer(qtbot, alice, bob, src)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(bob, recv_key) is S.FAILED, timeout=5_000)
    assert bob.get(recv_key).accepted
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        alice.client.offer_transfer("bob", "holiday.jpg.desktop", src.stat().st_size,
                                    sha256_of(src), "application/x-desktop", "127.0.0.1", 9)
    renamed = bob.get(added.args[0])
    assert added.args[0] != recv_key and renamed.name == "holiday.jpg.desktop"
    assert renamed.state is S.INCOMING  # asks
    old = bob.get(recv_key)
    assert (old.name, old.state) == ("holiday.jpg", S.FAILED)
    hole.close()


def test_discard_is_offered_only_when_a_partial_file_is_there(qtbot, peers, tmp_path):
    """An offer withdrawn before it was answered showed Discard, which then said "Discarded
    (the partly received file was deleted)" of nothing (a hunt)."""
    alice, bob = peers()
    src = tmp_path / "data.bin"
    src.write_bytes(b"x" * 1000)
    send_key, recv_key = offer(qtbot, alice, bob, src)
    with qtbot.waitSignal(bob.transfer_changed, timeout=10_000,
                          check_params_cb=lambda k: state(bob, recv_key) is S.CANCELLED):
        alice.cancel(send_key)
    assert bob.can_discard(recv_key) and not bob.offers_discard(recv_key)


def test_a_file_saved_again_while_it_is_hashed_is_hashed_again(qtbot, peers, tmp_path,
                                                                monkeypatch):
    """An editor saved the file (same size) while the app hashed it: the hash of old and new
    bytes mixed was cached as the new version's, and every send of it arrived "damaged"
    until the app restarted (a hunt). The save happens here between the read and the
    check that follows it."""
    from messenger.client import transfers as transfers_module

    alice, _bob = peers()
    src = tmp_path / "video.mp4"
    src.write_bytes(b"a" * 100_000)
    real_stat = os.stat
    saves = [b"b" * 100_000]

    def stat_after_a_save(path, *args, **kwargs):
        if saves and str(path) == str(src):
            src.write_bytes(saves.pop())  # (the editor saves, same size)
            st = real_stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(transfers_module.os, "stat", stat_after_a_save)
    got: list[tuple] = []
    alice._hashed.connect(lambda *args: got.append(args))
    alice._hash(str(src), threading.Event())
    monkeypatch.setattr(transfers_module.os, "stat", real_stat)
    ((_file, digest, error, version, _stop),) = got
    assert error == "" and digest == sha256_of(src)  # (the saved bytes)
    assert alice._hashes[version] == digest and version[0] == str(src)


def test_an_accept_refused_for_a_fixable_reason_keeps_the_offer_open(qtbot, peers,
                                                                     tmp_path):
    """Accept on a disk that had filled since the offer declined it, said "You declined it"
    (the sender read "bob declined it"), and nothing could be accepted once space was freed
    (a hunt). Here the size limit, lowered since the offer, stands for the full disk."""
    alice, bob = peers()
    src = tmp_path / "data.bin"
    src.write_bytes(b"x" * 100_000)
    _send_key, recv_key = offer(qtbot, alice, bob, src)
    limit, bob.prefs.size_limit = bob.prefs.size_limit, 1000
    reason = bob.accept(recv_key)
    assert reason is not None and reason.startswith("file too large")
    t = bob.get(recv_key)
    assert t.state is S.INCOMING and status_text(t).startswith("Cannot accept it yet: file")
    bob.prefs.size_limit = limit  # (space freed)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(bob, recv_key) is S.DONE, timeout=10_000)


@pytest.fixture
def read_only_folder():
    """``read_only_folder(folder)`` makes ``folder`` read-only (a read-only tmpfs as root, who
    may write anywhere else; mode 0555 otherwise) and returns a function that makes it
    writable again. Unmounted after the test."""
    with contextlib.ExitStack() as mounts:

        def make(folder: Path):
            if os.geteuid() != 0:
                folder.mkdir(parents=True, exist_ok=True)
                folder.chmod(0o555)
                return lambda: folder.chmod(0o755)
            mounts.enter_context(tmpfs(folder, "8m", read_only=True))
            return lambda: subprocess.run(["mount", "-o", "remount,rw", str(folder)],
                                          check=True)

        yield make


def test_accepting_into_a_read_only_download_folder_says_so_and_keeps_the_offer(
        qtbot, peers, tmp_path, read_only_folder):
    """A download folder that cannot be written (a read-only share, a write-protected USB
    stick, another user's folder) passed the accept check (it only made the folder and
    asked the free space): the card went to Connecting, then failed at the first byte with
    "cannot write file: Read-only file system", and the offer was used up. Accept now says
    so ("cannot use the download folder …") and keeps the offer open, to accept once the
    folder is mended."""
    writable = read_only_folder(tmp_path / "bob-downloads")
    alice, bob = peers()
    src = tmp_path / "notes.bin"
    src.write_bytes(random.Random(11).randbytes(300_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING, timeout=10_000)
    reason = bob.accept(recv_key)
    assert reason is not None and reason.startswith("cannot use the download folder"), reason
    assert "cannot be written" in reason
    t = bob.get(recv_key)
    assert (t.state, t.error) == (S.INCOMING, reason)
    assert state(alice, send_key) is S.WAITING
    writable()
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(bob, recv_key) is S.DONE, timeout=10_000)
    assert sha256_of(Path(bob.get(recv_key).path)) == sha256_of(src)


def test_recipient_on_two_devices_both_accepting_gets_the_file_once(qtbot, peers, server,
                                                                    tmp_path):
    """Bob is logged in on two devices, both accepting alice's files without asking. One
    receives the file; the other's card says it was accepted on another device; alice's card
    never shows Failed. A repeated accept event while sending is ignored, and a late
    ``finished`` from the engine does not revive a card that has ended."""
    alice, bob = peers(bob_prefs={"auto_accept": frozenset({"alice"})})
    engine = ClientEngine(data_dir=tmp_path / "laptop-data")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login("bob", "bob123")
    laptop = TransferController(engine, TransferPrefs(
        download_dir=tmp_path / "laptop-downloads", auto_accept=frozenset({"alice"})))
    seen: list[TransferState] = []
    alice.transfer_changed.connect(lambda key: seen.append(alice.get(key).state))
    accepted: list = []

    def accept_again(ev) -> None:  # runs after alice's controller handled the event
        accepted.append((ev, state(alice, send_key)))
        if len(accepted) == 1:  # the same accept again while connecting (an older server)
            alice.client.transfer_accepted.emit(ev)

    alice.client.transfer_accepted.connect(accept_again)
    src = tmp_path / "doc.bin"
    data = random.Random(4).randbytes(300_000)
    src.write_bytes(data)
    try:
        with qtbot.waitSignal(laptop.transfer_added, timeout=10_000):
            send_key, phone_key = offer(qtbot, alice, bob, src)
        laptop_key = laptop.model.index(0, 0).data(laptop.model.IdRole)
        qtbot.waitUntil(lambda: state(alice, send_key) is S.DONE, timeout=10_000)
        qtbot.waitUntil(lambda: {state(bob, phone_key), state(laptop, laptop_key)}
                        == {S.DONE, S.CANCELLED}, timeout=5_000)
        winner, loser, loser_key = (bob, laptop, laptop_key) if \
            state(bob, phone_key) is S.DONE else (laptop, bob, phone_key)
        assert loser.get(loser_key).error == "accepted on another device"
        assert Path(winner.get(phone_key if winner is bob else laptop_key).path) \
            .read_bytes() == data
        assert tree(tmp_path / ("laptop-downloads" if loser is laptop else "bob-downloads")) \
            == []
        assert S.FAILED not in seen
        assert [st for _ev, st in accepted] == [S.CONNECTING, S.CONNECTING]
        # A late engine event for an ended card, naming no saved file, does not revive it.
        loser._on_finished(loser.get(loser_key).transfer_id, "/nowhere", "00")
        assert state(loser, loser_key) is S.CANCELLED
    finally:
        laptop.close()
        engine.close()
        qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_an_offer_answered_on_another_device_stops_asking_here(qtbot, peers, server,
                                                               tmp_path):
    """Bob is logged in on two devices and answers alice's offers on his phone: the laptop's
    card ends by itself, saying where it was answered (it kept offering Accept / Decline,
    and counting as unread, until clicked)."""
    alice, bob = peers()
    engine = ClientEngine(data_dir=tmp_path / "laptop-data")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login("bob", "bob123")
    laptop = TransferController(engine, TransferPrefs(download_dir=tmp_path / "laptop-dl"))
    try:
        for n, (answer, said) in enumerate((("accept", "accepted on another device"),
                                             ("decline", "declined on another device"))):
            src = tmp_path / f"doc{n}.bin"
            src.write_bytes(random.Random(n).randbytes(50_000))
            with qtbot.waitSignal(laptop.transfer_added, timeout=10_000) as added:
                send_key, phone_key = offer(qtbot, alice, bob, src)
            laptop_key = added.args[0]
            assert state(laptop, laptop_key) is S.INCOMING
            assert engine.unread("alice") == 1  # news here too, until answered there
            if answer == "accept":
                assert bob.accept(phone_key) is None
            else:
                assert bob.decline(phone_key)
            qtbot.waitUntil(lambda k=laptop_key: state(laptop, k) is S.CANCELLED,
                            timeout=10_000)
            t = laptop.get(laptop_key)
            assert (t.error, t.by_peer) == (said, False)
            assert status_text(t) == said.capitalize()
            assert engine.unread("alice") == 0  # as for messages read on another device
            done = S.DONE if answer == "accept" else S.DECLINED
            qtbot.waitUntil(lambda k=send_key, d=done: state(alice, k) is d, timeout=10_000)
        assert tree(tmp_path / "laptop-dl") == []
    finally:
        laptop.close()
        engine.close()
        qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_an_accept_the_server_refuses_keeps_the_partial_file(qtbot, peers, tmp_path):
    """Bob's other device declined alice's offer (the server forgets it and tells only alice),
    then bob accepts it here: the server answers ``unknown_transfer``. The card fails, his
    transfer engine stops expecting it, and the partial file from an earlier attempt — resume
    data for alice's next offer of the file — is kept."""
    alice, bob = peers()
    src = tmp_path / "data.bin"
    data = random.Random(6).randbytes(100_000)
    src.write_bytes(data)
    send_key, recv_key = offer(qtbot, alice, bob, src)
    part = bob.partial_path(bob.get(recv_key))
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:4000])  # held from an earlier attempt
    with qtbot.waitSignal(alice.transfer_changed, timeout=10_000,
                          check_params_cb=lambda key: key == send_key
                          and state(alice, key) is S.DECLINED):
        assert bob.client.decline_transfer(bob.get(recv_key).transfer_id, "on my laptop")
    assert state(bob, recv_key) is S.INCOMING  # the server does not tell this device
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(bob, recv_key) is S.FAILED, timeout=10_000)
    assert bob.get(recv_key).error.startswith("the offer is no longer open (withdrawn by "
                                              "alice, answered on another device")
    endpoint = bob.transfer_engine._worker.endpoint
    qtbot.waitUntil(lambda: endpoint.registrations == [])
    assert part.read_bytes() == data[:4000]


def test_accepting_an_offer_whose_sender_went_offline_says_so_at_once(qtbot, peers,
                                                                     tmp_path):
    """Alice's app quit while her offer waited (an offer *from* someone who went offline
    stays open). Bob clicked Accept: the server took it and relayed it to nobody, and his
    card said "Connecting…" for 30 s before "alice's app did not connect within 30 s" (a
    hunt). The server answers ``user_offline``: the card says so at once, stays accepted
    (the file comes by itself when alice sends it again) and keeps no registration."""
    alice, bob = peers()
    src = tmp_path / "slides.pdf"
    src.write_bytes(b"%PDF" + b"s" * 3000)
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING)
    alice.close()
    alice.client.close()
    qtbot.waitUntil(lambda: not bob.client.roster.contact("alice").online, timeout=10_000)
    assert state(bob, recv_key) is S.INCOMING
    assert bob.accept(recv_key) is None
    with qtbot.waitSignal(bob.transfer_finished, timeout=5_000):
        pass
    t = bob.get(recv_key)
    assert t.state is S.FAILED and t.accepted
    assert status_text(t) == ("Failed: the app alice offered it from is no longer connected; "
                              "the file comes when alice sends it again")
    endpoint = bob.transfer_engine._worker.endpoint
    qtbot.waitUntil(lambda: endpoint.registrations == [])


def test_accepting_an_offer_whose_app_quit_while_another_device_stays_says_so_at_once(
        qtbot, peers, server, tmp_path):
    """Alice offered a file from her desktop, then quit the app there; her laptop stays
    logged in. Bob clicked Accept: the server took it (alice was online) and relayed it to
    the laptop, which never made the offer, and his card said "Connecting…" for 30 s before
    "alice's app did not connect within 30 s" (a hunt). The server answers
    ``user_offline`` as for a sender with no session: the card says at once that the app
    the file was offered from is gone, stays accepted (the file comes by itself when alice
    sends it again) and keeps no registration."""
    alice, bob = peers()
    laptop = ClientEngine(data_dir=tmp_path / "alice-laptop", offline_grace_ms=0)
    try:
        with qtbot.waitSignal(laptop.login_succeeded, timeout=10_000):
            laptop.connect_to(server.host, server.port)
            laptop.login("alice", "alice123")
        src = tmp_path / "slides.pdf"
        src.write_bytes(b"%PDF" + b"s" * 3000)
        send_key, recv_key = offer(qtbot, alice, bob, src)
        qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING)
        alice.close()
        with qtbot.waitSignal(alice.client.logged_out, timeout=10_000):
            alice.client.logout()
        assert bob.client.roster.contact("alice").online  # (the laptop)
        assert state(bob, recv_key) is S.INCOMING
        assert bob.accept(recv_key) is None
        with qtbot.waitSignal(bob.transfer_finished, timeout=5_000):
            pass
        t = bob.get(recv_key)
        assert t.state is S.FAILED and t.accepted
        assert status_text(t) == ("Failed: the app alice offered it from is no longer "
                                  "connected; the file comes when alice sends it again")
        endpoint = bob.transfer_engine._worker.endpoint
        qtbot.waitUntil(lambda: endpoint.registrations == [])
    finally:
        laptop.close()
        qtbot.waitUntil(lambda: laptop.state is ConnectionState.DISCONNECTED)


def test_a_file_edited_after_it_was_offered_is_not_blamed_on_the_network(qtbot, peers,
                                                                        tmp_path):
    """Alice offered data.db; before bob accepted, her program wrote into it in place (same
    size). Her app sent it as it was then: every byte crossed the network, bob's app found
    the SHA-256 wrong, and both cards blamed the transport ("the file arrived damaged",
    "SHA-256 mismatch"; a hunt). The send stops before the first byte and both cards say the
    file changed; Resume offers it as it is now."""
    alice, bob = peers()
    src = tmp_path / "data.db"
    src.write_bytes(random.Random(3).randbytes(2_000_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING)
    with src.open("r+b") as f:  # an in-place edit that keeps the size
        f.seek(1000)
        f.write(b"EDITED")
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: alice.get(send_key).final and bob.get(recv_key).final,
                    timeout=10_000)
    t = alice.get(send_key)
    assert (t.state, t.done) == (S.FAILED, 0)
    assert status_text(t) == ("Failed: the file changed since it was offered; it has to be "
                              "offered again")
    r = bob.get(recv_key)
    assert r.state is S.CANCELLED and r.by_peer and "changed" in r.error
    assert alice.can_resume(send_key)


def test_a_file_whose_permissions_changed_after_it_was_offered_still_arrives(qtbot, peers,
                                                                             tmp_path):
    """Alice offered report.pdf, then made it private (``chmod 600``) before bob accepted.
    Its content is the same, yet her card failed at once with "the file changed since it was
    offered; it has to be offered again" (a hunt): the check before the first byte compared
    the change time too, which ``chmod``, a rename or a hard link move. It compares what the
    check while sending compares (size, modification time, inode); the file arrives."""
    alice, bob = peers()
    src = tmp_path / "report.pdf"
    src.write_bytes(random.Random(4).randbytes(300_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: state(alice, send_key) is S.WAITING)
    src.chmod(0o600)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: alice.get(send_key).final and bob.get(recv_key).final,
                    timeout=20_000)
    assert state(alice, send_key) is S.DONE, alice.get(send_key).error
    assert state(bob, recv_key) is S.DONE
    assert sha256_of(Path(bob.get(recv_key).path)) == sha256_of(src)


def test_a_file_moved_while_it_was_sent_is_found_by_the_finished_card(qtbot, peers, tmp_path):
    """Alice moved the video she was sending into another folder while its bytes were on
    the way. The send finished (the content was the same), but her card still named the old
    place: Open and Show in folder were greyed out, as for a deleted file (a hunt). The card
    follows the file the app had open: it names where the file is now."""
    relays: list[SlowRelay] = []

    def through_relay(host: str, port: int) -> tuple[str, int]:
        relays.append(SlowRelay(port, loss=0.05))
        return "127.0.0.1", relays[-1].port

    alice, bob = peers()
    alice.route = through_relay
    src = tmp_path / "holiday.mp4"
    src.write_bytes(random.Random(6).randbytes(12_000_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: bob.get(recv_key).done > 500_000, timeout=15_000)
    assert not alice.get(send_key).final
    (tmp_path / "Archive").mkdir()
    moved = src.rename(tmp_path / "Archive" / "holiday.mp4")
    qtbot.waitUntil(lambda: alice.get(send_key).final and bob.get(recv_key).final,
                    timeout=30_000)
    t = alice.get(send_key)
    assert t.state is S.DONE, t.error
    assert Path(t.path) == moved
    assert sha256_of(Path(bob.get(recv_key).path)) == sha256_of(moved)


def test_the_apps_log_does_not_name_the_files_sent_and_received(qtbot, peers, tmp_path,
                                                                caplog):
    """The app's log (``messenger.log``, kept for weeks, attached to bug reports) named every
    file sent and received and where it was saved, "transfer …: stored
    /home/bob/Downloads/Messenger/divorce-papers.pdf", "expecting 'divorce-papers.pdf'"
    (a hunt), while the server's log already names none. At INFO it keeps the transfer id,
    the size and the peer; names and paths are for ``-v`` (DEBUG)."""
    caplog.set_level(logging.INFO, logger="messenger")
    alice, bob = peers()
    src = tmp_path / "divorce-papers.pdf"
    src.write_bytes(random.Random(8).randbytes(100_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(alice, send_key) is S.DONE and state(bob, recv_key) is S.DONE,
                    timeout=20_000)
    lines = [r.getMessage() for r in caplog.records
             if r.name.startswith("messenger") and r.levelno >= logging.INFO]
    assert any(bob.get(recv_key).transfer_id in line for line in lines), lines
    named = [line for line in lines if "divorce-papers" in line]
    assert named == []


def test_a_receive_whose_partial_file_is_still_checked_is_not_failed_by_the_watchdog(
        qtbot, peers, tmp_path, monkeypatch):
    """The sender is connected and waits while bob's app checks a large partial file (slow
    disk: a gate held by the test). That is not "did not connect": past connect_timeout the
    card still waits, and then the file arrives, resumed."""
    import threading

    from messenger.transfer import endpoint as endpoint_mod

    alice, bob = peers()
    src = tmp_path / "data.bin"
    data = random.Random(5).randbytes(400_000)
    src.write_bytes(data)
    _, recv_key = offer(qtbot, alice, bob, src)
    part = bob.partial_path(bob.get(recv_key))
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100_000])  # held from an earlier attempt
    gate = threading.Event()
    real_open = endpoint_mod.PartFile.open

    def slow_open(partfile):
        gate.wait(30)
        return real_open(partfile)

    monkeypatch.setattr(endpoint_mod.PartFile, "open", slow_open)
    try:
        assert bob.accept(recv_key) is None
        qtbot.waitUntil(lambda: bob.get(recv_key).linked, timeout=10_000)
        # The watchdog fires now (as past connect_timeout; a real 0.5 s timer could fire
        # before a loaded machine had even linked).
        bob._connect_watchdog(recv_key, bob.get(recv_key).transfer_id)
        assert state(bob, recv_key) is S.CONNECTING
    finally:
        gate.set()
    qtbot.waitUntil(lambda: state(bob, recv_key) is S.DONE, timeout=20_000)
    assert Path(bob.get(recv_key).path).read_bytes() == data


def test_two_files_with_the_same_bytes_both_arrive(qtbot, peers, tmp_path):
    """Two copies of one file under two names, auto-accepted: the second offer is no Resume
    of the first (whose card still waits for its connection), so both arrive (the second
    once took the first's card and released it, and the first send failed)."""
    alice, _bob = peers(bob_prefs={"auto_accept": frozenset({"alice"})})
    data = random.Random(3).randbytes(300_000)
    a, b = tmp_path / "photo.jpg", tmp_path / "photo (1).jpg"
    a.write_bytes(data)
    b.write_bytes(data)
    assert alice.send_files("bob", [a, b]) is None
    sends = [alice.model.index(r, 0).data(alice.model.IdRole)
             for r in range(alice.model.rowCount())]
    assert len(sends) == 2
    qtbot.waitUntil(lambda: all(alice.get(k).final for k in sends), timeout=20_000)
    assert [(state(alice, k), alice.get(k).error) for k in sends] == [(S.DONE, "")] * 2
    got = [p for p in (tmp_path / "bob-downloads").iterdir() if p.is_file()]
    assert len(got) == 2 and all(p.read_bytes() == data for p in got)


def test_a_file_edited_in_place_keeping_size_and_mtime_is_hashed_again(qtbot, peers,
                                                                       tmp_path):
    """An edit that keeps the size and the modification time (``cp -p``, ``rsync -t``,
    ``exiftool -P``) is a new version: it is hashed again, not offered under the old hash
    (which made every send and Resume of it fail with a checksum error until a restart)."""
    alice, bob = peers(bob_prefs={"auto_accept": frozenset({"alice"})})
    src = tmp_path / "clip.mp4"
    src.write_bytes(random.Random(1).randbytes(200_000))
    first, _ = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: alice.get(first).final, timeout=20_000)
    assert state(alice, first) is S.DONE
    st = src.stat()
    with open(src, "r+b") as f:  # re-tagged in place: same size ...
        f.seek(1000)
        f.write(b"EDITED-TAG")
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime
    second, received = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: alice.get(second).final, timeout=20_000)
    assert state(alice, second) is S.DONE, alice.get(second).error
    assert bob.get(received).sha256 == sha256_of(src)


def test_an_offer_counts_as_unread_until_answered_and_not_when_refused_unasked(
        qtbot, peers, tmp_path):
    """A file offer counts as unread until looked at or answered: Accept or Decline from the
    Transfers panel (not the tab) took it off nowhere, so the badge kept a 1; an offer the
    app refused by itself (too large) counted too, for nothing to answer. One accepted
    without asking is news all the same."""
    from dataclasses import replace

    alice, bob = peers()
    engine = bob.client
    src = tmp_path / "doc.bin"
    src.write_bytes(random.Random(9).randbytes(1000))
    for answer in ("decline", "accept"):
        _send_key, key = offer(qtbot, alice, bob, src)
        assert engine.unread("alice") == 1
        assert (bob.decline(key) if answer == "decline" else bob.accept(key) is None)
        assert engine.unread("alice") == 0, answer
    bob.prefs = replace(bob.prefs, size_limit=100)
    _send_key, key = offer(qtbot, alice, bob, src)
    assert state(bob, key) is S.DECLINED and bob.get(key).error.startswith("refused")
    assert engine.unread("alice") == 0
    bob.prefs = replace(bob.prefs, size_limit=10_000, auto_accept=frozenset({"alice"}))
    _send_key, key = offer(qtbot, alice, bob, src)
    assert state(bob, key) is not S.INCOMING  # accepted without asking
    assert engine.unread("alice") == 1


def test_an_offer_withdrawn_by_its_sender_leaves_the_unread_count(qtbot, peers, tmp_path):
    """alice offers a file and cancels it before bob answers: his count kept the 1 (and an
    offer of the file again made it 2 for one open offer); withdrawn, it goes, as a message
    its sender deleted does."""
    alice, bob = peers()
    engine = bob.client
    src = tmp_path / "doc.bin"
    src.write_bytes(random.Random(5).randbytes(1000))
    send_key, key = offer(qtbot, alice, bob, src)
    assert engine.unread("alice") == 1
    assert alice.cancel(send_key)
    qtbot.waitUntil(lambda: state(bob, key) is S.CANCELLED, timeout=5000)
    assert engine.unread("alice") == 0
    _send_key, again = offer(qtbot, alice, bob, src)
    assert state(bob, again) is S.INCOMING and engine.unread("alice") == 1


def test_an_exported_conversation_lists_its_files_among_the_messages(qtbot, peers, tmp_path):
    """An export left out the files sent and received in the conversation (a groups hunt):
    now each is a line at its time, with how it ended."""
    alice, bob = peers()
    with qtbot.waitSignal(alice.client.message_acked, timeout=10_000):
        alice.client.send_unicast("bob", "the notes follow")
    src = tmp_path / "notes.txt"
    src.write_bytes(b"x" * 3000)
    send_key, recv_key = offer(qtbot, alice, bob, src)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(alice, send_key) is S.DONE and state(bob, recv_key) is S.DONE,
                    timeout=10_000)
    declined_key, refused_key = offer(qtbot, alice, bob, tmp_path / "notes.txt")
    assert bob.decline(refused_key, "one is enough")
    qtbot.waitUntil(lambda: state(alice, declined_key) is S.DECLINED, timeout=10_000)
    with qtbot.waitSignal(alice.client.message_acked, timeout=10_000):
        alice.client.send_unicast("bob", "got it?")
    for controller, peer in ((alice, "bob"), (bob, "alice")):
        out = tmp_path / f"{controller.client.user}.txt"
        job = controller.client.export_conversation(peer, out)
        with qtbot.waitSignal(job.finished, timeout=10_000) as done:
            pass
        assert done.args[0] == 4
        lines = [line.split("] ", 1)[1] for line in out.read_text().splitlines()]
        verb, twice = ("sent", "declined") if controller is alice else ("received", "declined")
        assert lines == ["alice: the notes follow", f"alice: [file] notes.txt (2.9 KB) {verb}",
                         f"alice: [file] notes.txt (2.9 KB) {twice}", "alice: got it?"]


def test_a_partial_file_longer_than_the_offer_starts_again_from_zero(qtbot, peers, tmp_path):
    """docs/transfer.md, *Resume*: a partial file longer than the offer starts again from 0.
    The app announced its size as the accept's offset, which the server refuses: the card
    failed, the sender waited for ever, every new offer of the file failed the same (a hunt)."""
    alice, bob = peers()
    src = tmp_path / "clip.mp4"
    src.write_bytes(MEDIA.read_bytes()[:200_000])
    send_key, recv_key = offer(qtbot, alice, bob, src)
    part = bob.partial_path(bob.get(recv_key))
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\x00" * 250_000)  # longer than the 200,000-byte file
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: state(bob, recv_key) in (S.DONE, S.FAILED)
                    and state(alice, send_key) in (S.DONE, S.FAILED, S.WAITING), timeout=20_000)
    assert state(bob, recv_key) is S.DONE, bob.get(recv_key).error
    assert state(alice, send_key) is S.DONE
    assert sha256_of(bob.get(recv_key).path) == sha256_of(src)


def test_cancel_while_preparing_spares_another_send_of_the_same_file(qtbot, peers, tmp_path):
    """Cancel on one of two sends of a file still being checked (the same file dropped
    twice) stops reading it only once no send waits for it: the other is still offered."""
    alice, bob = peers()
    src = tmp_path / "disk.img"
    with open(src, "wb") as f:
        f.truncate(64 * 1024 ** 2)
    assert alice.send_file("bob", src) is None
    assert alice.send_file("bob", src) is None
    first, second = (t.key for t in alice.model.transfers())
    assert state(alice, first) is S.PREPARING and state(alice, second) is S.PREPARING
    assert alice.cancel(first)
    with qtbot.waitSignal(bob.transfer_added, timeout=20_000) as added:
        pass
    assert bob.get(added.args[0]).sha256 == sha256_of(src)
    qtbot.waitUntil(lambda: state(alice, second) is S.WAITING)
    assert state(alice, first) is S.CANCELLED
