"""File transfers in the app: the signalling through the chat server wired to the peer-to-peer
:class:`~messenger.transfer.TransferEngine`, and a model of every transfer for the views.

* :class:`TransferController` (one per :class:`~messenger.client.engine.ClientEngine`) owns
  the transfer engine (started on first use, in its own thread), hashes files off the GUI
  thread, offers them, answers offers and follows each transfer to its end;
* :class:`TransferModel` lists the transfers (newest last) with their progress for the
  conversation cards and the Transfers panel;
* plain functions decide what can be sent (:func:`send_refusal`), which endpoint to use
  (:func:`pick_endpoint`) and how a transfer is described (:func:`status_text`).

The flow, sender → recipient: hash (``preparing``) → ``transfer_offer`` (``offering``) → ``ok``
with the id and secret (``waiting``) … the recipient sees ``incoming``; Accept checks the size
limit and free space, registers the offer with its engine, then sends ``transfer_accept``
(``connecting``) → the sender's app gets ``transfer_accepted`` and starts sending (``active``)
→ ``done``; or ``declined`` / ``cancelled`` / ``failed``.

Resuming. A failed send can be resumed (:meth:`TransferController.resume`, the card's Resume
button, shown when :meth:`~TransferController.can_resume`: the file is still there with the
same size): the same file is offered again on the same card, hashed again, so the same
SHA-256. The recipient's ``.part`` file (``<download dir>/.partial/<sha256>-<sender>.part``,
see :func:`~messenger.transfer.protocol.part_stem`) is kept
after any failure that was not about the data (network path lost, either app closed), so its
app announces that size as the offset when accepting and the sender's transfer engine sends
only the rest; the receiving side checks the SHA-256 of the whole file before renaming it into
place. A recipient whose card for that file (same sender, same SHA-256) has failed after the
user accepted it accepts the new offer by itself; one never accepted leaves the new offer to a
new card, which asks (and counts as unread, as any new offer).

Across app restarts. Every transfer is kept in the account's
:class:`~messenger.client.localstore.LocalStore` (``transfers`` table): each change of state
is written at once, progress at most every :data:`SAVE_INTERVAL`, and everything once more in
:meth:`TransferController.close`. At login (or at once, when the engine is logged in already)
the controller reloads them into the :class:`TransferModel` and the conversations, so the cards
come back (signal ``transfers_loaded``, not ``transfer_added``). One that was still running
(``preparing``, ``offering``, ``waiting``, ``connecting``, ``active``, or ``incoming``) comes
back ``failed`` ("interrupted"): a send with its Resume, an accepted receive remembering that it
was accepted (so the sender's Resume continues it without asking, from the ``.part`` file),
an offer never answered as lapsed (its secret died with the app). No secret is stored.
An offer to us left unanswered when the app stopped or lost its connection to the server is
not declined here: the server ends it when the account's last session ends (the sender is
told, reason :data:`LAPSED_REASON`), and hands it again to a session that logs in while it
waits (another device kept it open), which the card here then takes again. Our own offers
left unanswered that way are withdrawn at the next login (the recipient's card ends).

Partial files. A failed or cancelled receive can be discarded (the card's Discard button,
:meth:`TransferController.discard`): its partial file is deleted and the card stays as
``discarded``. When the transfers are loaded at login, the partial files in the download
folder's ``.partial`` that no resumable receive refers to and that were not written for
:data:`PARTIAL_ORPHAN_AGE`, and any not written for :data:`PARTIAL_MAX_AGE`, are deleted.

QtCore only, like the rest of :mod:`messenger.client`.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import itertools
import logging
import mimetypes
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)

from ..protocol import (
    ALREADY_RECEIVED,
    OFFER_EXPIRED,
    OFFER_LAPSED,
    Error,
    ErrorCode,
    Ok,
    TransferAccepted,
    TransferCancelled,
    TransferDeclined,
    TransferOffered,
)
from ..protocol.names import name_key
from ..transfer import (
    ANY_HOST,
    FILE_CHANGED,
    UNREACHABLE,
    FileVersion,
    Offer,
    Settings,
    TransferEngine,
    check_offer,
    file_version,
    format_size,
    format_sizes,
    part_stem,
    remove_part,
    safe_filename,
    same_content,
    send_error_text,
)
from .conversations import EVERYONE, group_key, is_group, peer_key
from .localstore import LocalStore, TransferRecord
from .models import sane_ts

log = logging.getLogger("messenger.client.transfers")

_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

DEFAULT_SIZE_LIMIT = 4 * 1024 ** 3
"""Largest file sent or accepted unless the settings say otherwise (4 GiB)."""

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".3gp",
    ".ogv", ".ts", ".mts"})

HASH_CHUNK = 1 << 20

CONNECT_TIMEOUT = 30.0
"""Seconds an accepted receive waits for the sender's connection before it fails (the
sender's own attempt ends after QUIC's 15 s idle timeout, and its app does not tell us)."""

_FIXABLE = ("not enough disk space", "file too large", "cannot use the download folder")
"""Beginnings of the refusals of an offer that the user can fix (free space, raise the
size limit, mend the folder) and then accept it after all."""

AUTO_REFUSED = "refused automatically: "
"""Before the reason of an offer the app declined by itself (over the size limit, not
enough disk space): the sender reads who decided, and the card here does not say "You
declined it" for something the user never saw."""

LAPSED_REASON = OFFER_LAPSED
"""The reason given to the sender when an offer to us is declined because it lapsed
unanswered (we went offline or the app stopped before the user answered); and the reason of
the sender's own withdrawal of an offer that lapsed when its app quit or lost the server
(the recipient's card: "alice went offline before you answered")."""

AUTO_RESUME_DELAYS: tuple[float, ...] = (2.0, 5.0, 15.0, 30.0, 60.0)
"""Seconds before each automatic resume of a send that failed because the path or the peer's
app went away (``transient``, :func:`~messenger.transfer.protocol.transient_close`; also one
found interrupted after a restart). Counted from the attempt that last moved bytes; after the
last of them the card waits for Resume. Each waits for the recipient to be online."""

SAVE_INTERVAL = 1.0
"""Seconds between two writes of a running transfer's progress to the local store (a change
of state is written at once)."""

PARTIAL_MAX_AGE = 7 * 24 * 3600.0
"""Seconds after its last write when a partial file goes at the next start, even if a failed
receive could still resume from it (:func:`stale_partials`)."""

PARTIAL_ORPHAN_AGE = PARTIAL_MAX_AGE
"""Seconds after its last write when a partial file that no resumable transfer of this
account refers to goes at the next start. As long as :data:`PARTIAL_MAX_AGE`: another account
on this computer (or another copy of the app) may receive into the same download folder, and
its resumable receives are not in this account's store."""


# ------------------------------------------------------------------------------- decisions


class TransferState(enum.StrEnum):
    """Where a transfer is (see the module docstring for the flow)."""

    PREPARING = "preparing"      # send: computing the SHA-256
    OFFERING = "offering"        # send: offer sent, no answer from the server yet
    WAITING = "waiting"          # send: the recipient has not answered yet
    INCOMING = "incoming"        # receive: waiting for the user's Accept / Decline
    CONNECTING = "connecting"    # accepted, no byte moved yet
    ACTIVE = "active"            # bytes are moving
    DONE = "done"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FAILED = "failed"
    DISCARDED = "discarded"      # receive: failed or cancelled, its partial file deleted


FINAL_STATES = frozenset({TransferState.DONE, TransferState.DECLINED, TransferState.CANCELLED,
                          TransferState.FAILED, TransferState.DISCARDED})
"""States a transfer does not leave (except a failed send, by :meth:`resume`)."""

SEND, RECEIVE = "send", "receive"


@dataclass
class Transfer:
    """One transfer as the app shows it.

    Attributes:
        key: this transfer's id in the app (the card's; stays the same across a resume).
        direction: ``"send"`` or ``"receive"``.
        peer: the other user.
        conversation: the conversation key whose card shows it.
        name: the file name (the sender's, untrusted on the receiving side).
        size: bytes.
        sha256: lower-case hex ("" while preparing).
        mime: the MIME type.
        path: send: the source file; receive: where it was saved (once done).
        transfer_id: the server's id ("" until the offer is answered).
        secret: the per-transfer secret from the server.
        resumes: send: the ``transfer_id`` of the attempt a Resume continues (sent with the
            offer, so the recipient continues its card of that attempt).
        state: :class:`TransferState`.
        done: bytes moved so far; rate: bytes per second (smoothed).
        error: why it failed, was declined or was cancelled ("" if not said).
        by_peer: declined, cancelled or failed by the other side.
        accepted: receive: the user accepted this file (a re-offer of it resumes by itself,
            also after a restart: it is kept in the local store).
        created: Unix seconds when it began, on the server's clock as messages' times are
            (a received offer's ``ts``; a send's from :class:`~.serverclock.ServerClock`;
            from the local store for a reloaded one): where its card goes among the
            conversation's messages.
    """

    key: str
    direction: str
    peer: str
    conversation: str
    name: str
    size: int
    sha256: str = ""
    mime: str = ""
    path: str = ""
    transfer_id: str = ""
    secret: bytes = b""
    resumes: str = ""  # send: the transfer_id of the attempt a Resume continues
    state: TransferState = TransferState.PREPARING
    done: int = 0
    rate: float = 0.0
    error: str = ""
    by_peer: bool = False
    accepted: bool = False
    cancel_pending: bool = field(default=False, repr=False)
    created: float = field(default_factory=time.time)
    linked: bool = field(default=False, repr=False)
    """receive: the sender's connection is up and authenticated (the engine reports
    progress for it), even while no byte moved yet (its partial file is still checked)."""
    auto_resume: bool = field(default=False, repr=False)
    """send, failed: it will be offered again by itself (:data:`AUTO_RESUME_DELAYS`)."""
    retry_at: float = field(default=0.0, repr=False)
    """send, failed, :attr:`auto_resume`: when (Unix seconds) it is offered again; 0.0 while
    it waits for the recipient to come online."""
    tries: int = field(default=0, repr=False)
    """send: automatic resumes since bytes last moved."""
    resumed: bool = field(default=False, repr=False)
    """send: offered again (Resume, or by itself) at least once in this session."""
    batch: str = ""
    """send: the key of the one card that shows this file sent to a group's members (each
    member's send is a transfer of its own, under that card); "" for a card of its own."""
    members: tuple[Transfer, ...] = field(default=(), repr=False, compare=False)
    """A batch card's view (:meth:`TransferController.get` of a batch key): its members."""
    version: FileVersion | None = field(default=None, repr=False)
    """send: the version of the file (:func:`~messenger.transfer.protocol.file_version`)
    whose SHA-256 was offered; the send checks the file is still it (None: not hashed in
    this session)."""
    folder: str = ""
    """receive: the download folder it was accepted into, where its partial file is and
    its file goes ("" before the accept: the current one). A later change of the download
    folder in Preferences applies to new files only."""

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None when unknown)."""
        if self.state is not TransferState.ACTIVE or self.rate <= 0:
            return None
        return max(0.0, (self.size - self.done) / self.rate)

    @property
    def saved_name(self) -> str:
        """The name of the file on this computer: a receive's saved file (once done) or
        the name it will be saved under, never the peer's raw name; a send's own file."""
        if self.direction == RECEIVE and self.state is TransferState.DONE and self.path:
            return Path(self.path).name
        return self.display_name

    @property
    def is_video(self) -> bool:
        """A video. A receive's is told by the extension it is saved under only: the MIME
        type is the sender's word (an ``.exe`` offered as ``video/mp4``)."""
        if self.direction == RECEIVE:
            return is_video(self.saved_name)
        return is_video(self.name, self.mime)

    @property
    def is_program(self) -> bool:
        """Opening the file would run something (:func:`runs_as_program` of
        :attr:`saved_name`)."""
        return runs_as_program(self.saved_name)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def display_name(self) -> str:
        """The name to show (see :func:`display_name`)."""
        return display_name(self.name, self.direction)


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                          "\u200e\u200f\u061c")
"""Unicode bidirectional formatting characters (embeddings, overrides, isolates, marks): in a
file name from the network they make ``invoice\u202efdp.exe`` read as ``invoiceexe.pdf``."""


