"""The server's Qt edge: a TLS server (:class:`~.tls.TlsServer`) whose sockets feed
:class:`~.core.ServerCore`.

This layer only moves bytes: it splits the stream into frames, decodes them, hands them to the
core and writes the frames the core returns. QtCore + QtNetwork only.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import shiboken6
from argon2 import PasswordHasher, Type
from PySide6.QtCore import QDeadlineTimer, QObject, Qt, QTimer, Signal
from PySide6.QtNetwork import (
    QAbstractSocket,
    QHostAddress,
    QNetworkInterface,
    QSsl,
    QSslCertificate,
    QSslConfiguration,
    QSslSocket,
    QTcpServer,
    QTcpSocket,
)

from messenger.protocol import (
    Codec,
    Error,
    ErrorCode,
    FrameDecoder,
    Ping,
    Pong,
    ProtocolError,
    encode_frame,
)
from messenger.tlsbackend import require_tls

from .auth import LoginThrottle, Passwords
from .config import ServerConfig
from .core import Action, ConnId, Crypto, Disconnect, Fanout, Out, ReplayMore, ServerCore
from .lock import lock_database
from .ratelimit import address_block, local_ipv6_networks, peer_address
from .store import Store, is_locked
from .tls import (
    KEY_FILE,
    TlsServer,
    ensure_certificate,
    pem_fingerprint,
    pem_key_fingerprint,
    ssl_key,
)
from .walsync import CheckpointFailed, WalSync

log = logging.getLogger("messenger.server.net")

DEMO_ACCOUNTS = (("alice", "alice123"), ("bob", "bob123"), ("charlie", "charlie123"))

WRITE_HIGH_WATER = 4 << 20
"""Bytes of unsent replies (queued this turn + in the socket's write buffer) above which the
server stops reading requests from that connection (back-pressure: a client that sends but does
not read cannot grow the server's memory)."""
WRITE_LOW_WATER = 1 << 20
"""Below this many unsent bytes a paused connection is read again."""
PRELOGIN_HIGH_WATER = 64 << 10
""":data:`WRITE_HIGH_WATER` of a connection that has not logged in: its replies (``hello``,
errors) are small, and the 64 connections of one address allowed without a login could
otherwise hold 256 MiB of replies they never read."""
PRELOGIN_LOW_WATER = 16 << 10
""":data:`WRITE_LOW_WATER` of a connection that has not logged in."""
WRITE_DROP_LIMIT = 64 << 20
"""Unsent bytes (e.g. others' messages to a client that stopped reading) above which the
connection is dropped. Nothing is lost: undelivered messages stay queued in the store."""
MIN_COMMIT_INTERVAL = 0.002
"""Seconds from one commit to the next at the least. Every commit rewrites each page it touches
into the WAL (4 KiB each, several index pages per message), so at moderate load many small
commits cost more than the messages themselves; waiting up to 2 ms lets a commit take more.
Measured (benchmarks/load.py, N=200): server CPU at 1,000 msgs/s 83-86% → 50-57%, saturation
16,400-20,000 → 21,000 msgs/s, fan-out 46,000 → 52,000-63,000 deliveries/s; p50 at
1,000 msgs/s 1.5 → 2.8 ms."""
PONG_HOLD = 1.0
"""Seconds a WAL sync may run before pongs stop waiting behind the replies it holds (see
:meth:`MessengerServer._apply`): the app gives a link up after 14 s without a byte, and
pings again after 5 s of silence, so a disk stalled for longer does not make it look dead."""
STOP_GRACE = 1.0
"""Seconds a stopping server waits, in all, for its connections to take their last frames
and the ``server_stopping`` notice before it aborts the rest."""
LOCK_RETRY = 0.25
"""Seconds between tries to commit while another program holds the database's write lock
(see :data:`~messenger.server.store.BUSY_TIMEOUT_MS`)."""
LOCK_LOG_INTERVAL = 30.0
"""Seconds between the log lines saying the database is still locked."""
READ_BUFFER = 256 << 10
"""Qt's read buffer per socket. While a connection is paused, TCP flow control pushes back on
the client once this and the kernel's buffer are full."""


FILES_KEPT = 64
"""Open files kept free of connections under the process's limit (the database and its WAL,
the logs, the WAL sync thread's, Qt's own): see :func:`connection_limit`."""
FULL_RETRY_AFTER = 30.0
"""``retry_after`` for a connection refused because the server is full, seconds."""


def connection_limit() -> int:
    """Connections the server holds at once, TLS handshakes included (a quarter of them, at
    most 1,024, are the handshakes' share): the process's limit of open files
    (``RLIMIT_NOFILE``, raised to its hard limit by ``messenger --server``) less
    :data:`FILES_KEPT`. At the limit the kernel's accept fails, and nobody, not even an
    operator's client, could connect until a connection ended (a hunt); with this bound a
    connection past it is told the server is full. 100,000 without such a limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover (Windows)
        return 100_000
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(16, soft - FILES_KEPT)


PRELOGIN_MAX_FRAME = 16 * 1024
"""Largest frame a connection may send before it has logged in (``hello``, ``register``
and ``login`` are far smaller): 64 connections of one address without a login then hold
1 MiB of partial frames, not 64 × ``--max-frame``."""


class _Connection:
    __slots__ = ("backlog", "closing", "conn", "decoder", "drain", "high_water", "last_seen",
                 "low_water", "opened", "paused", "pending", "pinged", "replay", "socket",
                 "watching", "written")

    def __init__(self, conn: ConnId, socket: QTcpSocket, max_frame: int) -> None:
        self.conn = conn
        self.socket = socket
        self.decoder = FrameDecoder(max_frame)
        self.closing = False
        self.last_seen = self.opened = time.monotonic()
        self.pinged = False
        self.paused = False  # not reading requests until its replies drain
        # Back-pressure marks: the PRELOGIN_ ones until the login (MessengerServer._logged_in).
        self.high_water = PRELOGIN_HIGH_WATER
        self.low_water = PRELOGIN_LOW_WATER
        self.pending = 0  # bytes of frames queued for it this turn, not yet written
        self.drain: Callable[[int], None] | None = None  # the slot of ``written`` (_drained)
        self.backlog: Callable[[], int]
        """Bytes written to the socket and not yet sent. A ``QSslSocket`` moves what it is
        given to its encrypted buffer within a turn, where ``bytesToWrite`` no longer counts
        it: that is counted too (without it, back-pressure lifted and the drop limit never
        came for a client that stopped reading, while the server's memory grew)."""
        if isinstance(socket, QSslSocket):
            def backlog() -> int:
                return socket.bytesToWrite() + socket.encryptedBytesToWrite()
            self.backlog = backlog
            self.written = socket.encryptedBytesWritten  # (bytes that left, encrypted)
        else:
            self.backlog = socket.bytesToWrite
            self.written = socket.bytesWritten
        self.watching = False  # drain connected: while paused or a replay piece is out
        self.replay = False  # the login replay goes on once this backlog drains


def host_port(host: str, port: int) -> str:
    """``host`` and ``port`` as the operator reads them: ``0.0.0.0:5555``, and ``[::1]:5555``
    for an IPv6 address, which a bare colon would run into its port ("::1:5555" is itself an
    IPv6 address; the app writes a server's address so too)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class MessengerServer(QObject):
    """The chat server: listens, runs TLS, and wires sockets to the rules in ServerCore.

    Group commit: the actions the core returns are queued, and once per event-loop turn the
    store commits (one fsync for everything received meanwhile) before any acknowledgement or
    delivery is written. Heartbeat: a connection silent for a third of ``idle_timeout`` gets
    a ``ping``; one silent for the whole ``idle_timeout`` is dropped.

    Signals:
        clientCountChanged(int): number of open connections.
        storageFailed(str): a commit or the WAL sync failed (disk full, I/O error). The server
            has dropped every connection unanswered and stopped listening: what is durable is
            no longer known, so it must be restarted (SQLite recovers from the WAL);
            ``messenger --server`` exits with status 1.
    """

    clientCountChanged = Signal(int)
    _cryptoDone = Signal(object)  # (Crypto, Future) from a worker thread
    storageFailed = Signal(str)
    _synced = Signal(object)  # a commit ticket made durable, from the WAL sync thread
    _syncFailed = Signal(object)  # the exception, from the WAL sync thread

    def __init__(self, config: ServerConfig, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        if config.tls:
            # Before the key is made or read: without a backend Qt cannot load any key, and
            # the server blamed its own (an operator then replaced a good one).
            require_tls()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        config.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db_lock = lock_database(config.db_path)  # one server per database
        try:
            self.store = Store(config.db_path)
        except BaseException:
            self._db_lock.close()
            raise
        self.passwords = Passwords(PasswordHasher(
            time_cost=config.argon2_time_cost, memory_cost=config.argon2_memory_kib,
            type=Type.ID))
        # (The /64s this server is on: its LAN's IPv6 clients count one address each.)
        local = local_ipv6_networks(a.toString() for a in QNetworkInterface.allAddresses())
        limit = connection_limit()
        # TLS handshakes under way hold open files too: a quarter of them (1,024 at most)
        # is theirs, the rest for connections (a review: they were counted on top).
        handshakes = min(1024, limit // 4) if config.tls else 0
        self.max_connections = limit - handshakes
        """Connections held at once besides TLS handshakes (:func:`connection_limit`)."""
        self.core = ServerCore(
            self.store, self.passwords,
            LoginThrottle(config.max_failed_logins, config.lockout_seconds),
            max_frame=config.max_frame, max_hashing=config.max_hashing,
            max_hashing_per_host=config.max_hashing_per_host,
            max_waiting_offers=config.max_waiting_offers,
            max_prelogin_per_host=config.max_prelogin_per_host,
            max_send_rate=config.max_send_rate,
            max_registrations=config.max_registrations,
            local_networks=local,
        )
        self._codec = Codec.for_server()
        self._ids = itertools.count(1)
        self._conns: dict[ConnId, _Connection] = {}
        self.fingerprint = ""
        """The SHA-256 fingerprint of the TLS key (what apps pin and show; "" without TLS)."""
        self.certificate_fingerprint = ""
        """The SHA-256 fingerprint of the whole certificate (what apps before the key pin
        pinned)."""
        self._server: QTcpServer
        if config.tls:
            cert_pem, key_pem = ensure_certificate(config.data_dir)
            self.fingerprint = pem_key_fingerprint(cert_pem)
            self.certificate_fingerprint = pem_fingerprint(cert_pem)
            tls = QSslConfiguration.defaultConfiguration()
            tls.setLocalCertificate(QSslCertificate(cert_pem, QSsl.EncodingFormat.Pem))
            tls.setPrivateKey(ssl_key(key_pem, config.data_dir / KEY_FILE))
            tls.setPeerVerifyMode(QSslSocket.PeerVerifyMode.VerifyNone)
            tls.setProtocol(QSsl.SslProtocol.TlsV1_2OrLater)
            self._server = TlsServer(tls, timeout_ms=10_000,
                                     max_per_host=config.max_prelogin_per_host,
                                     max_total=handshakes,
                                     local_networks=local,
                                     log_budget=self.core.log_budget, parent=self)
        else:
            self._server = QTcpServer(self)
        self._server.pendingConnectionAvailable.connect(self._accept)
        self._server.acceptError.connect(self._accept_error)
        self._accept_warned = -math.inf
        self.store.set_batch(True)
        # Pipelined group commit (see walsync): while the WAL sync of one commit runs on its
        # thread, the loop goes on reading and handling requests; their writes and replies
        # accumulate for the next commit, made when the sync is done (_on_synced). The
        # replies of the commit being synced wait in _held.
        self._walsync: WalSync | None = None
        self._ticket = 0
        self._syncing = False
        self._failed = False
        self._last_commit = 0.0
        # Another program's write lock on the database (see _commit_locked): since when, the
        # next try, the last log line about it.
        self._locked_since: float | None = None
        self._lock_retry_at = 0.0
        self._lock_logged = 0.0
        self._held: tuple[dict[ConnId, list[bytes]], list[ConnId]] | None = None
        self._synced.connect(self._on_synced)
        self._syncFailed.connect(self._on_sync_failed)
        if config.sync_thread:
            self.store.defer_sync()
            self._walsync = WalSync(config.db_path, self._synced.emit, self._syncFailed.emit)
        # argon2id (~150 ms) runs on workers so logins never stall other users; cffi releases
        # the GIL during the hash.
        self._crypto = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
        self._cryptoDone.connect(self._crypto_done)
        # Frames to write after the next commit, per connection, and connections to close.
        self._out: dict[ConnId, list[bytes]] = {}
        self._closes: list[ConnId] = []
        self._closed = False
        # Whether listen() succeeded: only then does close() log "server stopped" (--add-user
        # and a start refused at listen() logged it for a server that never ran: a hunt).
        self._listened = False
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(0)
        self._flush_timer.timeout.connect(self._flush)
        # Whether _flush_timer was started and _flush has not run since: checked for every
        # read and every batch of actions, where QTimer.isActive() (a call into Qt) cost 3% of
        # the loop at 20,000 msgs/s. When True the timer is active; when False it may still
        # be (_flush called directly), and starting it again is harmless.
        self._flush_armed = False
        # A commit armed for when the delivery cursors that moved fall due
        # (Store.cursors_due): without it they waited for the next request, for hours on a
        # quiet server (a hunt). _cursor_armed as _flush_armed.
        self._cursor_timer = QTimer(self)
        self._cursor_timer.setSingleShot(True)
        self._cursor_timer.setTimerType(Qt.TimerType.PreciseTimer)  # (never early)
        self._cursor_timer.timeout.connect(self._cursor_flush)
        self._cursor_armed = False
        self._idle_timer = QTimer(self)
        self._idle_timer.setInterval(max(250, int(config.idle_timeout * 1000 / 6)))
        self._idle_timer.timeout.connect(self._check_idle)
        self._idle_timer.start()

    # ------------------------------------------------------------------ set-up

    def create_demo_accounts(self) -> list[str]:
        """Create alice/alice123, bob/bob123 and charlie/charlie123 where absent, and not
        beside an account whose name looks like theirs ("aIice": one could pose as the
        other); return the names created."""
        created = []
        for name, password in DEMO_ACCOUNTS:
            if self.store.account(name) is not None:
                continue
            if (like := self.store.account_like(name)) is not None:
                log.warning("demo account %s not created: the account %s looks too much "
                            "like it", name, like.name)
                continue
            self.store.create_account(name, self.passwords.hash(password))
            created.append(name)
        if created:
            self.store.commit()  # (durable before "listening on": a crash keeps them)
        return created

    def listen(self) -> None:
        """Start listening on ``config.host``:``config.port``.

        Raises:
            OSError: the address cannot be bound (in use, not local, no permission).
        """
        address = QHostAddress(self.config.host)
        if address == QHostAddress(QHostAddress.SpecialAddress.AnyIPv6):
            # "::" with Qt is IPv6 only: IPv4 clients (127.0.0.1 too) were refused on a
            # dual-stack machine (an operator hunt). Any takes both where the system can.
            address = QHostAddress(QHostAddress.SpecialAddress.Any)
        if address.isNull():
            raise OSError(f"--host needs an IP address (127.0.0.1 for this computer only, "
                          f"0.0.0.0 for the network), not {self.config.host!r}")
        if not self._server.listen(address, self.config.port):
            raise OSError(f"cannot listen on {host_port(self.config.host, self.config.port)}"
                          f": {self._listen_advice()}")
        self._listened = True
        log.info("listening on %s (TLS %s)", self.address,
                 f"on, key SHA-256 {self.fingerprint}, certificate SHA-256 "
                 f"{self.certificate_fingerprint}" if self.config.tls else "OFF")

    def _listen_advice(self) -> str:
        """Why :meth:`listen` failed, in the operator's terms and with what to change: Qt's
        own words ("The address is protected", "The address is not available") said
        neither why nor what to do (an operator hunt)."""
        error = self._server.serverError()
        host, port = self.config.host, self.config.port
        qt = self._server.errorString()
        errors = QAbstractSocket.SocketError
        if error == errors.AddressInUseError:
            return (f"another program listens on port {port} (another Messenger server?): "
                    "stop it, or give this one another --port")
        if error == errors.SocketAccessError and 0 < port < 1024:
            return ("ports below 1024 need root (or the CAP_NET_BIND_SERVICE capability): "
                    "give a --port of 1024 or above, such as the default 5555")
        if error == errors.SocketAddressNotAvailableError:
            return (f"--host {host} is not an address of this computer: give one of its "
                    "own, 127.0.0.1 for this computer only, 0.0.0.0 (or ::) for every "
                    "network")
        return qt

    @property
    def port(self) -> int:
        """The TCP port listened on (the real one when 0 was asked for)."""
        return self._server.serverPort()

    @property
    def address(self) -> str:
        """``HOST:PORT`` listened on, as the log and the ``listening on`` line show it
        (:func:`host_port`; the real port when 0 was asked for)."""
        return host_port(self.config.host, self.port)

    def close(self) -> None:
        """Stop listening, drop every connection and close the store (idempotent); log
        "server stopped", or "database closed" when :meth:`listen` never succeeded."""
        if self._closed:
            return
        self._closed = True
        self._crypto.shutdown(wait=True, cancel_futures=True)
        self._server.close()
        if isinstance(self._server, TlsServer):
            self._server.drop_handshakes()
        self._idle_timer.stop()
        self._cursor_timer.stop()  # (the store's close writes every cursor)
        if not self._failed:
            # Everyone still connected logs out: the activity log's logout lines and the
            # accounts' last seen time, committed below.
            for conn in list(self._conns):
                try:
                    self._apply(self.core.disconnected(conn))
                except Exception:
                    log.exception("logging out connection %d at the stop failed", conn)
        walsync, self._walsync = self._walsync, None
        if walsync is not None:
            try:
                if not self._failed:
                    self._apply(self.core.receipt_counts())
                    self.store.commit()
                    walsync.request(self._ticket + 1)
            except Exception as exc:
                self._stop_commit_failed(exc)
            finally:
                walsync.stop()  # syncs the WAL once more: everything committed is durable
            if walsync.failed is not None:
                self._storage_failed(f"making the database durable failed: {walsync.failed}")
            self._syncing = False
            held, self._held = self._held, None
            if not self._failed:
                if held is not None:
                    self._write(*held)
                try:
                    self.store.sync_on_commit()
                except Exception as exc:
                    self._stop_commit_failed(exc)
        if not self._failed:
            self._flush()
        conns, self._conns = list(self._conns.values()), {}
        self._say_stopping(conns)
        try:
            self.store.close()
        except Exception:
            log.exception("closing the database failed")
        self._db_lock.close()
        if self._listened:
            log.info("server stopped")
        else:  # (--add-user, --reset-password, a start refused: no server ran)
            log.info("database closed")

    def _stop_commit_failed(self, exc: BaseException) -> None:
        """The last commit of a stop failed (see :meth:`_storage_failed`)."""
        if is_locked(exc):  # (another program's write lock: the database is not damaged)
            self._storage_failed(
                f"the database is locked by another program ({exc}): what came since the "
                "last commit was not stored, nor acknowledged (clients send it again)",
                advice="end the other program's transaction, then start the server again")
            return
        log.exception("commit failed")
        self._storage_failed(f"the database commit failed: {exc}")

    def _say_stopping(self, conns: list[_Connection]) -> None:
        """Tell each connection the server stops (``error`` ``server_stopping``, no id) and
        close it after what it still has to send (the last acks among it: they were lost to
        an abort), waiting :data:`STOP_GRACE` seconds at most in all; abort the rest.
        Their ``disconnected`` finds them gone from ``_conns`` (nothing more is applied)."""
        notice = encode_frame(Error(
            code=ErrorCode.SERVER_STOPPING,
            message="the server is stopping (a restart or maintenance)"))
        for c in conns:
            c.closing = True
            if c.socket.state() == QAbstractSocket.SocketState.ConnectedState:
                c.socket.write(notice)
                c.socket.disconnectFromHost()
        deadline = QDeadlineTimer(int(STOP_GRACE * 1000))
        for c in conns:
            socket = c.socket
            if socket.state() != QAbstractSocket.SocketState.UnconnectedState:
                socket.waitForDisconnected(max(0, deadline.remainingTime()))
            if socket.state() != QAbstractSocket.SocketState.UnconnectedState:
                socket.abort()

    # ------------------------------------------------------------------ sockets

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            if socket is None:
                break
            if len(self._conns) >= self.max_connections:
                self._refuse_full(socket)
                continue
            conn = next(self._ids)
            # Small frames must leave at once: no Nagle delay (it cost ~18 ms per message).
            socket.setSocketOption(QAbstractSocket.SocketOption.LowDelayOption, 1)
            socket.setReadBufferSize(READ_BUFFER)
            c = _Connection(conn, socket, min(self.config.max_frame, PRELOGIN_MAX_FRAME))
            self._conns[conn] = c
            address = peer_address(socket.peerAddress().toString(), socket.peerPort())
            socket.readyRead.connect(lambda c=c: self._read(c))
            socket.disconnected.connect(lambda c=c: self._gone(c))
            # c.written is connected only while the connection is paused (_read) or a
            # piece of its login replay is out: a Python call for every socket write costs
            # more than the check it makes.
            c.drain = lambda _n, c=c: self._drained(c)
            socket.errorOccurred.connect(lambda err, c=c: self._socket_error(c, err))
            log.debug("connection %d from %s", conn, address)
            self._apply(self.core.connected(conn, address))
            self.clientCountChanged.emit(len(self._conns))

    def _refuse_full(self, socket: QTcpSocket) -> None:
        """The server holds :attr:`max_connections` already: say so and close ``socket``."""
        host = socket.peerAddress().toString()
        if self.core.log_budget.allow(address_block(host, self.core.local_networks)):
            log.warning("refused a connection from %s: the server holds %d connections, its "
                        "limit (open files: raise `ulimit -n`)", host, len(self._conns))
        socket.write(encode_frame(Error(
            code=ErrorCode.RATE_LIMITED, retry_after=FULL_RETRY_AFTER,
            message=f"the server is full ({len(self._conns)} connections); try again later")))
        socket.disconnected.connect(socket.deleteLater)  # (after the error is written)
        QTimer.singleShot(int(STOP_GRACE * 1000), socket, socket.abort)
        socket.disconnectFromHost()

    def _accept_error(self, error: QAbstractSocket.SocketError) -> None:
        """The kernel's accept failed (out of open files: ``EMFILE``): nobody can connect
        until connections end; said at most once a minute (it was silent; a hunt)."""
        now = time.monotonic()
        if now - self._accept_warned >= 60.0:
            self._accept_warned = now
            log.warning("cannot accept connections: %s (%d held; raise `ulimit -n`)",
                        self._server.errorString() or error, len(self._conns))
        # (Qt may pause accepting after it; try again in a moment, not in a busy loop.)
        QTimer.singleShot(250, self._server, self._server.resumeAccepting)

    @property
    def paused_connections(self) -> int:
        """How many connections are not being read because their replies pile up unsent."""
        return sum(1 for c in self._conns.values() if c.paused)

    def _unsent(self, c: _Connection) -> int:
        return c.pending + c.backlog()

    def _read(self, c: _Connection) -> None:
        if c.paused and not c.closing:
            return  # left in Qt's (bounded) buffer: TCP pushes back on the client
        socket = c.socket
        data = socket.readAll().data()
        if c.closing:
            return
        c.last_seen = time.monotonic()
        c.pinged = False
        # Nothing is written to the socket while we read (writes wait for _flush; a pong of
        # a few bytes aside), so what Qt still holds unsent stays the same during this call.
        backlog = c.backlog()
        store, core, decode, conn = self.store, self.core, self._codec.decode, c.conn
        if c.high_water != WRITE_HIGH_WATER:  # (until the login)
            self._logged_in(c)
        high_water = c.high_water
        frames = c.decoder.feed(data)
        try:
            for payload in frames:
                try:
                    frame = decode(payload)
                except ProtocolError as exc:
                    frame = None
                    self._apply(core.protocol_error(conn, exc))
                except Exception:  # never let a decoder surprise kill the rest of the read
                    frame = None
                    log.exception("undecodable frame on connection %d", conn)
                    self._apply(core.protocol_error(conn, ProtocolError(
                        ErrorCode.BAD_FRAME, "the frame could not be decoded")))
                # (The error answering an undecodable frame counts towards back-pressure
                # like any reply: it skipped the check, and a client that sent 5-byte junk
                # frames and never read had errors queued up to the 64 MiB drop limit; a hunt.)
                if frame is not None:
                    try:
                        # One request, atomic inside the turn's batch (Store.guard, unrolled).
                        store.begin_request()
                        try:
                            actions = core.handle(conn, frame)
                        except BaseException:
                            try:
                                store.abort_request()
                            finally:
                                core.request_failed()
                            raise
                        store.end_request()
                        if actions:
                            self._apply(actions)
                    except Exception as exc:
                        self._apply(self._failed_request(conn, getattr(frame, "id", None), exc,
                                                         type(frame).__name__))
                if c.closing:  # after logout or a fatal error nothing more is read
                    return
                if c.pending + backlog > high_water:
                    c.paused = True  # the rest stays in the decoder until the client reads
                    self._watch_drain(c)
                    if self._may_log(conn):
                        log.info("connection %d: %d bytes of replies unsent; reading paused",
                                 conn, self._unsent(c))
                    return
        except ProtocolError as exc:  # zero or oversized length: the stream is lost
            self._apply(core.protocol_error(conn, exc))
        finally:
            frames.close()  # keeps what was not consumed in the decoder
            # Requests that answer nothing (delivered/read) still wrote: commit them soon.
            if not self._syncing and not self._flush_armed and store.dirty:
                self._arm_flush(0)
            if not self._cursor_armed:
                self._arm_cursor_flush()

    def _logged_in(self, c: _Connection) -> None:
        """Lift the limits of a connection not logged in (:data:`PRELOGIN_MAX_FRAME`,
        :data:`PRELOGIN_HIGH_WATER`) once it has logged in."""
        session = self.core.sessions.get(c.conn)
        if session is not None and session.key is not None:
            c.decoder.max_frame = self.config.max_frame
            c.high_water, c.low_water = WRITE_HIGH_WATER, WRITE_LOW_WATER

    def _may_log(self, conn: int) -> bool:
        """Whether a line about connection ``conn`` fits its address's log budget (a client
        that stops reading, then reads, over and over wrote two lines a round; a hunt)."""
        session = self.core.sessions.get(conn)
        return session is None or self.core.log_budget.allow(session.block)

    def _watch_drain(self, c: _Connection) -> None:
        """Have ``c.written`` (bytes sent) call :meth:`_drained` (until the backlog is
        small)."""
        if not c.watching:
            c.watching = True
            c.written.connect(c.drain)

    def _drained(self, c: _Connection) -> None:
        """``c.written`` while watched: once the backlog is small, send the next piece of
        the login replay and resume reading a paused connection."""
        if c.closing or self._conns.get(c.conn) is not c:
            return
        # Bytes leaving are a sign of life: a paused connection's pongs are not read, and a
        # client on a slow link reading a long backlog was dropped as silent (a review).
        c.last_seen = time.monotonic()
        c.pinged = False
        if self._unsent(c) > c.low_water:
            return
        if c.watching:
            c.watching = False
            c.written.disconnect(c.drain)
        if c.replay:
            c.replay = False
            try:
                with self.store.guard():
                    actions = self.core.replay_next(c.conn)
            except Exception:  # (what is not replayed now comes at the next login)
                log.exception("replaying queued messages to connection %d failed", c.conn)
                actions = []
            self._apply(actions)
        if c.paused:
            c.paused = False
            if self._may_log(c.conn):
                log.info("connection %d: replies drained; reading again", c.conn)
            self._read(c)  # frames buffered in the decoder, then whatever came meanwhile

    def _apply(self, actions: list[Action]) -> None:
        """Queue ``actions`` until the store has committed (see :meth:`_flush`): each frame
        encoded once (a fanned-out message or receipt once for all its connections) and
        appended to its connection's list; disconnects after them. A ``pong`` is written at
        once when nothing is queued for its connection and the store has nothing to write or
        sync, or when the commit is held up (:meth:`_commit_held_up`); else it is queued like
        any reply (so it also follows a ``read`` before it onto the disk)."""
        if not actions:
            return
        conns = self._conns
        out = self._out
        encoded: dict[int, bytes] = {}  # id(frame) → bytes, while ``actions`` holds the frames
        for action in actions:
            if type(action) is Out:
                c = conns.get(action.conn)
                if c is None:
                    continue  # gone meanwhile
                frame = action.frame
                if type(frame) is Pong and (
                        (not c.pending and not self._syncing and not self.store.dirty)
                        or self._commit_held_up()):
                    # Nothing queued for it and nothing waiting to be written: at once, not
                    # behind the next commit. Else it keeps its place behind the replies
                    # and the writes before it (a client may use a ping as a barrier: a
                    # pong overtook the ok of a send before it, and the app takes its reads
                    # as stored when the pong after them is back, though a read has no
                    # reply: hunts), unless the commit is held up (a stalled disk, another
                    # program's lock on the database), which must not make the client give
                    # the link up as dead and log in again and again.
                    c.socket.write(encode_frame(frame))
                    continue
                data = encoded.get(id(frame))
                if data is None:
                    data = encoded[id(frame)] = encode_frame(frame)
                c.pending += len(data)
                parts = out.get(action.conn)
                if parts is None:
                    out[action.conn] = [data]
                else:
                    parts.append(data)
            elif type(action) is Fanout:
                data = encode_frame(action.frame)
                size = len(data)
                for conn in action.conns:
                    c = conns.get(conn)
                    if c is None:
                        continue
                    c.pending += size
                    parts = out.get(conn)
                    if parts is None:
                        out[conn] = [data]
                    else:
                        parts.append(data)
            elif isinstance(action, Disconnect):
                c = conns.get(action.conn)
                if c is not None:
                    c.closing = True  # read nothing more from it
                    self._closes.append(action.conn)
            elif isinstance(action, ReplayMore):
                c = conns.get(action.conn)
                if c is not None:
                    c.replay = True  # (watched once the piece before it is written)
            elif isinstance(action, Crypto):
                future = self._crypto.submit(action.work)
                future.add_done_callback(lambda f, a=action: self._cryptoDone.emit((a, f)))
        if not self._syncing and not self._flush_armed:
            self._arm_flush(0)

    def _commit_held_up(self) -> bool:
        """Whether replies wait for a commit that is held up: the database is locked by
        another program, or a WAL sync has run for more than :data:`PONG_HOLD` seconds
        (:attr:`_last_commit` is when its commit began)."""
        return self._locked_since is not None or (
            self._syncing and time.monotonic() - self._last_commit > PONG_HOLD)

    def _flush(self) -> None:
        """Commit the store, then write the queued frames (one write per connection: its
        frames of the turns since the last commit, concatenated) and perform the closes: at
        once when the commit is durable (no sync thread), else when the sync thread reports
        it durable (:meth:`_on_synced`). While a sync runs, nothing is committed: the next
        commit takes everything that came meanwhile."""
        self._flush_armed = False
        if self._syncing or self._failed:
            return  # _on_synced flushes
        now = time.monotonic()
        wait = self._last_commit + MIN_COMMIT_INTERVAL - now
        if self._locked_since is not None:
            wait = max(wait, self._lock_retry_at - now)
        if wait > 0 and not self._closed:
            self._arm_flush(max(1, round(wait * 1000)))
            return
        self._last_commit = now
        try:
            counts = self.core.receipt_counts()  # coalesced group receipts join this commit
            if counts:
                self._apply(counts)
                self._flush_timer.stop()  # started by _apply: this flush takes them
                self._flush_armed = False
            wrote = self.store.commit()
        except Exception as exc:
            if is_locked(exc) and not self._closed:
                self._commit_locked(exc)
                return
            log.exception("commit failed")
            self._storage_failed(f"the database commit failed: {exc}")
            return
        if self._locked_since is not None:
            log.warning("the database lock was released after %.1f s: storing and answering "
                        "again", now - self._locked_since)
            self._locked_since = None
        out, self._out = self._out, {}
        closes, self._closes = self._closes, []
        if not self._cursor_armed:
            self._arm_cursor_flush()
        if self._walsync is not None and wrote:
            self._ticket += 1
            self._syncing = True
            self._held = (out, closes)
            self._walsync.request(self._ticket)
            return
        self._write(out, closes)

    def _arm_cursor_flush(self) -> None:
        """Arm a commit for when the delivery cursors that moved fall due, if any did."""
        due = self.store.cursors_due
        if due is None or self._closed or self._failed:
            return
        self._cursor_armed = True
        self._cursor_timer.start(max(0, math.ceil((due - time.monotonic()) * 1000)))

    def _cursor_flush(self) -> None:
        """The moved delivery cursors are due: commit them (the commit running or armed
        takes them instead; the flush after it arms this again if they are still due)."""
        self._cursor_armed = False
        if self._syncing or self._flush_armed or self._closed or self._failed:
            return
        self._flush()

    def _commit_locked(self, exc: BaseException) -> None:
        """The commit met another program's write lock on the database (an sqlite3 shell
        left inside a transaction, a backup tool): nothing was written, and nothing is lost.
        Requests go on being read and handled; their rows and answers wait in memory (an
        acknowledgement only after its message is stored) and the commit is tried again every
        :data:`LOCK_RETRY` seconds. Logged when it starts, every :data:`LOCK_LOG_INTERVAL`
        seconds while it lasts, and when it ends (:meth:`_flush`)."""
        now = time.monotonic()
        if self._locked_since is None:
            self._locked_since = self._lock_logged = now
            log.warning("the database %s is locked by another program (%s): is an sqlite3 "
                        "shell or a backup tool holding a write transaction? Requests are "
                        "kept and answered once it ends; trying again every %.2f s",
                        self.config.db_path, exc, LOCK_RETRY)
        elif now - self._lock_logged >= LOCK_LOG_INTERVAL:
            self._lock_logged = now
            log.warning("the database is still locked by another program, for %.0f s now: "
                        "nothing is stored or acknowledged until it lets go",
                        now - self._locked_since)
        self._lock_retry_at = now + LOCK_RETRY
        self._arm_flush(max(1, round(LOCK_RETRY * 1000)))

    def _arm_flush(self, msec: int) -> None:
        """Run :meth:`_flush` in ``msec`` ms (0: once the events at hand are handled)."""
        self._flush_timer.start(msec)
        self._flush_armed = True

    def _on_synced(self, ticket: int) -> None:
        """The WAL sync thread made the commit ``ticket`` durable: send what waited for it,
        then commit what came meanwhile."""
        if ticket != self._ticket or not self._syncing:
            return  # a sync from before a failure or close
        self._syncing = False
        held, self._held = self._held, None
        if held is not None:
            self._write(*held)
        if self._out or self._closes or self.store.dirty:
            self._flush()
        elif not self._cursor_armed:
            self._arm_cursor_flush()

    def _on_sync_failed(self, error: BaseException) -> None:
        """The WAL could not be made durable, or checkpointed (:class:`CheckpointFailed`,
        which says so itself)."""
        if not self._closed:
            self._storage_failed(str(error) if isinstance(error, CheckpointFailed)
                                 else f"making the database durable failed: {error}")

    def _storage_failed(self, reason: str, advice: str = "restart it: SQLite recovers the "
                        "database from its WAL") -> None:
        """Stop serving: nothing that waited for the failed commit or sync may be answered,
        and after an I/O error even a later successful fsync proves nothing (the kernel may
        have dropped the failed pages). Every connection is dropped unanswered (clients
        resend after the restart; resends are idempotent) and the server stops listening.
        ``storageFailed`` carries "<reason>; the server stopped (<advice>)"."""
        if self._failed:
            return
        self._failed = True
        reason = f"{reason}; the server stopped ({advice})"
        log.critical("%s: every connection was dropped", reason)
        self._syncing = False
        self._held = None
        self._out, self._closes = {}, []
        self._flush_timer.stop()
        self._flush_armed = False
        self._server.close()
        for c in list(self._conns.values()):
            c.closing = True
            c.socket.abort()
        self.storageFailed.emit(reason)

    def _write(self, out: dict[ConnId, list[bytes]], closes: list[ConnId]) -> None:
        """Write each connection's frames (one write), then perform the closes."""
        conns = self._conns
        for conn, parts in out.items():
            c = conns.get(conn)
            if c is None:
                continue
            socket = c.socket
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            socket.write(data)
            c.pending = max(0, c.pending - len(data))
            if not c.closing and (unsent := c.backlog()) > WRITE_DROP_LIMIT:
                log.warning("connection %d: %d bytes unsent, the client is not reading; "
                            "dropping it (its messages stay queued)", conn, unsent)
                c.closing = True
                socket.abort()
            elif c.replay and not c.closing:
                self._watch_drain(c)
                if self._unsent(c) <= WRITE_LOW_WATER:  # (already gone: no signal to wait for)
                    QTimer.singleShot(0, self, lambda c=c: self._drained(c))
        for conn in closes:
            c = conns.get(conn)
            if c is not None:
                # After its frames above, which Qt sends before closing. Never disconnect
                # slots here: we may be inside this socket's readyRead.
                c.socket.disconnectFromHost()

    def _crypto_done(self, item: tuple[Crypto, Future]) -> None:
        action, future = item
        if self._closed:
            return
        try:
            result = future.result()
        except Exception as exc:
            log.exception("password hashing failed for connection %d", action.conn)
            result = exc
        try:
            with self.store.guard():
                actions = action.done(result)
        except Exception as exc:
            # Answer, so the client is not left waiting; it may retry.
            actions = self._failed_request(action.conn, action.request_id, exc, "login")
        c = self._conns.get(action.conn)
        if c is not None and c.high_water != WRITE_HIGH_WATER:
            self._logged_in(c)  # (its login replay paces itself by the logged-in marks)
        self._apply(actions)

    def _failed_request(self, conn: ConnId, request_id: int | None, exc: Exception,
                        what: str) -> list[Action]:
        """The ``internal`` error answering a request whose handling raised ``exc`` (its
        writes were undone); logged with the traceback. Another program's write lock on the
        database (:meth:`_commit_locked` logs that) is said so, with ``retry_after``, and
        written at once: it stores nothing, and the next commit waits for the lock."""
        if is_locked(exc):
            log.info("connection %d: %s not handled: the database is locked by another "
                     "program", conn, what)
            c = self._conns.get(conn)
            if c is not None:
                c.socket.write(encode_frame(Error(
                    code=ErrorCode.INTERNAL, id=request_id, retry_after=1.0,
                    message="the server's database is locked by another program for now; "
                            "try again shortly")))
            return []
        log.exception("internal error on connection %d handling %s", conn, what)
        return [Out(conn, Error(code=ErrorCode.INTERNAL, id=request_id,
                                message="the server failed on this request; it may be retried"))]

    def _check_idle(self) -> None:
        if expired := self.core.expire_offers():
            self._apply(expired)
        self.core.sum_up_protocol_errors()
        now = time.monotonic()
        limit = self.config.idle_timeout
        sessions = self.core.sessions
        for c in list(self._conns.values()):
            session = sessions.get(c.conn)
            # (A password being checked buys time once: a connection that sends login after
            # login for made-up names stays busy, and would never be closed.)
            if not c.closing and now - c.opened > self.config.login_timeout and \
                    (session is None or session.key is None) and \
                    not (session is not None and session.busy
                         and now - c.opened <= 2 * self.config.login_timeout):
                if session is None or self.core.log_budget.allow(session.block):
                    log.info("connection %d not logged in after %.0f s: closing it", c.conn,
                             now - c.opened)
                c.closing = True
                c.socket.write(encode_frame(Error(
                    code=ErrorCode.NOT_LOGGED_IN,
                    message=f"not logged in within {self.config.login_timeout:g} s: closing "
                            "the connection")))
                c.socket.disconnectFromHost()
                continue
            silent = now - c.last_seen
            if silent > limit:
                # Within the log budget: 64 connections of one address that never say a
                # word were 64 lines per idle timeout, without end (a hunt).
                if session is None or self.core.log_budget.allow(session.block):
                    log.info("connection %d silent for %.0f s: dropping it", c.conn, silent)
                c.closing = True
                c.socket.abort()
            elif silent > limit / 3 and not c.pinged and not c.closing:
                c.pinged = True
                c.socket.write(encode_frame(Ping(nonce=c.conn)))

    def _gone(self, c: _Connection) -> None:
        if self._conns.pop(c.conn, None) is None:
            return
        log.debug("connection %d closed", c.conn)
        if shiboken6.isValid(c.socket):  # not when Qt is already destroying it
            c.socket.deleteLater()
        self._apply(self.core.disconnected(c.conn))
        if not self._syncing and not self._flush_armed and self.store.dirty:
            self._arm_flush(0)  # last seen, even when nobody is told
        if not self._cursor_armed:
            self._arm_cursor_flush()  # (its cursors were kept for writing)
        self.clientCountChanged.emit(len(self._conns))

    def _socket_error(self, c: _Connection, error: QAbstractSocket.SocketError) -> None:
        if error != QAbstractSocket.SocketError.RemoteHostClosedError:
            session = self.core.sessions.get(c.conn)
            if session is None or self.core.log_budget.allow(session.block):
                log.info("connection %d: %s", c.conn, c.socket.errorString())

