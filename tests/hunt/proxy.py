"""A TCP relay in the test's Qt event loop, standing between an app and its server: it can
stall (a frozen peer / dead link: bytes stop, sockets stay open), cut (every link closed and
nothing listens: a server down or an address gone) and come back on the same port."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QHostAddress, QTcpServer, QTcpSocket


class Relay(QObject):
    def __init__(self, target_port: int, port: int = 0) -> None:
        super().__init__()
        self.target_port = target_port
        self.listener = QTcpServer(self)
        self.listener.newConnection.connect(self._accept)
        self.pairs: list[tuple[QTcpSocket, QTcpSocket]] = []
        self.stalled = False
        self.accepted = 0
        self.hold_after: int | None = None  # downstream bytes passed before holding the rest
        self._held: dict[int, bytearray] = {}
        self._passed: dict[int, int] = {}
        assert self.listener.listen(QHostAddress.SpecialAddress.LocalHost, port)
        self.port = self.listener.serverPort()

    def _accept(self) -> None:
        while self.listener.hasPendingConnections():
            inner = self.listener.nextPendingConnection()
            self.accepted += 1
            outer = QTcpSocket(self)
            outer.connectToHost("127.0.0.1", self.target_port)
            pair = (inner, outer)
            self.pairs.append(pair)
            inner.readyRead.connect(lambda a=inner, b=outer: self._pump(a, b))
            outer.readyRead.connect(lambda a=outer, b=inner: self._pump(a, b))
            inner.disconnected.connect(lambda p=pair: self._close(p))
            outer.disconnected.connect(lambda p=pair: self._close(p))

    def _pump(self, src: QTcpSocket, dst: QTcpSocket) -> None:
        if self.stalled:
            return
        data = src.readAll()
        if not data.size():
            return
        if self.hold_after is not None and src is not dst and any(src is p[1] for p in self.pairs):
            key = id(dst)
            raw = bytes(data.data())
            passed = self._passed.get(key, 0)
            room = max(0, self.hold_after - passed)
            if room:
                dst.write(raw[:room])
                self._passed[key] = passed + min(room, len(raw))
                raw = raw[room:]
            if raw:
                self._held.setdefault(key, bytearray()).extend(raw)
            return
        dst.write(data)

    def held(self) -> int:
        return sum(len(b) for b in self._held.values())

    def release(self) -> None:
        """Write what was held downstream at once (it reaches the app in big reads)."""
        self.hold_after = None
        for inner, _ in self.pairs:
            buf = self._held.pop(id(inner), None)
            if buf:
                inner.write(bytes(buf))

    def _close(self, pair) -> None:
        for s in pair:
            s.abort()
        if pair in self.pairs:
            self.pairs.remove(pair)

    def stall(self) -> None:
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False
        for a, b in list(self.pairs):
            self._pump(a, b)
            self._pump(b, a)

    def cut(self) -> None:
        """Close every link and stop listening (the server is gone)."""
        self.listener.close()
        for pair in list(self.pairs):
            self._close(pair)

    def restore(self) -> None:
        assert self.listener.listen(QHostAddress.SpecialAddress.LocalHost, self.port)

    def close(self) -> None:
        self.cut()
