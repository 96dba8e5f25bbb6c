"""One TLS connection to a Messenger server: sockets, framing, TOFU pinning and the hello.

:class:`ClientConnection` is the only client object that touches a socket. It moves frames:
typed server frames come out of :attr:`ClientConnection.frame_received`, typed client frames go
in through :meth:`ClientConnection.send`. It answers the server's pings itself. Login and chat
logic live in :mod:`messenger.client.engine`.
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Any

import msgspec
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtNetwork import QAbstractSocket, QSslError, QSslSocket

from .. import __version__
from ..protocol import (
    PROTOCOL_VERSION,
    Codec,
    Error,
    ErrorCode,
    FrameDecoder,
    Hello,
    Ping,
    Pong,
    ProtocolError,
    encode_frame,
)
from ..protocol.fingerprint import cert_fingerprint, key_fingerprint
from ..tlsbackend import tls_unavailable
from .pins import PinFileError, PinStore, PinVerdict, mismatch_message, server_address
from .serverclock import ServerClock

log = logging.getLogger("messenger.client.connection")

AGENT = f"messenger-desktop/{__version__}"
DEFAULT_CONNECT_TIMEOUT_MS = 10_000


def _not_messenger(where: str, why: str) -> str:
    """The error for a service at ``where`` that is not a Messenger server (``why``)."""
    return (f"{where} is not a Messenger server: {why}. Check the port (the server prints "
            "it when it starts; 5555 by default).")


def version_mismatch_message(where: str, server_version: int) -> str:
    """What the user is told when the server at ``where`` answered ``hello`` with protocol
    version ``server_version``, not this app's: which of the two is older, and what to
    update."""
    if server_version > PROTOCOL_VERSION:
        return (f"The server at {where} is newer than this app: it speaks protocol version "
                f"{server_version}, this app version {PROTOCOL_VERSION}. Update the app.")
    return (f"The server at {where} is older than this app: it speaks protocol version "
            f"{server_version}, this app version {PROTOCOL_VERSION}. Ask its operator to "
            "update the server, or use an app of the server's version.")


class ConnectionState(enum.Enum):
    """Where a client stands with its server.

    :class:`ClientConnection` moves through the first four; the engine adds the login states.
    """

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    """TCP connect and TLS handshake under way."""
    HANDSHAKING = "handshaking"
    """TLS is up and the certificate accepted; our ``hello`` is sent, the server's is awaited."""
    CONNECTED = "connected"
    """``hello`` exchanged: ready for ``login``/``register``."""
    LOGGING_IN = "logging_in"
    LOGGED_IN = "logged_in"


class ConnectionErrorCode(enum.StrEnum):
    """Why a connection failed or ended (client-side codes, not protocol codes)."""

    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    TLS = "tls"
    CERTIFICATE_CHANGED = "certificate_changed"
    PIN_FILE = "pin_file"
    """The file of pinned certificates is unreadable: no server is trusted."""
    UNTRUSTED = "untrusted"
    """A new server whose certificate the user did not trust (``ask_first_use``)."""
    PROTOCOL = "protocol"
    VERSION_MISMATCH = "version_mismatch"
    """The server is a Messenger server of another protocol version (older or newer): no
    retry helps until the app or the server is updated."""
    CLOSED = "closed"


_SOCKET_ERROR_TEXT = {
    QAbstractSocket.SocketError.ConnectionRefusedError:
        "connection refused — is the server running, and is the port right?",
    QAbstractSocket.SocketError.HostNotFoundError: "host not found — check the server address.",
    QAbstractSocket.SocketError.NetworkError: "network error — check your network connection.",
    QAbstractSocket.SocketError.SocketTimeoutError: "the connection timed out.",
}