def strip_bidi(text: str) -> str:
    """``text`` without :data:`BIDI_CONTROLS`, for showing text a peer chose (a decline or
    cancel reason); show it as plain text too, never as rich text."""
    return "".join(ch for ch in text if ch not in BIDI_CONTROLS)


def display_name(name: str, direction: str = RECEIVE) -> str:
    """The file name to show on a card: for a receive the name it will be saved under
    (:func:`~messenger.transfer.protocol.safe_filename` of the sender's untrusted ``name``:
    no path, no control or bidi characters), for a send the user's own name; never with
    :data:`BIDI_CONTROLS`. Plain text: show it with ``Qt.TextFormat.PlainText``."""
    return strip_bidi(safe_filename(name) if direction != SEND else name)


def is_video(name: str, mime: str = "") -> bool:
    """A video file: a ``video/*`` MIME type or a video file extension."""
    return mime.startswith("video/") or Path(name).suffix.lower() in VIDEO_EXTENSIONS


PROGRAM_EXTENSIONS = frozenset({
    # Windows: programs, installers, scripts, shortcuts and what runs or changes settings
    # when opened (Microsoft's list of file types blocked in Outlook, the common part).
    ".exe", ".com", ".scr", ".pif", ".cpl", ".msi", ".msp", ".mst", ".msc", ".msix",
    ".msixbundle", ".appx", ".appxbundle", ".appinstaller", ".application", ".appref-ms",
    ".gadget", ".bat", ".cmd", ".ps1", ".ps1xml", ".ps2", ".ps2xml", ".psc1", ".psc2",
    ".psd1", ".psm1", ".vb", ".vbe", ".vbs", ".js", ".jse", ".ws", ".wsc", ".wsf", ".wsh",
    ".hta", ".sct", ".shb", ".shs", ".chm", ".hlp", ".lnk", ".url", ".scf", ".reg", ".inf",
    ".library-ms", ".settingcontent-ms", ".search-ms", ".searchconnector-ms", ".diagcab",
    ".xbap", ".xll", ".jar", ".jnlp",
    # Linux and other Unix: shell and other scripts, self-running images, launchers,
    # packages.
    ".sh", ".bash", ".zsh", ".csh", ".ksh", ".fish", ".run", ".appimage", ".desktop",
    ".py", ".pyw", ".pyz", ".pl", ".rb", ".deb", ".rpm", ".flatpakref", ".snap",
    # macOS: Terminal commands, installers, AppleScript and Automator.
    ".command", ".tool", ".pkg", ".mpkg", ".app", ".scpt", ".applescript", ".workflow",
    ".action", ".terminal",
})
"""File extensions (lower case) that make the desktop run a program, a script or an
installer, or follow a shortcut, when it "opens" the file: :func:`runs_as_program`."""


def runs_as_program(name: str) -> bool:
    """True when opening the file ``name`` with the desktop may run something (its last
    extension, in any case, is in :data:`PROGRAM_EXTENSIONS`; trailing dots and spaces,
    which Windows drops, are ignored): ``invoice.pdf.exe`` is one, ``invoice.exe.pdf`` is
    not. The app asks before it opens such a received file."""
    stem = strip_bidi(name).rstrip(". ")
    return Path(stem).suffix.lower() in PROGRAM_EXTENSIONS


def guess_mime(name: str) -> str:
    mime, _ = mimetypes.guess_type(name, strict=False)
    return mime or "application/octet-stream"


def format_duration(seconds: float) -> str:
    """``"4 s"``, ``"2 min 5 s"``, ``"1 h 3 min"``."""
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


_BATCH_WORDS = ((TransferState.ACTIVE, "sending"), (TransferState.CONNECTING, "connecting"),
                (TransferState.WAITING, "waiting to accept"),
                (TransferState.OFFERING, "being offered"), (TransferState.PREPARING, "preparing"),
                (TransferState.FAILED, "failed"), (TransferState.DECLINED, "declined"),
                (TransferState.CANCELLED, "cancelled"))


def batch_status_text(t: Transfer) -> str:
    """The status line of a file sent to a group's members (``t.members``): "Sent to 2 of 5
    · 1 sending · 1 waiting to accept · 1 declined"; "Sent to all 5"."""
    n = len(t.members)
    done = sum(m.state is TransferState.DONE for m in t.members)
    if done == n:
        return f"Sent to all {n}" if n > 1 else f"Sent to {t.members[0].peer}"
    parts = [f"Sent to {done} of {n}"]
    for state, word in _BATCH_WORDS:
        if state is TransferState.FAILED:
            paused = sum(m.state is state and m.auto_resume for m in t.members)
            if paused:
                parts.append(f"{paused} interrupted (resuming by itself)")
            count = sum(m.state is state and not m.auto_resume for m in t.members)
        else:
            count = sum(m.state is state for m in t.members)
        if count:
            parts.append(f"{count} {word}")
    return " · ".join(parts)


def status_text(t: Transfer) -> str:
    """One line saying where ``t`` is, for a card or the Transfers panel. Plain text: a
    decline or cancel reason comes from the peer (bidi controls removed, :func:`strip_bidi`)."""
    if t.members:
        return batch_status_text(t)
    error = strip_bidi(t.error)
    to_from = f"to {t.peer}" if t.direction == SEND else f"from {t.peer}"
    st = t.state
    if st is TransferState.PREPARING:
        return "Preparing… (checking the file)"
    if st is TransferState.OFFERING:
        return f"Offering {to_from}…"
    if st is TransferState.WAITING:
        return f"Waiting for {t.peer} to accept"
    if st is TransferState.INCOMING:
        if t.error and not t.error.startswith(AUTO_REFUSED):
            return f"Cannot accept it yet: {t.error}"
        return f"{t.peer} wants to send you this file"
    if st is TransferState.CONNECTING:
        return "Connecting…" + (f" (resuming at {format_size(t.done)})" if t.done else "")
    if st is TransferState.ACTIVE:
        text = f"{format_size(t.done)} of {format_size(t.size)}"
        if t.rate > 0:
            text += f" · {format_size(t.rate)}/s"
        eta = t.eta
        if eta is not None:
            text += f" · {format_duration(eta)} left"
        return text
    if st is TransferState.DONE:
        return f"Sent to {t.peer}" if t.direction == SEND else \
            f"Saved as {Path(t.path).name}"
    if st is TransferState.DECLINED:
        if error == OFFER_EXPIRED and t.by_peer:
            return (f"Not answered within a day: the offer expired. Send it again when "
                    f"{t.peer} is around.")
        if error == LAPSED_REASON and t.by_peer:
            return (f"Not delivered: {t.peer} went offline or quit before answering. Send it "
                    f"again when {t.peer} is online.")
        if error.startswith(AUTO_REFUSED):
            reason = error[len(AUTO_REFUSED):]
            return f"{t.peer}'s app refused it: {reason}" if t.by_peer else \
                f"Refused automatically: {reason} (see Preferences)"
        who = t.peer if t.by_peer else "You"
        return f"{who} declined it" + (f": {error}" if error else "")
    if st is TransferState.CANCELLED:
        if error == OFFER_EXPIRED and t.by_peer:
            return f"The offer expired (not answered within a day); {t.peer} can send it again."
        if error == LAPSED_REASON and t.by_peer:
            # Only the sender's app withdraws an offer with this reason (its own, that
            # lapsed when it quit or lost the server); offers to someone offline lapse at
            # the server, which tells only the sender. The recipient was online: it read
            # "you were offline when alice offered it" (a hunt).
            if t.direction == SEND:
                return f"Withdrawn: {t.peer} went offline or quit before it was sent."
            return (f"Withdrawn: {t.peer} went offline before you answered; {t.peer} can "
                    "send it again.")
        if not t.by_peer and error.endswith(" on another device"):
            return error[:1].upper() + error[1:]  # "Accepted on another device"
        who = f"Cancelled by {t.peer}" if t.by_peer else "Cancelled"
        return who + (f": {error}" if error else "")
    if st is TransferState.DISCARDED:
        return "Discarded (the partly received file was deleted)"
    if t.auto_resume:  # (a pause: what cut it, without "it can resume", and when it goes on)
        reason = error.split(";")[0].strip() or "interrupted"
        text = reason[:1].upper() + reason[1:] if reason.startswith("interrupted") else \
            f"Interrupted: {reason}"
        return text + (
            f" · trying again at {time.strftime('%H:%M:%S', time.localtime(t.retry_at))}"
            if t.retry_at else f" · resumes when {t.peer} is online")
    return f"Failed: {error or 'unknown error'}"


def _not_utf8_part(path: Path) -> str | None:
    """The first name on the full path of ``path`` (links followed, as a send keeps it)
    that is not UTF-8 text, shown with "\ufffd" for its odd bytes; None when there is none."""
    try:
        full = path.resolve()
    except (OSError, RuntimeError):  # (a loop of links: the checks after this say so)
        full = path.absolute()
    for part in full.parts:
        try:
            part.encode("utf-8")
        except UnicodeEncodeError:
            return part.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return None


