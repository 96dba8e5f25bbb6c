"""A transfer endpoint without sockets: QUIC connections (qh3), our protocol, and the files.

:class:`TransferEndpoint` is what one app runs for all its transfers, in both directions. It
is fed datagrams and the time, and it returns datagrams to send; it never touches a socket or a
clock, so unit tests drive two of them over a simulated lossy channel with a virtual clock, and
:class:`~messenger.transfer.engine.TransferEngine` drives one from a ``QUdpSocket``.

Demultiplexing (RFC 9000 §5.2): every datagram is routed by its destination connection ID to
the connection that issued that ID; an unknown ID is only accepted as a new incoming connection
when it is a full-size (≥ 1200 bytes) QUIC v1 Initial packet while some receive is registered,
and forgotten at once unless one of its packets decrypts; at most
:attr:`Settings.max_unauthenticated` connections wait for their secret at once (a new one
evicts the oldest). A datagram for
a known connection but from another address than that connection's peer is dropped too: no
connection migration (RFC 9000 §9), so a forwarded copy of a real packet cannot move a transfer
to a forger's address. Anything else (a forged or stray datagram) is dropped without a reply.

Driving loop (what :class:`TransferEngine` does)::

    endpoint.datagrams_received(batch, now)      # bounded batches from the socket
    out = endpoint.step(now)                     # ONE send round; write ``out`` to the socket
    if endpoint.wants_step: run step again soon  # a 0 ms timer, never a busy loop
    arm a timer for endpoint.get_timer()         # absolute time in the same clock as ``now``
    endpoint.handle_timer(now) when it fires
    endpoint.pop_events()                        # Progress/Finished/Failed/Cancelled

Opening a receive's ``.part`` file hashes the bytes it holds, which can take longer than the
idle timeout on a slow disk: the endpoint hands that to its ``run_job`` (the engine: a thread)
when the receive is registered, and answers the sender only once it is done, with a keep-alive
PING every third of the idle timeout meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import ssl
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from qh3.quic import events as qev
from qh3.quic.configuration import QuicConfiguration
from qh3.quic.connection import QuicConnection, QuicConnectionError

from .certs import Identity, make_identity
from .protocol import (
    ALPN,
    SECRET_SIZE,
    STREAM_ID,
    UNREACHABLE,
    AppError,
    Delivered,
    Done,
    FileChangedError,
    FileComplete,
    FileData,
    FileVersion,
    HelloReceived,
    Offer,
    ProtocolViolation,
    ReceiverProtocol,
    SecretPresented,
    SenderProtocol,
    StartSending,
    claim_unique_path,
    describe_close,
    encode_frame,
    file_version,
    part_stem,
    safe_filename,
    same_content,
    transient_close,
)

log = logging.getLogger("messenger.transfer.endpoint")

Address = tuple[str, int]
Direction = Literal["send", "receive"]

CID_LENGTH = 8
"""Length of our connection IDs in bytes (qh3 default); short headers are parsed with it."""

QUIC_V1 = 0x00000001


STALL_PROBE_SECONDS = 1.0
"""A sender whose data in flight gets no acknowledgement for this long sends a PING (see
:meth:`SendSession._watch_stall`)."""


@dataclass
class Settings:
    """Tunables of an endpoint. Sizes in bytes, times in seconds."""

    max_datagram_size: int = 1350
    """Largest UDP payload sent: fits an Ethernet MTU of 1500 with IPv6 and tunnel headroom,
    so nothing is ever IP-fragmented. Path MTU probing is off."""
    stream_buffer: int = 64 * 1024
    """At most this many file bytes are queued in QUIC and not yet sent (per transfer)."""
    idle_timeout: float = 15.0
    """A connection with no packet from the peer for this long ends (RFC 9000 §10.1)."""
    auth_timeout: float = 10.0
    """An incoming connection must present a valid secret within this time."""
    max_unauthenticated: int = 16
    """Most incoming connections that have not presented a valid secret yet; a new one evicts
    the oldest."""
    progress_interval: float = 0.1
    """Least time between two Progress events of one transfer."""
    max_stream_data: int = 8 * 1024 * 1024
    """Flow-control window per stream (RFC 9000 §4)."""
    max_data: int = 16 * 1024 * 1024
    """Flow-control window per connection."""
    write_buffer: int = 1024 * 1024
    """Buffer of the ``.part`` file writer."""
    close_grace: float = 1.0
    """After a cancel or error, how long to wait for the peer to close before closing."""
    alpn: str = ALPN
    """TLS ALPN name offered and accepted (RFC 7301): the transfer protocol version. Only tests
    set another, to stand in for an app of another version."""


def transmit(conn: QuicConnection, now: float) -> list[tuple[bytes, Address]]:
    """What ``conn.datagrams_to_send(now)`` returns, without its per-datagram overhead: qh3's
    wrapper parses every packet header again (and copies every packet) for its logger, which
    we do not use; at a full-speed transfer that was several Python calls per datagram.

    This reads qh3's private ``_core``/``_quic_logger`` (qh3 is pinned to 2.x in
    ``pyproject.toml``); if they are not there, or a logger is set, it falls back to the
    public ``datagrams_to_send``."""
    core = getattr(conn, "_core", None)
    poll = getattr(core, "poll_transmit", None)
    if poll is None or getattr(conn, "_quic_logger", True) is not None:
        return conn.datagrams_to_send(now)
    out = []
    try:
        while (item := poll(now)) is not None:
            out.append((item[0], item[1]))
    except RuntimeError as exc:  # as qh3's _call_core does
        raise QuicConnectionError(0x1, None, str(exc)) from exc
    return out


# --------------------------------------------------------------------------------------------
# Events reported to the owner


@dataclass
class Progress:
    """``done`` of ``total`` bytes; ``rate`` in bytes per second (smoothed)."""

    transfer_id: str
    direction: Direction
    done: int
    total: int
    rate: float


@dataclass
class Finished:
    """Sent and confirmed (sender) or verified and renamed into place (receiver).
    ``path`` is the sender's source file (where it is now: :func:`where_now`, moved while it
    was sent) or the receiver's final file."""

    transfer_id: str
    direction: Direction
    path: Path
    sha256: str


@dataclass
class Failed:
    """The transfer stopped; ``reason`` is for people. A receiver keeps its ``.part`` file when
    the failure was not about the data (network, shutdown), so a new attempt resumes."""

    transfer_id: str
    direction: Direction
    reason: str
    transient: bool = False
    """The path or the peer's app went away (:func:`~messenger.transfer.protocol.
    transient_close`): the same file offered again later can succeed, from where it
    stopped. False for what another attempt would meet again (bad data, a disk error, a
    refusal, a bug) and for this app's own shutdown."""


@dataclass
class Cancelled:
    """Cancelled here (``by_peer`` False) or by the other side. No ``.part`` file remains."""

    transfer_id: str
    direction: Direction
    by_peer: bool


Event = Progress | Finished | Failed | Cancelled


STALL_SECONDS = 2.0
"""Seconds without a byte done after which :class:`RateMeter` says 0 bytes/s (the path is
down or the peer paused): a smoothed rate only decays towards 0, and a card said
"0 bytes/s · 209766 h left" in a blackout the transfer survived."""


class RateMeter:
    """Exponentially smoothed rate in bytes/s from (bytes done, time) samples; exactly 0 once
    no byte was done for :data:`STALL_SECONDS` (and before the first one)."""

    def __init__(self, now: float, done: int = 0, half_life: float = 0.5) -> None:
        self._t = now
        self._done = done
        self._moved = now
        self._half_life = half_life
        self.rate = 0.0

    def update(self, done: int, now: float) -> float:
        dt = now - self._t
        if dt <= 0:
            return self.rate
        if done != self._done:
            self._moved = now
        inst = (done - self._done) / dt
        weight = 1.0 - 0.5 ** (dt / self._half_life)
        self.rate += (inst - self.rate) * weight
        if now - self._moved >= STALL_SECONDS:
            self.rate = 0.0
        self._t, self._done = now, done
        return self.rate


