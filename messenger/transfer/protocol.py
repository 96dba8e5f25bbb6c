"""The peer-to-peer transfer protocol: pure decisions, no sockets, no QUIC, no files.

One transfer is one QUIC connection (RFC 9000) carrying one bidirectional stream (stream 0,
opened by the connecting side). The *receiver* (the side that accepted the offer) is the QUIC
server; the *sender* is the QUIC client and pins the receiver's certificate by its SHA-256
fingerprint, relayed by the chat server. QUIC has no client certificates here, so the sender
proves who it is with a per-transfer secret issued by the chat server over TLS.

Byte layout of stream 0::

    sender → receiver:  secret (32 bytes) | frame Hello | file bytes [offset, size) | FIN
    receiver → sender:  frame Start(offset) ... frame Done(sha256) | FIN

A *frame* is a 4-byte big-endian length followed by one JSON object (a msgspec Struct tagged by
``type``), the same framing as the chat protocol; lengths of 0 or above :data:`MAX_FRAME` are
protocol errors. ``offset`` is how many bytes of the file the receiver already holds in its
``.part`` file (resume); the sender then sends exactly ``size - offset`` bytes and ends the
stream. The receiver checks the SHA-256 of the whole file against the offer before it renames
the file into the download folder, then answers ``Done`` and the sender closes the connection.

Anything unexpected from the network (a wrong secret, a malformed or oversized frame, more or
fewer bytes than announced) ends the connection with an application error code from
:class:`AppError` and a reason phrase, both carried by the QUIC CONNECTION_CLOSE frame
(RFC 9000 §19.19). Cancel from either side is a stream reset (RFC 9000 §19.4) plus a connection
close with :attr:`AppError.CANCELLED`.

The classes here are plain state machines: :class:`SenderProtocol` and
:class:`ReceiverProtocol` take stream bytes and return what to do;
:func:`safe_filename` / :func:`unique_path` decide where a file from the network may land;
:func:`check_offer` decides whether an offer may be accepted at all.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import re
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import msgspec

SECRET_SIZE = 32
"""Length of the per-transfer secret in bytes (random, issued by the chat server)."""

VERSION = 1
"""The transfer protocol version this code speaks (``Hello.version``, and the ALPN suffix)."""

ALPN = f"messenger-transfer/{VERSION}"
"""TLS ALPN protocol name of this transfer protocol version (RFC 7301)."""

STREAM_ID = 0
"""The only stream used: the first client-initiated bidirectional stream (RFC 9000 §2.1)."""

MAX_FRAME = 16 * 1024
"""Largest frame payload accepted, in bytes."""

DEFAULT_SIZE_LIMIT = 4 * 1024**3
"""Default largest file accepted, in bytes (4 GiB)."""

_HEADER = struct.Struct(">I")


class AppError(enum.IntEnum):
    """Application error codes carried in QUIC CONNECTION_CLOSE / RESET_STREAM frames.

    Apart from ``DONE`` (0) they live at ``0x4D01`` and up ("M"), clear of the QUIC transport
    codes (``0x00``–``0x10``) and the TLS-alert range ``0x100``–``0x1FF`` (RFC 9000 §20.1),
    which qh3 reports through the same ``ConnectionTerminated.error_code`` field.
    """

    DONE = 0x0
    """The transfer completed; normal close by the sender after ``Done`` (QUIC NO_ERROR)."""
    CANCELLED = 0x4D01
    """A person cancelled the transfer (either side)."""
    REFUSED = 0x4D02
    """Wrong or unknown secret, or a connection nobody expects."""
    PROTOCOL = 0x4D03
    """Malformed frame, unexpected frame, or wrong number of bytes."""
    SIZE_MISMATCH = 0x4D04
    """The sender's file size differs from the offer."""
    CHECKSUM = 0x4D05
    """The SHA-256 of the received file differs from the offer."""
    IO_ERROR = 0x4D06
    """Reading or writing the file failed (disk full, file gone, permissions)."""
    SHUTDOWN = 0x4D07
    """The application is quitting; the transfer can be resumed later."""
    SUPERSEDED = 0x4D08
    """A newer connection with the same secret took over (resume after a network change)."""
    TIMEOUT = 0x4D09
    """No authentication in time after the handshake."""
    FILE_CHANGED = 0x4D0A
    """The sender's file changed while it was being sent (edited in place): the bytes sent
    mix two versions; the receiver deletes its ``.part``."""