def send_refusal(path: Path, size_limit: int) -> str | None:
    """Why the file at ``path`` cannot be offered (None when it can)."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:  # (bytes kept as surrogates: os.fsdecode)
        shown = path.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return (f"“{shown}” cannot be sent: its name is not UTF-8 text (a file named in an "
                "older encoding, such as from an old archive). Rename it, then send it.")
    bad = _not_utf8_part(path)
    if bad is not None:
        # Its path is kept in the local store (UTF-8 text): the save raised, and the card
        # said "Preparing…" for ever, its file never hashed (a hunt).
        return (f"“{path.name}” cannot be sent: the name of a folder on its path (or of the "
                f"file it links to), “{bad}”, is not UTF-8 text (named in an older encoding, "
                "such as from an old archive). Rename it or move the file, then send it.")
    if path.is_dir():
        return f"“{path.name}” is a folder: only files can be sent (zip the folder first)."
    if not path.exists():
        return f"“{path.name}” does not exist any more."
    if not path.is_file():
        return f"“{path.name}” is not a regular file."
    if not os.access(path, os.R_OK):
        return f"“{path.name}” cannot be read (no permission)."
    size = path.stat().st_size
    if size > size_limit:
        shown, limit = format_sizes(size, size_limit)
        return f"“{path.name}” is {shown}, over the limit of {limit} for files."
    return None


def stale_partials(folder: Path, keep: Iterable[Path], now: float, *,
                   max_age: float = PARTIAL_MAX_AGE,
                   orphan_age: float = PARTIAL_ORPHAN_AGE) -> list[Path]:
    """The ``*.part`` files in ``folder`` (a download folder's ``.partial``) to delete: those
    not written for ``max_age`` seconds, and those not in ``keep`` (the partial files that
    resumable transfers refer to) not written for ``orphan_age`` seconds. ``now`` is Unix
    seconds (compared with the files' modification times). A missing folder gives ``[]``;
    a file that cannot be looked at is left alone."""
    kept = {Path(p) for p in keep}
    out: list[Path] = []
    try:
        entries = list(Path(folder).glob("*.part"))
    except OSError:
        return out
    for path in sorted(entries):
        try:
            if not path.is_file():
                continue
            age = now - path.stat().st_mtime
        except OSError:
            continue
        if age > max_age or (path not in kept and age > orphan_age):
            out.append(path)
    return out


def _unwritable(folder: Path) -> str | None:
    """Why no file can be made in ``folder`` (a temporary one is created and deleted), or
    None; None too when ``folder`` does not exist (made when needed, in a folder checked
    alike)."""
    if not folder.is_dir():
        return None
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".write-check-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return f"it cannot be written ({exc.strerror or exc})"
    return None


def _unspecified(host: str) -> bool:
    """True for an address a peer cannot be at: not an IP address, ``0.0.0.0``/``::``, a
    multicast or the broadcast address (a hostile receiver could aim the sender's
    handshake packets at a whole network)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True  # not an IP address: not usable by the transfer engine
    return ip.is_unspecified or ip.is_multicast or host == "255.255.255.255"


def _ip_version(host: str) -> int:
    """4 or 6 for an IP address (an IPv4-mapped IPv6 address is IPv4)."""
    ip = ipaddress.ip_address(host)
    return 6 if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None else 4


def pick_endpoint(endpoints: Iterable[tuple[str, int]],
                  families: Iterable[int] = (4, 6)) -> tuple[str, int] | None:
    """The endpoint to send to, from the server's list: what the peer reported, then, when
    different, the address the server saw (``0.0.0.0`` / ``::`` skipped). Only addresses of
    the IP versions in ``families`` (what our socket reaches) count while there is one.

    Normally the last: the server's view (the peer may report an address of another
    interface). But when the peer reported a private LAN address (RFC 1918 and the like)
    and the server saw a public one, the server is outside the peers' LAN and saw their
    router's public side, which a peer on the same LAN rarely reaches (no hairpin NAT):
    then the reported address."""
    usable = [(h, p) for h, p in endpoints if not _unspecified(h) and 0 < p < 65536]
    if not usable:
        return None
    families = set(families)
    reachable = [(h, p) for h, p in usable if _ip_version(h) in families]
    usable = reachable or usable  # (none: the engine says which version it lacks)
    if len(usable) >= 2:
        reported = ipaddress.ip_address(usable[0][0])
        seen = ipaddress.ip_address(usable[-1][0])
        if reported.is_private and not reported.is_loopback and seen.is_global:
            return usable[0]
    return usable[-1]


def default_download_dir() -> Path:
    """``<MESSENGER_HOME>/data/downloads`` when ``MESSENGER_HOME`` is set (tests, portable
    installs), else the user's Downloads folder + ``/Messenger``."""
    from .. import paths

    if os.environ.get("MESSENGER_HOME"):
        return paths.data_dir() / "downloads"
    import platformdirs

    return Path(platformdirs.user_downloads_dir()) / "Messenger"


@dataclass
class TransferPrefs:
    """Transfer settings: the largest file sent or accepted (bytes), the contacts whose offers
    are accepted without asking, and the download folder."""

    size_limit: int = DEFAULT_SIZE_LIMIT
    auto_accept: frozenset[str] = frozenset()
    download_dir: Path = field(default_factory=default_download_dir)

    def auto_accepts(self, user: str) -> bool:
        return name_key(user) in {name_key(u) for u in self.auto_accept}


# ----------------------------------------------------------------------------------- model


class TransferModel(QAbstractListModel):
    """Every transfer of this session and those reloaded from the local store, oldest first.

    Roles: ``Qt.DisplayRole`` → str (:attr:`Transfer.display_name`), :attr:`NameRole` → str
    (the sender's name as offered), :attr:`IdRole` → str (the app's key),
    :attr:`DirectionRole` → "send"/"receive", :attr:`PeerRole` → str, :attr:`SizeRole`,
    :attr:`DoneRole`, :attr:`TotalRole` → int (bytes), :attr:`RateRole` → float (bytes/s),
    :attr:`EtaRole` → float seconds or None, :attr:`StateRole` → :class:`TransferState`,
    :attr:`PathRole` → str, :attr:`IsVideoRole` → bool, :attr:`ErrorRole` → str,
    :attr:`StatusRole` → str (:func:`status_text`), :attr:`ConversationRole` → str,
    :attr:`MimeRole` → str, ``Qt.ToolTipRole``/``Qt.AccessibleTextRole`` → str.
    """

    IdRole = Qt.ItemDataRole.UserRole + 1
    DirectionRole = Qt.ItemDataRole.UserRole + 2
    PeerRole = Qt.ItemDataRole.UserRole + 3
    NameRole = Qt.ItemDataRole.UserRole + 4
    SizeRole = Qt.ItemDataRole.UserRole + 5
    DoneRole = Qt.ItemDataRole.UserRole + 6
    TotalRole = Qt.ItemDataRole.UserRole + 7
    RateRole = Qt.ItemDataRole.UserRole + 8
    EtaRole = Qt.ItemDataRole.UserRole + 9
    StateRole = Qt.ItemDataRole.UserRole + 10
    PathRole = Qt.ItemDataRole.UserRole + 11
    IsVideoRole = Qt.ItemDataRole.UserRole + 12
    ErrorRole = Qt.ItemDataRole.UserRole + 13
    StatusRole = Qt.ItemDataRole.UserRole + 14
    ConversationRole = Qt.ItemDataRole.UserRole + 15
    MimeRole = Qt.ItemDataRole.UserRole + 16

    _NAMES = ((IdRole, b"id"), (DirectionRole, b"direction"), (PeerRole, b"peer"),
              (NameRole, b"name"), (SizeRole, b"size"), (DoneRole, b"done"),
              (TotalRole, b"total"), (RateRole, b"rate"), (EtaRole, b"eta"),
              (StateRole, b"state"), (PathRole, b"path"), (IsVideoRole, b"isVideo"),
              (ErrorRole, b"error"), (StatusRole, b"status"),
              (ConversationRole, b"conversation"), (MimeRole, b"mime"))

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Transfer] = []

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        t = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return t.display_name  # (shown: never the peer's bidi controls)
        if role == self.NameRole:
            return t.name
        values = {
            self.IdRole: lambda: t.key, self.DirectionRole: lambda: t.direction,
            self.PeerRole: lambda: t.peer, self.SizeRole: lambda: t.size,
            self.DoneRole: lambda: t.done, self.TotalRole: lambda: t.size,
            self.RateRole: lambda: t.rate, self.EtaRole: lambda: t.eta,
            self.StateRole: lambda: t.state, self.PathRole: lambda: t.path,
            self.IsVideoRole: lambda: t.is_video, self.ErrorRole: lambda: t.error,
            self.StatusRole: lambda: status_text(t),
            self.ConversationRole: lambda: t.conversation, self.MimeRole: lambda: t.mime,
        }
        getter = values.get(role)
        if getter is not None:
            return getter()
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            arrow = "to" if t.direction == SEND else "from"
            return (f"{t.display_name} ({format_size(t.size)}) {arrow} {t.peer}: "
                    f"{status_text(t)}")
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role, name in self._NAMES:
            names[role] = QByteArray(name)
        return names

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren

    # -- queries

    def row_of(self, key: str) -> int | None:
        for row, t in enumerate(self._rows):
            if t.key == key:
                return row
        return None

    def get(self, key: str) -> Transfer | None:
        """A copy of transfer ``key`` (None if unknown)."""
        row = self.row_of(key)
        return None if row is None else replace(self._rows[row])

    def transfers(self) -> list[Transfer]:
        return [replace(t) for t in self._rows]

    # -- changes (the controller's)

    def add(self, transfer: Transfer) -> None:
        row = len(self._rows)
        self.beginInsertRows(_ROOT, row, row)
        self._rows.append(transfer)
        self.endInsertRows()

    def changed(self, key: str) -> None:
        row = self.row_of(key)
        if row is not None:
            idx = self.index(row, 0)
            self.dataChanged.emit(idx, idx, [])


# ------------------------------------------------------------------------------ controller



def _refused_text(count: int, refused: list[str], *, some: bool = False) -> str:
    """Why the files of a drop of ``count`` that are ``refused`` (:func:`send_refusal`'s
    reasons) cannot be sent, at most three said: ``some`` when others of it can go."""
    if not refused:
        return ""
    if some or len(refused) <= 3:
        return " ".join(refused[:3]) + (" …" if len(refused) > 3 else "")
    return f"None of the {count} files can be sent. {' '.join(refused[:3])} …"


DRAG_CHECK_MAX = 50
"""Files dragged over a conversation at most checked (:meth:`TransferController.sendable`)."""

HASH_TRIES = 3
"""Times a file that changes while it is hashed is read again before its send fails."""


def _version(path: str, st: os.stat_result) -> tuple[str, int, int, int, int]:
    """What identifies one version of the file at ``path`` for the hash cache (the path and
    :func:`~messenger.transfer.protocol.file_version`)."""
    return (path, *file_version(st))

class TransferController(QObject):
    """Sends and receives files for one :class:`~messenger.client.engine.ClientEngine`.

    Args:
        engine: the logged-in client engine (signalling goes through it).
        prefs: :class:`TransferPrefs` (size limit, auto-accept, download folder).
        host: the UDP address to bind (``"::"``: every IPv4 and IPv6 address by default,
            IPv4 only where the system has no IPv6; see ``TransferEngine``).
        threaded: run the transfer engine in its own thread (default).
        settings: the transfer engine's tunables (e.g. a shorter idle timeout in tests).
        route: maps the peer's ``(host, port)`` to where datagrams are sent (tests put a
            lossy relay in between); the identity by default.
        auto_resume_delays: seconds before each automatic resume of a send that failed
            because the path or the recipient's app went away (:data:`AUTO_RESUME_DELAYS`;
            empty: only Resume resumes). A failed send waiting for one shows Cancel.

    Attributes:
        model: the :class:`TransferModel`.
        prefs: the current :class:`TransferPrefs` (may be replaced at any time).
        connect_timeout: seconds an accepted receive waits for the sender to connect
            (:data:`CONNECT_TIMEOUT`); then it fails, keeping its partial file.

    Signals:
        transfer_added(str): a transfer (its key) was added to :attr:`model`.
        transfer_changed(str): its state or progress changed.
        transfer_finished(str, str): ``(key, state)`` reached a final state (a cancelled
            transfer may still end "done": a cancel can overtake the report that the file was
            complete).
        transfers_loaded(int): that many transfers were reloaded from the local store (no
            ``transfer_added`` for them: they are not new).
    """

    transfer_added = Signal(str)
    transfer_changed = Signal(str)
    transfer_finished = Signal(str, str)
    transfers_loaded = Signal(int)
    # (file, sha256, error, version, the job's stop event), from a thread
    _hashed = Signal(str, str, str, object, object)

    def __init__(self, engine: Any, prefs: TransferPrefs | None = None, *,
                 host: str = ANY_HOST, threaded: bool = True,
                 settings: Settings | None = None,
                 route: Callable[[str, int], tuple[str, int]] | None = None,
                 auto_resume_delays: tuple[float, ...] = AUTO_RESUME_DELAYS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = engine
        self.prefs = prefs or TransferPrefs()
        self.model = TransferModel(self)
        self.route = route or (lambda h, p: (h, p))
        self.connect_timeout = CONNECT_TIMEOUT
        self._host = host
        self._threaded = threaded
        self._settings = settings
        self._engine: TransferEngine | None = None
        self._store: LocalStore | None = None
        self._saved: dict[str, tuple[TransferState, str, float]] = {}  # key → last written
        self._closed = False
        self._items: dict[str, Transfer] = {}
        self._batches: dict[str, list[str]] = {}  # batch card key → its members' keys
        self._by_id: dict[str, str] = {}  # server transfer id → key
        self._requests: dict[int, tuple[str, str]] = {}  # request id → (op, key)
        # Our own offers that lapsed unanswered the same ways: cancelled at the next login,
        # so the recipient's card does not offer a file nobody will send.
        self._lapsed_sends: dict[str, str] = {}
        # SHA-256 per file version: (path, size, mtime, ctime, inode). The ctime too, which
        # no tool can set back: an in-place edit that keeps size and mtime (cp -p, rsync -t,
        # exiftool -P) is a new version.
        self._hashes: dict[tuple[str, int, int, int, int], str] = {}
        self._hashing: dict[str, list[str]] = {}  # file → keys waiting for its hash
        # file → the stop event of the pool job hashing it (set: nobody waits any more)
        self._hash_jobs: dict[str, threading.Event] = {}
        self._counter = itertools.count(1)
        self.auto_resume_delays = tuple(auto_resume_delays)
        """Seconds before each automatic resume (empty: never by itself)."""
        self._resume_timers: dict[str, QTimer] = {}  # key → the timer of its next resume
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._hashed.connect(self._on_hashed)
        engine.transfer_offered.connect(self._on_offered)
        engine.transfer_accepted.connect(self._on_accepted)
        engine.transfer_declined.connect(self._on_declined)
        engine.transfer_cancelled.connect(self._on_cancelled_by_peer)
        engine.transfer_answered.connect(self._on_answer)
        engine.connection_failed.connect(self._on_disconnected)
        engine.login_succeeded.connect(self._load)
        engine.login_succeeded.connect(self._decline_lapsed)
        engine.login_succeeded.connect(self._resume_waiting)
        engine.presence_changed.connect(self._on_presence)
        if engine.logged_in:
            self._load()
            self._decline_lapsed()
            self._resume_waiting()
        for ev in engine.take_early_transfer_events():  # (what the login brought)
            if isinstance(ev, TransferOffered):
                self._on_offered(ev)
            else:
                self._on_cancelled_by_peer(ev)

    # ------------------------------------------------------------------ queries

    def get(self, key: str) -> Transfer | None:
        """A copy of transfer ``key``; for a batch card's key (a file sent to a group's
        members), a view of the whole: its members (copies) in ``members``, the state that
        sums them up, their mean progress."""
        t = self._items.get(key)
        if t is not None:
            return replace(t)
        keys = self._batches.get(key)
        return None if not keys else self._batch_view(key, keys)

    def card_key(self, key: str) -> str:
        """The key of the card that shows transfer ``key``: its batch's, or its own."""
        t = self._items.get(key)
        return t.batch if t is not None and t.batch else key

    def _batch_view(self, batch: str, keys: list[str]) -> Transfer:
        members = tuple(replace(self._items[k]) for k in keys)
        states = {m.state for m in members}
        running = [st for st in (TransferState.ACTIVE, TransferState.CONNECTING,
                                 TransferState.WAITING, TransferState.OFFERING,
                                 TransferState.PREPARING) if st in states]
        state = running[0] if running else \
            TransferState.DONE if states == {TransferState.DONE} else \
            TransferState.FAILED if TransferState.FAILED in states else \
            TransferState.CANCELLED if TransferState.CANCELLED in states else \
            TransferState.DECLINED if TransferState.DECLINED in states else \
            TransferState.DONE
        first = members[0]
        fraction = sum((m.size if m.state is TransferState.DONE else m.done) / m.size
                       if m.size else float(m.state is TransferState.DONE)
                       for m in members) / len(members)
        names = [m.peer for m in members]
        peer = ", ".join(names) if len(names) <= 3 else f"{len(names)} people"
        return replace(first, key=batch, peer=peer, state=state,
                       done=int(fraction * first.size), rate=sum(m.rate for m in members),
                       error="", by_peer=False,
                       auto_resume=any(m.auto_resume and m.state is TransferState.FAILED
                                       for m in members),
                       members=members)

    def key_of(self, transfer_id: str) -> str | None:
        """The app's key of the server's ``transfer_id``."""
        return self._by_id.get(transfer_id)

    @property
    def download_dir(self) -> Path:
        return Path(self.prefs.download_dir)

    @property
    def transfer_engine(self) -> TransferEngine | None:
        """The transfer engine once started (None before the first transfer)."""
        return self._engine

    def recipients(self, conversation: str) -> tuple[list[str], str | None]:
        """Who a file dropped on ``conversation`` goes to (online people only), or why
        nobody: ``(names, reason)``."""
        client = self.client
        if not client.logged_in:
            return [], "Not connected to the server: files can only be sent while online."
        if conversation == EVERYONE:
            return [], "Files go to a person or a group, not to everyone: open a person's " \
                       "or a group's tab."
        title = client.conversation(conversation).title
        if is_group(conversation):
            row = client.groups.group(title)
            if row is None or not row.member:
                return [], f"You are not a member of {title}."
            me = name_key(client.user)
            others = [m for m in row.members if name_key(m) != me]
            online = [m for m in others if self._online(m)]
            if not online:
                return [], f"Nobody else in {title} is online: both sides must be online " \
                           "to send a file."
            return online, None
        if not self._online(title):
            return [], f"{title} is offline: files go straight to the other computer, so " \
                       "both of you must be online."
        return [client.canonical_user(title)], None

    def _online(self, user: str) -> bool:
        contact = self.client.roster.contact(user)
        return contact is not None and contact.online

    # ------------------------------------------------------------------ sending

    def send_files(self, conversation: str, paths: Iterable[str | os.PathLike]) -> str | None:
        """Offer the files at ``paths`` in ``conversation`` (a person's or a group's tab: every
        online member). Returns None when all went (the cards show the rest), else what was
        not sent and why: those that can go are sent all the same (the text then begins
        with how many are)."""
        files = [Path(p) for p in paths]
        if not files:
            return "Only files from this computer can be sent."
        sendable, refused = self._sort(files)
        if not sendable:
            return _refused_text(len(files), refused)
        people, reason = self.recipients(conversation)
        if reason is not None:
            return reason
        if refused:
            # One folder among five files stopped them all, and said only why the folder
            # could not go (a hunt): the others go, and the note says which did not.
            log.info("sending %d of %d dropped files", len(sendable), len(files))
        for path in sendable:
            # A group's file is one card there, whatever the number of members it goes to.
            batch = f"batch-{next(self._counter)}-{os.urandom(4).hex()}" \
                if is_group(conversation) else ""
            for person in people:
                self._new_send(conversation, person, path, batch)
        if refused:
            sent = f"{len(sendable)} of the {len(files)} files are being sent; the rest not:"
            return f"{sent} {_refused_text(len(files), refused, some=True)}"
        return None

    def _sort(self, files: list[Path]) -> tuple[list[Path], list[str]]:
        """The ``files`` that can be sent, and why each of the others cannot."""
        refusals = [(path, send_refusal(path, self.prefs.size_limit)) for path in files]
        return ([path for path, reason in refusals if reason is None],
                [reason for _path, reason in refusals if reason is not None])

    def sendable(self, paths: Iterable[str | os.PathLike]) -> tuple[int, str]:
        """While ``paths`` are dragged over a conversation: how many of them a drop would
        send, and why the others would not be (as :meth:`send_files` says it; "" when all
        would go). Dragged, a folder or /dev/zero was "Drop to send the file to bob", and
        only the drop said it could not be (a hunt). More than :data:`DRAG_CHECK_MAX` paths
        are not looked at (each move of the pointer asks again): all count."""
        files = [Path(p) for p in paths]
        if len(files) > DRAG_CHECK_MAX:
            return len(files), ""
        sendable, refused = self._sort(files)
        return len(sendable), _refused_text(len(files), refused, some=bool(sendable))

    def send_file(self, conversation: str, path: str | os.PathLike) -> str | None:
        """:meth:`send_files` with one file."""
        return self.send_files(conversation, [path])

    def _new_send(self, conversation: str, peer: str, path: Path,
                  batch: str = "") -> Transfer:
        key = f"send-{next(self._counter)}-{os.urandom(4).hex()}"
        t = Transfer(key, SEND, peer, conversation, path.name, path.stat().st_size,
                     mime=guess_mime(path.name), path=str(path.resolve()), batch=batch,
                     created=self.client.server_clock.now())
        self._add(t)
        self._prepare(t)
        return t

    def _prepare(self, t: Transfer) -> None:
        """Hash ``t.path`` (cached per file version) off the GUI thread, then offer."""
        path = Path(t.path)
        try:
            st = path.stat()
        except OSError as exc:
            self._set(t, TransferState.FAILED,
                      error=f"cannot read the file: {exc.strerror or exc}")
            return
        t.size = st.st_size
        cached = self._hashes.get(_version(t.path, st))
        self._set(t, TransferState.PREPARING, error="")
        if cached is not None:
            t.sha256, t.version = cached, file_version(st)
            self._offer(t)
            return
        waiting = self._hashing.setdefault(t.path, [])
        waiting.append(t.key)
        if len(waiting) == 1:
            stop = self._hash_jobs[t.path] = threading.Event()
            self._pool.start(lambda p=t.path, s=stop: self._hash(p, s))

    def _hash(self, file: str, stop: threading.Event) -> None:
        """Runs in a pool thread. A file saved again while it is read (same size: an editor
        saving it) is read again, up to :data:`HASH_TRIES` times: its hash, of old and new
        bytes mixed, was cached as the new version's, and every send of it then arrived
        "damaged", until the app restarted (a hunt). It stops, saying nothing, once ``stop``
        is set (:meth:`_stop_hashing`: every send waiting for it was cancelled)."""
        error = ""
        for _ in range(HASH_TRIES):
            h = hashlib.sha256()
            try:
                with open(file, "rb") as f:
                    before = _version(file, os.fstat(f.fileno()))
                    while chunk := f.read(HASH_CHUNK):
                        if self._closed or stop.is_set():
                            return
                        h.update(chunk)
                after = _version(file, os.stat(file))
            except OSError as exc:
                self._hashed.emit(file, "", exc.strerror or str(exc), None, stop)
                return
            if before == after:
                self._hashed.emit(file, h.hexdigest(), "", after, stop)
                return
            error = "the file kept changing while it was read; send it once it is saved"
        self._hashed.emit(file, "", error, None, stop)

    def _stop_hashing(self, file: str) -> None:
        """Stop reading ``file`` for its hash when no send waits for it any more (each
        cancelled while it said "Preparing…"): two big files cancelled there were read to
        the end, holding both hashing threads, and the next file dropped waited behind them
        (a hunt)."""
        keys = self._hashing.get(file, [])
        if any((t := self._items.get(k)) is not None and t.state is TransferState.PREPARING
               for k in keys):
            return
        self._hashing.pop(file, None)
        stop = self._hash_jobs.pop(file, None)
        if stop is not None:
            stop.set()

    def _on_hashed(self, file: str, sha256: str, error: str, version: object,
                   stop: object = None) -> None:
        if sha256 and version is not None and not self._closed:
            self._hashes[version] = sha256  # type: ignore[index]
        if stop is not None and self._hash_jobs.get(file) is not stop:
            return  # (a job given up on: a later one hashes the file for who waits now)
        self._hash_jobs.pop(file, None)
        keys = self._hashing.pop(file, [])
        if self._closed:
            return
        for key in keys:
            t = self._items.get(key)
            if t is None or t.state is not TransferState.PREPARING:
                continue
            if not sha256:
                self._set(t, TransferState.FAILED, error=f"cannot read the file: {error}")
                continue
            t.sha256 = sha256
            t.version = tuple(version[1:]) if version is not None else None  # type: ignore[index]
            if t.version is not None:
                # The size of what was hashed: a file still being written when it was
                # dropped was offered at its size then with the hash of the longer file,
                # and failed once accepted ("the file changed since it was offered"; a hunt).
                t.size = t.version[0]
            self._offer(t)

    def _offer(self, t: Transfer) -> None:
        try:
            eng = self._started()
        except OSError as exc:
            self._set(t, TransferState.FAILED, error=str(exc))
            return
        group = self.client.conversation(t.conversation).title \
            if is_group(t.conversation) else ""
        rid = self.client.offer_transfer(t.peer, t.name, t.size, t.sha256, t.mime,
                                         self._report_host(), eng.port, t.resumes, group)
        if not rid:
            if t.resumed and self.auto_resume_delays:
                # A resume (its file hashed meanwhile) while the link is down: it goes when
                # the app is logged in again and the recipient is online.
                t.auto_resume, t.retry_at = True, 0.0
            self._set(t, TransferState.FAILED, error="not connected to the server")
            return
        self._requests[rid] = ("offer", t.key)
        self._set(t, TransferState.OFFERING)

    def can_resume(self, key: str) -> bool:
        """Whether :meth:`resume` can offer transfer ``key`` again: a failed send whose file
        is still there with the same size (a batch card: one of its members)."""
        if key in self._batches:
            return any(self.can_resume(k) for k in self._batches[key])
        t = self._items.get(key)
        if t is None or t.direction != SEND or t.state is not TransferState.FAILED:
            return False
        return source_gone(t) is None

    def resume(self, key: str) -> bool:
        """Offer a failed send again (same file, same card, also after an app restart); the
        recipient's partial file continues where it stopped. False when :meth:`can_resume`
        says no."""
        if key in self._batches:
            return [self.resume(k) for k in self._batches[key]].count(True) > 0
        t = self._items.get(key)
        if t is None or not self.can_resume(key):
            if t is not None:
                self._source_went(t)
            return False
        self._stop_auto_resume(t)
        t.tries = 0  # (an automatic resume sets its count afterwards)
        t.resumed = True
        if t.transfer_id:
            self._by_id.pop(t.transfer_id, None)
            t.resumes = t.transfer_id  # the recipient's card of it continues
        t.transfer_id, t.secret, t.rate, t.by_peer = "", b"", 0.0, False
        self._prepare(t)
        return True

    def _source_went(self, t: Transfer) -> None:
        """A failed send that cannot be resumed because its file moved, went or changed
        (:func:`source_gone`): it stops resuming by itself and its card says why, without
        Resume. A Resume clicked on a card drawn while the file was there did nothing at
        all, the button staying (a hunt)."""
        if t.direction != SEND or t.state is not TransferState.FAILED:
            return
        gone = source_gone(t)
        if gone is None or t.error.endswith(gone):
            return
        self._stop_auto_resume(t)
        self._set(t, TransferState.FAILED,
                  error=f"{t.error.split(';')[0].strip() or 'interrupted'}, and {gone}")

    def _on_accepted(self, ev: TransferAccepted) -> None:
        t = self._by_transfer_id(ev.transfer_id)
        if t is None or t.direction != SEND or t.final:
            return
        if t.state in (TransferState.CONNECTING, TransferState.ACTIVE):
            # Accepted again (another of the recipient's devices, through a server that let
            # it): the first accept is being served; a second send would only fail.
            log.info("transfer %s: accepted again by %s while %s; ignored", t.key, ev.user,
                     t.state.value)
            return
        try:
            families = self._started().families
        except OSError as exc:
            self._fail_and_cancel(t, send_error_text(exc))
            return
        target = pick_endpoint(((e.host, e.port) for e in ev.endpoints), families)
        if target is None:
            self._fail_and_cancel(t, f"{t.peer}'s app sent no usable address")
            return
        if t.version is not None:
            # Edited since it was hashed (same size: an in-place write): all of it crossed
            # the network and the recipient's check then blamed the network, "arrived
            # damaged" (a hunt). Said at once, to both; the engine checks the opened file too.
            # Its content only (same_content): a chmod or a rename since the offer moved
            # its change time, and failed a file that was the same (a hunt).
            try:
                now = file_version(os.stat(t.path))
            except OSError:
                now = None  # (gone: the engine says so)
            if now is not None and not same_content(t.version, now):
                self._fail_and_cancel(t, FILE_CHANGED)
                return
        host, port = self.route(*target)
        try:
            self._started().send(t.transfer_id, t.path, host, port, ev.fingerprint, t.secret,
                                 t.sha256, t.version)
        except (OSError, ValueError) as exc:
            self._fail_and_cancel(t, send_error_text(exc))
            return
        t.done = min(max(ev.offset, 0), t.size)  # (a server's word: the engine checks too)
        self._set(t, TransferState.CONNECTING)

    def _on_declined(self, ev: TransferDeclined) -> None:
        t = self._by_transfer_id(ev.transfer_id)
        if t is not None and not t.final and ev.reason == LAPSED_REASON and t.resumed and \
                self.auto_resume_delays:
            # A resume its recipient went offline without answering (a laptop that slept
            # with it on its way; the server says so when their last session ends): it
            # goes again when they are back.
            t.auto_resume, t.retry_at = True, 0.0
            self._set(t, TransferState.FAILED, error=f"{t.peer} went offline")
        elif t is not None and not t.final and ev.reason == ALREADY_RECEIVED and t.resumed:
            # The recipient's app has this very file, verified (our attempt that delivered
            # it lost its final Done): it was sent. It resumed by itself and the recipient
            # was offered the file again, a second copy when accepted without asking (a hunt).
            self._stop_auto_resume(t)
            t.done = t.size
            self._set(t, TransferState.DONE, error="")
        elif t is not None and not t.final:
            t.by_peer = True
            self._set(t, TransferState.DECLINED, error=ev.reason)

    # ------------------------------------------------------------------ receiving

    def _on_offered(self, ev: TransferOffered) -> None:
        if self.client.user and name_key(ev.sender) == name_key(self.client.user):
            return
        try:
            secret = bytes.fromhex(ev.secret)
        except ValueError:
            secret = b""
        if self._already_received(ev):
            log.info("transfer %s: a resume of %s, which was received already; told %s",
                     ev.transfer_id, ev.resumes, ev.sender)
            self.client.decline_transfer(ev.transfer_id, ALREADY_RECEIVED)
            return
        t = self._resumable(ev)
        fresh = t is None
        if t is not None:  # the same file again from the same person: it resumes
            if t.state in (TransferState.CONNECTING, TransferState.ACTIVE) and \
                    self._engine is not None:
                # The sender gave that attempt up (this is its resume): the engine stops
                # expecting it (closing its connection and partial file), and the new one
                # continues that partial file.
                self._engine.release(t.transfer_id)
            self._by_id.pop(t.transfer_id, None)
            t.transfer_id, t.secret = ev.transfer_id, secret
            t.error, t.by_peer, t.rate = "", False, 0.0
            self._by_id[ev.transfer_id] = t.key
        else:
            t = Transfer(ev.transfer_id, RECEIVE, ev.sender, self._conversation_of(ev),
                         ev.name, ev.size, ev.sha256, ev.mime, transfer_id=ev.transfer_id,
                         secret=secret, state=TransferState.INCOMING,
                         created=sane_ts(ev.ts, self.client.server_clock.now()))
            refusal = self._offer_refusal(t)
            if refusal is not None:  # (known before the card shows: no pop-up for it)
                t.error = AUTO_REFUSED + refusal
            self._add(t)
        self._set(t, TransferState.INCOMING)
        reason = self._offer_refusal(t)
        if reason is not None:
            self._decline(t, AUTO_REFUSED + reason)
        elif t.accepted or self.prefs.auto_accepts(ev.sender):
            self.accept(t.key)
        if fresh and reason is None:
            # A new card is news in its conversation, as a message is, also one accepted
            # without asking (a Resume is not; one refused without asking is not either).
            self.client.add_unread_card(t.conversation, t.key)

    def _conversation_of(self, ev: TransferOffered) -> str:
        """Where offer ``ev``'s card goes: the group's conversation when the file was sent
        in a group we are a member of, else the one with the sender."""
        if ev.group:
            row = self.client.groups.group(ev.group)
            if row is not None and row.member:
                return group_key(row.name)
        return peer_key(ev.sender)

    def _already_received(self, ev: TransferOffered) -> bool:
        """Whether offer ``ev`` resumes an attempt that delivered the file here: a receive
        card done (the engine verified its SHA-256, the offer's), of that very attempt
        (``ev.resumes``), the same file from the same sender, whose saved file is still
        there with the offer's size. The sender's app lost the final Done (the path died
        right after the last byte) and resumed by itself: accepting it again gave a second
        copy, "name (1)" (a hunt)."""
        if not ev.resumes:
            return False
        for t in self._items.values():
            if t.direction == RECEIVE and t.state is TransferState.DONE \
                    and t.transfer_id == ev.resumes and t.sha256 == ev.sha256 \
                    and name_key(t.peer) == name_key(ev.sender) and t.size == ev.size:
                try:
                    return bool(t.path) and os.stat(t.path).st_size == t.size
                except OSError:
                    return False  # (moved or deleted since: it is needed again)
        return False

    def _resumable(self, ev: TransferOffered) -> Transfer | None:
        """The receive card that offer ``ev`` continues: the same file from the same sender,
        failed; or, when the offer is a resume (``ev.resumes``), one still connecting or
        moving bytes here (the sender's attempt failed, ours has not noticed yet: a laptop
        that woke from sleep learns it 15 s later), the very attempt it names first. A
        second offer of the same bytes that is no resume (a copy under another name) leaves
        a running card alone. Only an offer under the card's name and type continues it:
        an accepted card is accepted again without asking, and a sender could otherwise
        rename what was accepted (``holiday.jpg`` → ``holiday.jpg.desktop``; a security
        review). Another name is a new card that asks (its bytes still resume from the
        partial file).

        A failed card the user never accepted continues only the very offer it showed
        (``ev.transfer_id``: the server hands a waiting offer again to a session that logs
        in): a new offer of that file is a new card at the conversation's end, news as the
        first one was. Put back on a card days up in history, it came with no unread count,
        no tab and no pop-up (a hunt)."""
        same = [t for t in reversed(list(self._items.values()))
                if t.direction == RECEIVE and t.sha256 == ev.sha256
                and name_key(t.peer) == name_key(ev.sender)
                and t.name == ev.name and t.mime == ev.mime and t.size == ev.size
                and (t.accepted or t.transfer_id == ev.transfer_id)]
        running = [t for t in same if t.accepted and t.state in (
            TransferState.CONNECTING, TransferState.ACTIVE)] if ev.resumes else []
        if ev.resumes:
            # The very card it names first, failed or still running: the same file sent
            # twice and both resumed put both resumes on one card (the second took it from
            # the first, whose send was refused for good) and left the other failed for good
            # (a hunt).
            named = [t for t in same if t.transfer_id == ev.resumes
                     and (t in running or t.state is TransferState.FAILED)]
            if named:
                return named[0]
        failed = next((t for t in same if t.state is TransferState.FAILED), None)
        return failed if failed is not None or not running else running[0]

    def _offer_refusal(self, t: Transfer, *, write: bool = False) -> str | None:
        """Why offer ``t`` cannot be taken (invalid, over the size limit, not enough space,
        download folder unusable), or None. ``write``: also that the download folder and
        its ``.partial`` folder can be written (on Accept: a read-only folder passed, and
        the transfer failed at its first byte with the offer used up; a hunt)."""
        offer = Offer(t.transfer_id, t.name, t.size, t.sha256, t.mime)
        if len(t.secret) != 32:
            return "invalid offer (no secret)"
        folder = self._folder_of(t)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(folder).free + self._partial_size(t)
        except OSError as exc:
            return f"cannot use the download folder {folder}: {exc}"
        if write:
            for place in (folder, folder / ".partial"):
                why = _unwritable(place)
                if why is not None:
                    return f"cannot use the download folder {folder}: {why}"
        return check_offer(offer, size_limit=self.prefs.size_limit, free_bytes=free)

    def _folder_of(self, t: Transfer) -> Path:
        """The download folder of receive ``t``: the one it was accepted into (its partial
        file is there), else the current one. (Discard after a change of the folder in
        Preferences left the partial file in the old one for good: a hunt.)"""
        return Path(t.folder) if t.folder else self.download_dir

    def partial_path(self, t: Transfer) -> Path:
        """Where the transfer engine keeps the partial file of receive ``t`` (keyed by the
        SHA-256 and the sender: another sender's bytes are never resumed)."""
        return self._folder_of(t) / ".partial" / \
            f"{part_stem(t.sha256, name_key(t.peer))}.part"

    def _partial_files(self, t: Transfer) -> list[Path]:
        """The partial file of receive ``t`` and its numbered siblings
        (``<stem>.<n>.part``, made when two registrations of that file overlapped)."""
        main = self.partial_path(t)
        try:
            siblings = sorted(main.parent.glob(f"{main.stem}.*.part"))
        except OSError:
            siblings = []
        return [main, *siblings]

    def offers_discard(self, key: str) -> bool:
        """Whether the card of ``key`` shows Discard: :meth:`can_discard`, and something
        is there to delete (it was offered on an offer never accepted, and after a cancel
        or a failed check that had deleted the file already, and then said "Discarded (the
        partly received file was deleted)" of nothing: a hunt)."""
        t = self._items.get(key)
        if t is None or not t.accepted or not self.can_discard(key):
            return False
        return any(path.exists() for path in self._partial_files(t))

    def can_discard(self, key: str) -> bool:
        """Whether :meth:`discard` applies to ``key``: a failed or cancelled receive, no
        other receive of the same file from the same sender running (it may be writing the
        same partial file)."""
        t = self._items.get(key)
        if t is None or t.direction != RECEIVE or \
                t.state not in (TransferState.FAILED, TransferState.CANCELLED):
            return False
        return not any(o is not t and o.direction == RECEIVE and not o.final
                       and o.sha256 == t.sha256 and name_key(o.peer) == name_key(t.peer)
                       for o in self._items.values())

    def discard(self, key: str) -> bool:
        """Delete the partial file of a failed or cancelled receive (:meth:`can_discard`);
        the card stays, ``discarded`` (a new offer of the file starts from zero and asks
        again). False when it does not apply."""
        t = self._items.get(key)
        if t is None or not self.can_discard(key):
            return False
        if self._engine is not None and t.transfer_id:
            self._engine.release(t.transfer_id)  # (normally released already)
        self._remove_partials(t)
        t.done, t.rate, t.by_peer = 0, 0.0, False
        self._set(t, TransferState.DISCARDED, error="")
        return True

    def _remove_partials(self, t: Transfer) -> None:
        """Delete receive ``t``'s partial file and its numbered siblings (logged when one
        cannot be)."""
        for path in self._partial_files(t):
            try:
                remove_part(path)
            except OSError as exc:
                log.warning("transfer %s: cannot delete %s: %s", t.key, path, exc)

    def _sweep_partials(self) -> None:
        """Delete the download folder's stale partial files (:func:`stale_partials`): kept
        are those a resumable receive (failed, or still running) refers to, unless written
        last :data:`PARTIAL_MAX_AGE` ago."""
        keep = [self.partial_path(t) for t in self._items.values()
                if t.direction == RECEIVE and t.sha256
                and (t.state is TransferState.FAILED or not t.final)]
        # (the folders of earlier receives too: the download folder may have changed)
        folders = {self.download_dir, *(Path(t.folder) for t in self._items.values()
                                        if t.direction == RECEIVE and t.folder)}
        for folder in sorted(folders):
            for path in stale_partials(folder / ".partial", keep, time.time()):
                try:
                    remove_part(path)
                except OSError as exc:
                    log.warning("cannot delete the stale partial file %s: %s", path, exc)
                else:
                    log.info("deleted a stale partial file")  # (its folder: DEBUG)
                    log.debug("deleted the stale partial file %s", path)

    def _partial_size(self, t: Transfer) -> int:
        """Bytes receive ``t`` resumes from: its partial file's size, or 0 while another
        receive of the same file from the same sender runs (that one writes the file; the
        engine gives ``t`` a numbered one of its own, from zero), or when it is longer than
        the file (damaged: the engine starts it again from zero, and an offset past the size
        was refused by the server, the file blocked for good; a hunt)."""
        if any(o is not t and o.direction == RECEIVE and o.accepted and not o.final
               and o.sha256 == t.sha256 and name_key(o.peer) == name_key(t.peer)
               for o in self._items.values()):
            return 0
        part = self.partial_path(t)
        try:
            st = part.lstat()  # (a symbolic link planted there is no partial file)
        except OSError:
            return 0
        return st.st_size if stat.S_ISREG(st.st_mode) and st.st_size <= t.size else 0

    def accept(self, key: str) -> str | None:
        """Accept incoming transfer ``key``: check it (size limit, free space), register it
        with the transfer engine, then tell the sender. Returns why it was declined instead,
        or None."""
        t = self._items.get(key)
        if t is None or t.direction != RECEIVE or t.state is not TransferState.INCOMING:
            return "this offer is no longer open"
        self.client.card_answered(t.conversation, t.key)  # (seen: it is answered)
        reason = self._offer_refusal(t, write=True)
        if reason is not None and reason.startswith(_FIXABLE):
            # The offer stays open, saying why: declined, the card read "You declined it"
            # and the offer was gone for good once space was freed (a hunt).
            self._set(t, TransferState.INCOMING, error=reason)
            return reason
        if reason is not None:
            self._decline(t, AUTO_REFUSED + reason)
            return reason
        try:
            eng = self._started()
            folder = self._folder_of(t)
            ticket = eng.receive(Offer(t.transfer_id, t.name, t.size, t.sha256, t.mime),
                                 t.secret, folder, sender=name_key(t.peer))
            t.folder = str(folder)
        except (OSError, ValueError) as exc:
            self._decline(t, f"cannot receive: {exc}")
            return str(exc)
        offset = self._partial_size(t)
        rid = self.client.accept_transfer(t.transfer_id, self._report_host(ticket.host),
                                          ticket.port, ticket.fingerprint, offset)
        if not rid:
            eng.release(t.transfer_id)  # keep the partial file: a later offer resumes it
            self._set(t, TransferState.FAILED, error="not connected to the server")
            return t.error
        self._requests[rid] = ("accept", t.key)
        t.accepted, t.done, t.linked = True, offset, False
        self._set(t, TransferState.CONNECTING)
        tid = t.transfer_id
        QTimer.singleShot(max(0, int(self.connect_timeout * 1000)), self,
                          lambda: self._connect_watchdog(t.key, tid))
        return None

    def _connect_watchdog(self, key: str, transfer_id: str) -> None:
        """An accepted receive still waiting for the sender's connection fails: the sender
        gave up (unreachable, or its app failed before connecting) without telling us. The
        engine stops expecting it but keeps the partial file, and the card stays accepted,
        so the sender's Resume continues it without asking."""
        t = self._items.get(key)
        if self._closed or t is None or t.transfer_id != transfer_id or \
                t.state is not TransferState.CONNECTING or t.linked:
            return
        if self._engine is not None:
            self._engine.release(transfer_id)
        self._set(t, TransferState.FAILED,
                  error=f"{t.peer}'s app did not connect within {self.connect_timeout:g} s; "
                        f"it resumes when {t.peer} sends the file again")

    def decline(self, key: str, reason: str = "") -> bool:
        """Decline incoming transfer ``key`` (the sender is told)."""
        t = self._items.get(key)
        if t is None or t.direction != RECEIVE or t.state is not TransferState.INCOMING:
            return False
        self._decline(t, reason)
        return True

    def _decline(self, t: Transfer, reason: str) -> None:
        self.client.card_answered(t.conversation, t.key)
        rid = self.client.decline_transfer(t.transfer_id, reason)
        if rid:
            self._requests[rid] = ("decline", t.key)
        t.by_peer = False
        self._set(t, TransferState.DECLINED, error=reason)

    # ------------------------------------------------------------------ both ways

    def cancel(self, key: str) -> bool:
        """Cancel transfer ``key`` in either direction (an unanswered offer to us is
        declined; a failed send that would resume by itself does not); the other side is
        told. False when it had ended already."""
        if key in self._batches:  # (every member still going)
            return [self.cancel(k) for k in self._batches[key]].count(True) > 0
        t = self._items.get(key)
        if t is None or (t.final and not (t.auto_resume and t.state is TransferState.FAILED)):
            return False
        self._stop_auto_resume(t)
        if t.direction == RECEIVE and t.state is TransferState.INCOMING:
            self._decline(t, "")
            return True
        if t.state is TransferState.OFFERING:
            t.cancel_pending = True  # told to the server once it has an id
        if t.transfer_id:
            if self._engine is not None:
                self._engine.cancel(t.transfer_id)
            rid = self.client.cancel_transfer(t.transfer_id)
            if rid:
                self._requests[rid] = ("cancel", t.key)
        t.by_peer = False
        preparing = t.state is TransferState.PREPARING
        self._set(t, TransferState.CANCELLED, error="")
        if preparing and t.path:
            self._stop_hashing(t.path)
        return True

    def _on_cancelled_by_peer(self, ev: TransferCancelled) -> None:
        t = self._by_transfer_id(ev.transfer_id)
        if t is None:
            return
        if self.client.user and name_key(ev.user) == name_key(self.client.user):
            # Another device of ours accepted, declined or cancelled the offer: not ours to
            # answer here any more. Any partial file stays (a later offer resumes it).
            if self._engine is not None:
                self._engine.release(ev.transfer_id)
            if not t.final:
                t.by_peer = False
                self._set(t, TransferState.CANCELLED, error=ev.reason)
            self.client.card_answered(t.conversation, t.key)
            return
        if t.state is TransferState.FAILED and ev.reason != LAPSED_REASON and (
                t.auto_resume or (t.direction == RECEIVE and t.accepted)):
            # Failed, but not over: the send would go again by itself, the receive would
            # take it again. The other side said no more: neither happens, and (as for a
            # cancel while it ran) no partial file of it remains, unless another receive
            # of the same file is writing it.
            self._stop_auto_resume(t)
            if t.direction == RECEIVE and self.can_discard(t.key):
                self._remove_partials(t)
            t.by_peer = True
            self._set(t, TransferState.CANCELLED, error=ev.reason)
            return
        if self._engine is not None:
            if ev.reason == LAPSED_REASON and t.direction == RECEIVE:
                # The sender withdrew an offer that lapsed while it was offline, not the
                # file: keep what we hold of it, a new offer resumes from there.
                self._engine.release(ev.transfer_id)
            else:
                self._engine.cancel(ev.transfer_id)
        if not t.final:
            t.by_peer = True
            self._set(t, TransferState.CANCELLED, error=ev.reason)
        if t.direction == RECEIVE:  # withdrawn: nothing left to answer (as a deleted message)
            self.client.card_answered(t.conversation, t.key)

    def _fail_and_cancel(self, t: Transfer, reason: str) -> None:
        rid = self.client.cancel_transfer(t.transfer_id, reason) if t.transfer_id else 0
        if rid:
            self._requests[rid] = ("cancel", t.key)
        self._set(t, TransferState.FAILED, error=reason)

    def _on_answer(self, rid: int, reply: Any) -> None:
        entry = self._requests.pop(rid, None)
        if entry is None:
            return
        op, key = entry
        t = self._items.get(key)
        if t is None:
            return
        if isinstance(reply, Ok):
            if op == "offer":
                t.transfer_id = reply.transfer_id or ""
                t.secret = bytes.fromhex(reply.secret or "")
                self._by_id[t.transfer_id] = t.key
                if t.cancel_pending:
                    t.cancel_pending = False
                    cid = self.client.cancel_transfer(t.transfer_id)
                    if cid:
                        self._requests[cid] = ("cancel", t.key)
                elif t.state is TransferState.OFFERING:
                    self._set(t, TransferState.WAITING)
            return
        if not isinstance(reply, Error) or op not in ("offer", "accept") or t.final:
            log.info("transfer %s %s: %s", op, key, reply)
            return
        if op == "accept" and reply.code == ErrorCode.ACCEPTED_ELSEWHERE:
            # Another of our devices took it: stop expecting it here, keeping any partial file.
            if self._engine is not None:
                self._engine.release(t.transfer_id)
            t.by_peer = False
            self._set(t, TransferState.CANCELLED, error="accepted on another device")
            return
        if reply.code == ErrorCode.USER_OFFLINE and op == "accept":
            # The sender's app is gone (quit with the offer out): said at once, where the
            # card said "Connecting…" for 30 s (a hunt). It stays accepted: the file comes
            # by itself when they send it again.
            # One wording for a sender with no session and for one online only on other
            # devices that never had the offer (the roster may still show a contact who just
            # quit as online, so it cannot tell them apart).
            reason = (f"the app {t.peer} offered it from is no longer connected; the file "
                      f"comes when {t.peer} sends it again")
        elif reply.code == ErrorCode.USER_OFFLINE:
            reason = f"{t.peer} is offline: both of you must be online to send a file"
        elif reply.code == ErrorCode.UNKNOWN_TRANSFER:
            # (not "alice withdrew the offer": answered on another device, or expired
            # after a day unanswered, read as that too; a hunt)
            reason = (f"the offer is no longer open (withdrawn by {t.peer}, answered on "
                      "another device, or expired)") if op == "accept" else reply.message
        else:
            reason = reply.message
        if op == "accept" and self._engine is not None:
            # Stop expecting it, but keep the partial file (resume data for a new offer).
            self._engine.release(t.transfer_id)
        if op == "offer" and t.resumed and reply.code == ErrorCode.USER_OFFLINE and \
                self.auto_resume_delays:
            t.auto_resume, t.retry_at = True, 0.0  # a resume: it goes when they are back
            reason = f"{t.peer} is offline"
        self._set(t, TransferState.FAILED, error=reason)

    def _on_disconnected(self, *args: Any) -> None:
        self._requests.clear()
        for t in list(self._items.values()):
            if t.state in (TransferState.OFFERING, TransferState.INCOMING,
                           TransferState.WAITING):
                # (An offer to us is not declined: the server ends it when our last session
                # ends, and sends it again to a session that logs in while it waits.)
                if t.state is TransferState.WAITING and t.transfer_id:
                    self._lapsed_sends[t.transfer_id] = t.key
                if t.direction == SEND and t.tries:  # an automatic resume: go on trying
                    self._plan_auto_resume(t)
                self._set(t, TransferState.FAILED, error="the connection to the server was lost")

    def _decline_lapsed(self, *args: Any) -> None:
        """At login: withdraw (reason :data:`LAPSED_REASON`) our own offers that lapsed
        unanswered when we went offline or the app stopped (their cards here have failed
        already: the recipient's would offer a file nobody sends). Offers *to* us are not
        declined: the server ends them when our last session ends (and tells the sender),
        and another of our devices may still answer one."""
        if self._closed:
            return
        for tid, key in list(self._lapsed_sends.items()):
            rid = self.client.cancel_transfer(tid, LAPSED_REASON)
            if not rid:
                return
            del self._lapsed_sends[tid]
            self._requests[rid] = ("cancel", key)
            log.info("transfer %s: withdrew our lapsed offer %s", key, tid)

    # -- engine signals

    def _on_progress(self, tid: str, done: int, total: int, rate: float) -> None:
        t = self._by_transfer_id(tid)
        if t is None or t.final:
            return
        if t.state is TransferState.CONNECTING and done <= 0:
            # The sender is connected and authenticated (the engine reports only for such a
            # session), but no byte moved yet: e.g. the partial file is still being checked.
            # Not active, and not "did not connect" for the watchdog either.
            t.linked = True
            return
        if done > t.done:
            t.tries = 0  # bytes moved: the next failure gets the whole series of tries
        t.done, t.rate = int(done), float(rate)
        if total:
            t.size = int(total)
        self._set(t, TransferState.ACTIVE)

    def _on_finished(self, tid: str, path: str, sha256: str) -> None:
        t = self._by_transfer_id(tid)
        if t is None:
            return
        if t.final:
            # A cancel (ours, or the peer's through the server) can overtake the engine's
            # report that the file was complete and verified (receiver: moved into the
            # download folder; sender: confirmed by the receiver). The file is there: say so.
            if t.state is not TransferState.CANCELLED:
                return
            if t.direction == RECEIVE and not Path(path).is_file():
                return
        t.done = t.size
        if t.direction == RECEIVE:
            t.path = path
        elif path and path != t.path:
            # Moved while it was sent (the engine follows the open file): Open and Show in
            # folder found nothing at the old place (a hunt).
            log.debug("transfer %s: the file sent is now %s", t.key, path)
            t.path = path
        self._set(t, TransferState.DONE, error="")

    def _on_failed(self, tid: str, reason: str, transient: bool = False) -> None:
        t = self._by_transfer_id(tid)
        if t is not None and not t.final:
            if reason == UNREACHABLE:
                reason = f"could not reach {t.peer}'s computer (no answer: a firewall " \
                         f"blocking UDP?)"
            if transient and t.direction == SEND:
                self._plan_auto_resume(t)
            self._set(t, TransferState.FAILED, error=reason)

    # -- automatic resume

    def _plan_auto_resume(self, t: Transfer) -> None:
        """Have failed send ``t`` offered again by itself after the next of
        :attr:`auto_resume_delays` (none left: it waits for Resume). Call before the card
        is updated."""
        if t.tries >= len(self.auto_resume_delays) or self._closed:
            self._stop_auto_resume(t)
            return
        delay = self.auto_resume_delays[t.tries]
        t.auto_resume, t.retry_at = True, time.time() + delay
        timer = self._resume_timers.get(t.key)
        if timer is None:
            timer = self._resume_timers[t.key] = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(lambda key=t.key: self._auto_resume(key))
        timer.start(max(0, int(delay * 1000)))
        log.info("transfer %s: resuming by itself in %g s (try %d of %d)", t.key, delay,
                 t.tries + 1, len(self.auto_resume_delays))

    def _stop_auto_resume(self, t: Transfer) -> None:
        t.auto_resume, t.retry_at = False, 0.0
        timer = self._resume_timers.pop(t.key, None)
        if timer is not None:
            timer.stop()
            timer.deleteLater()

    def _auto_resume(self, key: str) -> None:
        """The time of an automatic resume came: offer the file again if the recipient is
        online (else wait for them: :meth:`_on_presence`)."""
        t = self._items.get(key)
        if t is None or not t.auto_resume or t.state is not TransferState.FAILED or \
                self._closed:
            return
        if not self.client.logged_in or not self._online(t.peer):
            t.retry_at = 0.0  # "it resumes when bob is online"
            self._shown(t)
            return
        tries = t.tries + 1
        if not self.resume(key):  # (the file changed or went: Resume is gone too; the
            self._stop_auto_resume(t)  # card says why, see _source_went)
            self._shown(t)
            return
        t.tries = tries
        log.info("transfer %s: resumed by itself (try %d)", key, tries)

    def _shown(self, t: Transfer) -> None:
        """``t`` changed in what its card shows, not in state (nothing to write)."""
        self.model.changed(t.key)
        self.transfer_changed.emit(t.key)

    def _on_presence(self, user: str, online: bool) -> None:
        if online:
            self._resume_waiting(user=user)

    def _resume_waiting(self, *args: Any, user: str | None = None) -> None:
        """Sends waiting for their recipient (``user``, or anyone at a login) to be online
        are offered again now."""
        for t in list(self._items.values()):
            if t.auto_resume and not t.retry_at and t.state is TransferState.FAILED and \
                    (user is None or name_key(t.peer) == name_key(user)):
                self._auto_resume(t.key)

    def _on_engine_cancelled(self, tid: str, by_peer: bool) -> None:
        t = self._by_transfer_id(tid)
        if t is not None and not t.final:
            t.by_peer = by_peer
            self._set(t, TransferState.CANCELLED)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop hashing and every transfer (peers are told; partial files are kept for a
        resume) and stop the transfer thread. Safe to call twice."""
        if self._closed:
            return
        for t in self._items.values():  # the last progress of running transfers
            self._persist(t, force=True)
        self._closed = True
        self._pool.waitForDone()
        if self._engine is not None:
            self._engine.close()

    # ------------------------------------------------------------------ internals

    def _started(self) -> TransferEngine:
        if self._closed:
            raise OSError("transfers are closed")
        if self._engine is None:
            eng = TransferEngine(self._host, 0, settings=self._settings,
                                 threaded=self._threaded, parent=self)
            eng.progress.connect(self._on_progress)
            eng.finished.connect(self._on_finished)
            eng.failed.connect(self._on_failed)
            eng.cancelled.connect(self._on_engine_cancelled)
            try:
                eng.start()
            except OSError as exc:
                eng.close()
                raise OSError(f"cannot open the transfer socket: {exc}") from exc
            self._engine = eng
        return self._engine

    def _report_host(self, bound: str | None = None) -> str:
        """The address to announce: the bound one, or (bound to all interfaces) this
        computer's address on the link to the server."""
        host = bound if bound is not None else self._started().local_address[0]
        if _unspecified(host):
            return self.client.local_host or host
        return host

    def _by_transfer_id(self, tid: str) -> Transfer | None:
        key = self._by_id.get(tid)
        return self._items.get(key) if key is not None else None

    def _add(self, t: Transfer, *, announce: bool = True) -> None:
        self._items[t.key] = t
        if t.transfer_id:
            self._by_id[t.transfer_id] = t.key
        if t.batch:
            self._batches.setdefault(t.batch, []).append(t.key)
        self.model.add(t)
        me = self.client.user
        sender = me if t.direction == SEND else t.peer
        title = None if t.direction == SEND or is_group(t.conversation) else t.peer
        model = self.client.conversation(t.conversation, title)
        model.add_transfer(t.batch or t.key, sender, t.display_name, ts=t.created,
                           last=announce)
        if announce:
            self._persist(t)
            self.transfer_added.emit(t.key)

    def _set(self, t: Transfer, state: TransferState, *, error: str | None = None) -> None:
        was = t.state
        t.state = state
        if error is not None:
            t.error = error
        if state in FINAL_STATES:
            t.rate = 0.0
        self._persist(t)
        self.model.changed(t.key)
        self.transfer_changed.emit(t.key)
        if state in FINAL_STATES and state is not was:
            # (Not the file's name nor its path, but at DEBUG: the log is kept for weeks
            # and attached to bug reports, and listed every file sent and received; a hunt.)
            log.info("transfer %s (%s, %d bytes, %s) %s%s", t.key, t.direction, t.size,
                     t.peer, state.value, f": {t.error}" if t.error else "")
            log.debug("transfer %s: %r, %s", t.key, t.name, t.path or "no file")
            self.transfer_finished.emit(t.key, state.value)

    # ------------------------------------------------------------------ local store

    def _persist(self, t: Transfer, *, force: bool = False) -> None:
        """Write ``t`` to the account's local store: at once when its state changed, else at
        most every :data:`SAVE_INTERVAL` (progress)."""
        store = self._store
        if store is None or self._closed:
            return
        now = time.monotonic()
        saved = self._saved.get(t.key)
        # (An automatic resume on its way counts as resuming by itself: a restart goes on.)
        auto = t.auto_resume or (t.tries > 0 and not t.final)
        if not force and saved is not None and saved[:2] == (t.state, t.error) and \
                now - saved[2] < SAVE_INTERVAL:
            return
        record = TransferRecord(t.key, t.direction, t.peer, t.conversation, t.name, t.size,
                                t.sha256, t.mime, t.path, t.state.value, t.done, t.error,
                                t.by_peer, t.accepted, t.transfer_id, auto, t.batch,
                                t.folder, t.created)
        try:
            store.save_transfer(record)
        except sqlite3.Error as exc:  # the store was closed (logged out) or the disk is full
            log.warning("cannot save transfer %s: %s", t.key, exc)
            return
        self._saved[t.key] = (t.state, t.error, now)

    def _load(self, *args: Any) -> None:
        """Show the transfers kept in the account's local store (once per store, at login).
        Those that were still running when the app stopped become failed: a send can be
        resumed (:meth:`can_resume`), a receive the user had accepted resumes by itself when
        the sender offers the file again."""
        store = self.client.store
        if store is None or store is self._store or self._closed:
            return
        self._store = store
        try:
            store.prune_transfers()
            records = store.transfers()
        except sqlite3.Error as exc:
            log.warning("cannot load transfers: %s", exc)
            return
        loaded = 0
        for r in records:
            if r.key in self._items or r.direction not in (SEND, RECEIVE):
                continue
            try:
                state = TransferState(r.state)
            except ValueError:
                state = TransferState.FAILED
            t = Transfer(r.key, r.direction, r.peer, r.conv, r.name, r.size, r.sha256, r.mime,
                         r.path, transfer_id=r.transfer_id, state=state, done=r.done,
                         error=r.error, by_peer=r.by_peer, accepted=r.accepted,
                         created=r.created or self.client.server_clock.now(),
                         batch=r.batch if r.direction == SEND else "",
                         folder=r.folder if r.direction == RECEIVE else "")
            if not t.final:
                # (An offer to us never answered is not declined here: the server ended it
                # with our last session, or sends it again now if another device kept it.)
                if state is TransferState.WAITING and t.direction == SEND and t.transfer_id:
                    self._lapsed_sends[t.transfer_id] = t.key  # (withdrawn at login)
                elif state in (TransferState.CONNECTING, TransferState.ACTIVE) and \
                        t.direction == SEND and self.auto_resume_delays:
                    t.auto_resume = True  # accepted, cut by the restart: resumes by itself
                if r.auto_resume and t.direction == SEND and self.auto_resume_delays:
                    t.auto_resume = True  # (an automatic resume under way at the quit)
                t.state, t.by_peer, t.error = TransferState.FAILED, False, _interrupted(t)
                self._persist(t)
            elif r.auto_resume and t.direction == SEND and state is TransferState.FAILED \
                    and self.auto_resume_delays:
                t.auto_resume = True  # ("· resumes when bob is online" before the quit)
            self._add(t, announce=False)
            loaded += 1
        self._sweep_partials()
        if loaded:
            log.info("%d transfer(s) loaded from %s", loaded, getattr(store, "path", "store"))
            self.transfers_loaded.emit(loaded)


def source_gone(t: Transfer) -> str | None:
    """Why send ``t``'s file can no longer be offered again (Resume), or None while it is
    there with the size it had (what :meth:`TransferController.can_resume` asks)."""
    try:
        st = Path(t.path).stat()
    except (OSError, ValueError):
        return "the file is no longer there (moved or deleted)"
    if not stat.S_ISREG(st.st_mode):
        return "the file is no longer there (moved or deleted)"
    if st.st_size != t.size:
        return "the file has changed since (another size); send it again"
    return None


def _interrupted(t: Transfer) -> str:
    """Why a transfer found running in the store (the app stopped during it, ``t.state``
    still what it was then) failed. For a send, what Resume would do, or why there is no
    Resume (its file moved, deleted or changed: "Resume sends the rest" was shown without
    a Resume button, and for an offer never accepted, of which nothing was sent; a hunt)."""
    if t.direction == SEND:
        gone = source_gone(t)
        if gone is not None:
            return f"interrupted (the app was closed), and {gone}"
        if t.state in (TransferState.CONNECTING, TransferState.ACTIVE):
            return "interrupted (the app was closed); Resume sends the rest"
        return f"interrupted (the app was closed) before {t.peer} answered; Resume offers " \
            "it again"
    if t.accepted:
        return f"interrupted (the app was closed); it resumes when {t.peer} sends it again"
    return f"the offer lapsed when the app was closed; {t.peer} can send it again"