# --------------------------------------------------------------------------------------------
# Receiver's partial file


class PartBusyError(OSError):
    """The ``.part`` file is held by another receiver: another copy of the app on this
    computer receiving the same file from the same sender into the same folder (two
    sessions of one account). Writing beside it would corrupt both."""


_WINDOWS_LOCK_OFFSET = 1 << 62
"""Where the Windows lock byte lies: far past any end of file, so it blocks no read or write."""


def lock_exclusive(fd: int) -> bool:
    """Take an exclusive advisory lock on open file ``fd`` for as long as it stays open
    (``flock``; on Windows a byte-range lock far past the end). False when another open file
    description holds it, in this process or another."""
    try:
        if os.name == "nt":  # pragma: no cover (Windows)
            import msvcrt

            at = os.lseek(fd, 0, os.SEEK_CUR)
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            finally:
                os.lseek(fd, at, os.SEEK_SET)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


_OPEN_FLAGS = getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
"""How a ``.part`` file is opened: never through a symbolic link (one planted in the partial
folder would have the received bytes written, and truncated, wherever it points: ``ELOOP``)."""


def _real_folder(folder: Path) -> None:
    """Raise ``OSError`` (``ELOOP``) when ``folder`` (the partial folder) is a symbolic
    link: the received bytes would be written wherever it points."""
    if folder.is_symlink():
        raise OSError(errno.ELOOP, "the partial folder is a symbolic link", str(folder))


def _busy(path: Path) -> PartBusyError:
    return PartBusyError(errno.EBUSY, "another copy of Messenger on this computer is receiving "
                         "this file into the same folder", str(path))


