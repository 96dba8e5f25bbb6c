"""Hunt: server resource limits and abuse."""

from __future__ import annotations

from helpers.wire import WireClient
from PySide6.QtNetwork import QHostAddress, QSslSocket

from messenger.protocol import Error, ErrorCode, Ok


class BoundClient(WireClient):
    """A WireClient whose connection comes from ``source`` (another loopback address)."""

    def __init__(self, qtbot, host, port, source):
        self.qtbot = qtbot
        import itertools

        from messenger.protocol import Codec, FrameDecoder
        self.frames = []
        self.closed = False
        self.auto_delivered = True
        self._decoder = FrameDecoder(1 << 24)
        self._codec = Codec.for_client()
        self._ids = itertools.count(1)
        self.socket = QSslSocket()
        self.socket.setPeerVerifyMode(QSslSocket.PeerVerifyMode.VerifyNone)
        self.socket.readyRead.connect(self._read)
        self.socket.disconnected.connect(self._closed)
        assert self.socket.bind(QHostAddress(source), 0)
        self.socket.connectToHostEncrypted(host, port)
        qtbot.waitUntil(lambda: self.socket.isEncrypted() or self.closed, timeout=10_000)


def test_a_guesser_elsewhere_does_not_lock_out_a_name_registered_here(qtbot, make_server):
    server = make_server()
    owner = BoundClient(qtbot, server.host, server.port, "127.0.0.1")
    owner.hello()
    assert isinstance(owner.register("dora", "dora-pass"), Ok)
    owner.close() if hasattr(owner, "close") else owner.socket.disconnectFromHost()
    guesser = BoundClient(qtbot, server.host, server.port, "127.0.0.2")
    guesser.hello()
    for n in range(3):
        reply = guesser.login("dora", f"guess-{n}")
    assert isinstance(reply, Error) and reply.code == ErrorCode.LOCKED_OUT, reply
    again = BoundClient(qtbot, server.host, server.port, "127.0.0.1")  # the owner, at home
    again.hello()
    assert isinstance(again.login("dora", "dora-pass"), Ok)
