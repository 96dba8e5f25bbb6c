"""The Qt edge of the transfer layer: one ``QUdpSocket`` for all transfers, in its own thread.

:class:`TransferEngine` is the facade the rest of the app uses from the GUI thread. Its methods
return at once; the work happens in a worker ``QThread`` that owns the socket and a
:class:`~messenger.transfer.endpoint.TransferEndpoint` (QUIC connections + our protocol + files).
Results come back as signals, delivered in the thread the engine was created in.

The socket is a ``QUdpSocket``: it binds, carries the options (4 MiB receive buffer) and owns
the descriptor's lifetime, and its ``readyRead`` drives the reads. On POSIX systems the bulk
of the I/O goes through a duplicate of its descriptor (:data:`USE_RAW_IO`): ``recvfrom`` after
one ``readDatagram`` per drain, ``sendto``, and on Linux runs of equal-sized datagrams in one
``sendmsg`` with ``UDP_SEGMENT`` (:data:`USE_SEGMENTATION`); each is turned off by itself when
the system refuses it, and the plain ``QUdpSocket`` calls remain.

The worker's loop follows what was measured to work with qh3 and PySide6 (see
``docs/performance.md`` and issue 5):

* ``readyRead`` drains at most :data:`READ_BATCH` datagrams and hands them to the endpoint, which
  groups them per connection into ``receive_many_datagrams()``; if the batch was full, a 0 ms
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
import socket
import struct
import sys
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
from .protocol import SECRET_SIZE, FileVersion, Offer, send_error_text

log = logging.getLogger("messenger.transfer.engine")

READ_BATCH = 256
"""Most datagrams read from the socket per event before yielding to the event loop."""

RECEIVE_BUFFER = 4 * 1024 * 1024
"""Requested kernel receive buffer of the UDP socket, in bytes (the kernel may cap it)."""

USE_RAW_IO = sys.platform != "win32"
"""Read and send the bulk of the datagrams through a duplicate of the ``QUdpSocket``'s
descriptor (the same kernel socket) with Python's ``recvfrom``/``sendmsg``, which cost one
system call and no Qt wrappers per datagram (``hasPendingDatagrams`` + ``readDatagram`` are two
system calls). The ``QUdpSocket`` stays the socket: it binds, holds the options and the
lifetime, and makes the first read of every drain, which re-arms its read notification (see
:meth:`_Worker._drain`). POSIX only (a Windows ``SOCKET`` cannot be ``dup``-ed)."""

HOST_CACHE_SIZE = 64
"""Most IPv6 sender addresses whose host string the worker keeps (cleared when full): anyone
can send from many addresses, and most of those datagrams are dropped."""

USE_SEGMENTATION = sys.platform == "linux"
"""With :data:`USE_RAW_IO`, send runs of equal-sized datagrams with UDP generic segmentation
offload (``UDP_SEGMENT``, Linux 4.18): one ``sendmsg`` for up to 64 datagrams, which the kernel
cuts into datagrams of the same size on the wire. Turned off by itself when the kernel refuses
it."""

SOL_UDP = 17
UDP_SEGMENT = 103
GSO_MAX_SEGMENTS = 64
"""The kernel's limit of datagrams per segmented send (``UDP_MAX_SEGMENTS``)."""
GSO_MAX_BYTES = 65000
"""Payload bytes per segmented send (one IP packet's worth, 65,535 less headers)."""
_U16 = struct.Struct("=H")


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


ANY_HOST = "::"
"""The default bind address: every IPv4 and IPv6 address (one dual-stack socket,
``IPV6_V6ONLY`` off, ``QHostAddress.Any``), or every IPv4 one where the system has no IPv6."""


def host_family(host: str) -> int:
    """4 or 6: the IP version of ``host`` in our form (:func:`normalize_host`; an
    IPv4-mapped IPv6 address is IPv4)."""
    return 6 if ":" in host else 4


