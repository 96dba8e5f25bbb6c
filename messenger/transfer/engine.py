"""The Qt edge of the transfer layer: one ``QUdpSocket`` for all transfers, in its own thread.

:class:`TransferEngine` is the facade the rest of the app uses from the GUI thread. Its methods
return at once; the work happens in a worker ``QThread`` that owns the socket and a
:class:`~messenger.transfer.endpoint.TransferEndpoint` (QUIC connections + our protocol + files).
Results come back as signals, delivered in the thread the engine was created in.

The worker's loop follows what was measured to work with qh3 and PySide6 (see
``docs/performance.md`` and issue 5):

* ``readyRead`` drains at most :data:`READ_BATCH` datagrams and hands them to the endpoint, which
  groups them per connection into ``receive_many_datagrams()``; if more are pending, a 0 ms
  timer continues the drain so other events get their turn;
* after each event exactly one send round (``TransferEndpoint.step``) runs; at most 64 KiB of
  file data is queued per stream, so a round is short; if the endpoint wants more, a 0 ms timer
  runs the next round instead of looping;
* QUIC's own timer (loss detection, PTO, pacing, idle; RFC 9002) is a single-shot
  ``Qt.PreciseTimer`` armed from ``get_timer()`` and rounded *up* to the next millisecond
  (rounding down fires early, finds nothing due and spins).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtNetwork import QAbstractSocket, QHostAddress, QUdpSocket

from .certs import Identity
from .endpoint import (
    Cancelled,
    Failed,
    Finished,
    Progress,
    Settings,
    TransferEndpoint,
)
from .protocol import SECRET_SIZE, Offer

log = logging.getLogger("messenger.transfer.engine")

READ_BATCH = 256
"""Most datagrams read from the socket per event before yielding to the event loop."""

RECEIVE_BUFFER = 4 * 1024 * 1024
"""Requested kernel receive buffer of the UDP socket, in bytes (the kernel may cap it)."""


@dataclass(frozen=True)
class ReceiveTicket:
    """What the receiving side sends back through the chat server when it accepts an offer:
    its UDP ``port`` (the server adds the observed address; ``host`` is the local bind address)
    and the SHA-256 ``fingerprint`` of its transfer certificate (``"AB:01:…"``)."""

    host: str
    port: int
    fingerprint: str


def normalize_host(host: str) -> str:
    """``host`` (an IPv4 or IPv6 address, not a name) in the form the socket reports senders:
    ``QHostAddress.toString()``, IPv4-mapped IPv6 as plain IPv4. Raises ``ValueError``."""
    address = QHostAddress(host)
    if address.isNull():
        raise ValueError(f"not an IP address: {host!r}")
    return _host_string(address)


def _host_string(address: QHostAddress) -> str:
    text = address.toString()
    return text[7:] if text.startswith("::ffff:") and "." in text else text


class _Worker(QObject):
    """Lives in the engine thread; owns the socket, the timers and the endpoint."""

    progress = Signal(str, "qint64", "qint64", float)
    finished = Signal(str, str, str)
    failed = Signal(str, str)
    cancelled = Signal(str, bool)

    def __init__(self, host: str, port: int, settings: Settings,
                 identity: Identity | None) -> None:
        super().__init__()
        self._host = host
        self._port = port
        self._settings = settings
        self._identity = identity
        self.endpoint: TransferEndpoint | None = None
        self.socket: QUdpSocket | None = None
        self._addresses: dict[str, QHostAddress] = {}
        self._closed = False
        self._armed: float | None = None
        self.datagrams_in = 0
        self.datagrams_out = 0
        self.send_errors = 0

    @Slot(object)
    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in this thread (posted by the facade through a queued signal)."""
        if self._closed:
            return
        try:
            fn()
        except Exception:
            log.exception("transfer engine command failed")
        self._round()

    def open(self) -> tuple[str, int]:
        """Create the endpoint and bind the socket (in the worker thread)."""
        self.endpoint = TransferEndpoint(self._identity, self._settings)
        self.socket = QUdpSocket(self)
        if not self.socket.bind(QHostAddress(self._host), self._port):
            raise OSError(f"cannot bind UDP {self._host}:{self._port}: "
                          f"{self.socket.errorString()}")
        self.socket.setSocketOption(QAbstractSocket.SocketOption.ReceiveBufferSizeSocketOption,
                                    RECEIVE_BUFFER)
        self.socket.readyRead.connect(self._on_ready_read)
        self._quic_timer = QTimer(self)
        self._quic_timer.setSingleShot(True)
        self._quic_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._quic_timer.timeout.connect(self._on_quic_timer)
        self._again = QTimer(self)
        self._again.setSingleShot(True)
        self._again.setInterval(0)
        self._again.timeout.connect(self._on_again)
        port = self.socket.localPort()
        log.info("transfer socket on %s:%d (receive buffer %s bytes)", self._host, port,
                 self.socket.socketOption(
                     QAbstractSocket.SocketOption.ReceiveBufferSizeSocketOption))
        return self._host, port

    # -- loop ---------------------------------------------------------------------------
    def _on_ready_read(self) -> None:
        if self._closed:
            return
        self._drain()
        self._round()

    def _drain(self) -> None:
        sock = self.socket
        batch = []
        hosts: dict = {}
        for _ in range(READ_BATCH):
            if not sock.hasPendingDatagrams():
                break
            data, address, port = sock.readDatagram(65536)
            if port == 0 and address.isNull():
                break
            key = address.toString()
            host = hosts.get(key)
            if host is None:
                host = hosts[key] = _host_string(address)
            batch.append((data.data(), (host, port)))
        if batch:
            self.datagrams_in += len(batch)
            self.endpoint.datagrams_received(batch, time.monotonic())

    def _on_quic_timer(self) -> None:
        if self._closed:
            return
        self._armed = None
        self.endpoint.handle_timer(time.monotonic())
        self._round()

    def _on_again(self) -> None:
        if self._closed:
            return
        if self.socket.hasPendingDatagrams():
            self._drain()
        self._round()

    def _round(self) -> None:
        """One send round, then events, then timers."""
        if self._closed or self.endpoint is None:
            return
        endpoint = self.endpoint
        now = time.monotonic()
        self._write(endpoint.step(now))
        self._dispatch(endpoint.pop_events())
        if (endpoint.wants_step or self.socket.hasPendingDatagrams()) \
                and not self._again.isActive():
            self._again.start()
        self._arm(endpoint.get_timer(), now)

    def _arm(self, deadline: float | None, now: float) -> None:
        if deadline is None:
            if self._armed is not None:
                self._quic_timer.stop()
                self._armed = None
            return
        if self._armed is not None and abs(self._armed - deadline) < 0.0005 \
                and self._quic_timer.isActive():
            return
        self._armed = deadline
        self._quic_timer.start(max(0, math.ceil((deadline - now) * 1000.0)))

    def _write(self, datagrams: list) -> None:
        sock = self.socket
        for data, addr in datagrams:
            host, port = addr[0], addr[1]
            qaddr = self._addresses.get(host)
            if qaddr is None:
                qaddr = self._addresses[host] = QHostAddress(host)
            if sock.writeDatagram(data, qaddr, port) < 0:
                self.send_errors += 1  # QUIC retransmits; the kernel buffer was full
        self.datagrams_out += len(datagrams)

    def _dispatch(self, events: list) -> None:
        for ev in events:
            if isinstance(ev, Progress):
                self.progress.emit(ev.transfer_id, ev.done, ev.total, ev.rate)
            elif isinstance(ev, Finished):
                self.finished.emit(ev.transfer_id, str(ev.path), ev.sha256)
            elif isinstance(ev, Failed):
                log.warning("transfer %s (%s) failed: %s", ev.transfer_id, ev.direction,
                            ev.reason)
                self.failed.emit(ev.transfer_id, ev.reason)
            elif isinstance(ev, Cancelled):
                log.info("transfer %s (%s) cancelled%s", ev.transfer_id, ev.direction,
                         " by the peer" if ev.by_peer else "")
                self.cancelled.emit(ev.transfer_id, ev.by_peer)

    def shutdown(self) -> None:
        """Close all connections (peers learn it), keep ``.part`` files, close the socket."""
        if self._closed or self.endpoint is None:
            self._closed = True
            return
        self._write(self.endpoint.shutdown(time.monotonic()))
        self._dispatch(self.endpoint.pop_events())
        self._closed = True
        self._quic_timer.stop()
        self._again.stop()
        self.socket.close()


