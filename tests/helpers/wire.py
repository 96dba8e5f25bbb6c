"""A bare protocol client for integration tests: a real ``QSslSocket`` speaking frames.

It is not the app's engine: it lets tests send any frame (also broken ones) and wait for what
the server answers, with ``qtbot.waitUntil`` rather than sleeps.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from PySide6.QtNetwork import QHostAddress, QSslSocket

from messenger.protocol import (
    HEADER,
    PROTOCOL_VERSION,
    Codec,
    Delivered,
    Error,
    FrameDecoder,
    Hello,
    Login,
    Message,
    Ok,
    Register,
    Send,
    encode_frame,
)

TIMEOUT_MS = 10_000


class WireClient:
    """One TLS connection to a test server; ``frames`` holds everything received, in order."""

    def __init__(self, qtbot, host: str, port: int, *, auto_delivered: bool = True,
                 source: str | None = None) -> None:
        """Connect to ``host``:``port``; from local address ``source`` when given (another
        loopback address, 127.0.0.2, is another computer to the server)."""
        self.qtbot = qtbot
        self.frames: list[Any] = []
        self.closed = False
        self.auto_delivered = auto_delivered
        self._decoder = FrameDecoder(1 << 24)
        self._codec = Codec.for_client()
        self._ids = itertools.count(1)
        self.socket = QSslSocket()
        self.socket.setPeerVerifyMode(QSslSocket.PeerVerifyMode.VerifyNone)
        self.socket.readyRead.connect(self._read)
        self.socket.disconnected.connect(self._closed)
        if source is not None and not self.socket.bind(QHostAddress(source), 0):
            raise OSError(f"cannot bind to {source}: {self.socket.errorString()}")
        self.socket.connectToHostEncrypted(host, port)
        # (or closed: a server that refuses the connection may answer and close at once)
        qtbot.waitUntil(lambda: self.socket.isEncrypted() or self.closed, timeout=TIMEOUT_MS)

    # -------------------------------------------------------------- raw I/O

    def _read(self) -> None:
        for payload in self._decoder.feed(self.socket.readAll().data()):
            frame = self._codec.decode(payload)
            self.frames.append(frame)
            if self.auto_delivered and isinstance(frame, Message):
                self.send(Delivered(seqs=[frame.seq]))

    def _closed(self) -> None:
        self.closed = True

    def send(self, frame) -> None:
        self.socket.write(encode_frame(frame))

    def send_raw(self, payload: bytes, *, length: int | None = None) -> None:
        """Send ``payload`` framed with its length (or with ``length`` to lie about it)."""
        n = len(payload) if length is None else length
        self.socket.write(HEADER.pack(n) + payload)

    def next_id(self) -> int:
        return next(self._ids)

    # -------------------------------------------------------------- waiting

    def wait_for(self, predicate, *, timeout: int = TIMEOUT_MS):
        """Wait until a received frame satisfies ``predicate``; return (and consume) it."""
        found: list[Any] = []

        def check() -> bool:
            for i, frame in enumerate(self.frames):
                if predicate(frame):
                    found.append(self.frames.pop(i))
                    return True
            return False

        self.qtbot.waitUntil(check, timeout=timeout)
        return found[0]

    def reply(self, request_id: int, *, timeout: int = TIMEOUT_MS) -> Ok | Error:
        return self.wait_for(lambda f: isinstance(f, Ok | Error) and f.id == request_id,
                             timeout=timeout)

    def messages(self) -> list[Message]:
        return [f for f in self.frames if isinstance(f, Message)]

    # -------------------------------------------------------------- conveniences

    def hello(self) -> Hello:
        self.send(Hello(protocol_version=PROTOCOL_VERSION, agent="tests"))
        return self.wait_for(lambda f: isinstance(f, Hello))

    def login(self, user: str, password: str) -> Ok | Error:
        rid = self.next_id()
        self.send(Login(id=rid, user=user, password=password))
        return self.reply(rid)

    def register(self, user: str, password: str) -> Ok | Error:
        rid = self.next_id()
        self.send(Register(id=rid, user=user, password=password))
        return self.reply(rid)

    def send_text(self, scope: str, text: str, to: list[str] | None = None,
                  client_msg_id: str | None = None) -> Ok | Error:
        rid = self.next_id()
        self.send(Send(id=rid, client_msg_id=client_msg_id or uuid.uuid4().hex, scope=scope,
                       text=text, to=to or []))
        return self.reply(rid)

    def request(self, make, **fields) -> Ok | Error:
        """Send request type ``make`` with a fresh id and ``fields``; return the reply."""
        rid = self.next_id()
        self.send(make(id=rid, **fields))
        return self.reply(rid)

    def close(self) -> None:
        self.socket.abort()


def connect_as(qtbot, server, user: str, password: str) -> WireClient:
    """A connected, logged-in WireClient (asserts the login succeeded)."""
    client = WireClient(qtbot, server.host, server.port)
    client.hello()
    reply = client.login(user, password)
    assert isinstance(reply, Ok), reply
    return client