def _bind(qsocket: QUdpSocket, host: str, port: int) -> tuple[str, frozenset[int]]:
    """Bind ``qsocket`` to ``host``:``port``; returns the host bound and the IP versions the
    socket can reach. ``"::"`` (:data:`ANY_HOST`) binds dual-stack (``QHostAddress("::")``
    alone would be IPv6 only, which no IPv4 peer reaches) and falls back to ``0.0.0.0``
    when the system has no IPv6. Raises ``OSError``."""
    address = QHostAddress(host)
    if address.isNull():
        raise OSError(f"cannot bind UDP {host}:{port}: not an IP address")
    if host == ANY_HOST:
        if qsocket.bind(QHostAddress(QHostAddress.SpecialAddress.Any), port):
            protocol = qsocket.localAddress().protocol()
            if protocol == QAbstractSocket.NetworkLayerProtocol.IPv4Protocol:
                return "0.0.0.0", frozenset({4})  # Qt fell back: no IPv6 here
            return ANY_HOST, frozenset({4, 6})
        log.info("no dual-stack UDP socket (%s); binding IPv4 only", qsocket.errorString())
        host, address = "0.0.0.0", QHostAddress(QHostAddress.SpecialAddress.AnyIPv4)
    if not qsocket.bind(address, port):
        raise OSError(f"cannot bind UDP {host}:{port}: {qsocket.errorString()}")
    v6 = address.protocol() == QAbstractSocket.NetworkLayerProtocol.IPv6Protocol
    return host, frozenset({6} if v6 else {4})


def _raw_socket(qsocket: QUdpSocket) -> socket.socket | None:
    """A Python socket on a duplicate of ``qsocket``'s descriptor (the same kernel socket, so
    the same port, options and receive queue), or ``None`` if that is not possible."""
    fd = qsocket.socketDescriptor()
    if fd is None or fd < 0:
        return None
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError as exc:
        log.info("no direct access to the transfer socket (%s): Qt reads and writes", exc)
        return None
    try:
        sock.setblocking(False)  # as Qt has it already (one open file, shared by both)
    except OSError:
        sock.close()
        return None
    return sock


def _can_segment(sock: socket.socket) -> bool:
    """Whether the kernel takes ``UDP_SEGMENT`` on ``sock`` (probed by setting it to 0, which
    leaves sends unsegmented)."""
    try:
        sock.setsockopt(SOL_UDP, UDP_SEGMENT, 0)
    except OSError as exc:
        log.info("UDP segmentation offload unavailable (%s)", exc)
        return False
    return True


def _sockaddr(sock: socket.socket, addr: tuple) -> tuple:
    """``addr`` as ``sock``'s family takes it: an IPv4 peer of a dual-stack IPv6 socket as an
    IPv4-mapped address (peers are reported as plain IPv4, see :func:`_host_string`)."""
    host = addr[0]
    if sock.family == socket.AF_INET6 and ":" not in host:
        return ("::ffff:" + host, addr[1])
    return (host, addr[1])