_CLOSE_TEXTS = {
    AppError.SHUTDOWN: "the other app was closed; the transfer can resume where it stopped",
    AppError.IO_ERROR: "a computer could not read or write the file (disk full, or the file "
                       "moved); the transfer can resume once that is fixed",
    AppError.CHECKSUM: "the file arrived damaged and was deleted; send it again",
    AppError.FILE_CHANGED: "the file changed while it was being sent; send it again",
    AppError.SIZE_MISMATCH: "the file changed since it was offered; send it again",
    AppError.PROTOCOL: "the other app broke the transfer protocol (is it up to date?)",
    AppError.SUPERSEDED: "a newer connection took over",
}
"""What a person reads for the close codes that are not self-explanatory."""


UNREACHABLE = "could not reach the other computer (no answer: a firewall blocking UDP?)"
"""Why a send ends when the receiver never answered the QUIC handshake (a firewall that
drops UDP, a Wi-Fi that isolates its clients, an address of another network): not a lost
connection, there never was one; trying again the same way gives the same."""


def transient_close(error_code: int) -> bool:
    """Whether a connection closed with ``error_code`` may succeed if tried again later: a
    QUIC transport error (codes 0x1–0x10, RFC 9000 §20.1: the path or the peer went away;
    an idle timeout), the peer's app shutting down (``SHUTDOWN``) or its receive no longer
    expected (``TIMEOUT``). Not for the app codes of bad data, disk errors, refusals or
    cancels, nor for TLS alerts (another certificate or version: the same again)."""
    return 0 < error_code <= 0x10 or error_code in (AppError.SHUTDOWN, AppError.TIMEOUT)


def describe_close(error_code: int, reason: str = "") -> str:
    """A short human-readable text for a QUIC close ``error_code`` (app or transport): a
    sentence for the codes of :data:`_CLOSE_TEXTS`, else the code's name (and ``reason``)."""
    if error_code in _CLOSE_TEXTS:
        return _CLOSE_TEXTS[AppError(error_code)]
    try:
        text = AppError(error_code).name.lower().replace("_", " ")
    except ValueError:
        if 0x100 <= error_code <= 0x1FF and (error_code == 0x100 + 120 or "ALPN" in reason):
            # no_application_protocol (RFC 7301 §3.2); qh3 sends handshake_failure with
            # "No common ALPN protocols". Either way the ALPN, i.e. the version, differs.
            return ("the other app speaks another transfer protocol version; "
                    "update the older app")
        if 0x100 <= error_code <= 0x1FF:
            text = f"TLS alert {error_code - 0x100}"
        elif error_code <= 0x10:  # a QUIC transport error: the path or the peer went away
            return (f"connection lost ({reason}); " if reason else "connection lost; ") + \
                "the transfer can resume where it stopped"
        else:
            text = f"error {error_code:#x}"
    return f"{text}: {reason}" if reason else text


# --------------------------------------------------------------------------------------------
# Frames


class _Frame(msgspec.Struct, tag_field="type", omit_defaults=True, forbid_unknown_fields=False):
    pass


class Hello(_Frame, tag="hello"):
    """Sender → receiver, right after the secret: which transfer and how large (bytes)."""

    transfer_id: str
    size: int
    version: int = VERSION


class Start(_Frame, tag="start"):
    """Receiver → sender: send the file from byte ``offset`` (what the ``.part`` holds)."""

    offset: int


