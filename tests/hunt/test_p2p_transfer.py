"""Hunt: the peer-to-peer transfer layer under hard conditions (real server, real UDP sockets,
real files). Each test fails on the current code for the reason its docstring names."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QObject
from PySide6.QtNetwork import QAbstractSocket, QHostAddress, QUdpSocket

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.transfers import TransferController, TransferPrefs, TransferState
from messenger.server.net import MessengerServer
from messenger.server.config import ServerConfig

MEDIA = Path("/work/shared/media/bigbuckbunny.mp4")
S = TransferState


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _login(qtbot, made, host: str, port: int, user: str, folder: Path, **kw):
    engine = ClientEngine()
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(host, port)
        engine.login(user, f"{user}123")
    controller = TransferController(engine, TransferPrefs(download_dir=folder), **kw)
    made.append((engine, controller))
    return controller


@pytest.fixture
def connect(qtbot, tmp_path):
    """``connect(host, port)`` → (alice, bob) controllers, logged in to that server."""
    made: list = []

    def factory(host: str, port: int, **kw):
        bob = _login(qtbot, made, host, port, "bob", tmp_path / "bob-dl", **kw)
        alice = _login(qtbot, made, host, port, "alice", tmp_path / "alice-dl", **kw)
        qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
        return alice, bob

    yield factory
    for engine, controller in made:
        controller.close()
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e, _ in made))


def offer(qtbot, alice, bob, path: Path) -> tuple[str, str]:
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", path) is None
    send_key = alice.model.index(alice.model.rowCount() - 1, 0).data(alice.model.IdRole)
    return send_key, added.args[0]


def _server(tmp_path: Path, host: str):
    config = ServerConfig(host=host, port=0, data_dir=tmp_path / "server",
                          argon2_time_cost=1, argon2_memory_kib=1024)
    server = MessengerServer(config)
    server.create_demo_accounts()
    server.listen()
    return server


# ------------------------------------------------------------------------------------------


class BlackHole(QObject):
    """A UDP socket on 127.0.0.1 that reads every datagram and answers none: a receiver
    behind a firewall that drops UDP, as far as the sender can tell."""

    def __init__(self) -> None:
        super().__init__()
        self.sock = QUdpSocket(self)
        assert self.sock.bind(QHostAddress("127.0.0.1"), 0)
        self.port = self.sock.localPort()
        self.swallowed = 0
        self.sock.readyRead.connect(self._drain)

    def _drain(self) -> None:
        while self.sock.hasPendingDatagrams():
            self.sock.readDatagram(65536)
            self.swallowed += 1


def test_a_receiver_that_udp_never_reaches_is_not_called_a_lost_connection(
        qtbot, server, tmp_path, connect):
    """The recipient's computer drops UDP (a firewall, a guest Wi-Fi that isolates clients):
    the QUIC handshake never completes. The sender's card then says "connection lost (Idle
    timeout); the transfer can resume where it stopped" -- of a connection that was never
    made and a transfer that never started -- and resumes by itself again and again, each
    try ending the same way after the idle timeout. What the user needs to hear is that
    bob's computer could not be reached (no answer: a firewall?)."""
    from messenger.transfer import Settings

    hole = BlackHole()
    alice, bob = connect(server.host, server.port, settings=Settings(idle_timeout=2.0),
                         route=lambda host, port: ("127.0.0.1", hole.port))
    src = tmp_path / "notes.bin"
    src.write_bytes(random.Random(4).randbytes(50_000))
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.WAITING, timeout=10_000)
    assert bob.accept(recv_key) is None
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.FAILED, timeout=20_000)
    assert hole.swallowed > 0  # (the handshake went out, nothing came back)
    error = alice.get(send_key).error
    assert "connection lost" not in error and "where it stopped" not in error, error
    assert "reach" in error or "no answer" in error or "firewall" in error, error