class _Worker(QObject):
    """Lives in the engine thread; owns the socket, the timers and the endpoint."""

    progress = Signal(str, "qint64", "qint64", float)
    finished = Signal(str, str, str)
    failed = Signal(str, str, bool)
    cancelled = Signal(str, bool)
    _job_done = Signal()  # from a job thread: run a round here

    def __init__(self, host: str, port: int, settings: Settings,
                 identity: Identity | None) -> None:
        super().__init__()
        self._jobs: set[threading.Thread] = set()
        self._host = host
        self._port = port
        self._settings = settings
        self._identity = identity
        self.endpoint: TransferEndpoint | None = None
        self.socket: QUdpSocket | None = None
        self._addresses: dict[str, QHostAddress] = {}
        self.families: frozenset[int] = frozenset()  # IP versions the bound socket reaches
        self._closed = False
        self._armed: float | None = None
        self.datagrams_in = 0
        self.datagrams_out = 0
        self.reads = 0  # receive system calls that returned a datagram
        self.writes = 0  # send system calls
        self.send_errors = 0
        self.raw: socket.socket | None = None  # on a duplicate of the QUdpSocket's descriptor
        self.gso = False  # runs of datagrams sent with UDP_SEGMENT through ``raw``
        self._more = False  # the last drain stopped at READ_BATCH: datagrams may be waiting
        # recvfrom's IPv6 host string -> ours (_host_string), at most HOST_CACHE_SIZE
        self._hosts: dict[str, str] = {}

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
        self.endpoint = TransferEndpoint(self._identity, self._settings,
                                         run_job=self._run_job)
        self._job_done.connect(self._on_job_done, Qt.ConnectionType.QueuedConnection)
        self.socket = QUdpSocket(self)
        self._host, self.families = _bind(self.socket, self._host, self._port)
        self.socket.setSocketOption(QAbstractSocket.SocketOption.ReceiveBufferSizeSocketOption,
                                    RECEIVE_BUFFER)
        self.socket.readyRead.connect(self._on_ready_read)
        if USE_RAW_IO:
            self.raw = _raw_socket(self.socket)
            self.gso = USE_SEGMENTATION and self.raw is not None and _can_segment(self.raw)
        self._quic_timer = QTimer(self)
        self._quic_timer.setSingleShot(True)
        self._quic_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._quic_timer.timeout.connect(self._on_quic_timer)
        self._again = QTimer(self)
        self._again.setSingleShot(True)
        self._again.setInterval(0)
        self._again.timeout.connect(self._on_again)
        port = self.socket.localPort()
        log.info("transfer socket on %s:%d (receive buffer %s bytes, direct I/O %s, "
                 "segmentation offload %s)", self._host, port,
                 self.socket.socketOption(
                     QAbstractSocket.SocketOption.ReceiveBufferSizeSocketOption),
                 "on" if self.raw is not None else "off", "on" if self.gso else "off")
        return self._host, port

    def _run_job(self, job: Callable[[], None]) -> None:
        """Run ``job`` (opening and hashing a ``.part`` file, which can take long on a slow
        disk) in a thread of its own, then a round in this thread: the socket, QUIC's acks
        and every other transfer go on meanwhile."""

        def run() -> None:
            try:
                job()
            finally:
                self._jobs.discard(thread)
                if not self._closed:
                    self._job_done.emit()

        thread = threading.Thread(target=run, name="transfer-part", daemon=True)
        self._jobs.add(thread)
        thread.start()

    def _on_job_done(self) -> None:
        if not self._closed:
            self._round()

    # -- loop ---------------------------------------------------------------------------
    def _on_ready_read(self) -> None:
        if self._closed:
            return
        self._drain()
        self._round()

    def _drain(self) -> None:
        """Read at most :data:`READ_BATCH` datagrams and hand them to the endpoint.

        With :data:`USE_RAW_IO` the first read goes through the ``QUdpSocket`` and the rest
        through ``recvfrom`` on the duplicate descriptor until it would block. For an unbuffered
        UDP socket Qt turns its read notifier off when it emits ``readyRead`` and back on in
        ``readDatagram``/``receiveDatagram`` (``QAbstractSocketPrivate::canReadNotification``,
        ``hasPendingData``); reads behind its back alone would leave it off and ``readyRead``
        would never come again. Reading the first datagram through Qt leaves the notifier on
        (level-triggered): if datagrams are left or arrive later, ``readyRead`` comes again."""
        raw = self.raw
        batch = []
        self._more = False
        if raw is None:
            self._drain_qt(batch)
        elif self._read_qt(batch):  # always (re-arms Qt), even if readyRead was spurious
            recvfrom = raw.recvfrom
            hosts = self._hosts
            while len(batch) < READ_BATCH:
                try:
                    data, addr = recvfrom(65536)
                except BlockingIOError:
                    break
                except (ConnectionRefusedError, ConnectionResetError):
                    continue  # a queued ICMP error for an earlier send; the next read goes on
                except OSError as exc:
                    log.debug("transfer socket: %s", exc)
                    break
                host = addr[0]
                if ":" in host:  # IPv4 is already in our form (dotted quad)
                    host = hosts.get(host) or self._ipv6_host(host)
                batch.append((data, (host, addr[1])))
            else:
                self._more = True
        self.reads += len(batch)
        if batch:
            self.datagrams_in += len(batch)
            self.endpoint.datagrams_received(batch, time.monotonic())

    def _read_qt(self, batch: list) -> bool:
        """One datagram through the ``QUdpSocket`` (appended to ``batch``); False if none."""
        data, address, port = self.socket.readDatagram(65536)
        if port == 0 and address.isNull():
            return False
        batch.append((data.data(), (_host_string(address), port)))
        return True

    def _ipv6_host(self, text: str) -> str:
        """Our host string (:func:`_host_string`) for ``recvfrom``'s IPv6 ``text``, cached in
        a bounded map (:data:`HOST_CACHE_SIZE`): converting through ``QHostAddress`` for every
        datagram would cost, and an unbounded map grows with every address junk comes from."""
        if text.startswith("::ffff:") and "." in text:
            return text[7:]  # IPv4-mapped, as _host_string reports it
        hosts = self._hosts
        if len(hosts) >= HOST_CACHE_SIZE:
            hosts.clear()
        host = hosts[text] = _host_string(QHostAddress(text))
        return host

    def _drain_qt(self, batch: list) -> None:
        sock = self.socket
        while len(batch) < READ_BATCH:
            if not sock.hasPendingDatagrams() or not self._read_qt(batch):
                return
        self._more = True

    def _on_quic_timer(self) -> None:
        if self._closed:
            return
        self._armed = None
        self.endpoint.handle_timer(time.monotonic())
        self._round()

    def _on_again(self) -> None:
        if self._closed:
            return
        if self._more:
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
        if (endpoint.wants_step or self._more) and not self._again.isActive():
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
        """Send ``datagrams`` (``(payload, (host, port))``, in order). With segmentation
        offload, runs of datagrams to one address whose sizes equal the first's (the last of a
        run may be shorter) go out in one system call; the kernel cuts them into the same
        datagrams. Everything else goes through ``QUdpSocket.writeDatagram``."""
        if not datagrams:
            return
        self.datagrams_out += len(datagrams)
        if not self.gso or len(datagrams) == 1:
            for data, addr in datagrams:
                self._send_one(data, addr)
            return
        run: list[bytes] = []
        run_addr = None
        size = total = 0
        for data, addr in datagrams:
            n = len(data)
            if run and addr == run_addr and n <= size and len(run) < GSO_MAX_SEGMENTS \
                    and total + n <= GSO_MAX_BYTES:
                run.append(data)
                total += n
                if n < size:  # a shorter one ends the run
                    self._send_run(run, run_addr, size)
                    run = []
                continue
            if run:
                self._send_run(run, run_addr, size)
            run, run_addr, size, total = [data], addr, n, n
        if run:
            self._send_run(run, run_addr, size)

    def _send_one(self, data: bytes, addr: tuple) -> None:
        raw = self.raw
        if raw is not None:
            self.writes += 1
            try:
                raw.sendto(data, _sockaddr(raw, addr))
                return
            except BlockingIOError:
                self.send_errors += 1  # the kernel buffer is full; QUIC retransmits
                return
            except OSError:
                self.writes -= 1  # e.g. an address form Python does not take: Qt's turn
        host = addr[0]
        qaddr = self._addresses.get(host)
        if qaddr is None:
            qaddr = self._addresses[host] = QHostAddress(host)
        self.writes += 1
        if self.socket.writeDatagram(data, qaddr, addr[1]) < 0:
            self.send_errors += 1  # QUIC retransmits; the kernel buffer was full

    def _send_run(self, run: list[bytes], addr: tuple, size: int) -> None:
        raw = self.raw
        if len(run) == 1 or not self.gso or raw is None:
            for data in run:
                self._send_one(data, addr)
            return
        self.writes += 1
        try:
            raw.sendmsg([b"".join(run)], [(SOL_UDP, UDP_SEGMENT, _U16.pack(size))], 0,
                        _sockaddr(raw, addr))
        except BlockingIOError:
            self.send_errors += len(run)  # the kernel buffer is full; QUIC retransmits
        except OSError as exc:  # no segmentation offload on this path (EIO, EINVAL, …)
            log.info("UDP segmentation offload unavailable (%s): one datagram per send", exc)
            self.gso = False
            self.writes -= 1
            for data in run:
                self._send_one(data, addr)

    def _close_raw(self) -> None:
        self.gso = False
        if self.raw is not None:
            self.raw.close()  # our duplicate only; the QUdpSocket keeps its descriptor
            self.raw = None

    def _dispatch(self, events: list) -> None:
        for ev in events:
            if isinstance(ev, Progress):
                self.progress.emit(ev.transfer_id, ev.done, ev.total, ev.rate)
            elif isinstance(ev, Finished):
                self.finished.emit(ev.transfer_id, str(ev.path), ev.sha256)
            elif isinstance(ev, Failed):
                log.warning("transfer %s (%s) failed: %s", ev.transfer_id, ev.direction,
                            ev.reason)
                self.failed.emit(ev.transfer_id, ev.reason, ev.transient)
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
        for thread in list(self._jobs):  # told to stop: each ends at its next 1 MiB read
            thread.join(5.0)
        self._quic_timer.stop()
        self._again.stop()
        self._close_raw()
        self.socket.close()


