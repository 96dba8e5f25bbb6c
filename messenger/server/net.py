"""The server's Qt edge: a ``QSslServer`` whose sockets feed :class:`~.core.ServerCore`.

This layer only moves bytes: it splits the stream into frames, decodes them, hands them to the
core and writes the frames the core returns. QtCore + QtNetwork only.
"""

from __future__ import annotations

import itertools
import logging

from argon2 import PasswordHasher, Type
from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import (
    QAbstractSocket,
    QHostAddress,
    QSsl,
    QSslCertificate,
    QSslConfiguration,
    QSslKey,
    QSslServer,
    QSslSocket,
    QTcpServer,
    QTcpSocket,
)

from messenger.protocol import Codec, FrameDecoder, ProtocolError, encode_frame

from .auth import LoginThrottle, Passwords
from .config import ServerConfig
from .core import Action, ConnId, Disconnect, Out, ServerCore
from .store import Store
from .tls import ensure_certificate, pem_fingerprint

log = logging.getLogger("messenger.server.net")

DEMO_ACCOUNTS = (("alice", "alice123"), ("bob", "bob123"), ("charlie", "charlie123"))


class _Connection:
    __slots__ = ("closing", "conn", "decoder", "socket")

    def __init__(self, conn: ConnId, socket: QTcpSocket, max_frame: int) -> None:
        self.conn = conn
        self.socket = socket
        self.decoder = FrameDecoder(max_frame)
        self.closing = False


class MessengerServer(QObject):
    """The chat server: listens, runs TLS, and wires sockets to the rules in ServerCore.

    Signals:
        clientCountChanged(int): number of open connections.
    """

    clientCountChanged = Signal(int)

    def __init__(self, config: ServerConfig, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.db_path)
        self.passwords = Passwords(PasswordHasher(
            time_cost=config.argon2_time_cost, memory_cost=config.argon2_memory_kib,
            type=Type.ID))
        self.core = ServerCore(
            self.store, self.passwords,
            LoginThrottle(config.max_failed_logins, config.lockout_seconds),
            max_frame=config.max_frame,
        )
        self._codec = Codec.for_server()
        self._ids = itertools.count(1)
        self._conns: dict[ConnId, _Connection] = {}
        self.fingerprint = ""
        self._server: QTcpServer
        if config.tls:
            cert_pem, key_pem = ensure_certificate(config.data_dir)
            self.fingerprint = pem_fingerprint(cert_pem)
            tls = QSslConfiguration.defaultConfiguration()
            tls.setLocalCertificate(QSslCertificate(cert_pem, QSsl.EncodingFormat.Pem))
            tls.setPrivateKey(QSslKey(key_pem, QSsl.KeyAlgorithm.Ec, QSsl.EncodingFormat.Pem))
            tls.setPeerVerifyMode(QSslSocket.PeerVerifyMode.VerifyNone)
            tls.setProtocol(QSsl.SslProtocol.TlsV1_2OrLater)
            server = QSslServer(self)
            server.setSslConfiguration(tls)
            server.setHandshakeTimeout(10_000)
            server.errorOccurred.connect(self._on_tls_error)
            self._server = server
        else:
            self._server = QTcpServer(self)
        self._server.pendingConnectionAvailable.connect(self._accept)

    # ------------------------------------------------------------------ set-up

    def create_demo_accounts(self) -> list[str]:
        """Create alice/alice123, bob/bob123 and charlie/charlie123 where absent; return the
        names created."""
        created = []
        for name, password in DEMO_ACCOUNTS:
            if self.store.account(name) is None:
                self.store.create_account(name, self.passwords.hash(password))
                created.append(name)
        return created

    def listen(self) -> None:
        """Start listening on ``config.host``:``config.port``.

        Raises:
            OSError: the address cannot be bound (in use, not local, no permission).
        """
        address = QHostAddress(self.config.host)
        if address.isNull():
            raise OSError(f"not an IP address: {self.config.host!r}")
        if not self._server.listen(address, self.config.port):
            raise OSError(f"cannot listen on {self.config.host}:{self.config.port}: "
                          f"{self._server.errorString()}")
        log.info("listening on %s:%d (TLS %s)", self.config.host, self.port,
                 f"on, certificate SHA-256 {self.fingerprint}" if self.config.tls else "OFF")

    @property
    def port(self) -> int:
        """The TCP port listened on (the real one when 0 was asked for)."""
        return self._server.serverPort()

    def close(self) -> None:
        """Stop listening, drop every connection and close the store."""
        self._server.close()
        conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            c.closing = True
            c.socket.abort()
        self.store.close()
        log.info("server stopped")

    # ------------------------------------------------------------------ sockets

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            if socket is None:
                break
            conn = next(self._ids)
            c = _Connection(conn, socket, self.config.max_frame)
            self._conns[conn] = c
            address = f"{socket.peerAddress().toString()}:{socket.peerPort()}"
            socket.readyRead.connect(lambda c=c: self._read(c))
            socket.disconnected.connect(lambda c=c: self._gone(c))
            socket.errorOccurred.connect(lambda err, c=c: self._socket_error(c, err))
            log.debug("connection %d from %s", conn, address)
            self._apply(self.core.connected(conn, address))
            self.clientCountChanged.emit(len(self._conns))

    def _read(self, c: _Connection) -> None:
        data = c.socket.readAll().data()
        if c.closing:
            return
        try:
            for payload in c.decoder.feed(data):
                try:
                    frame = self._codec.decode(payload)
                except ProtocolError as exc:
                    self._apply(self.core.protocol_error(c.conn, exc))
                    continue
                self._apply(self.core.handle(c.conn, frame))
                if c.closing:
                    return
        except ProtocolError as exc:  # zero or oversized length: the stream is lost
            self._apply(self.core.protocol_error(c.conn, exc))
        except Exception:
            log.exception("internal error on connection %d; closing it", c.conn)
            c.socket.abort()

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            c = self._conns.get(action.conn)
            if c is None:
                continue
            if isinstance(action, Out):
                c.socket.write(encode_frame(action.frame))
            elif isinstance(action, Disconnect) and not c.closing:
                # Never disconnect slots here: we may be inside this socket's readyRead.
                c.closing = True
                c.socket.disconnectFromHost()

    def _gone(self, c: _Connection) -> None:
        if self._conns.pop(c.conn, None) is None:
            return
        log.debug("connection %d closed", c.conn)
        c.socket.deleteLater()
        self._apply(self.core.disconnected(c.conn))
        self.clientCountChanged.emit(len(self._conns))

    def _socket_error(self, c: _Connection, error: QAbstractSocket.SocketError) -> None:
        if error != QAbstractSocket.SocketError.RemoteHostClosedError:
            log.info("connection %d: %s", c.conn, c.socket.errorString())

    def _on_tls_error(self, socket: QSslSocket, error: QAbstractSocket.SocketError) -> None:
        log.info("TLS handshake with %s failed: %s", socket.peerAddress().toString(),
                 socket.errorString())