class Done(_Frame, tag="done"):
    """Receiver → sender: file stored, SHA-256 (lower-case hex) verified."""

    sha256: str


Frame = Hello | Start | Done

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Frame)


def encode_frame(frame: Frame) -> bytes:
    """``frame`` as bytes on the stream: 4-byte big-endian length + JSON payload."""
    payload = _encoder.encode(frame)
    return _HEADER.pack(len(payload)) + payload


class ProtocolViolation(Exception):
    """The peer broke the protocol; ``code`` is the :class:`AppError` to close with."""

    def __init__(self, code: AppError, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class FrameReader:
    """Incremental frame splitter: ``feed(data)`` returns the complete frames now available.

    Raises :class:`ProtocolViolation` (``PROTOCOL``) on a zero or oversized length or a payload
    that is not a known frame.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            frame, used = self._take(self._buf)
            if frame is None:
                return frames
            del self._buf[:used]
            frames.append(frame)

    def take_one(self, data: bytearray) -> tuple[Frame | None, int]:
        """Parse at most one frame from the start of ``data`` (not buffered here).

        Returns ``(frame, bytes used)`` or ``(None, 0)`` when ``data`` holds no full frame yet.
        """
        return self._take(data)

    def _take(self, buf: bytearray) -> tuple[Frame | None, int]:
        if len(buf) < 4:
            return None, 0
        (length,) = _HEADER.unpack_from(buf, 0)
        if length == 0 or length > self.max_frame:
            raise ProtocolViolation(AppError.PROTOCOL, f"bad frame length {length}")
        if len(buf) < 4 + length:
            return None, 0
        try:
            frame = _decoder.decode(bytes(buf[4 : 4 + length]))
        except (msgspec.DecodeError, RecursionError, ValueError) as exc:
            # (RecursionError: JSON nested a few thousand deep fits in a frame)
            reason = "nested too deep" if isinstance(exc, RecursionError) else exc
            raise ProtocolViolation(AppError.PROTOCOL, f"bad frame: {reason}") from None
        return frame, 4 + length


# --------------------------------------------------------------------------------------------
# Offers and file names


class Offer(msgspec.Struct, frozen=True):
    """What the receiver knows about a file before any byte moves (relayed by the chat server).

    ``name`` is the sender's file name (untrusted), ``size`` in bytes, ``sha256`` the lower-case
    hex SHA-256 of the whole file, ``mime`` a MIME type or ``""``.
    """

    transfer_id: str
    name: str
    size: int
    sha256: str
    mime: str = ""


_HEX64 = re.compile(r"[0-9a-f]{64}")


def format_size(size: float, decimals: int = 1) -> str:
    """``"812 bytes"``, ``"1.0 MB"``, ``"4.0 GB"`` (units of 1024; ``decimals`` after the
    point).

    The figure is compared with 1024 as it is written: 1,048,575 bytes (1023.999 KB) is
    "1.0 MB", not "1024.0 KB"."""
    if size < 1024:
        return f"{int(size)} byte{'s' if int(size) != 1 else ''}"
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        text = f"{size:.{decimals}f}"
        if float(text) < 1024 or unit == "TB":
            return f"{text} {unit}"
    return f"{size:.{decimals}f} TB"  # pragma: no cover


def format_sizes(first: int, second: int) -> tuple[str, str]:
    """Two sizes compared in one sentence ("is 4.03 GB, over the limit of 4.00 GB"), in words
    that differ when the sizes do: more decimals (up to three), then exact byte counts
    ("is 4.0 GB, over the 4.0 GB limit" read as a contradiction; a hunt)."""
    for decimals in (1, 2, 3):
        a, b = format_size(first, decimals), format_size(second, decimals)
        if a != b or first == second:
            return a, b
    return f"{first:,} bytes", f"{second:,} bytes"


def check_offer(offer: Offer, *, size_limit: int = DEFAULT_SIZE_LIMIT,
                free_bytes: int | None = None) -> str | None:
    """Decide whether ``offer`` may be accepted; returns ``None`` or the reason it may not.

    ``size_limit`` is the largest file accepted in bytes; ``free_bytes`` the free space in the
    download folder (``shutil.disk_usage(folder).free``), or ``None`` not to check it.
    """
    if not isinstance(offer.size, int) or offer.size < 0:
        return "invalid size"
    if offer.size > size_limit:
        size, limit = format_sizes(offer.size, size_limit)
        return f"file too large ({size}, the limit is {limit})"
    if not _HEX64.fullmatch(offer.sha256 or ""):
        return "invalid SHA-256"
    if not offer.transfer_id:
        return "missing transfer id"
    if free_bytes is not None and offer.size > free_bytes:
        needed, free = format_sizes(offer.size, free_bytes)
        return f"not enough disk space ({needed} needed, {free} free)"
    return None


_WINDOWS_RESERVED = {
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
    *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10)),
    "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³",
}
_FORBIDDEN = set('<>:"/\\|?*')
MAX_NAME_BYTES = 200
"""Longest safe name in UTF-8 bytes; leaves room for `` (123)`` under the usual 255."""


def safe_filename(name: str, default: str = "file") -> str:
    """Reduce an untrusted file name from the network to a safe base name.

    The result never contains path separators (``/`` or ``\\``), ``..``, a drive letter,
    control characters (C0, C1, DEL, and Unicode format characters such as RTL overrides; a
    zero-width joiner or non-joiner between two characters stays: :data:`_JOINERS`) or
    characters Windows forbids (``<>:"|?*``); it does not start with a dot (hidden files,
    ``.``/``..``) nor end with a dot or space; it is not a Windows reserved device name
    (``con``, ``nul.txt``, ``COM1`` …, which get a ``_`` prefix); it is NFC-normalised and at
    most :data:`MAX_NAME_BYTES` bytes of UTF-8 with the extension kept. Only the last path
    component of ``name`` is used. An empty result becomes ``default``.
    """
    if not isinstance(name, str):
        name = ""
    name = unicodedata.normalize("NFC", name)
    # Only the last component, whatever the separator convention of the sender.
    name = re.split(r"[/\\]", name)[-1]
    cleaned = []
    for i, ch in enumerate(name):
        cat = unicodedata.category(ch)
        if ch in _JOINERS and 0 < i < len(name) - 1 and _joinable(name[i - 1]) \
                and _joinable(name[i + 1]) and not (name[i - 1] + name[i + 1]).isascii():
            cleaned.append(ch)  # (spelling in Persian and Indic scripts; emoji sequences)
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or ch in _FORBIDDEN:
            cleaned.append("_" if cat not in ("Cf",) else "")
        else:
            cleaned.append(ch)
    name = _strip_ends("".join(cleaned))
    if not name:
        return default
    # Truncate before the reserved-name check: cutting "Con<250 spaces>x.txt" leaves
    # "Con.txt". The "_" prefix may need one more cut, which cannot make it reserved again.
    name = _strip_ends(_truncate_utf8(name, MAX_NAME_BYTES)) or default
    if name.partition(".")[0].upper().rstrip() in _WINDOWS_RESERVED:
        name = _strip_ends(_truncate_utf8("_" + name, MAX_NAME_BYTES))
    return name


_JOINERS = frozenset("\u200c\u200d")
"""ZERO WIDTH NON-JOINER and JOINER: format characters kept between two characters of a name,
where they are spelling (Persian, Indic conjuncts) or join an emoji sequence; removed with
the other format characters, a Persian name arrived misspelt (a hunt). Elsewhere they join
nothing and go."""


def _joinable(ch: str) -> bool:
    """Whether a joiner next to ``ch`` may stay: a visible character, not a dot or space (a
    joiner at the extension or a word's end joins nothing), not a format character. (Between
    two ASCII characters it joins nothing either, and goes: ``x.ex`` + joiner + ``e`` reads as
    an ``.exe`` the desktop would not take for one.)"""
    return ch.isprintable() and not ch.isspace() and ch != "." and ch not in _FORBIDDEN


def _strip_ends(name: str) -> str:
    """``name`` without leading white space and dots nor trailing white space, dots and
    spaces, until nothing changes (". .bashrc" must not become ".bashrc")."""
    while True:
        stripped = name.strip().lstrip(".").rstrip(". ")
        if stripped == name:
            return name
        name = stripped


def _truncate_utf8(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext.encode("utf-8")) > 32:
        stem, ext = name, ""
    budget = limit - len(ext.encode("utf-8"))
    out = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(". ")
    return (out or "file") + ext


def unique_path(folder: Path, name: str) -> Path:
    """``folder / name`` if free, else ``name (1).ext``, ``name (2).ext`` … (first free).

    ``name`` must already be safe (:func:`safe_filename`). Only a hint: use
    :func:`claim_unique_path` to reserve the name atomically.
    """
    stem, ext = os.path.splitext(name)
    candidate = folder / name
    n = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = folder / _truncate_utf8(f"{stem} ({n}){ext}", MAX_NAME_BYTES + 16)
        n += 1
    return candidate


def part_stem(sha256: str, sender: str = "") -> str:
    """Name (without ``.part``) of the partial file of a file with this SHA-256 from
    ``sender``: ``<sha256>-<16 hex digits of the SHA-256 of sender>``, or just ``<sha256>``
    when the sender is not known. Keyed by the sender, so that one who claims somebody
    else's hash can never leave bytes that a later transfer from that somebody resumes on."""
    if not sender:
        return sha256
    return f"{sha256}-{hashlib.sha256(sender.encode('utf-8')).hexdigest()[:16]}"


def claim_unique_path(folder: Path, name: str) -> Path:
    """Create an empty file at a free name in ``folder`` (see :func:`unique_path`) with
    ``O_CREAT | O_EXCL`` and return its path, so two transfers can never pick the same name and
    an existing file is never overwritten. The caller then ``os.replace``-s its data onto it.
    The placeholder gets the mode of a normally created file (0666 less the umask), which the
    caller can copy to the data it moves in."""
    safe = safe_filename(name)
    for _ in range(10_000):
        path = unique_path(folder, safe)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise OSError(f"no free name for {safe!r} in {folder}")


# --------------------------------------------------------------------------------------------
# Stream state machines


@dataclass
class StartSending:
    """Receiver asked for the file from ``offset`` (bytes)."""

    offset: int


@dataclass
class Delivered:
    """Receiver confirmed the whole file with this SHA-256 (hex)."""

    sha256: str


class SenderProtocol:
    """The sender's side of stream 0.

    Use: send :meth:`opening` first; feed every byte the receiver sends to :meth:`feed`, which
    returns :class:`StartSending` (then stream file bytes ``[offset, size)`` and end the stream)
    or :class:`Delivered` (done: close the connection). Raises
    :class:`ProtocolViolation` on anything else.
    """

    def __init__(self, transfer_id: str, secret: bytes, size: int) -> None:
        if len(secret) != SECRET_SIZE:
            raise ValueError(f"secret must be {SECRET_SIZE} bytes")
        self.transfer_id = transfer_id
        self.secret = secret
        self.size = size
        self.offset: int | None = None
        self.delivered: str | None = None
        self._reader = FrameReader()

    def opening(self) -> bytes:
        """The first bytes of the stream: the secret and the ``Hello`` frame."""
        return self.secret + encode_frame(Hello(transfer_id=self.transfer_id, size=self.size))

    def feed(self, data: bytes) -> list[StartSending | Delivered]:
        out: list[StartSending | Delivered] = []
        for frame in self._reader.feed(data):
            if isinstance(frame, Start) and self.offset is None:
                if not isinstance(frame.offset, int) or not 0 <= frame.offset <= self.size:
                    raise ProtocolViolation(AppError.PROTOCOL, f"bad offset {frame.offset!r}")
                self.offset = frame.offset
                out.append(StartSending(frame.offset))
            elif isinstance(frame, Done) and self.offset is not None and self.delivered is None:
                self.delivered = frame.sha256
                out.append(Delivered(frame.sha256))
            else:
                raise ProtocolViolation(AppError.PROTOCOL, f"unexpected {type(frame).__name__}")
        return out


@dataclass
class SecretPresented:
    """The connecting side sent its 32-byte secret; look it up and call ``authenticate``."""

    secret: bytes


@dataclass
class HelloReceived:
    """The authenticated sender announced ``transfer_id`` and ``size``; answer with
    :meth:`ReceiverProtocol.start`."""

    transfer_id: str
    size: int


@dataclass
class FileData:
    """File bytes (a chunk of the range ``[offset, size)``, in order)."""

    data: bytes


@dataclass
class FileComplete:
    """All ``size - offset`` bytes arrived and the stream ended."""


class ReceiverProtocol:
    """The receiver's side of stream 0: secret, then ``Hello``, then exactly the file bytes.

    :meth:`feed` returns events in order (:class:`SecretPresented`, :class:`HelloReceived`,
    :class:`FileData`, :class:`FileComplete`) and raises
    :class:`ProtocolViolation` on a wrong number of bytes or a bad frame. After
    :class:`SecretPresented` the owner must call :meth:`authenticate` (or close the connection)
    before feeding more; after :class:`HelloReceived`, :meth:`start`.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._reader = FrameReader()
        self.state = "secret"  # secret → wait_auth → hello → wait_start → data → complete
        self.expected_secret: bytes | None = None
        self.size = 0
        self.offset = 0
        self.received = 0  # file bytes received on this connection
        self._fin = False

    @staticmethod
    def secret_matches(presented: bytes, expected: bytes) -> bool:
        """Constant-time comparison of two secrets."""
        return hmac.compare_digest(presented, expected)

    def authenticate(self) -> None:
        """The presented secret was valid: go on to read ``Hello``."""
        if self.state != "wait_auth":
            raise RuntimeError("authenticate() only after SecretPresented")
        self.state = "hello"

    def start(self, offset: int) -> bytes:
        """Accept ``Hello`` and ask for the file from ``offset``; returns the bytes to send."""
        if self.state != "wait_start" or not 0 <= offset <= self.size:
            raise RuntimeError("start() only after HelloReceived, with 0 <= offset <= size")
        self.offset = offset
        self.state = "data"
        return encode_frame(Start(offset=offset))

    @property
    def remaining(self) -> int:
        """File bytes still expected on this connection."""
        return self.size - self.offset - self.received

    def feed(self, data: bytes = b"", end_stream: bool = False) -> list:
        """Take stream bytes (``end_stream`` when the peer sent FIN); returns events.

        Call with no data after :meth:`authenticate` / :meth:`start` to process bytes that were
        held back while waiting for the owner's decision.
        """
        events: list = []
        if end_stream:
            self._fin = True
        if data:
            if self.state == "data" and not self._buf:
                self._take_data(data, events)
            else:
                self._buf += data
        if self._buf:
            self._advance(events)
        if self._fin and self.state in ("secret", "hello", "data"):
            if self.state == "data" and self.remaining == 0:
                self.state = "complete"
                events.append(FileComplete())
            else:
                raise ProtocolViolation(AppError.PROTOCOL,
                                        f"stream ended early ({self.remaining} bytes missing)")
        return events

    def _advance(self, events: list) -> None:
        while self._buf:
            if self.state == "secret":
                if len(self._buf) < SECRET_SIZE:
                    return
                secret = bytes(self._buf[:SECRET_SIZE])
                del self._buf[:SECRET_SIZE]
                self.state = "wait_auth"
                events.append(SecretPresented(secret))
                return  # owner authenticates, then feeds b"" to continue
            if self.state == "hello":
                frame, used = self._reader.take_one(self._buf)
                if frame is None:
                    return
                del self._buf[:used]
                if not isinstance(frame, Hello) or not isinstance(frame.size, int) \
                        or frame.size < 0:
                    raise ProtocolViolation(AppError.PROTOCOL, "expected hello")
                if frame.version != VERSION:
                    raise ProtocolViolation(
                        AppError.PROTOCOL,
                        f"the sender speaks transfer protocol version {frame.version}, this app "
                        f"speaks {VERSION}; update the older app")
                self.size = frame.size
                self.state = "wait_start"
                events.append(HelloReceived(str(frame.transfer_id), frame.size))
                return
            if self.state == "data":
                data = bytes(self._buf)
                self._buf.clear()
                self._take_data(data, events)
                return
            if self.state == "wait_auth":
                # The owner decides on the secret; meanwhile an honest sender has sent no
                # more than its Hello frame: a sender that streams on is not buffered.
                if len(self._buf) > 4 + self._reader.max_frame:
                    raise ProtocolViolation(AppError.PROTOCOL, "data before authentication")
                return
            if self.state == "wait_start":
                # An honest sender waits for Start (it says where to begin).
                raise ProtocolViolation(AppError.PROTOCOL, "file data before start")
            raise ProtocolViolation(AppError.PROTOCOL, "bytes after the end of the file")

    def _take_data(self, data: bytes, events: list) -> None:
        if len(data) > self.remaining:
            raise ProtocolViolation(AppError.PROTOCOL, "more bytes than announced")
        self.received += len(data)
        events.append(FileData(data))


FileVersion = tuple[int, int, int, int]
"""One version of a file: ``(size, mtime_ns, ctime_ns, inode)`` (:func:`file_version`)."""

FILE_CHANGED = "the file changed since it was offered; it has to be offered again"
"""Why a send stops before its first byte when the file is no longer the version hashed."""


def file_version(st: os.stat_result) -> FileVersion:
    """What tells one version of a file from another, from its ``stat``/``fstat``: the size,
    the modification time, the change time (no tool can set it back: an in-place edit that
    keeps size and mtime, ``cp -p``, ``rsync -t``, is a new version too) and the inode (a
    file saved by replacing it)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def same_content(offered: FileVersion, now: FileVersion) -> bool:
    """Whether a file whose version is ``now`` (:func:`file_version`) still holds the content
    of the version ``offered``: its size, modification time and inode are the same. A change
    time that differs alone does not count: ``chmod``, a rename, a hard link or an extended
    attribute move it too, and refused a file whose content was the same ("the file changed
    since it was offered"; a hunt). An in-place copy that sets the modification time back
    (``cp -p``) changes only it as well: the receiver's SHA-256 check catches that one."""
    return (now[0], now[1], now[3]) == (offered[0], offered[1], offered[3])


class FileChangedError(ValueError):
    """The file to send is not the version that was hashed and offered (:data:`FILE_CHANGED`)."""

    def __init__(self, message: str = FILE_CHANGED) -> None:
        super().__init__(message)


def send_error_text(exc: BaseException) -> str:
    """Why a file cannot be sent, for both people ("cannot send: …"): never the file's path
    (a folder name can be private: it reached the recipient's card, "Cancelled by alice:
    cannot send: /home/alice/Medical/scan.pdf", in a hunt)."""
    if isinstance(exc, FileNotFoundError):
        why = "the file was deleted or moved"
    elif isinstance(exc, IsADirectoryError):
        why = "it is a folder"
    elif isinstance(exc, PermissionError):
        why = "the file cannot be read (no permission)"
    elif isinstance(exc, OSError):
        why = (exc.strerror or type(exc).__name__).lower()
    else:
        why = str(exc)
    return f"cannot send: {why}"