class TransferEngine(QObject):
    """Peer-to-peer file transfers over one UDP port (QUIC + our protocol), thread-safe facade.

    Args:
        host: address to bind: ``"::"`` (:data:`ANY_HOST`, the default) every IPv4 and IPv6
            address through one dual-stack socket, or every IPv4 one where the system has no
            IPv6; ``"0.0.0.0"`` every IPv4 address; or one address.
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
    * ``failed(transfer_id, reason, transient)``: network lost, refused (wrong secret/
      fingerprint), size or SHA-256 mismatch, disk error, shutdown. A receiver keeps its
      ``.part`` file unless the data was wrong, so ``receive()`` + ``send()`` again with the
      same file resumes; ``transient``: the path or the peer's app went away
      (:func:`~messenger.transfer.protocol.transient_close`), so trying again later can work;
    * ``cancelled(transfer_id, by_peer)``: no ``.part`` file remains.
    """

    progress = Signal(str, "qint64", "qint64", float)
    finished = Signal(str, str, str)
    failed = Signal(str, str, bool)
    cancelled = Signal(str, bool)
    _post = Signal(object)

    def __init__(self, host: str = ANY_HOST, port: int = 0, *, settings: Settings | None = None,
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
    def families(self) -> frozenset[int]:
        """The IP versions (4, 6) the bound socket can send to; raises ``RuntimeError`` before
        :meth:`start`."""
        self.local_address  # noqa: B018 - raises before start()
        return self._worker.families

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
                "reads": w.reads, "writes": w.writes, "send_errors": w.send_errors,
                "dropped": dropped, "raw": int(w.raw is not None), "gso": int(w.gso)}

    # -- commands -----------------------------------------------------------------------
    def receive(self, offer: Offer, secret: bytes, download_dir: str | os.PathLike,
                partial_dir: str | os.PathLike | None = None,
                sender: str = "") -> ReceiveTicket:
        """Accept ``offer`` from ``sender``: expect a connection presenting ``secret`` (32
        bytes from the chat server) and store the file in ``download_dir``.

        Returns the :class:`ReceiveTicket` to send back to the offering side. Partial data goes
        to ``partial_dir/<part_stem(sha256, sender)>.part`` (default ``download_dir/.partial``)
        and is resumed by a later ``receive()`` of the same file from the same ``sender``; the
        bytes it holds are hashed from now on in a thread of its own, and the sender's
        connection is answered (kept alive meanwhile) once that is done. The caller checks the
        offer first
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
             fingerprint: str, secret: bytes, sha256: str | None = None,
             version: FileVersion | None = None) -> None:
        """Send the file at ``path`` to the receiver at ``host``:``port`` whose certificate has
        ``fingerprint``, proving ourselves with ``secret``. ``sha256`` (hex, from the offer), if
        given, must match what the receiver confirms. ``version`` (:func:`file_version` of
        the file hashed for the offer), if given, must be the opened file's, else ``failed``
        follows with :data:`FILE_CHANGED`.

        ``host`` must be an IP address (the chat server relays the observed one), of a
        version the bound socket reaches (:attr:`families`; an IPv6 peer of an IPv4-only
        socket would never hear a datagram). Raises ``FileNotFoundError`` / ``IsADirectoryError`` /
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
        peer = normalize_host(host)
        family = host_family(peer)
        if family not in self.families:
            raise ValueError(f"the other computer's address is IPv{family}, which this "
                             f"computer's transfer socket cannot reach (it has IPv"
                             f"{10 - family} only)")
        worker = self._worker
        tid, secret_ = str(transfer_id), bytes(secret)

        def start_sending() -> None:
            try:
                worker.endpoint.send(tid, path, (peer, int(port)), fingerprint, secret_,
                                     time.monotonic(), sha256, version)
            except (OSError, ValueError) as exc:
                worker.failed.emit(tid, send_error_text(exc), False)

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