FRAMES_PER_TURN = 200
"""At most this many frames are handled in one turn of the event loop; the rest wait in the
decoder for the next turn (a 0 ms timer), so a big backlog arriving in large reads does not
freeze the window (a hunt: 14,000 messages after a long absence, 2–3 s)."""
TURN_BUDGET = 0.02
"""... and no more frames are begun once a turn has taken this many seconds."""
RECEIVE_MAX_FRAME = 64 << 20
"""Largest frame the app accepts from a server, in bytes (64 MiB). A page of 500 messages
of 16,000 characters each, escaped in JSON, fits; 1 MiB (what the server accepts) did not,
and a client that drops the link on a large history page asks for it again after every
reconnect."""


class ClientConnection(QObject):
    """A client's connection to one server over TLS, with certificate pinning (TOFU).

    Args:
        pins: where pinned fingerprints live (default: the user's config dir).
        connect_timeout_ms: how long connecting, TLS and ``hello`` may take together (the
            time a new server's certificate waits for the user's trust does not count).
        ask_first_use: ask before trusting a new server (the desktop app); False pins it at
            once (tests, tools).
        max_frame: largest frame accepted from the server, in bytes
            (:data:`RECEIVE_MAX_FRAME`; the server's own frames are not bound by the
            ``max_frame`` it accepts, protocol.md §2).

    Signals:
        state_changed(ConnectionState): after every state change.
        ready(Hello): the server's ``hello`` arrived; the connection is usable.
        frame_received(object): a typed server frame (``Ok``, ``Error``, ``Message``,
            ``Presence``, …) after the handshake. Pings are answered here and not forwarded;
            pongs are forwarded while logged in. A turn of the event loop handles at most
            :data:`FRAMES_PER_TURN` frames (fewer after :data:`TURN_BUDGET`); the rest follow
            on the next turns, in order (:attr:`handling_read` is True while a turn's frames
            are handled).
        frames_handled(int): a turn's frames are handled (their number); frames held back
            while :attr:`handling_read` (the engine's batch of messages) are due now.
        fingerprint_pinned(str): the server was unknown and its fingerprint is now pinned.
        fingerprint_unknown(str): (``ask_first_use``) a new server presented this fingerprint:
            nothing is sent until :meth:`trust_first_use` (or :meth:`refuse_first_use`).
        fingerprint_verified(str): the server's fingerprint matched its pin.
        failed(str, str): ``(code, message)`` with a :class:`ConnectionErrorCode`; the
            connection is closed right after (``state_changed(DISCONNECTED)`` follows).
    """

    state_changed = Signal(object)
    ready = Signal(object)
    frame_received = Signal(object)
    frames_handled = Signal(int)
    fingerprint_pinned = Signal(str)
    fingerprint_unknown = Signal(str)
    fingerprint_verified = Signal(str)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None, *, pins: PinStore | None = None,
                 connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
                 max_frame: int = RECEIVE_MAX_FRAME, ask_first_use: bool = False) -> None:
        super().__init__(parent)
        self.pins = pins if pins is not None else PinStore()
        self._max_frame = max_frame
        self._codec = Codec.for_client()
        self._decoder = FrameDecoder(max_frame)
        self._socket: QSslSocket | None = None
        self._state = ConnectionState.DISCONNECTED
        self._host = ""
        self._port = 0
        self._fingerprint: str | None = None
        self._certificate: str | None = None  # (the whole certificate's fingerprint)
        self._last_certificate: dict[str, str] = {}  # address → certificate last met there
        self._cert_checked = False
        self._awaiting_trust = False
        self._asked_then_closed = False  # the question was open when the connection failed
        self._pinned_now: str | None = None  # pinned by this connection, no hello yet
        self._pinned_before = False  # the certificate matched a pin kept from before
        self.ask_first_use = ask_first_use
        """Ask before trusting a new server (``fingerprint_unknown``, then
        :meth:`trust_first_use` or :meth:`refuse_first_use`) instead of pinning at once."""
        self._ending = False
        self.server_hello: Hello | None = None
        self.server_clock = ServerClock()
        """The server's clock as seen from here, from each ``hello`` (``server_time``)."""
        self._hello_sent_at = 0.0  # (local time our hello left)
        self.rx_count = 0
        """How many times bytes arrived or buffered frames were handled (the engine's
        heartbeat watches it change)."""
        self.frames_per_turn = FRAMES_PER_TURN
        self.turn_budget = TURN_BUDGET
        self.handling_read = False
        """True while a turn's frames are handled (``frames_handled`` follows)."""
        self._turn_frames = 0  # (handled in this turn of the event loop)
        self._turn_ends = 0.0  # (time.monotonic(): no frame begun after it in this turn)
        self._more = QTimer(self)  # the next turn's frames
        self._more.setSingleShot(True)
        self._more.setInterval(0)
        self._more.timeout.connect(self._next_turn)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(connect_timeout_ms)
        self._timer.timeout.connect(self._on_timeout)

    # ---------------------------------------------------------------- properties

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def where(self) -> str:
        """The server's address as messages write it (:func:`~.pins.server_address`:
        ``[::1]:5555`` for an IPv6 literal)."""
        return server_address(self._host, self._port)

    @property
    def fingerprint(self) -> str | None:
        """The SHA-256 fingerprint of the server's key (its certificate's SubjectPublicKeyInfo:
        what is pinned and shown) once known, else None."""
        return self._fingerprint

    @property
    def certificate_fingerprint(self) -> str | None:
        """The SHA-256 fingerprint of the server's whole certificate (what apps before the
        key pin pinned) once known, else None."""
        return self._certificate

    @property
    def pinned_before(self) -> bool:
        """True when this connection's certificate matched a pin of its address kept from
        before it (False when it was pinned by this connection, or is not checked yet)."""
        return self._pinned_before

    @property
    def local_host(self) -> str:
        """The local IP address of the connection to the server ("" when not connected): the
        address of this computer that the server's network can reach."""
        if self._socket is None:
            return ""
        address = self._socket.localAddress()
        if address.isNull():
            return ""
        text = address.toString()
        return text[7:] if text.startswith("::ffff:") and "." in text else text

    # ---------------------------------------------------------------- commands

    def set_address(self, host: str, port: int) -> None:
        """Name the server to reach (``host:port``) without connecting: a link already down
        (an account opened offline, whose reconnects go there)."""
        if self.state is ConnectionState.DISCONNECTED:
            self._host, self._port = host, int(port)

    def connect_to_host(self, host: str, port: int) -> None:
        """Open a TLS connection to ``host:port`` (drops any current one without a word)."""
        self._drop_socket()
        self._host, self._port = host, int(port)
        self._decoder = FrameDecoder(self._max_frame)
        self._fingerprint = self._certificate = None
        self._cert_checked = False
        self._awaiting_trust = self._asked_then_closed = False
        self._pinned_now = None
        self._pinned_before = False
        self._ending = False
        self.server_hello = None
        sock = QSslSocket(self)
        sock.sslErrors.connect(self._on_ssl_errors)
        sock.encrypted.connect(self._on_encrypted)
        sock.readyRead.connect(self._on_ready_read)
        sock.errorOccurred.connect(self._on_socket_error)
        sock.disconnected.connect(self._on_disconnected)
        self._socket = sock
        log.info("connecting to %s", self.where)
        self._set_state(ConnectionState.CONNECTING)
        self._timer.start()
        sock.connectToHostEncrypted(host, self._port)

    def send(self, frame: msgspec.Struct) -> bool:
        """Queue one client frame; False (and nothing sent) when not connected."""
        if self._socket is None or self._state in (ConnectionState.DISCONNECTED,
                                                   ConnectionState.CONNECTING):
            log.debug("not connected: dropping %s", type(frame).__name__)
            return False
        self._socket.write(encode_frame(frame))
        return True

    def close(self) -> None:
        """Close gracefully (queued frames are written first); no ``failed`` signal."""
        if self._socket is None:
            return
        self._ending = True
        self._timer.stop()
        if self._socket.state() in (QAbstractSocket.SocketState.UnconnectedState,
                                    QAbstractSocket.SocketState.HostLookupState,
                                    QAbstractSocket.SocketState.ConnectingState) \
                or self._state is ConnectionState.CONNECTING:
            # Nothing to flush; Qt would otherwise close only once a connect that may never
            # complete (a host that drops SYNs) has, and the app would stay "connecting".
            self._drop_socket()
            self._set_state(ConnectionState.DISCONNECTED)
        else:
            self._socket.disconnectFromHost()

    def abort(self) -> None:
        """Drop the link at once, with no ``failed`` signal: nothing queued is written, and
        nothing the server sends after is read (a login cancelled by the user)."""
        if self._socket is None:
            return
        self._ending = True
        self._awaiting_trust = self._asked_then_closed = False
        self._drop_socket()
        self._set_state(ConnectionState.DISCONNECTED)

    def drop(self, message: str) -> None:
        """Abort the link at once and report ``failed("closed", message)`` (a dead link)."""
        if self._socket is None:
            return
        self._fail(ConnectionErrorCode.CLOSED, message)

    def set_logged_in(self, logged_in: bool) -> None:
        """Let the engine mark the login states (LOGGING_IN / LOGGED_IN / back to CONNECTED)."""
        if self._state in (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING,
                           ConnectionState.HANDSHAKING):
            return
        self._set_state(ConnectionState.LOGGED_IN if logged_in else ConnectionState.CONNECTED)

    def set_logging_in(self) -> None:
        """Mark that a ``login``/``register`` request is under way."""
        if self._state is ConnectionState.CONNECTED:
            self._set_state(ConnectionState.LOGGING_IN)

    # ---------------------------------------------------------------- internals

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        log.debug("state %s -> %s", self._state.value, state.value)
        self._state = state
        self.state_changed.emit(state)

    def _drop_socket(self) -> None:
        sock, self._socket = self._socket, None
        self._timer.stop()
        self._more.stop()  # (what the decoder still holds was this socket's)
        if sock is not None:
            sock.blockSignals(True)
            sock.abort()
            sock.deleteLater()

    def _fail(self, code: ConnectionErrorCode, message: str) -> None:
        """Report the first failure of this connection, then drop the socket."""
        if self._ending:
            return
        self._ending = True
        # A trust question still open outlives this connection: the user may still answer.
        self._asked_then_closed, self._awaiting_trust = self._awaiting_trust, False
        if self._pinned_now is not None and code is ConnectionErrorCode.PROTOCOL and \
                self._state is ConnectionState.HANDSHAKING:
            # Pinned a moment ago, and what answered is no Messenger server (a wrong port):
            # its certificate must not stand for the address, or the real server there
            # would later meet "the certificate changed" (an operator hunt).
            pinned, self._pinned_now = self._pinned_now, None
            try:
                if self.pins.get(self._host, self._port) == pinned:
                    self.pins.remove(self._host, self._port)
                    message += " Its certificate was not kept."
            except (PinFileError, OSError) as exc:
                log.warning("could not forget the pin of %s: %s", self.where,
                            exc)
        log.warning("connection to %s failed (%s): %s", self.where, code, message)
        self._drop_socket()
        self.failed.emit(str(code), message)
        self._set_state(ConnectionState.DISCONNECTED)

    def _check_certificate(self, der: bytes) -> bool:
        """TOFU-check the server certificate ``der`` by its key; False after reporting a
        refusal. A certificate renewed on the pinned key passes (a line in the log says so);
        an older app's pin of this very certificate is replaced by the pin of its key."""
        try:
            fingerprint = key_fingerprint(der)
        except ValueError as exc:
            self._fail(ConnectionErrorCode.TLS, f"The server's TLS certificate cannot be read: "
                                                f"{exc}.")
            return False
        certificate = cert_fingerprint(der)
        self._fingerprint, self._certificate = fingerprint, certificate
        try:
            result = self.pins.check(self._host, self._port, fingerprint, certificate)
        except PinFileError as exc:
            self._fail(ConnectionErrorCode.PIN_FILE, str(exc))
            return False
        if result.legacy:  # (it matched: the old pin stays when the new cannot be written)
            try:
                self.pins.verify(self._host, self._port, fingerprint, certificate)
            except (PinFileError, OSError) as exc:
                log.warning("could not pin the key of %s in place of its certificate: %s",
                            self.where, exc)
        if result.verdict is not PinVerdict.MISMATCH:
            seen = self._last_certificate.get(self.where)
            if seen is not None and seen != certificate:
                log.info("%s presents a new certificate (SHA-256 %s, was %s) on its pinned "
                         "key: accepted", self.where, certificate, seen)
            self._last_certificate[self.where] = certificate
        self._cert_checked = True
        self._pinned_before = result.verdict is PinVerdict.MATCH
        if result.verdict is PinVerdict.MISMATCH:
            assert result.pinned is not None
            self._fail(ConnectionErrorCode.CERTIFICATE_CHANGED,
                       mismatch_message(self._host, self._port, result.pinned, fingerprint))
            return False
        if result.verdict is PinVerdict.UNKNOWN and self.ask_first_use:
            log.info("new server %s: asking whether to trust its key %s", self.where,
                     fingerprint)
            self._awaiting_trust = True
        elif result.verdict is PinVerdict.UNKNOWN:
            try:
                self.pins.pin(self._host, self._port, fingerprint)
            except (PinFileError, OSError) as exc:
                self._fail(ConnectionErrorCode.PIN_FILE, str(exc))
                return False
            log.info("new server %s: pinned its key %s", self.where,
                     fingerprint)
            self._pinned_now = self.pins.get(self._host, self._port)
            self.fingerprint_pinned.emit(fingerprint)
        else:
            self.fingerprint_verified.emit(fingerprint)
        return True

    def _peer_der(self, errors: list[QSslError] | None = None) -> bytes | None:
        sock = self._socket
        if sock is None:
            return None
        cert = sock.peerCertificate()
        if cert.isNull() and errors:
            cert = next((e.certificate() for e in errors if not e.certificate().isNull()), cert)
        if cert.isNull():
            return None
        return bytes(cert.toDer().data())

    def _on_ssl_errors(self, errors: list[QSslError]) -> None:
        sock = self._socket
        if sock is None:
            return
        log.debug("TLS errors (expected for a self-signed server): %s",
                  "; ".join(e.errorString() for e in errors))
        der = self._peer_der(errors)
        if der is None:
            self._fail(ConnectionErrorCode.TLS, "The server presented no TLS certificate.")
            return
        if self._check_certificate(der):
            # The pin, not a certificate authority, is the trust anchor.
            sock.ignoreSslErrors()

    def _on_encrypted(self) -> None:
        if self._socket is None:
            return
        if not self._cert_checked:
            der = self._peer_der()
            if der is None:
                self._fail(ConnectionErrorCode.TLS, "The server presented no TLS certificate.")
                return
            if not self._check_certificate(der):
                return
        if self._awaiting_trust:
            # A new server: nothing (no hello, no password) goes until the user trusts it.
            self._timer.stop()  # (the user's time, not the network's)
            self.fingerprint_unknown.emit(self._fingerprint or "")
            return
        self._say_hello()

    def _say_hello(self) -> None:
        log.info("TLS up with %s (key SHA-256 %s, certificate SHA-256 %s)", self.where,
                 self._fingerprint, self._certificate)
        self._set_state(ConnectionState.HANDSHAKING)
        self._hello_sent_at = time.time()
        self.send(Hello(protocol_version=PROTOCOL_VERSION, agent=AGENT))

    def trust_first_use(self, fingerprint: str | None = None) -> bool:
        """The user trusts the new server (``fingerprint_unknown``), whose ``fingerprint``
        they were shown (default: the one presented now): pin it and go on. False when
        nothing was pinned (another fingerprint, or no question open), or when the
        connection that asked has closed meanwhile (the pin is kept: the next attempt goes
        on without asking)."""
        if fingerprint is None:
            fingerprint = self._fingerprint
        if fingerprint is None or fingerprint != self._fingerprint or \
                not (self._awaiting_trust or self._asked_then_closed):
            return False
        self._awaiting_trust = self._asked_then_closed = False
        try:
            self.pins.pin(self._host, self._port, fingerprint)
            self._pinned_now = self.pins.get(self._host, self._port)
        except (PinFileError, OSError) as exc:
            self._fail(ConnectionErrorCode.PIN_FILE, str(exc))
            return False
        self.fingerprint_pinned.emit(fingerprint)
        if self._socket is None or not self._socket.isEncrypted():
            return False
        self._timer.start()
        self._say_hello()
        return True

    def refuse_first_use(self) -> None:
        """The user does not trust the new server: close, nothing sent, nothing pinned."""
        self._asked_then_closed = False
        if self._awaiting_trust:
            self._awaiting_trust = False
            self._fail(ConnectionErrorCode.UNTRUSTED,
                       f"You did not trust the key of {self.where}; "
                       "nothing was sent to it.")

    def _on_ready_read(self) -> None:
        sock = self._socket
        if sock is None:
            return
        self._decoder.append(bytes(sock.readAll().data()))
        self.rx_count += 1
        if self.handling_read:
            return  # (the turn under way takes them, or the next one)
        if not self._more.isActive():  # (a new turn: none handled in it yet)
            self._turn_frames = 0
            self._turn_ends = time.monotonic() + self.turn_budget
        self._handle_frames()

    def _next_turn(self) -> None:
        self.rx_count += 1  # (frames handled now are a sign of life too)
        self._turn_frames = 0
        self._turn_ends = time.monotonic() + self.turn_budget
        self._handle_frames()

    def _handle_frames(self) -> None:
        """Handle the buffered frames while this turn of the event loop has handled fewer
        than :attr:`frames_per_turn` (and for no more than :attr:`turn_budget` seconds);
        the rest on the next turn."""
        sock = self._socket
        if sock is None or self._turn_frames >= self.frames_per_turn or \
                time.monotonic() >= self._turn_ends:
            return  # (the next turn, already on its way, goes on)
        handled = 0
        frames = self._decoder.feed(b"")
        self.handling_read = True
        try:
            for payload in frames:
                handled += 1
                self._turn_frames += 1
                try:
                    frame = self._codec.decode(payload)
                except ProtocolError as exc:
                    log.warning("ignoring a bad frame from the server: %s", exc.message)
                else:
                    self._handle_frame(frame)
                    if self._socket is not sock:  # dropped while handling
                        return
                if self._turn_frames >= self.frames_per_turn or \
                        time.monotonic() >= self._turn_ends:
                    break
        except ProtocolError as exc:
            if self._state is ConnectionState.HANDSHAKING:  # (no hello from it yet)
                log.warning("%s answered our hello with no frame of ours: %s",
                            self.where, exc)
                self._fail(ConnectionErrorCode.PROTOCOL, _not_messenger(
                    self.where, "it answered in another protocol"))
                return
            self._fail(ConnectionErrorCode.PROTOCOL, f"The server sent a broken frame: {exc}")
        finally:
            frames.close()  # (what it did not yield stays buffered)
            self.handling_read = False
            self.frames_handled.emit(handled)
        if self._socket is sock and handled and not self._more.isActive():
            # The next turn goes on with what is left, and counts anew (what else comes in
            # this one, a TLS socket reading every record it has in one event, each its own
            # readyRead, is taken while this turn has room).
            self._more.start()

    def _handle_frame(self, frame: Any) -> None:
        if self._state is ConnectionState.CONNECTING:
            # Before our hello (a new server not trusted yet): nothing it says counts, and
            # nothing is answered.
            log.debug("ignoring %s from an untrusted server", type(frame).__name__)
            return
        if isinstance(frame, Ping):
            self.send(Pong(nonce=frame.nonce))
            return
        if isinstance(frame, Pong):
            if self._state is ConnectionState.LOGGED_IN:
                self.frame_received.emit(frame)  # (proof that what was sent before arrived)
            return
        if self._state is ConnectionState.HANDSHAKING:
            if isinstance(frame, Hello):
                if frame.protocol_version != PROTOCOL_VERSION:
                    self._fail(ConnectionErrorCode.VERSION_MISMATCH,
                               version_mismatch_message(self.where, frame.protocol_version))
                    return
                self._timer.stop()
                self.server_hello = frame
                self.server_clock.observe(self._hello_sent_at, frame.server_time, time.time())
                self._pinned_now = None  # (a Messenger server: its pin stands)
                log.info("connected to %s (server %s)", self.where,
                         frame.agent or "?")
                self._set_state(ConnectionState.CONNECTED)
                self.ready.emit(frame)
                return
            if isinstance(frame, Error):
                # (version_mismatch: a Messenger server of another version, whose pin
                # stands; _fail forgets a new pin for PROTOCOL only)
                if frame.code == ErrorCode.VERSION_MISMATCH:
                    # The server's words first: the status line shows the first sentence,
                    # which was only "The server refused the connection".
                    said = frame.message.strip().rstrip(".") or "another protocol version"
                    self._fail(ConnectionErrorCode.VERSION_MISMATCH,
                               f"{said[:1].upper()}{said[1:]}. (The server at {self.where} "
                               "refused this app's protocol version.)")
                    return
                self._fail(ConnectionErrorCode.PROTOCOL,
                           f"The server refused the connection: {frame.message}")
                return
            log.warning("unexpected %s before the server's hello", type(frame).__name__)
            return
        self.frame_received.emit(frame)

    def _on_socket_error(self, error: QAbstractSocket.SocketError) -> None:
        sock = self._socket
        if sock is None or self._ending:
            return
        if error == QAbstractSocket.SocketError.RemoteHostClosedError:
            return  # reported by _on_disconnected
        where = self.where
        if self._state is ConnectionState.CONNECTING and error in _SOCKET_ERROR_TEXT:
            self._fail(ConnectionErrorCode.UNREACHABLE,
                       f"Cannot reach the server at {where}: {_SOCKET_ERROR_TEXT[error]}")
        elif error == QAbstractSocket.SocketError.SslHandshakeFailedError and \
                self._state is ConnectionState.CONNECTING:
            # (OpenSSL's words, "wrong version number", are for the log: a web server or
            # SSH on the port typed is what a user meets)
            log.warning("TLS handshake with %s failed: %s", where, sock.errorString())
            self._fail(ConnectionErrorCode.TLS, _not_messenger(
                where, "it does not answer with the secure connection a Messenger server "
                "makes"))
        elif error in (QAbstractSocket.SocketError.SslHandshakeFailedError,
                       QAbstractSocket.SocketError.SslInternalError,
                       QAbstractSocket.SocketError.SslInvalidUserDataError):
            # No TLS backend (OpenSSL 3 not loadable): Qt says only "TLS initialization
            # failed", which reads as the server's fault.
            self._fail(ConnectionErrorCode.TLS, f"Secure connection to {where} failed: "
                       f"{tls_unavailable() or sock.errorString()}")
        elif self._state is ConnectionState.CONNECTING:
            self._fail(ConnectionErrorCode.UNREACHABLE,
                       f"Cannot reach the server at {where}: {sock.errorString()}")
        else:
            self._fail(ConnectionErrorCode.CLOSED,
                       f"The connection to {where} broke: {sock.errorString()}")

    def _on_disconnected(self) -> None:
        if self._ending:
            log.info("disconnected from %s", self.where)
            self._drop_socket()
            self._set_state(ConnectionState.DISCONNECTED)
            return
        if self._state in (ConnectionState.CONNECTING, ConnectionState.HANDSHAKING):
            self._fail(ConnectionErrorCode.PROTOCOL,
                       f"The server at {self.where} closed the connection during "
                       "the handshake (it may be restarting, or it is not a Messenger "
                       "server).")
        else:
            self._fail(ConnectionErrorCode.CLOSED,
                       f"The server at {self.where} closed the connection.")

    def _on_timeout(self) -> None:
        self._fail(ConnectionErrorCode.TIMEOUT,
                   f"No answer from {self.where} within "
                   f"{self._timer.interval() / 1000:g} s — is the address right, and is the "
                   "server running?")