class TransferEngine(QObject):
    """Peer-to-peer file transfers over one UDP port (QUIC + our protocol), thread-safe facade.

    Args:
        host: address to bind, ``"0.0.0.0"`` (all IPv4 interfaces) by default.
        port: UDP port, 0 for any free port.
        settings: endpoint tunables (:class:`~messenger.transfer.endpoint.Settings`).
        identity: TLS certificate to present when receiving (a fresh P-256 one if ``None``).
        threaded: run the socket in its own ``QThread`` (default; a transfer at full speed
            uses a whole core). ``False`` runs it in the caller's thread (tests, tools).

    Call :meth:`start` once, then :meth:`receive` / :meth:`send` / :meth:`cancel` from the
    thread that created the engine; call :meth:`close` before quitting. Signals (queued to
    the creating thread):

    * ``progress(transfer_id, done_bytes, total_bytes, rate_bytes_per_s)`` at most every
      100 ms per transfer, and once at 100 % before ``finished``;
    * ``finished(transfer_id, path, sha256_hex)``: sender: the receiver confirmed the SHA-256
      (``path`` is the source); receiver: verified and moved into the download folder;
    * ``failed(transfer_id, reason)``: network lost, refused (wrong secret/fingerprint), size or
      SHA-256 mismatch, disk error, shutdown. A receiver keeps its ``.part`` file unless the data
      was wrong, so ``receive()`` + ``send()`` again with the same file resumes;
    * ``cancelled(transfer_id, by_peer)``: no ``.part`` file remains.
    """

    progress = Signal(str, "qint64", "qint64", float)
    finished = Signal(str, str, str)
    failed = Signal(str, str)
    cancelled = Signal(str, bool)
    _post = Signal(object)

    def __init__(self, host: str = "0.0.0.0", port: int = 0, *, settings: Settings | None = None,
                 identity: Identity | None = None, threaded: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings or Settings()
        self._worker = _Worker(host, port, self._settings, identity)
        self._thread: QThread | None = QThread() if threaded else None
        self._local: tuple[str, int] | None = None
        self._fingerprint = ""
        self._closed = False
        self._worker.progress.connect(self.progress)
        self._worker.finished.connect(self.finished)
        self._worker.failed.connect(self.failed)
        self._worker.cancelled.connect(self.cancelled)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        """Bind the socket and start the worker; returns the bound ``(host, port)``.

        Blocks until the socket is bound. Raises ``OSError`` if binding fails.
        """
        if self._local is not None:
            return self._local
        if self._thread is None:
            self._local = self._worker.open()
        else:
            self._thread.setObjectName("transfer-engine")
            self._worker.moveToThread(self._thread)
            self._post.connect(self._worker.call, Qt.ConnectionType.QueuedConnection)
            self._thread.start()
            done = threading.Event()
            result: list = []

            def open_in_worker() -> None:
                try:
                    result.append(self._worker.open())
                except Exception as exc:  # reported to the caller below
                    result.append(exc)
                finally:
                    done.set()

            self._post.emit(open_in_worker)
            done.wait(10.0)
            if not result or isinstance(result[0], Exception):
                self._stop_thread()
                raise result[0] if result else OSError("transfer engine did not start")
            self._local = result[0]
        if self._thread is None:
            self._post.connect(self._worker.call)
        self._fingerprint = self._worker.endpoint.fingerprint
        return self._local

    def close(self) -> None:
        """Stop every transfer (peers are told; ``.part`` files are kept), close the socket and
        the worker thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._local is None:
            self._stop_thread()
            return
        if self._thread is None:
            self._worker.shutdown()
            return
        done = threading.Event()
        home = self.thread()

        def shutdown() -> None:
            try:
                self._worker.shutdown()
                # Back to the facade's thread, so the socket and timers die there.
                self._worker.moveToThread(home)
            finally:
                done.set()

        self._post.emit(shutdown)
        done.wait(10.0)
        self._stop_thread()

    def _stop_thread(self) -> None:
        if self._thread is not None and self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()

    # -- properties ---------------------------------------------------------------------
    @property
    def local_address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; raises ``RuntimeError`` before :meth:`start`."""
        if self._local is None:
            raise RuntimeError("TransferEngine.start() was not called")
        return self._local

    @property
    def port(self) -> int:
        """The bound UDP port."""
        return self.local_address[1]

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint (``"AB:01:…"``) of the certificate presented when receiving."""
        return self._fingerprint

    @property
    def stats(self) -> dict[str, int]:
        """Datagram counters (read without locking; for logs and benchmarks)."""
        w = self._worker
        dropped = w.endpoint.dropped if w.endpoint is not None else 0
        return {"datagrams_in": w.datagrams_in, "datagrams_out": w.datagrams_out,
                "send_errors": w.send_errors, "dropped": dropped}

    # -- commands -----------------------------------------------------------------------
    def receive(self, offer: Offer, secret: bytes, download_dir: str | os.PathLike,
                partial_dir: str | os.PathLike | None = None,
                sender: str = "") -> ReceiveTicket:
        """Accept ``offer`` from ``sender``: expect a connection presenting ``secret`` (32
        bytes from the chat server) and store the file in ``download_dir``.

        Returns the :class:`ReceiveTicket` to send back to the offering side. Partial data goes
        to ``partial_dir/<part_stem(sha256, sender)>.part`` (default ``download_dir/.partial``)
        and is resumed by a later ``receive()`` of the same file from the same ``sender``. The
        caller checks the offer first
        (:func:`~messenger.transfer.protocol.check_offer`: size limit, free space). Raises
        ``ValueError`` for a secret of the wrong length.
        """
        if len(secret) != SECRET_SIZE:
            raise ValueError(f"secret must be {SECRET_SIZE} bytes")
        host, port = self.local_address
        endpoint = self._worker.endpoint
        offer_, secret_ = offer, bytes(secret)
        download, partial = Path(download_dir), (Path(partial_dir) if partial_dir else None)
        who = str(sender)
        self._post.emit(lambda: endpoint.receive(offer_, secret_, download, partial, who))
        return ReceiveTicket(host, port, self._fingerprint)

    def send(self, transfer_id: str, path: str | os.PathLike, host: str, port: int,
             fingerprint: str, secret: bytes, sha256: str | None = None) -> None:
        """Send the file at ``path`` to the receiver at ``host``:``port`` whose certificate has
        ``fingerprint``, proving ourselves with ``secret``. ``sha256`` (hex, from the offer), if
        given, must match what the receiver confirms.

        ``host`` must be an IP address (the chat server relays the observed one), of the same
        family as the bound address. Raises ``FileNotFoundError`` / ``IsADirectoryError`` /
        ``ValueError`` at once for a bad path, address or secret; later problems arrive as
        ``failed``.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(path)
        if not path.is_file():
            raise IsADirectoryError(path)
        if len(secret) != SECRET_SIZE:
            raise ValueError(f"secret must be {SECRET_SIZE} bytes")
        self.local_address  # noqa: B018 - raises before start()
        peer = normalize_host(host)
        worker = self._worker
        tid, secret_ = str(transfer_id), bytes(secret)

        def start_sending() -> None:
            try:
                worker.endpoint.send(tid, path, (peer, int(port)), fingerprint, secret_,
                                     time.monotonic(), sha256)
            except (OSError, ValueError) as exc:
                worker.failed.emit(tid, f"cannot send: {exc}")

        self._post.emit(start_sending)

    def release(self, transfer_id: str) -> None:
        """Stop expecting receive ``transfer_id`` without deleting its ``.part`` file (a later
        :meth:`receive` of the same file from the same sender resumes from it). No signal
        follows; a connection serving it is closed."""
        worker, tid = self._worker, str(transfer_id)
        self._post.emit(lambda: worker.endpoint.release(tid, time.monotonic()))

    def cancel(self, transfer_id: str) -> None:
        """Cancel a transfer in either direction; ``cancelled(transfer_id, False)`` follows if
        it existed (the peer gets ``cancelled(transfer_id, True)``)."""
        worker, tid = self._worker, str(transfer_id)
        self._post.emit(lambda: worker.endpoint.cancel(tid, time.monotonic()))