class PartFile:
    """A ``.part`` file in a partial folder, named by the offered SHA-256 and the sender
    (:func:`~messenger.transfer.protocol.part_stem`) so a new attempt at the same file from
    the same sender resumes where the last one stopped.

    :meth:`open` returns the resume offset (bytes already held; 0 if the file was missing or
    longer than the offer) after hashing those bytes. :meth:`finish` checks the SHA-256 of the
    whole file and moves it to a fresh, never-overwriting name in the download folder.

    While open, the file holds an exclusive lock (:func:`lock_exclusive`): a second receiver
    of the same file into the same folder gets :class:`PartBusyError` instead of truncating
    and interleaving the first one's bytes (which its hash, of the bytes it received, would
    not see).
    """

    def __init__(self, path: Path, size: int, expected_sha256: str, write_buffer: int) -> None:
        self.path = path
        self.size = size
        self.expected = expected_sha256
        self._write_buffer = write_buffer
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = None
        self.offset = 0
        self.written = 0
        self.stop: Callable[[], bool] | None = None
        """Polled by :meth:`open` while it hashes: true stops it."""

    def open(self) -> int:
        """Open the ``.part`` file, hash the bytes it already holds and return their count:
        the resume offset (0 if the file was missing or longer than the offer). A missing
        file is not created here but by the first :meth:`write` (or :meth:`finish`).

        Reads the whole partial file: on a slow disk that takes long, so the endpoint runs it
        off its thread (:class:`PartOpening`). :attr:`stop`, if set, is polled between
        1 MiB reads; when it returns true the file is closed and ``InterruptedError``
        raised. Raises ``OSError`` when the file cannot be opened or read."""
        _real_folder(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | _OPEN_FLAGS)
        except FileNotFoundError:
            return 0
        if not lock_exclusive(fd):
            os.close(fd)
            raise _busy(self.path)
        f = os.fdopen(fd, "r+b", buffering=self._write_buffer)
        try:
            have = os.fstat(fd).st_size
            if have > self.size:
                have = 0
            f.truncate(have)
            f.seek(0)
            left = have
            while left:
                if self.stop is not None and self.stop():
                    raise InterruptedError(f"opening {self.path} was stopped")
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                self._hash.update(chunk)
                left -= len(chunk)
            have -= left
            f.seek(have)
            f.truncate(have)
        except BaseException:
            _close_quietly(f, self.path)
            raise
        self._file = f
        self.offset = have
        self.written = have
        return have

    def _create(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _real_folder(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600)
        if not lock_exclusive(fd):
            os.close(fd)
            raise _busy(self.path)
        self._file = os.fdopen(fd, "r+b", buffering=self._write_buffer)
        self._file.truncate(0)
        return self._file

    def write(self, data: bytes) -> None:
        """Append ``data`` (creating the file on the first write). Raises ``OSError``."""
        (self._file or self._create()).write(data)
        self._hash.update(data)
        self.written += len(data)

    def close(self) -> None:
        """Flush and close, keeping the file for a later resume. Never raises: a write error
        still buffered (``ENOSPC``, ``EFBIG``) is logged and dropped, the bytes that reached
        the disk stay (:meth:`open` hashes them again on the next attempt)."""
        f, self._file = self._file, None
        if f is not None:
            _close_quietly(f, self.path)

    def discard(self) -> None:
        """Close and delete the ``.part`` file (and its folder when that becomes empty)."""
        self.close()
        remove_part(self.path)

    def finish(self, download_dir: Path, name: str) -> tuple[Path | None, str]:
        """Check the hash; on success move into ``download_dir`` under a safe unique ``name``.

        Returns ``(final path, sha256 hex)``, or ``(None, sha256 hex)`` when the hash differs
        (the ``.part`` file is then deleted: its bytes are wrong somewhere).
        """
        digest = self._hash.hexdigest()
        f, self._file = self._file or self._create(), None
        try:
            f.flush()
            os.fsync(f.fileno())
            if digest != self.expected:
                f.close()
                remove_part(self.path)
                return None, digest
            download_dir.mkdir(parents=True, exist_ok=True)
            target = claim_unique_path(download_dir, name)
            try:
                if _is_file_of(f, self.path):
                    # The .part file is private (0600) while it grows; the stored file gets
                    # the mode of a normally created one (0666 less the umask), which the
                    # placeholder just got. Reading the umask instead (os.umask) would
                    # change it for every thread.
                    os.chmod(self.path, os.stat(target).st_mode & 0o777)
                    if os.name == "nt":  # pragma: no cover (an open file cannot be renamed)
                        f.close()
                    # Elsewhere renamed while still open, so still locked: no other receiver
                    # opens the .part between the close and the rename.
                    os.replace(self.path, target)
                else:
                    # Its folder was deleted meanwhile (the download folder, by the user):
                    # the bytes live on in the open file; copied out, not lost. (It left an
                    # empty file under the real name, and a resume saved "name (1)": a hunt.)
                    log.warning("%s went away while it was written: copying it out", self.path)
                    f.seek(0)
                    try:
                        with open(target, "r+b") as out:
                            shutil.copyfileobj(f, out, 1 << 20)
                            out.flush()
                            os.fsync(out.fileno())
                    except BaseException:
                        # (a part of it under the real name looks whole: a review)
                        with contextlib.suppress(OSError):
                            os.unlink(target)
                        raise
            except BaseException:
                _remove_placeholder(target)
                raise
        finally:
            _close_quietly(f, self.path)
        _rmdir_if_empty(self.path.parent)
        return target, digest


def _is_file_of(f: BinaryIO, path: Path) -> bool:
    """Whether ``path`` still names the open file ``f`` (not deleted, nor replaced)."""
    try:
        st, fst = os.stat(path), os.fstat(f.fileno())
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def where_now(f: BinaryIO, path: Path) -> Path:
    """Where the open file ``f``, opened as ``path``, is now: ``path`` while that still names
    it, else the name the system knows for it (Linux ``/proc/self/fd``, macOS ``F_GETPATH``)
    when that names it, else ``path`` (deleted, or no way to tell). A file moved to another
    folder while it was sent finished with the old name on the sender's card, whose Open
    and Show in folder then found nothing (a hunt)."""
    if _is_file_of(f, path):
        return path
    found: str | None = None
    try:
        if os.fstat(f.fileno()).st_nlink == 0:
            return path  # (deleted: no name to follow)
        proc = f"/proc/self/fd/{f.fileno()}"
        if os.path.islink(proc):
            found = os.readlink(proc)
        else:
            import fcntl  # (not on Windows, where an open file cannot be moved anyway)

            get_path = getattr(fcntl, "F_GETPATH", None)
            if get_path is not None:
                raw = fcntl.fcntl(f.fileno(), get_path, bytes(1024))
                found = os.fsdecode(raw.split(b"\0", 1)[0])
    except (OSError, ImportError, ValueError):
        return path
    if found and os.path.isabs(found) and _is_file_of(f, Path(found)):
        return Path(found)
    return path


def _remove_placeholder(path: Path) -> None:
    """Delete the empty file :func:`claim_unique_path` made at ``path`` (a finish that
    failed must not leave an empty file under the real name)."""
    try:
        if os.stat(path).st_size == 0:
            os.unlink(path)
    except OSError:
        pass


def _close_quietly(f: BinaryIO, path: Path) -> None:
    """Close file object ``f`` of ``path``; an ``OSError`` (a buffered write that fails again)
    is logged, not raised: the caller is already handling a failure or giving up the file.
    (A buffered file closes its descriptor even when the final flush fails.)"""
    try:
        f.close()
    except OSError as exc:
        log.warning("closing %s: %s (buffered data lost)", path, exc)


def remove_part(path: Path) -> None:
    """Delete a ``.part`` file if present, and its folder if that is then empty."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    _rmdir_if_empty(path.parent)


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


class PartOpening:
    """One :meth:`PartFile.open` (which hashes what the ``.part`` file holds) run as a job
    in another thread, so that a long hash never stops the endpoint's thread.

    :meth:`run` is the job (any thread, once). The endpoint's thread polls :attr:`done`,
    then either :meth:`take`-s the opened file or :meth:`drop`-s the job (also while it
    runs: it stops at its next 1 MiB read and closes the file itself). ``after`` is an
    earlier job on the same path: this one waits until that one has let go of the file.
    """

    def __init__(self, part: PartFile, after: PartOpening | None = None) -> None:
        self.part = part
        part.stop = self._stop_requested
        self.error: Exception | None = None
        """Why the file could not be opened (set when :attr:`done`)."""
        self._after = after
        self._stop = threading.Event()
        self._finished = threading.Event()  # run() returned, the file let go if dropped
        self._lock = threading.Lock()
        self._opened = False
        self._done = False
        self._dropped = False
        self._remove = False

    def run(self) -> None:
        """Open and hash the file (blocking). Never raises: an error goes to :attr:`error`."""
        try:
            if self._after is not None:
                self._after._finished.wait()
                self._after = None
            if not self._stop.is_set():
                self.part.open()
                self._opened = True
        except Exception as exc:  # OSError, or InterruptedError when dropped
            self.error = exc
        finally:
            with self._lock:
                self._done = True
                dropped, remove = self._dropped, self._remove
            if dropped:
                self._dispose(remove)
            self._finished.set()

    def _stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        """The job ended (opened, or failed with :attr:`error`)."""
        with self._lock:
            return self._done

    @property
    def finished(self) -> bool:
        """The job ended and, if dropped, let go of the file."""
        return self._finished.is_set()

    def take(self) -> PartFile:
        """The opened file; only once :attr:`done` without :attr:`error`. The caller owns it
        from then on (this object forgets it)."""
        if not self.done or self.error is not None:
            raise RuntimeError("take() only after the file was opened")
        return self.part

    def drop(self, remove: bool = False) -> None:
        """Give the file up (idempotent), also while the job runs: close it, keeping the
        bytes for a later resume unless ``remove`` (an empty file is removed anyway)."""
        self._stop.set()
        with self._lock:
            if self._dropped:
                return
            self._dropped, self._remove = True, remove
            done = self._done
        if done:
            self._dispose(remove)

    def _dispose(self, remove: bool) -> None:
        part = self.part
        part.close()
        if remove or (self._opened and part.written == 0):
            remove_part(part.path)  # an empty .part file holds no resume data


@dataclass
class Registration:
    """An accepted offer waiting for (or served by) an incoming connection. ``opening`` opens
    and hashes its ``.part`` file from the time it is registered until the connection that
    asks for it takes it (see :class:`PartOpening`)."""

    offer: Offer
    secret: bytes
    download_dir: Path
    part_path: Path
    session: ReceiveSession | None = None
    opening: PartOpening | None = None

    def drop_opening(self, remove: bool = False) -> None:
        """Give up a ``.part`` file opened for this registration and not taken (if any)."""
        opening, self.opening = self.opening, None
        if opening is not None:
            opening.drop(remove)


# --------------------------------------------------------------------------------------------
# Sessions: one QUIC connection each


class _Session:
    direction: Direction

    def __init__(self, endpoint: TransferEndpoint, conn: QuicConnection, peer: Address,
                 now: float) -> None:
        self.endpoint = endpoint
        self.conn = conn
        self.peer = (peer[0], int(peer[1]))
        self.transfer_id: str | None = None
        self.total = 0
        self.reported = False  # a final event (Finished/Failed/Cancelled) was emitted
        self.terminated = False  # qh3 reported ConnectionTerminated: remove the session
        self.closing = False
        self.stream_open = False
        self._close_at: float | None = None
        self._close_code = 0
        self.closed_by_us = False
        self._close_reason = ""
        self._close_seen = False
        self.cids: set[bytes] = set()
        self.unproven = False  # a new incoming connection none of whose packets decrypted
        self._meter = RateMeter(now)
        # A sender's cancel after its last byte still reads the stream in the close grace:
        # the receiver's Done may be on its way (SendSession.cancel).
        self._listen_while_closing = False
        self._last_progress = -1e9
        self._last_done = -1

    # -- driving ------------------------------------------------------------------------
    def receive(self, datagrams: list[bytes], addr: Address, now: float) -> None:
        if len(datagrams) == 1:
            self.conn.receive_datagram(datagrams[0], addr, now)
        else:
            self.conn.receive_many_datagrams(datagrams, addr, now)

    def conn_unproven(self) -> bool:
        """True while no packet from the peer has passed QUIC's packet protection."""
        core = self.conn._core  # qh3 has no public accessor for this
        return core is None or not core.received_authenticated_packet

    def step(self, now: float) -> list[tuple[bytes, Address]]:
        try:
            self._process_events(now)
            if not self.closing:
                try:
                    self.pump(now)
                except QuicConnectionError:  # closed under us; reported below
                    pass
        except Exception:  # anything unforeseen ends this transfer only
            self._abandon(now)
        out = transmit(self.conn, now)
        try:
            self._process_events(now)
            self._maybe_progress(now)
        except Exception:
            self._abandon(now)
        return out

    def _abandon(self, now: float) -> None:
        """An unexpected error while handling this connection (a bug, or input no rule
        foresaw): the transfer fails with an internal error and the connection closes; the
        endpoint's other transfers carry on."""
        log.exception("transfer %s: unexpected error; closing its connection",
                      self.transfer_id or "(not yet known)")
        self.report(Failed(self.transfer_id or "", self.direction,
                           "internal error in this app (see its log)"))
        try:
            self.close(AppError.PROTOCOL, "internal error", now, graceful=False)
        except Exception:  # (closing failed too: the connection is given up as it is)
            log.exception("transfer %s: closing after the error failed", self.transfer_id)
            self.closing = self.terminated = True

    def _check_closed(self, now: float) -> None:
        # qh3 reports ConnectionTerminated only after the closing/draining period (3 PTO,
        # RFC 9000 §10.2); the close itself (ours or the peer's) is visible at once here.
        close = self.conn._close_event
        if close is not None and not self._close_seen:
            self._close_seen = True
            self.closing = True
            self.on_terminated(close.error_code, close.reason_phrase, now)

    def get_timer(self) -> float | None:
        timer = self.conn.get_timer()
        if self._close_at is not None:
            return self._close_at if timer is None else min(timer, self._close_at)
        return timer

    def handle_timer(self, now: float) -> None:
        # QUIC timers first: qh3 bases the closing period on its last known time, so a close
        # made now may already look expired and must be sent (next step) before it is handled.
        timer = self.conn.get_timer()
        if timer is not None and timer <= now:
            self.conn.handle_timer(now)
        if self._close_at is not None and self._close_at <= now:
            self._close_now()

    @property
    def wants_step(self) -> bool:
        return False

    def pump(self, now: float) -> None:
        pass

    def done_bytes(self) -> int:
        return 0

    # -- events -------------------------------------------------------------------------
    def _process_events(self, now: float) -> None:
        # Events first, then the close: a Done frame and a CONNECTION_CLOSE that arrive
        # together must be seen in that order.
        while (event := self.conn.next_event()) is not None:
            if isinstance(event, qev.StreamDataReceived):
                if event.stream_id != STREAM_ID:
                    self.close(AppError.PROTOCOL, "unexpected stream", now)
                    continue
                if not self.closing or self._listen_while_closing:
                    self.on_stream_data(event.data, event.end_stream, now)
            elif isinstance(event, qev.ConnectionIdIssued):
                self.cids.add(event.connection_id)
                self.endpoint._cids[event.connection_id] = self
            elif isinstance(event, qev.ConnectionIdRetired):
                self.cids.discard(event.connection_id)
                if self.endpoint._cids.get(event.connection_id) is self:
                    del self.endpoint._cids[event.connection_id]
            elif isinstance(event, qev.HandshakeCompleted):
                self.on_handshake(now)
            elif isinstance(event, qev.StreamReset | qev.StopSendingReceived):
                if not self.closing:
                    self.on_peer_abort(int(event.error_code), now)
                elif self._close_at is not None:
                    self._close_now()  # both sides aborted: no need to wait
            elif isinstance(event, qev.ConnectionTerminated):
                self.terminated = True
                self.closing = True
                if not self._close_seen:
                    self._close_seen = True
                    self.on_terminated(event.error_code, event.reason_phrase, now)
        self._check_closed(now)

    def on_stream_data(self, data: bytes, end_stream: bool, now: float) -> None:
        raise NotImplementedError

    def on_handshake(self, now: float) -> None:
        pass

    def on_terminated(self, code: int, reason: str, now: float) -> None:
        raise NotImplementedError

    def on_peer_abort(self, code: int, now: float) -> None:
        """The peer reset our stream or asked us to stop sending, with ``code``."""
        if code == AppError.CANCELLED:
            self.on_peer_cancel(now)
        else:
            self.report(Failed(self.transfer_id, self.direction, describe_close(code),
                               transient_close(code)))
            self.close(code, "stream aborted by peer", now, graceful=False)

    def on_peer_cancel(self, now: float) -> None:
        self.report(Cancelled(self.transfer_id, self.direction, by_peer=True))
        self.close(AppError.CANCELLED, "cancelled by peer", now, graceful=False)

    # -- helpers ------------------------------------------------------------------------
    def close(self, code: int, reason: str, now: float, graceful: bool = True) -> None:
        """End the transfer with an application error ``code`` (idempotent).

        Graceful (when the stream is open): RESET_STREAM + STOP_SENDING with ``code`` first
        (RFC 9000 §19.4, §19.5). QUIC retransmits those until acknowledged, so the peer learns
        the reason even under heavy loss and closes the connection itself; we close it after
        :attr:`Settings.close_grace` at the latest. A bare CONNECTION_CLOSE is sent only once
        and may be lost, leaving the peer to find out by idle timeout.
        """
        if self.closing:
            return
        self.closing = True
        self.closed_by_us = True
        self._close_code, self._close_reason = int(code), reason
        try:
            self.release()
        finally:  # whatever happens to our files, the peer must learn why we stop
            self._send_close(graceful, now)

    def _send_close(self, graceful: bool, now: float) -> None:
        if graceful and self.stream_open:
            try:
                self.conn.reset_stream(STREAM_ID, self._close_code)
                self.conn.stop_stream(STREAM_ID, self._close_code)
            except QuicConnectionError:
                graceful = False
            else:
                self._close_at = now + self.endpoint.settings.close_grace
                return
        self._close_now()

    def _close_now(self) -> None:
        self._close_at = None
        self.conn.close(error_code=self._close_code, reason_phrase=self._close_reason)

    def release(self) -> None:
        """Free files and registrations (called once, when the session stops moving data)."""

    def report(self, event: Event) -> None:
        if self.reported or self.transfer_id is None:
            return
        if isinstance(event, Finished):
            self._emit_progress(self.total, self.total)
        self.reported = True
        self.endpoint._events.append(event)

    def _maybe_progress(self, now: float) -> None:
        if self.reported or self.transfer_id is None or self.closing:
            return
        if now - self._last_progress < self.endpoint.settings.progress_interval:
            return
        done = self.done_bytes()
        rate = self._meter.update(done, now)
        if done == self._last_done and now - self._last_progress < 1.0:
            return
        self._last_progress = now
        self._last_done = done
        self.endpoint._events.append(
            Progress(self.transfer_id, self.direction, done, self.total, rate))

    def _emit_progress(self, done: int, total: int) -> None:
        self.endpoint._events.append(
            Progress(self.transfer_id, self.direction, done, total, self._meter.rate))


class SendSession(_Session):
    """The connecting side: pins the peer's certificate, presents the secret, streams the file."""

    direction: Direction = "send"

    def __init__(self, endpoint: TransferEndpoint, transfer_id: str, path: Path, secret: bytes,
                 addr: Address, fingerprint: str, now: float, sha256: str | None,
                 version: FileVersion | None = None) -> None:
        # The file as it is now must be the version that was hashed and offered: one edited
        # in place since (same size) crossed the network whole and was then blamed on it,
        # "the file arrived damaged" (a hunt). Checked on the opened file, before any packet,
        # as while sending (:meth:`_changed`): a change time that differs alone (chmod, a
        # rename) does not stop it.
        file = open(path, "rb")  # closed in release()
        try:
            opened = file_version(os.fstat(file.fileno()))
            if version is not None and not same_content(version, opened):
                raise FileChangedError()
        except BaseException:
            file.close()
            raise
        settings = endpoint.settings
        config = QuicConfiguration(
            is_client=True,
            alpn_protocols=[settings.alpn],
            verify_mode=ssl.CERT_NONE,
            assert_fingerprint=fingerprint,
            max_datagram_size=settings.max_datagram_size,
            probe_datagram_size=False,
            idle_timeout=settings.idle_timeout,
            max_stream_data=settings.max_stream_data,
            max_data=settings.max_data,
        )
        super().__init__(endpoint, QuicConnection(configuration=config), addr, now)
        self.transfer_id = transfer_id
        self.path = Path(path)
        self.expected_sha256 = sha256
        self.version = version
        self._file = file
        self.total = os.fstat(self._file.fileno()).st_size
        self.proto = SenderProtocol(transfer_id, secret, self.total)
        self.offset = 0
        self._done_floor = 0  # the highest done_bytes() reported
        self._probe_at: float | None = None  # next PING while no data gets acknowledged
        self._probe_done = -1  # done_bytes() when that wait began
        self._probes = 0
        self.queued = 0  # file bytes handed to QUIC on this connection
        self.sending = False
        self.eof = False
        # only the file's change time differed (when opened or at the last byte)
        self._touched = version is not None and opened[2] != version[2]
        endpoint._register_cid(self.conn.host_cid, self)
        self.conn.connect(addr, now)

    def on_handshake(self, now: float) -> None:
        self.conn.send_stream_data(STREAM_ID, self.proto.opening())
        self.stream_open = True

    def on_stream_data(self, data: bytes, end_stream: bool, now: float) -> None:
        try:
            results = self.proto.feed(data)
        except ProtocolViolation as exc:
            self.report(Failed(self.transfer_id, "send", f"protocol error: {exc.reason}"))
            self.close(exc.code, exc.reason, now)
            return
        for result in results:
            if isinstance(result, StartSending):
                self.offset = result.offset
                self._file.seek(result.offset)
                self.sending = True
                # (from the offset: a resume counted the bytes before it as sent in the
                # meter's first 0.1 s, "6.2 GB/s · 0.2 s left"; a hunt)
                self._meter = RateMeter(now, result.offset)
                log.info("transfer %s: sending %d bytes from offset %d to %s",
                         self.transfer_id, self.total - result.offset, result.offset,
                         self.peer)
            elif isinstance(result, Delivered):
                if self.expected_sha256 and result.sha256 != self.expected_sha256:
                    self.report(Failed(self.transfer_id, "send", "receiver reported a "
                                       "different SHA-256"))
                    self.close(AppError.CHECKSUM, "sha256 differs", now)
                    return
                self.report(Finished(self.transfer_id, "send", self._where_now(),
                                     result.sha256))
                self.close(AppError.DONE, "done", now, graceful=False)

    def pump(self, now: float) -> None:
        if not self.sending or self.eof:
            return
        limit = self.endpoint.settings.stream_buffer
        buffered = self.conn.get_send_buffer_size(STREAM_ID)
        room = limit - buffered
        if room < limit // 4:
            return
        remaining = self.total - self.offset - self.queued
        n = min(room, remaining)
        try:
            data = self._file.read(n) if n else b""
        except OSError as exc:
            self.report(Failed(self.transfer_id, "send",
                               f"cannot read the file: {exc.strerror or exc}"))
            self.close(AppError.IO_ERROR, "read error", now)
            return
        if len(data) != n:
            # Cut short while it was read: the receiver read "a computer could not read or
            # write the file (disk full …); the transfer can resume once that is fixed" of
            # its own disk, and kept a partial file of a version no one can send any more
            # (a hunt). Said as it is, to both; the receiver deletes its partial file.
            self.report(Failed(self.transfer_id, "send", describe_close(AppError.FILE_CHANGED)))
            self.close(AppError.FILE_CHANGED, "file shrank while sending", now)
            return
        self.queued += n
        self.eof = self.queued == self.total - self.offset
        if self.eof and self._changed():
            # Edited in place while it was read (an editor saving it): the bytes sent mix
            # two versions, and the receiver's check then blamed the network, "the file
            # arrived damaged" (a hunt). Said as it is, to both, before the last bytes go.
            # Only its change time differs (moved, renamed, deleted, its permissions
            # changed): the content is most likely the same, and the receiver's SHA-256
            # check decides (this failed a whole transfer at 100 % for a file moved to
            # another folder while it was sent, and deleted the receiver's bytes; a hunt).
            text = describe_close(AppError.FILE_CHANGED)
            self.report(Failed(self.transfer_id, "send", text))
            self.close(AppError.FILE_CHANGED, "file changed while sending", now)
            return
        self.conn.send_stream_data(STREAM_ID, data, end_stream=self.eof)

    def _changed(self) -> bool:
        """Whether the open file's content is no longer the version offered
        (:func:`same_content`: size, mtime or inode differ; False when no version was
        given). A change time that differs alone sets :attr:`_touched` instead: moving,
        renaming, deleting or ``chmod`` change only it, and so does an in-place copy that
        sets the modification time back (``cp -p``), which the receiver's SHA-256 check
        then catches (:meth:`on_terminated` says the file changed)."""
        if self.version is None:
            return False
        try:
            now = file_version(os.fstat(self._file.fileno()))
        except OSError:
            return False  # (the read just worked: nothing to say)
        if not same_content(self.version, now):
            return True
        self._touched = self._touched or now[2] != self.version[2]
        return False

    @property
    def wants_step(self) -> bool:
        if not self.sending or self.eof or self.closing:
            return False
        limit = self.endpoint.settings.stream_buffer
        return self.conn.get_send_buffer_size(STREAM_ID) <= limit - limit // 4

    def get_timer(self) -> float | None:
        timer = super().get_timer()
        if self._probe_at is not None and not self.closing:
            timer = self._probe_at if timer is None else min(timer, self._probe_at)
        return timer

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        self._watch_stall(now)

    def step(self, now: float) -> list[tuple[bytes, Address]]:
        out = super().step(now)
        self._watch_stall(now)
        return out

    def _watch_stall(self, now: float) -> None:
        """While data is in flight and none of it gets acknowledged for
        :data:`STALL_PROBE_SECONDS`, send a PING each such interval. QUIC's own probe
        timeout doubles at each expiry (RFC 9002 §6.2): after a blackout of 10 s on a LAN
        (RTT of milliseconds) its next probe came after 16 s, past the 15 s idle timeout, and
        the transfer failed although the path was back. The acknowledgement of a PING that
        gets through declares the data sent before it lost (RFC 9002 §6.1), and it goes
        again at once."""
        if not self.sending or self.closing:
            self._probe_at = None
            return
        in_flight = self._bytes_in_flight()
        done = self.done_bytes()
        if not in_flight or done != self._probe_done:
            self._probe_done = done
            self._probe_at = now + STALL_PROBE_SECONDS if in_flight else None
            return
        if self._probe_at is not None and now >= self._probe_at:
            self._probes += 1
            try:
                self.conn.send_ping(self._probes)
            except QuicConnectionError:
                # QUIC closed the connection in this very timer (the idle timeout falls on
                # a probe's time): the next step reports it. Raised, it left the engine's
                # timer slot without that step, and the send hung without failing.
                self._probe_at = None
                return
            self._probe_at = now + STALL_PROBE_SECONDS

    def _bytes_in_flight(self) -> int:
        """QUIC's bytes sent and not yet acknowledged (packet bytes; qh3's private core, as
        in :func:`transmit`), 0 when it cannot tell."""
        core = getattr(self.conn, "_core", None)
        return getattr(core, "bytes_in_flight", 0) if core is not None else 0

    def done_bytes(self) -> int:
        """File bytes the receiver has acknowledged (about: QUIC's bytes in flight count
        packet headers too), never less than reported before. Bytes handed to QUIC or sent
        are not done: on a path that died the card went on to 100 % while the receiver held
        half the file."""
        if not self.sending:
            return 0
        in_flight = self._bytes_in_flight()
        done = self.offset + self.queued - self.conn.get_send_buffer_size(STREAM_ID) \
            - in_flight
        self._done_floor = max(self._done_floor, done, self.offset)
        return self._done_floor

    def on_terminated(self, code: int, reason: str, now: float) -> None:
        if self._listen_while_closing:  # our cancel after the last byte (see cancel)
            self.report(Finished(self.transfer_id, "send", self._where_now(),
                                 self.expected_sha256 or "") if code == AppError.DONE
                        else Cancelled(self.transfer_id, "send", by_peer=False))
        elif code == AppError.CANCELLED:
            self.report(Cancelled(self.transfer_id, "send", by_peer=True))
        elif code == AppError.DONE and self.eof and not self.closed_by_us:
            # The receiver closes with DONE only after it stored the verified file (its app
            # quit before our Done frame got through, e.g. lost under heavy loss).
            self.report(Finished(self.transfer_id, "send", self._where_now(),
                                 self.expected_sha256 or ""))
        elif code == AppError.REFUSED:
            self.report(Failed(self.transfer_id, "send", "refused by the receiver"))
        elif code == AppError.CHECKSUM and self._touched:
            self.report(Failed(self.transfer_id, "send", describe_close(AppError.FILE_CHANGED)))
        elif 0 < code <= 0x10 and not self.stream_open:
            # The handshake never completed (idle timeout with no answer): it said
            # "connection lost …; the transfer can resume where it stopped" of a connection
            # never made, and resumed by itself again and again (a hunt). Not transient:
            # the same path gives the same silence.
            self.report(Failed(self.transfer_id, "send", UNREACHABLE))
        else:
            self.report(Failed(self.transfer_id, "send", describe_close(code, reason),
                               transient_close(code)))
        self.release()

    def on_peer_abort(self, code: int, now: float) -> None:
        if code == AppError.CHECKSUM and self._touched:
            # (see _changed: its content changed while its modification time stayed)
            self.report(Failed(self.transfer_id, "send", describe_close(AppError.FILE_CHANGED)))
            self.close(code, "stream aborted by peer", now, graceful=False)
            return
        super().on_peer_abort(code, now)

    def _where_now(self) -> Path:
        """Where the file sent is now (:func:`where_now`: moved while it was sent, the
        finished card names its new place)."""
        return self.path if self._file.closed else where_now(self._file, self.path)

    def release(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self.endpoint._sends.get(self.transfer_id) is self:
            del self.endpoint._sends[self.transfer_id]

    def cancel(self, now: float) -> None:
        """Stop sending (the user's Cancel). Once every byte is sent the receiver may have
        verified and saved the file already, its Done on the way: the stream is still read
        until the connection ends (the close grace at most), and a Done, or the receiver's
        close with DONE, reports Finished rather than Cancelled (a cancel at 99.9 % said
        "Cancelled" of a file the receiver had saved; a hunt)."""
        if self.eof and not self.reported and not self.closing:
            self._listen_while_closing = True
            self.close(AppError.CANCELLED, "cancelled by sender", now)
            return
        self.close(AppError.CANCELLED, "cancelled by sender", now)
        self.report(Cancelled(self.transfer_id, "send", by_peer=False))


class ReceiveSession(_Session):
    """The accepting side (QUIC server): checks the secret, writes the ``.part``, verifies."""

    direction: Direction = "receive"

    def __init__(self, endpoint: TransferEndpoint, original_cid: bytes, peer: Address,
                 now: float) -> None:
        settings = endpoint.settings
        config = QuicConfiguration(
            is_client=False,
            alpn_protocols=[settings.alpn],
            max_datagram_size=settings.max_datagram_size,
            idle_timeout=settings.idle_timeout,
            max_stream_data=settings.max_stream_data,
            max_data=settings.max_data,
        )
        config.load_cert_chain(endpoint.identity.cert_pem, endpoint.identity.key_pem)
        super().__init__(endpoint, QuicConnection(
            configuration=config, original_destination_connection_id=original_cid), peer, now)
        self.proto = ReceiverProtocol()
        self.registration: Registration | None = None
        self.part: PartFile | None = None
        self.auth_deadline: float | None = now + settings.auth_timeout
        self.finished = False
        self.superseded = False
        self._opening: PartOpening | None = None  # after Hello, until the .part is open
        self._ping_at: float | None = None  # next keep-alive PING while waiting for it
        self._pings = 0
        endpoint._register_cid(original_cid, self)
        endpoint._register_cid(self.conn.host_cid, self)

    def get_timer(self) -> float | None:
        timer = super().get_timer()
        if not self.closing:
            for t in (self.auth_deadline, self._ping_at):
                if t is not None:
                    timer = t if timer is None else min(timer, t)
        return timer

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        if self.auth_deadline is not None and now >= self.auth_deadline and not self.closing:
            log.warning("incoming connection from %s: no valid secret in time", self.peer)
            self.close(AppError.TIMEOUT, "no secret", now, graceful=False)
        if self._ping_at is not None and now >= self._ping_at and not self.closing:
            # Waiting for the .part file's hash: a PING (acknowledged by the sender) keeps
            # both sides' idle timers from ending the connection (RFC 9000 §10.1.2).
            self._pings += 1
            self.conn.send_ping(self._pings)
            self._ping_at = now + self.endpoint.settings.idle_timeout / 3

    def pump(self, now: float) -> None:
        if self._opening is not None:
            self._try_start(now)

    def on_stream_data(self, data: bytes, end_stream: bool, now: float) -> None:
        self.stream_open = True
        try:
            events = self.proto.feed(data, end_stream)
            while events:
                more: list = []
                for ev in events:
                    if self.closing:
                        return
                    if isinstance(ev, FileData):
                        self.part.write(ev.data)
                    elif isinstance(ev, SecretPresented):
                        if not self._authenticate(ev.secret, now):
                            return
                        more += self.proto.feed()
                    elif isinstance(ev, HelloReceived):
                        if not self._hello(ev, now):
                            return
                        more += self.proto.feed()
                    elif isinstance(ev, FileComplete):
                        self._complete(now)
                events = more
        except ProtocolViolation as exc:
            self._fail(f"protocol error: {exc.reason}", exc.code, exc.reason, now)
        except OSError as exc:
            log.error("transfer %s: cannot write %s: %s", self.transfer_id,
                      self.part.path if self.part else "?", exc)
            self._fail(f"cannot write file: {exc.strerror or exc}", AppError.IO_ERROR,
                       "write error", now)

    def _authenticate(self, secret: bytes, now: float) -> bool:
        reg = self.endpoint._find_registration(secret)
        if reg is None:
            log.warning("incoming connection from %s: wrong secret, dropped",
                        self.peer)
            self.close(AppError.REFUSED, "wrong secret", now)
            return False
        if reg.session is not None and reg.session is not self:
            old = reg.session
            old.superseded = True
            old.close(AppError.SUPERSEDED, "superseded by a new connection", now,
                      graceful=False)
        reg.session = self
        self.registration = reg
        self.transfer_id = reg.offer.transfer_id
        self.total = reg.offer.size
        self.auth_deadline = None
        self.endpoint._unauthenticated.pop(self, None)
        self.proto.authenticate()
        return True

    def _hello(self, hello: HelloReceived, now: float) -> bool:
        offer = self.registration.offer
        if hello.transfer_id != offer.transfer_id:
            self._fail("sender named another transfer", AppError.PROTOCOL, "transfer id", now)
            return False
        if hello.size != offer.size:
            self._fail(f"sender's file has {hello.size} bytes, the offer said {offer.size}",
                       AppError.SIZE_MISMATCH, "size differs from offer", now)
            return False
        reg = self.registration
        if reg.opening is None:  # an earlier connection took the file it opened: again
            reg.opening = self.endpoint._open_part(reg)
        self._opening = reg.opening
        if not self._opening.done:
            log.info("transfer %s: %s connected; answering once the partial file is "
                     "checked", self.transfer_id, self.peer)
            self._ping_at = now + self.endpoint.settings.idle_timeout / 3
            return True
        return self._try_start(now, inline=True)

    def _try_start(self, now: float, inline: bool = False) -> bool:
        """Answer ``Hello`` with ``Start`` once the ``.part`` file is open and its bytes are
        hashed (:class:`PartOpening`); before that, do nothing and return True. ``inline``:
        called while handling stream data (which then feeds what was held back)."""
        opening = self._opening
        if opening is None or not opening.done:
            return True
        self._opening = self._ping_at = None
        reg = self.registration
        if reg.opening is opening:
            reg.opening = None
        if opening.error is not None:
            exc = opening.error
            log.error("transfer %s: cannot open %s: %s", self.transfer_id, reg.part_path, exc)
            text = exc.strerror if isinstance(exc, PartBusyError) else \
                f"cannot read the partial file: {getattr(exc, 'strerror', None) or exc}"
            self._fail(text, AppError.IO_ERROR, "write error", now)
            return False
        self.part = opening.take()
        offset = self.part.offset
        self._meter = RateMeter(now, offset)
        log.info("transfer %s: receiving %d bytes from %s, resuming at %d", self.transfer_id,
                 reg.offer.size, self.peer, offset)
        self.conn.send_stream_data(STREAM_ID, self.proto.start(offset))
        if not inline:
            self.on_stream_data(b"", False, now)  # bytes held back, if any
        return True

    def _complete(self, now: float) -> None:
        reg = self.registration
        path, digest = self.part.finish(reg.download_dir, reg.offer.name)
        if path is None:
            log.error("transfer %s: SHA-256 mismatch (%s, offer %s)", self.transfer_id, digest,
                      reg.offer.sha256)
            self._fail("SHA-256 mismatch: the received file was corrupted and was deleted",
                       AppError.CHECKSUM, "sha256 mismatch", now)
            return
        self.finished = True
        self.part = None
        self.endpoint._unregister(reg)
        # (Where, at DEBUG only: the app's log named every file received; a hunt.)
        log.info("transfer %s: stored (%d bytes, sha256 %s)", self.transfer_id,
                 reg.offer.size, digest)
        log.debug("transfer %s: stored as %s", self.transfer_id, path)
        self.conn.send_stream_data(STREAM_ID, encode_frame(Done(sha256=digest)),
                                   end_stream=True)
        self.report(Finished(self.transfer_id, "receive", path, digest))

    def _fail(self, text: str, code: AppError, reason: str, now: float) -> None:
        self.report(Failed(self.transfer_id, "receive", text))
        self.close(code, reason, now)

    def done_bytes(self) -> int:
        return self.part.written if self.part is not None else 0

    def on_peer_cancel(self, now: float) -> None:
        self._discard_part()
        super().on_peer_cancel(now)

    def on_peer_abort(self, code: int, now: float) -> None:
        if code == AppError.FILE_CHANGED:
            self._discard_part()  # (two versions' bytes: nothing to resume)
        super().on_peer_abort(code, now)

    def on_terminated(self, code: int, reason: str, now: float) -> None:
        if code == AppError.FILE_CHANGED and not self.superseded:
            self._discard_part()
        if self.registration is not None and not self.reported and not self.superseded:
            if code == AppError.CANCELLED:
                self._discard_part()
                self.report(Cancelled(self.transfer_id, "receive", by_peer=True))
            else:
                self.report(Failed(self.transfer_id, "receive", describe_close(code, reason),
                                   transient_close(code)))
        self.release()

    def _discard_part(self) -> None:
        reg = self.registration
        if self.part is not None:
            self.part.discard()
            self.part = None
        elif reg is not None and reg.opening is not None and not self.superseded:
            reg.drop_opening(remove=True)
        elif reg is not None:
            remove_part(reg.part_path)

    def release(self) -> None:
        self.endpoint._unauthenticated.pop(self, None)
        part, self.part = self.part, None
        if part is not None:
            part.close()
        reg = self.registration
        if reg is not None and reg.session is self and not self.superseded:
            self.endpoint._unregister(reg)

    def cancel(self, now: float) -> None:
        self._discard_part()
        self.close(AppError.CANCELLED, "cancelled by receiver", now)
        self.report(Cancelled(self.transfer_id, "receive", by_peer=False))


# --------------------------------------------------------------------------------------------
# The endpoint


class TransferEndpoint:
    """All transfers of one app over one UDP port, without the socket (see module docstring).

    Args:
        identity: the TLS certificate presented when receiving (a fresh one if ``None``).
        settings: tunables (:class:`Settings`).
        run_job: runs a blocking job (``job()``: opening a receive's ``.part`` file, which
            hashes the bytes it holds, see :class:`PartOpening`) away from the caller, e.g.
            in a thread, and has :meth:`step` called once it returned. ``None`` runs it at
            once, in the caller (which then blocks for as long as the hash takes).

    Times (``now``) are seconds on any monotonic clock, the same one in every call.
    """

    def __init__(self, identity: Identity | None = None,
                 settings: Settings | None = None,
                 run_job: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.identity = identity or make_identity()
        self.settings = settings or Settings()
        self._run_job = run_job or (lambda job: job())
        # The latest PartOpening per .part path: a new one waits for it to let go.
        self._openings: dict[Path, PartOpening] = {}
        self._cids: dict[bytes, _Session] = {}
        self._sessions: list[_Session] = []
        self._sends: dict[str, SendSession] = {}
        self._regs: dict[str, Registration] = {}
        # Incoming connections without a valid secret yet, oldest first (values unused).
        self._unauthenticated: dict[ReceiveSession, None] = {}
        self._events: deque[Event] = deque()
        self.dropped = 0  # datagrams that matched no connection (forged, stray, late)

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of :attr:`identity`'s certificate, ``"AB:01:…"``."""
        return self.identity.fingerprint

    # -- commands -----------------------------------------------------------------------
    def receive(self, offer: Offer, secret: bytes, download_dir: Path,
                partial_dir: Path | None = None, sender: str = "") -> None:
        """Expect a connection presenting ``secret`` that sends the file ``offer`` describes.

        The file is written to ``partial_dir / (part_stem(sha256, sender) + ".part")``
        (default ``download_dir / ".partial"``; ``sender`` is who offered it, as the app
        knows them) and, once its SHA-256 matches, moved into ``download_dir`` under
        :func:`safe_filename` of ``offer.name``, made unique. Only a later offer of the same
        file from the same ``sender`` resumes from that partial file. Registering the same
        transfer id again replaces the earlier registration.

        The partial file is opened and the bytes it holds are hashed at once, through
        ``run_job`` (see :class:`TransferEndpoint`), so that the sender's connection is
        answered without reading the file then; if it comes before that is done, the
        answer waits (the connection is kept alive meanwhile).
        """
        if len(secret) != SECRET_SIZE:
            raise ValueError(f"secret must be {SECRET_SIZE} bytes")
        download_dir = Path(download_dir)
        partial = Path(partial_dir) if partial_dir else download_dir / ".partial"
        old = self._regs.get(offer.transfer_id)
        if old is not None and old.session is not None:
            old.session.superseded = True
            old.session.close(AppError.SUPERSEDED, "registration replaced", 0.0,
                              graceful=False)
        if old is not None:
            old.drop_opening()
        in_use = {r.part_path for r in self._regs.values() if r is not old}
        stem = part_stem(offer.sha256, sender)
        name = f"{stem}.part"
        n = 1
        while partial / name in in_use:
            name = f"{stem}.{n}.part"
            n += 1
        reg = Registration(offer, bytes(secret), download_dir, partial / name)
        self._regs[offer.transfer_id] = reg
        reg.opening = self._open_part(reg)
        log.info("transfer %s: expecting %d bytes", offer.transfer_id, offer.size)
        log.debug("transfer %s: expecting %r", offer.transfer_id, safe_filename(offer.name))

    def send(self, transfer_id: str, path: Path, addr: Address, fingerprint: str,
             secret: bytes, now: float, sha256: str | None = None,
             version: FileVersion | None = None) -> None:
        """Connect to ``addr`` (host, port), pin ``fingerprint`` and send the file at ``path``.

        ``sha256`` (hex), when given, must equal what the receiver confirms. ``version``,
        when given, is the version of the file that was hashed (:func:`file_version`): the
        file opened must still be it, else :class:`FileChangedError`. Raises ``OSError`` if
        the file cannot be opened and ``ValueError`` for a bad secret or a transfer id
        already being sent.
        """
        if len(secret) != SECRET_SIZE:
            raise ValueError(f"secret must be {SECRET_SIZE} bytes")
        if transfer_id in self._sends:
            raise ValueError(f"transfer {transfer_id} is already being sent")
        session = SendSession(self, transfer_id, Path(path), secret, addr, fingerprint, now,
                              sha256, version)
        self._sends[transfer_id] = session
        self._sessions.append(session)

    def cancel(self, transfer_id: str, now: float) -> bool:
        """Cancel a transfer in either direction; True if there was one. The peer is told
        (``Cancelled(by_peer=True)`` there) and the receiver's ``.part`` file is deleted."""
        found = False
        send = self._sends.get(transfer_id)
        if send is not None:
            send.cancel(now)
            found = True
        reg = self._regs.get(transfer_id)
        if reg is not None:
            found = True
            if reg.session is not None:
                reg.session.cancel(now)
            else:
                self._unregister(reg, remove=True)
                self._events.append(Cancelled(transfer_id, "receive", by_peer=False))
        return found

    def release(self, transfer_id: str, now: float) -> bool:
        """Stop expecting receive ``transfer_id`` but keep its ``.part`` file, so a later
        :meth:`receive` of the same file from the same sender resumes from it. A connection
        serving it is closed (``TIMEOUT``, "receiver stopped waiting"). Reports nothing: the
        caller gave up on it. True if it was registered."""
        reg = self._regs.get(transfer_id)
        if reg is None:
            return False
        self._unregister(reg)
        session = reg.session
        if session is not None:
            session.reported = True  # no event: the caller knows
            session.close(AppError.TIMEOUT, "receiver stopped waiting", now, graceful=False)
        log.info("transfer %s: no longer expected (partial file kept)", transfer_id)
        return True

    def shutdown(self, now: float) -> list[tuple[bytes, Address]]:
        """Close every connection (``SHUTDOWN``), keep ``.part`` files for a later resume, and
        return the last datagrams to send. Reports ``Failed`` for each running transfer."""
        out: list[tuple[bytes, Address]] = []
        for session in list(self._sessions):
            session._process_events(now)
            if not session.closing:
                if session.reported:  # finished receive waiting for the sender's close
                    session.close(AppError.DONE, "done", now, graceful=False)
                else:
                    session.report(Failed(session.transfer_id, session.direction,
                                          "shut down"))
                    session.close(AppError.SHUTDOWN, "shutting down", now, graceful=False)
            out += transmit(session.conn, now)
        for reg in self._regs.values():
            reg.drop_opening()
        self._regs.clear()
        return out

    # -- datagrams ----------------------------------------------------------------------
    def datagrams_received(self, datagrams: list[tuple[bytes, Address]], now: float) -> None:
        """Route a batch of ``(payload, (host, port))`` to their connections."""
        group: list[bytes] = []
        group_session: _Session | None = None
        group_addr: Address | None = None
        for data, addr in datagrams:
            session = self._route(data, addr, now)
            if session is None:
                continue
            if session is group_session and addr == group_addr:
                group.append(data)
                continue
            if group_session is not None:
                self._deliver(group_session, group, group_addr, now)
            group, group_session, group_addr = [data], session, addr
        if group_session is not None:
            self._deliver(group_session, group, group_addr, now)

    def _deliver(self, session: _Session, datagrams: list[bytes], addr: Address,
                 now: float) -> None:
        session.receive(datagrams, addr, now)
        if session.unproven and session.conn_unproven():
            # Not one packet of it decrypted: random bytes dressed as an Initial (or a
            # corrupted one, which the client sends again). Forget it at once rather than
            # hold a slot for the auth timeout; nothing was sent to its source.
            self._drop(session)
            self.dropped += len(datagrams)
            return
        session.unproven = False

    def datagram_received(self, data: bytes, addr: Address, now: float) -> None:
        self.datagrams_received([(data, addr)], now)

    def _route(self, data: bytes, addr: Address, now: float) -> _Session | None:
        if len(data) < 1 + CID_LENGTH:
            self.dropped += 1
            return None
        first = data[0]
        if first & 0x80:  # long header (RFC 9000 §17.2)
            if len(data) < 7 or data[5] > 20 or len(data) < 6 + data[5]:
                self.dropped += 1
                return None
            dcid = bytes(data[6 : 6 + data[5]])
        else:  # short header (§17.3): our CIDs have a fixed length
            dcid = bytes(data[1 : 1 + CID_LENGTH])
        session = self._cids.get(dcid)
        if session is not None:
            if addr != session.peer:
                # No migration: a copy of a real packet forwarded from elsewhere would
                # otherwise move the connection to the forger's address (RFC 9000 §9.3.3,
                # §21.5). On a LAN the path does not change during a transfer; if it ever
                # does, the transfer fails and a new attempt resumes from the .part file.
                self.dropped += 1
                return None
            return session
        is_initial = (first & 0xF0) == 0xC0 and int.from_bytes(data[1:5], "big") == QUIC_V1
        if is_initial and len(data) >= 1200 and self._regs:
            if len(self._unauthenticated) >= self.settings.max_unauthenticated:
                # Evict the oldest rather than refuse the newest: a peer that completes the
                # handshake and presents its secret needs a slot for one round trip only.
                oldest = next(iter(self._unauthenticated))
                log.warning("incoming connection from %s: evicted, too many connections "
                            "without a secret", oldest.peer)
                oldest.close(AppError.TIMEOUT, "too many connections without a secret", now,
                             graceful=False)
            session = ReceiveSession(self, dcid, addr, now)
            session.unproven = True
            self._sessions.append(session)
            self._unauthenticated[session] = None
            log.debug("new incoming connection from %s", addr)
            return session
        self.dropped += 1
        return None

    def step(self, now: float) -> list[tuple[bytes, Address]]:
        """One send round over all connections: handle their events, queue at most
        :attr:`Settings.stream_buffer` more file bytes each, and return the datagrams to send.
        """
        out: list[tuple[bytes, Address]] = []
        dead = False
        for session in self._sessions:
            out += session.step(now)
            dead = dead or session.terminated
        if dead:
            self._reap()
        return out

    @property
    def wants_step(self) -> bool:
        """True when another :meth:`step` right away would queue more data."""
        return any(s.wants_step for s in self._sessions)

    def get_timer(self) -> float | None:
        """The earliest time :meth:`handle_timer` must run, or ``None``."""
        timers = [t for s in self._sessions if (t := s.get_timer()) is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        """Run every connection timer that is due (loss detection, PTO, idle, pacing)."""
        for session in self._sessions:
            t = session.get_timer()
            if t is not None and t <= now:
                session.handle_timer(now)

    def pop_events(self) -> list[Event]:
        """Progress/Finished/Failed/Cancelled since the last call, in order."""
        events = list(self._events)
        self._events.clear()
        return events

    @property
    def active(self) -> int:
        """Connections alive (including closing ones)."""
        return len(self._sessions)

    @property
    def registrations(self) -> list[str]:
        """Transfer ids of registered receives."""
        return list(self._regs)

    # -- internal -----------------------------------------------------------------------
    def _register_cid(self, cid: bytes, session: _Session) -> None:
        session.cids.add(cid)
        self._cids[cid] = session

    def _find_registration(self, secret: bytes) -> Registration | None:
        found = None
        for reg in self._regs.values():
            if ReceiverProtocol.secret_matches(secret, reg.secret):
                found = reg
        return found

    def _unregister(self, reg: Registration, remove: bool = False) -> None:
        """Forget ``reg`` and give up the ``.part`` file opened for it and not taken by a
        connection (deleting it with ``remove``, else keeping it for a resume)."""
        if self._regs.get(reg.offer.transfer_id) is reg:
            del self._regs[reg.offer.transfer_id]
        if reg.opening is not None:
            reg.drop_opening(remove)
        elif remove:
            remove_part(reg.part_path)

    def _open_part(self, reg: Registration) -> PartOpening:
        """Start opening (and hashing) ``reg``'s ``.part`` file through ``run_job``, after
        any earlier job on that path has let go of it."""
        openings = self._openings
        for path in [p for p, o in openings.items() if o.finished]:
            del openings[path]
        part = PartFile(reg.part_path, reg.offer.size, reg.offer.sha256,
                        self.settings.write_buffer)
        opening = openings[reg.part_path] = PartOpening(part, openings.get(reg.part_path))
        self._run_job(opening.run)
        return opening

    def _drop(self, session: _Session) -> None:
        """Forget ``session`` at once, without a close (it never got a packet through)."""
        for cid in session.cids:
            if self._cids.get(cid) is session:
                del self._cids[cid]
        self._unauthenticated.pop(session, None)
        self._sessions.remove(session)

    def _reap(self) -> None:
        alive = []
        for session in self._sessions:
            if session.terminated:
                for cid in session.cids:
                    if self._cids.get(cid) is session:
                        del self._cids[cid]
                session.release()
            else:
                alive.append(session)
        self._sessions = alive


__all__ = [
    "Cancelled",
    "Event",
    "Failed",
    "Finished",
    "PartFile",
    "Progress",
    "Registration",
    "Settings",
    "TransferEndpoint",
]
