"""Qt item models of the client state: the roster and one model per conversation.

QtCore only. Views never own data: these models live in the engine (so a closed tab reopens
with its history) and views only show them.
"""

from __future__ import annotations

import bisect
import enum
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QIdentityProxyModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from ..protocol import RETRACTED_TEXT
from ..protocol.names import name_key
from .quotes import QuoteCandidate, QuoteOutcome, QuoteTarget, find_quoted, quoted_of
from .textsearch import fold

log = logging.getLogger("messenger.client.models")

_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

# ------------------------------------------------------------------------------------ roster


@dataclass
class Contact:
    """One roster row: the account's canonical ``name``, whether it is ``online`` and how many
    messages from it are ``unread``."""

    name: str
    online: bool = False
    unread: int = 0
    last_seen: float | None = None


TS_MAX = float(1 << 33)
"""Latest Unix time the app takes from a server (year 2242); later (and negative) times are
bogus: the platform's localtime() cannot convert ±1e18 or ±1e308 at all."""


def sane_ts(ts: float | None, default: float | None = None) -> float:
    """``ts`` when it is a Unix time the app can show (0 to :data:`TS_MAX`), else ``default``
    (the local clock when None): a server's NaN-free but absurd timestamps (1e18, -1e308)
    must not reach the cache, nor the views, where formatting them raises."""
    if ts is not None and 0.0 <= ts <= TS_MAX:
        return ts
    return time.time() if default is None else default


def local_time(ts: float) -> time.struct_time:
    """``time.localtime(ts)`` that never raises: a time the platform cannot convert (a cache
    written before :func:`sane_ts`) reads as the epoch."""
    try:
        return time.localtime(ts)
    except (OverflowError, OSError, ValueError):
        return time.localtime(0)


def last_seen_text(ts: float, now: float | None = None) -> str:
    """"last seen just now", "… 5 min ago", "… today at 14:05", "… yesterday at 14:05",
    "… on 3 Mar 2026" for Unix seconds ``ts`` (local time)."""
    now = time.time() if now is None else now
    ago = now - ts
    if ago < 60:
        return "last seen just now"
    if ago < 3600:
        return f"last seen {int(ago // 60)} min ago"
    when, today = local_time(ts), local_time(now)
    clock = time.strftime("%H:%M", when)
    if when[:3] == today[:3]:
        return f"last seen today at {clock}"
    # The calendar day before (now - 86400 is two days back in the first hour after the
    # clocks went forward, and still today in the last hour of the day they went back).
    if when[:3] == local_time(time.mktime((today.tm_year, today.tm_mon, today.tm_mday - 1,
                                           12, 0, 0, 0, 0, -1)))[:3]:
        return f"last seen yesterday at {clock}"
    return f"last seen on {when.tm_mday} {time.strftime('%b %Y', when)}"


def presence_text(contact: Contact | None, now: float | None = None) -> str:
    """A private conversation's status line: "online", "last seen 5 min ago" (see
    :func:`last_seen_text`), "offline" (never seen, or an app too old to say), or "not a
    user on this server" for ``None``."""
    if contact is None:
        return "not a user on this server"
    if contact.online:
        return "online"
    return last_seen_text(contact.last_seen, now) if contact.last_seen else "offline"


def _roster_sort_key(contact: Contact) -> tuple[bool, str, str]:
    return (not contact.online, name_key(contact.name), contact.name)


def replace_rows(model: QAbstractListModel, rows: list, new: list, key: Callable[[Any], str],
                 reindex: Callable[[], None] = lambda: None) -> None:
    """Make ``rows`` (``model``'s own list of rows) equal to ``new`` by changing it in place:
    rows whose ``key`` is gone are removed, the others take their new order (one layout
    change, persistent indexes follow their rows) and values (``dataChanged``), new ones are
    inserted. Not a model reset: a reset drops the views' selection, current row and scroll
    position without a ``selectionChanged`` (a reconnect left "Message 2 selected…" sending
    to nobody). ``reindex`` runs after each change of ``rows``, before the views hear of it
    (a model's look-up tables must be right when they ask)."""
    wanted = {key(r) for r in new}
    end = len(rows)
    while end > 0:  # gone rows, bottom up, a run at a time
        if key(rows[end - 1]) in wanted:
            end -= 1
            continue
        start = end - 1
        while start > 0 and key(rows[start - 1]) not in wanted:
            start -= 1
        model.beginRemoveRows(_ROOT, start, end - 1)
        del rows[start:end]
        reindex()
        model.endRemoveRows()
        end = start
    old = {key(r): (i, r) for i, r in enumerate(rows)}
    kept = [r for r in new if key(r) in old]
    changed = [i for i, r in enumerate(kept) if old[key(r)][1] != r]
    if [old[key(r)][0] for r in kept] != list(range(len(kept))):
        model.layoutAboutToBeChanged.emit()
        to = {old[key(r)][0]: i for i, r in enumerate(kept)}
        rows[:] = kept
        reindex()
        before = model.persistentIndexList()
        model.changePersistentIndexList(
            before, [model.index(to[i.row()], i.column()) for i in before])
        model.layoutChanged.emit()
    else:
        rows[:] = kept
        reindex()
    if changed:
        model.dataChanged.emit(model.index(changed[0], 0), model.index(changed[-1], 0))
    i = 0
    while i < len(new):  # new rows, at their places (rows[:i] == new[:i] all along)
        if key(new[i]) in old:
            i += 1
            continue
        j = i
        while j < len(new) and key(new[j]) not in old:
            j += 1
        model.beginInsertRows(_ROOT, i, j - 1)
        rows[i:i] = new[i:j]
        reindex()
        model.endInsertRows()
        i = j


class RosterModel(QAbstractListModel):
    """Every account except the logged-in user's own, online first, then by name ignoring case.

    Look-ups by name are a dict away and the online count is kept as presence changes: a
    presence change must not cost a walk of the list per contact (with 1,000 contacts each
    login anywhere froze the window for 30 ms, a server restart for half a minute).

    While the order is held (:meth:`set_order_held`: the pointer is over the list), presence
    changes do not move rows; the list is sorted again when it is released.

    Roles: ``Qt.DisplayRole``/:attr:`NameRole` → str, :attr:`OnlineRole` → bool (as last
    known), :attr:`UnreadRole` → int, :attr:`PresenceKnownRole` → bool (False while not
    logged in: presence is stale and shows as unknown, see :meth:`set_presence_known`),
    ``Qt.ToolTipRole`` and ``Qt.AccessibleTextRole`` → str.

    Signals:
        unread_total_changed(int): the sum of unread counts changed.
    """

    NameRole = Qt.ItemDataRole.UserRole + 1
    OnlineRole = Qt.ItemDataRole.UserRole + 2
    UnreadRole = Qt.ItemDataRole.UserRole + 3
    PresenceKnownRole = Qt.ItemDataRole.UserRole + 4

    unread_total_changed = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Contact] = []
        self._keys: list[str] = []  # name_key of each row
        self._row_by_key: dict[str, int] = {}
        self._online = 0
        self._presence_known = True
        self._held = False
        self._unsorted = False  # presence changed while held: sort on release

    # -- Qt API

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        c = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, self.NameRole):
            return c.name
        if role == self.OnlineRole:
            return c.online
        if role == self.UnreadRole:
            return c.unread
        if role == self.PresenceKnownRole:
            return self._presence_known
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            if not self._presence_known:
                text = f"{c.name}, presence unknown (not connected)"
            else:
                text = f"{c.name}, {'online' if c.online else 'offline'}"
            if self._presence_known and not c.online and c.last_seen:
                text += ", " + last_seen_text(c.last_seen)
            if c.unread:
                text += f", {c.unread} unread"
            return text
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names[self.NameRole] = QByteArray(b"name")
        names[self.OnlineRole] = QByteArray(b"online")
        names[self.UnreadRole] = QByteArray(b"unread")
        names[self.PresenceKnownRole] = QByteArray(b"presenceKnown")
        return names

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren

    # -- queries

    def names(self) -> list[str]:
        """The names in display order."""
        return [c.name for c in self._rows]

    def contacts(self) -> list[Contact]:
        """Copies of the rows, in display order."""
        return [replace(c) for c in self._rows]

    def contact(self, name: str) -> Contact | None:
        """A copy of the row for ``name`` (any case), or None."""
        row = self._row_of(name)
        return None if row is None else replace(self._rows[row])

    def row_of(self, name: str) -> int | None:
        """The row of ``name`` (any case), or None."""
        return self._row_of(name)

    def online_count(self) -> int:
        """How many contacts are online (as last known), kept as presence changes: the
        Everyone tab's header asks at every change."""
        return self._online

    def unread_total(self) -> int:
        return sum(c.unread for c in self._rows)

    @property
    def presence_known(self) -> bool:
        """False while presence cannot be trusted (not logged in); see
        :meth:`set_presence_known`."""
        return self._presence_known

    def set_presence_known(self, known: bool) -> None:
        """Mark every contact's presence as known (logged in: the server keeps it current)
        or unknown (disconnected: what was known last is kept for when it comes back, but
        shown as unknown)."""
        if known == self._presence_known:
            return
        self._presence_known = known
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0),
                                  [self.PresenceKnownRole, Qt.ItemDataRole.ToolTipRole,
                                   Qt.ItemDataRole.AccessibleTextRole])

    @property
    def order_held(self) -> bool:
        """True while rows keep their places; see :meth:`set_order_held`."""
        return self._held

    def set_order_held(self, held: bool) -> None:
        """Keep every row where it is (``held``) or sort again: the view holds the order
        while the pointer is over the list, where a row moving away between the two clicks
        of a double-click made it open someone else (or nobody). Presence changes meanwhile
        show at once (the dot), their move waits; a new account is added at the end."""
        self._held = held
        if not held and self._unsorted:
            self._unsorted = False
            rows = sorted(self._rows, key=_roster_sort_key)
            replace_rows(self, self._rows, rows, lambda c: name_key(c.name), self._reindex)

    # -- changes

    def set_roster(self, entries: list[tuple]) -> None:
        """Replace every row with ``entries`` of ``(name, online)`` or ``(name, online,
        last_seen)``; unread counts of names still present are kept. Rows change in place
        (see :func:`replace_rows`), so a view keeps its selection and scroll position."""
        unread = {name_key(c.name): c.unread for c in self._rows}
        rows = [Contact(n, bool(on), unread.get(name_key(n), 0), rest[0] if rest else None)
                for n, on, *rest in entries]
        rows.sort(key=_roster_sort_key)
        if self._held:  # rows stay where they are, new ones come last, till the release
            last = len(rows)  # (a list being sorted reads as empty)
            rows.sort(key=lambda c: self._row_by_key.get(name_key(c.name), last))
        self._unsorted = self._held
        replace_rows(self, self._rows, rows, lambda c: name_key(c.name), self._reindex)
        self.unread_total_changed.emit(self.unread_total())

    def clear(self) -> None:
        self.set_roster([])

    def set_online(self, name: str, online: bool, ts: float | None = None) -> None:
        """Record a presence change at ``ts`` (Unix seconds; going offline, it becomes the
        last seen time); adds ``name`` when it is new (a fresh registration)."""
        row = self._row_of(name)
        if row is None:
            self._insert(Contact(name, online, last_seen=None if online else ts))
            return
        contact = self._rows[row]
        if contact.online == online:
            return
        contact.online = online
        self._online += 1 if online else -1
        if not online and ts is not None:
            contact.last_seen = ts
        self._changed(row, [self.OnlineRole])
        if self._held:
            self._unsorted = True
        else:
            self._resort(row)

    def set_unread(self, name: str, count: int) -> None:
        """Set the unread count of ``name`` (ignored for names not in the roster)."""
        row = self._row_of(name)
        if row is None or self._rows[row].unread == count:
            return
        self._rows[row].unread = max(0, count)
        self._changed(row, [self.UnreadRole])
        self.unread_total_changed.emit(self.unread_total())

    # -- internals

    def _row_of(self, name: str) -> int | None:
        return self._row_by_key.get(name_key(name))

    def _reindex(self, first: int = 0, last: int | None = None) -> None:
        """Bring the look-up tables up to date with ``_rows``: all of them, or only the rows
        ``first`` to ``last`` (which moved; the rows themselves are the same)."""
        if last is None:
            self._keys = [name_key(c.name) for c in self._rows]
            self._row_by_key = {k: i for i, k in enumerate(self._keys)}
            self._online = sum(c.online for c in self._rows)
            return
        for i in range(first, last + 1):
            self._row_by_key[self._keys[i]] = i

    def _changed(self, row: int, roles: list[int]) -> None:
        idx = self.index(row, 0)
        self.dataChanged.emit(idx, idx, [*roles, Qt.ItemDataRole.ToolTipRole,
                                         Qt.ItemDataRole.AccessibleTextRole])

    def _place(self, contact: Contact, key: str, skip: int | None = None) -> int:
        """Where ``contact`` (name key ``key``) sorts among the rows (without row ``skip``):
        a binary search on the kept keys."""
        n = len(self._rows) - (skip is not None)

        def at(i: int) -> tuple[bool, str, str]:
            if skip is not None and i >= skip:
                i += 1
            return (not self._rows[i].online, self._keys[i], self._rows[i].name)

        return bisect.bisect_right(range(n), (not contact.online, key, contact.name), key=at)

    def _insert(self, contact: Contact) -> None:
        key = name_key(contact.name)
        row = len(self._rows) if self._held else self._place(contact, key)
        self._unsorted = self._unsorted or self._held
        self.beginInsertRows(_ROOT, row, row)
        self._rows.insert(row, contact)
        self._keys.insert(row, key)
        self._online += contact.online
        self._reindex(row, len(self._rows) - 1)
        self.endInsertRows()

    def _resort(self, row: int) -> None:
        new = self._place(self._rows[row], self._keys[row], skip=row)
        if new == row:
            return
        # Qt's destination is counted in the list *before* the move.
        dest = new + 1 if new > row else new
        if not self.beginMoveRows(_ROOT, row, row, _ROOT, dest):
            return
        self._rows.insert(new, self._rows.pop(row))
        self._keys.insert(new, self._keys.pop(row))
        self._reindex(min(row, new), max(row, new))
        self.endMoveRows()


# ------------------------------------------------------------------------------ conversation


class MessageKind(enum.StrEnum):
    """How a conversation item looks: one's own message, someone else's, a system notice,
    an error, or a file transfer card (``ChatItem.transfer`` names it in the
    :class:`~messenger.client.transfers.TransferModel`)."""

    OWN = "own"
    OTHER = "other"
    SYSTEM = "system"
    ERROR = "error"
    TRANSFER = "transfer"


class DeliveryState(enum.StrEnum):
    """An own message's progress: ``pending`` (in the outbox, no ack yet) → ``sent`` (stored
    by the server) → ``delivered`` (a recipient's app confirmed it) → ``read`` (a recipient
    viewed it); or ``failed`` (refused for good; Retry or Delete). Received messages and
    notices are ``sent``."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


_STATE_RANK = {DeliveryState.PENDING: 0, DeliveryState.FAILED: 0, DeliveryState.SENT: 1,
               DeliveryState.DELIVERED: 2, DeliveryState.READ: 3}


@dataclass
class ChatItem:
    """One conversation row.

    Attributes:
        kind: :class:`MessageKind`.
        sender: canonical user name ("" for notices).
        text: the message, notice or error text.
        ts: Unix seconds on the server's clock (its stamp once acked; while pending the
            server's time as the app reckons it: :meth:`~.serverclock.ServerClock.now`).
        seq: the server's sequence number, None until acked / for notices.
        state: :class:`DeliveryState`.
        client_msg_id: the client's id of the message ("" for notices).
        also: other recipients of a multicast.
        delivered_to: recipients whose app confirmed an own message.
        read_by: recipients who viewed an own message.
        counts: an own group message's ``(delivered, read, recipients)`` counts (the server
            sends counts, not names, for group messages), or None.
        error: why a failed message was refused.
        transfer: for a :attr:`MessageKind.TRANSFER` item, the transfer's id.
        edited: when the sender last edited the text (Unix seconds), or None.
    """

    kind: MessageKind
    sender: str
    text: str
    ts: float = field(default_factory=time.time)
    seq: int | None = None
    state: DeliveryState = DeliveryState.SENT
    client_msg_id: str = ""
    also: tuple[str, ...] = ()
    delivered_to: tuple[str, ...] = ()
    read_by: tuple[str, ...] = ()
    counts: tuple[int, int, int] | None = None
    error: str = ""
    transfer: str = ""
    edited: float | None = None


@dataclass
class GapItem(ChatItem):
    """A row standing for cached messages that are not loaded, between two loaded ones
    (``after`` < seq < ``before``): what a jump to a far-back search match leaves, so that
    only a window around the match is loaded. It looks like a notice (kind ``SYSTEM``, no
    ``seq``); :meth:`ConversationModel.fill_gap` loads the messages it stands for, a page at
    a time, when the view scrolls to it.

    Attributes:
        after: the seq of the loaded message above it.
        before: the seq of the loaded message below it.
        count: how many cached messages it stands for (when it was made).
    """

    after: int = 0
    before: int = 0
    count: int = 0


def gap_item(after: int, before: int, count: int) -> GapItem:
    """A :class:`GapItem` for ``count`` messages between seqs ``after`` and ``before``."""
    text = f"⋯ {count:,} message{'s' if count != 1 else ''} not loaded — scroll here to " \
        "load them"
    return GapItem(MessageKind.SYSTEM, "", text, ts=0.0, after=after, before=before,
                   count=count)


ASIDE_PAGE = 50
"""How many items set aside (see :attr:`ConversationModel.keep_newest`) one
:meth:`~ConversationModel.fetchMore` brings back."""


class ConversationModel(QAbstractListModel):
    """The items of one conversation, oldest first.

    Args:
        key: the conversation key (see :mod:`messenger.client.conversations`).
        title: what the tab shows (the peer's name or "Everyone").

    Roles: ``Qt.DisplayRole``/:attr:`TextRole` → str, :attr:`SenderRole` → str,
    :attr:`TimestampRole` → float (Unix seconds), :attr:`KindRole` → :class:`MessageKind`,
    :attr:`SeqRole` → int or None, :attr:`StateRole` → :class:`DeliveryState`,
    :attr:`AlsoRole` → list[str], :attr:`ClientMsgIdRole` → str, :attr:`DeliveredToRole` and
    :attr:`ReadByRole` → list[str], :attr:`ErrorRole` → str, :attr:`TransferRole` → str (the
    transfer id of a transfer card, else ""), :attr:`EditedRole` → float or None (when the
    sender last edited it), ``Qt.ToolTipRole`` and
    ``Qt.AccessibleTextRole`` → str (an edited message: ", edited 14:05" after its time;
    own group messages: "delivered to 3 of 5"; a multicast adds a line "Also to: a, b").

    History loads lazily: the engine installs a :class:`HistorySource` (:meth:`set_source`);
    :meth:`canFetchMore`/:meth:`fetchMore` then add *older* items at the top (from the local
    cache first, then from the server). Views that fetch at the bottom on their own (every
    ``QAbstractItemView`` does) must sit behind a proxy that refuses, see the GUI.

    A jump to a search match far above the loaded rows (:meth:`load_until`) loads only a
    window around it; a :class:`GapItem` row stands for the cached messages in between until
    :meth:`fill_gap` brings them in, a page at a time. So the items are oldest first, but
    need not be contiguous. (Model testers call ``fetchMore`` from inside every change
    signal, which re-enters a model whose source answers from the cache at once: attach one
    when nothing older can be fetched, as the tests do.)

    A view that follows the newest messages sets :attr:`keep_newest`: rows above that many
    newest ones are then set aside as new ones come (kept in memory, no longer rows), so
    that a conversation open all day does not lay out every message of the day again at
    each new one. :meth:`fetchMore` (scrolling up) and :meth:`load_until` (a search match)
    bring them back first, in their place; receipts and edits still reach them.

    Attributes:
        audience: for a group, a callable giving how many others receive a message (the
            tooltip's "of 5"); None elsewhere.
        server_more: False once the server said there is nothing older; None when unknown.

    Signals:
        older_loaded(int): that many older items were added at the top.
        older_done(): a :meth:`fetchMore` ended: what it brought is in (maybe nothing: the
            server had no older page, or refused it for now).
    """

    older_loaded = Signal(int)
    older_done = Signal()

    SenderRole = Qt.ItemDataRole.UserRole + 1
    TextRole = Qt.ItemDataRole.UserRole + 2
    TimestampRole = Qt.ItemDataRole.UserRole + 3
    KindRole = Qt.ItemDataRole.UserRole + 4
    SeqRole = Qt.ItemDataRole.UserRole + 5
    StateRole = Qt.ItemDataRole.UserRole + 6
    AlsoRole = Qt.ItemDataRole.UserRole + 7
    ClientMsgIdRole = Qt.ItemDataRole.UserRole + 8
    DeliveredToRole = Qt.ItemDataRole.UserRole + 9
    ReadByRole = Qt.ItemDataRole.UserRole + 10
    ErrorRole = Qt.ItemDataRole.UserRole + 11
    TransferRole = Qt.ItemDataRole.UserRole + 12
    EditedRole = Qt.ItemDataRole.UserRole + 13

    def __init__(self, key: str, title: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.key = key
        self.title = title
        self._items: list[ChatItem] = []
        self._seqs: set[int] = set()
        self._link_notice: ChatItem | None = None  # the last add_link_notice item
        self._source: HistorySource | None = None
        self.audience: Callable[[], int] | None = None
        self.server_more: bool | None = None
        self.hydrated = False
        self.keep_newest: int | None = None
        """While set, rows above the newest ``keep_newest`` go aside at each new one,
        wherever it goes in (see the class doc); a view that follows the end sets it, None
        while it does not."""
        self._aside: list[ChatItem] = []  # older than row 0, oldest first: not rows
        self._aside_by_seq: dict[int, ChatItem] = {}

    # -- Qt API

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, self.TextRole):
            return item.text
        if role == self.SenderRole:
            return item.sender
        if role == self.TimestampRole:
            return item.ts
        if role == self.KindRole:
            return item.kind
        if role == self.SeqRole:
            return item.seq
        if role == self.StateRole:
            return item.state
        if role == self.AlsoRole:
            return list(item.also)
        if role == self.ClientMsgIdRole:
            return item.client_msg_id
        if role == self.DeliveredToRole:
            return list(item.delivered_to)
        if role == self.ReadByRole:
            return list(item.read_by)
        if role == self.ErrorRole:
            return item.error
        if role == self.TransferRole:
            return item.transfer
        if role == self.EditedRole:
            # Not for a deleted message (the bubble read "This message was deleted." with
            # "edited 14:02" beside it; a hunt): its text is gone, not changed. (A server or
            # cache may still give a deleted message the time of its last edit.)
            return item.edited if item.text != RETRACTED_TEXT else None
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            who = {MessageKind.OWN: "You", MessageKind.SYSTEM: "Notice",
                   MessageKind.ERROR: "Error", MessageKind.TRANSFER: "File from " + item.sender
                   }.get(item.kind, item.sender)
            stamp = time.strftime("%a %d %b %Y %H:%M:%S", local_time(item.ts))
            if item.edited and item.text != RETRACTED_TEXT:
                # (as the bubble's "edited" beside its time: a screen reader did not say it)
                stamp += time.strftime(", edited %H:%M", local_time(item.edited))
            text = f"{who}, {stamp}: {item.text}"
            if item.kind is MessageKind.OWN:
                text += f" ({self.state_text(item)})"
            if item.also:  # the bubble's "also to …" line may be cut short
                text += "\nAlso to: " + ", ".join(item.also)
            return text
        return None

    def state_text(self, item: ChatItem) -> str:
        """How far an own message got, in words ("delivered to 3 of 5" in a group)."""
        if item.state is DeliveryState.PENDING:
            return "waiting to be sent"
        if item.state is DeliveryState.FAILED:
            return "not sent" + (f": {item.error}" if item.error else "") + \
                " — right-click to retry or delete"
        if item.counts is not None:
            delivered, read, total = item.counts
            text = f"delivered to {delivered} of {total}"
            if read:
                text += f", read by {read}"
            return text
        if self.audience is not None:
            total = max(self.audience(), len(item.delivered_to))
            text = f"delivered to {len(item.delivered_to)} of {total}"
            if item.read_by:
                text += f", read by {len(item.read_by)}"
            return text
        return {DeliveryState.SENT: "sent", DeliveryState.DELIVERED: "delivered",
                DeliveryState.READ: "read"}.get(item.state, str(item.state))

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role, name in ((self.SenderRole, b"sender"), (self.TextRole, b"text"),
                           (self.TimestampRole, b"timestamp"), (self.KindRole, b"kind"),
                           (self.SeqRole, b"seq"), (self.StateRole, b"state"),
                           (self.AlsoRole, b"also"), (self.ClientMsgIdRole, b"clientMsgId"),
                           (self.DeliveredToRole, b"deliveredTo"), (self.ReadByRole, b"readBy"),
                           (self.ErrorRole, b"error"), (self.TransferRole, b"transfer"),
                           (self.EditedRole, b"edited")):
            names[role] = QByteArray(name)
        return names

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren

    # -- queries

    def reset(self) -> None:
        """Empty the model (another account's data goes); it fills again from the next
        store it is hydrated from."""
        self.beginResetModel()
        self._items.clear()
        self._seqs.clear()
        self._aside.clear()
        self._aside_by_seq.clear()
        self.server_more = None
        self.hydrated = False
        self.endResetModel()

    def items(self) -> list[ChatItem]:
        """Copies of the items (the rows), oldest first."""
        return [replace(i) for i in self._items]

    def has_seq(self, seq: int) -> bool:
        """Whether message ``seq`` is here: a row, or set aside (see :attr:`keep_newest`)."""
        return seq in self._seqs

    def oldest_seq(self) -> int | None:
        """The smallest ``seq`` shown (None when no item has one)."""
        if self._aside:
            return min((i.seq for i in self._items if i.seq is not None), default=None)
        return min(self._seqs) if self._seqs else None

    def aside_count(self) -> int:
        """How many items are set aside above the rows (see :attr:`keep_newest`)."""
        return len(self._aside)

    def find_item(self, seq: int | None = None,
                  transfer: str = "") -> tuple[int, ChatItem] | None:
        """Message ``seq`` (or the card of ``transfer``), a row or set aside: its place in
        the conversation (0 the oldest of all, set aside ones first) and a copy; None
        when it is not here."""
        if seq is not None:
            row = self.row_of_seq(seq)
            item = self._aside_by_seq.get(seq) if row is None else None
        else:
            row = self.row_of_transfer(transfer)
            item = next((i for i in self._aside if i.transfer == transfer), None) \
                if row is None and transfer else None
        if row is not None:
            return len(self._aside) + row, replace(self._items[row])
        if item is None:
            return None
        return self._aside.index(item), replace(item)

    def row_of_seq(self, seq: int) -> int | None:
        if seq not in self._seqs:
            return None
        for row, item in enumerate(self._items):
            if item.seq == seq:
                return row
        return None

    def item(self, row: int) -> ChatItem:
        return replace(self._items[row])

    def failed_ids(self) -> list[str]:
        """``client_msg_id`` of every failed own message, oldest first."""
        return [i.client_msg_id for i in self._items if i.state is DeliveryState.FAILED]

    def failed_items(self) -> list[ChatItem]:
        """Copies of the failed own messages, oldest first."""
        return [replace(i) for i in self._items if i.state is DeliveryState.FAILED]

    # -- lazy history

    def set_source(self, source: HistorySource | None) -> None:
        self._source = source

    def canFetchMore(self, parent: _Index = _ROOT) -> bool:
        """True while older history may exist (set aside, in the cache or on the server)."""
        if parent.isValid():
            return False
        if self._aside:
            return True
        if self._source is None:
            return False
        return self._source.can_fetch_older(self)

    def fetchMore(self, parent: _Index = _ROOT) -> None:
        """Add the next older page at the top: what was set aside first, then from the cache
        at once, else from the server (the items arrive later; ``older_loaded`` says when)."""
        if parent.isValid():
            return
        if self._aside:
            self._bring_back(ASIDE_PAGE)
            self.older_done.emit()
        elif self._source is not None:
            self._source.fetch_older(self)

    def fetching_older(self) -> bool:
        """True while an older page asked for is on its way from the server (the user just
        scrolled to the top): :meth:`canFetchMore` is False meanwhile, and ``older_done``
        says when it is in (or that it will not come)."""
        return not self._aside and self._source is not None and \
            self._source.fetching_older(self)

    def older_offline(self) -> bool:
        """True when older history may be on the server but cannot be asked for: there is no
        connection (not the start of the conversation, which the server said it reached:
        :attr:`server_more` False)."""
        return self._source is not None and self._source.older_offline(self)

    def find(self, text: str) -> list[int]:
        """Seqs of the messages containing ``text`` (ignoring case), oldest first: the whole
        cached conversation, not only the loaded rows."""
        if not text:
            return []
        if self._source is not None:
            return self._source.search(self, text)
        folded = fold(text)
        return [i.seq for i in [*self._aside, *self._items]
                if i.seq is not None and folded in fold(i.text)]

    def load_until(self, seq: int) -> int | None:
        """Make sure message ``seq`` is loaded and return its row (None if it cannot be).
        A message near the loaded ones brings the cached pages in between; a far one only a
        window around it, with a :class:`GapItem` standing for the rest."""
        row = self.row_of_seq(seq)
        if row is None and self._aside:
            item = self._aside_by_seq.get(seq)
            if item is not None:  # set aside: back down to it
                self._bring_back(len(self._aside) - self._aside.index(item))
                return self.row_of_seq(seq)
            oldest = self.oldest_seq()
            if oldest is None or seq < oldest:
                self._bring_back(len(self._aside))  # (older still: above them all)
        if row is None and self._source is not None:
            self._source.load_until(self, seq)
            row = self.row_of_seq(seq)
        return row

    def find_quoted(self, row: int) -> QuoteTarget:
        """Where the quote of the reply at ``row`` points (:func:`~.quotes.find_quoted`):
        among the conversation's messages older than the reply, the loaded ones (set aside
        too) and the cached ones (:meth:`HistorySource.quote_candidates`), with their
        current text. The message may not be loaded yet: :meth:`load_until` brings it."""
        if not 0 <= row < len(self._items):
            return QuoteTarget(QuoteOutcome.GONE)
        reply = self._items[row]
        quoted = quoted_of(reply.text)
        if quoted is None or reply.kind not in (MessageKind.OWN, MessageKind.OTHER):
            return QuoteTarget(QuoteOutcome.GONE)
        sender = name_key(quoted[0])
        before = reply.seq
        loaded = [QuoteCandidate(i.seq, i.sender, i.text, i.edited)
                  for i in reversed([*self._aside, *self._items[:row]])
                  if i.seq is not None and (before is None or i.seq < before)
                  and i.kind in (MessageKind.OWN, MessageKind.OTHER)
                  and name_key(i.sender) == sender]
        cached: Iterable[QuoteCandidate] = () if self._source is None else \
            self._source.quote_candidates(self, quoted[0], before)
        return find_quoted(reply.text, reply.ts, _newest_first(loaded, cached))

    # -- gaps (see GapItem)

    def gap_rows(self) -> list[int]:
        """The rows of the :class:`GapItem` s, top first."""
        return [r for r, i in enumerate(self._items) if isinstance(i, GapItem)]

    def gap_at(self, row: int) -> GapItem | None:
        """A copy of the gap at ``row``, or None when that row is not a gap."""
        if 0 <= row < len(self._items) and isinstance(self._items[row], GapItem):
            return replace(self._items[row])  # type: ignore[return-value]
        return None

    def gap_containing(self, seq: int) -> int | None:
        """The row of the gap that stands for message ``seq``, or None."""
        for row, item in enumerate(self._items):
            if isinstance(item, GapItem) and item.after < seq < item.before:
                return row
        return None

    def fill_gap(self, row: int, newest: bool = False) -> None:
        """Load the next page of the gap at ``row``: its oldest messages (inserted above it),
        or with ``newest`` its newest ones (inserted below it). The gap goes once empty."""
        if self._source is not None and self.gap_at(row) is not None:
            self._source.fill_gap(self, row, newest)

    def _unseen(self, items: list[ChatItem]) -> list[ChatItem]:
        """``items`` whose seq is not in the model yet (now recorded as seen), in order."""
        fresh: list[ChatItem] = []
        for item in items:
            if item.seq is not None:
                if item.seq in self._seqs:
                    continue
                self._seqs.add(item.seq)
            fresh.append(item)
        return fresh

    def replace_row(self, row: int, items: list[ChatItem]) -> int:
        """Replace the item at ``row`` (a gap) by ``items`` (oldest first; messages already
        here are skipped): the row is removed, then the items are inserted in its place.
        Returns how many items were inserted."""
        fresh = self._unseen(items)
        self._remove(row)
        if fresh:
            self.beginInsertRows(_ROOT, row, row + len(fresh) - 1)
            self._items[row:row] = fresh
            self.endInsertRows()
        return len(fresh)

    # -- changes

    def prepend(self, items: list[ChatItem]) -> int:
        """Insert older ``items`` (oldest first) at the top, skipping known seqs; returns how
        many were added.

        Transfer cards at the top (older than every message loaded so far) keep their place in
        time: older items go above a card, newer ones below it. Items newer than the oldest
        message here (the newest page of a conversation, fetched after messages the server
        had queued were shown) go in their place by seq, as :meth:`append` puts them."""
        if self._aside:
            newest = max(self._aside_by_seq, default=-1)
            if any(i.seq is None or (i.seq not in self._seqs and i.seq < newest)
                   for i in items):
                self._bring_back(len(self._aside))  # (they go above or among them)
        oldest = self.oldest_seq()
        fresh = self._unseen(items)
        if oldest is not None and any(i.seq is not None and i.seq > oldest for i in fresh):
            later = [i for i in fresh if i.seq is not None and i.seq > oldest]
            fresh = [i for i in fresh if i.seq is None or i.seq < oldest]
            for item in later:
                assert item.seq is not None
                row = self._row_for_seq(item.seq, len(self._items))
                self.beginInsertRows(_ROOT, row, row)
                self._items.insert(row, item)
                self.endInsertRows()
            if not fresh:
                return len(later)
            return self._prepend(fresh) + len(later)
        if not fresh:
            return 0
        return self._prepend(fresh)

    def _prepend(self, fresh: list[ChatItem]) -> int:
        row = i = 0
        while i < len(fresh):
            card = self._items[row] if row < len(self._items) else None
            if card is None or card.kind != MessageKind.TRANSFER:
                n = len(fresh) - i  # the rest goes above the first message row
            else:
                n = 0
                while i + n < len(fresh) and fresh[i + n].ts < card.ts:
                    n += 1
            if n:
                self.beginInsertRows(_ROOT, row, row + n - 1)
                self._items[row:row] = fresh[i:i + n]
                self.endInsertRows()
                row, i = row + n, i + n
            row += 1  # past the card
        self.older_loaded.emit(len(fresh))
        return len(fresh)

    def append(self, item: ChatItem) -> bool:
        """Add ``item`` at the end unless its ``seq`` is here already (redelivery); True when
        it was added. A message goes above own messages waiting for their ack (they stay at
        the bottom until the server numbers them), and one older than the newest ones (a
        catch-up page after a reconnect that comes after messages the server had queued)
        above every item of a higher seq, so the conversation stays in the server's order."""
        row = len(self._items)
        if item.seq is not None:
            if item.seq in self._seqs:
                return False
            self._seqs.add(item.seq)
            row = self._row_for_seq(item.seq, row)
            if row == 0 and self._aside and \
                    any(i.seq is not None and i.seq > item.seq for i in self._aside):
                if self.keep_newest is not None and len(self._items) >= self.keep_newest:
                    # Older than some set aside (a late catch-up page) while the view follows
                    # the end: it goes aside too, in its place (not all back and aside again).
                    self._aside.insert(self._row_for_seq(item.seq, len(self._aside),
                                                         self._aside), item)
                    self._aside_by_seq[item.seq] = item
                    return True
                # ... else all back, then its place.
                self._bring_back(len(self._aside))
                row = self._row_for_seq(item.seq, len(self._items))
        self.beginInsertRows(_ROOT, row, row)
        self._items.insert(row, item)
        self.endInsertRows()
        if self.keep_newest is not None and len(self._items) > self.keep_newest:
            # Wherever it went: a catch-up replayed after the newest page was shown goes in
            # above that page, and the rows it pushed up go aside as well.
            self._set_aside(len(self._items) - self.keep_newest)
        return True

    def _set_aside(self, n: int) -> None:
        """Set the ``n`` top rows aside (fewer: an unsent own message stays a row, for its
        Retry, and so does everything below it)."""
        items = self._items
        n = min(n, len(items))
        for row in range(n):
            if items[row].state in (DeliveryState.PENDING, DeliveryState.FAILED) \
                    and items[row].seq is None:
                n = row
                break
        if n <= 0:
            return
        self.beginRemoveRows(_ROOT, 0, n - 1)
        moved = items[:n]
        del items[:n]
        self._aside.extend(moved)
        self.endRemoveRows()
        for item in moved:
            if item.seq is not None:
                self._aside_by_seq[item.seq] = item

    def _bring_back(self, n: int) -> None:
        """The newest ``n`` items set aside become the top rows again."""
        n = min(n, len(self._aside))
        if n <= 0:
            return
        back = self._aside[-n:]
        self.beginInsertRows(_ROOT, 0, n - 1)
        del self._aside[-n:]
        self._items[0:0] = back
        self.endInsertRows()
        for item in back:
            if item.seq is not None:
                self._aside_by_seq.pop(item.seq, None)
        self.older_loaded.emit(n)

    def _row_for_seq(self, seq: int, end: int, items: list[ChatItem] | None = None) -> int:
        """Where a message numbered ``seq`` goes among the rows above ``end`` (of ``items``:
        the rows, or those set aside): above the own messages waiting for their ack at the
        bottom (a failed one keeps its place), and above every message of a higher seq (a
        notice or card between them is passed only on the way up to such a message)."""
        items = self._items if items is None else items
        row = end
        while row > 0 and items[row - 1].seq is None \
                and items[row - 1].state is DeliveryState.PENDING:
            row -= 1
        probe = row
        while probe > 0:
            above = items[probe - 1].seq
            if above is not None and above < seq:
                break
            probe -= 1
            if above is not None:
                row = probe
        return row

    def add_transfer(self, transfer_id: str, sender: str, name: str,
                     ts: float | None = None, *, last: bool = False) -> bool:
        """Add a transfer card for ``transfer_id`` (a file ``name`` from ``sender``) unless
        this conversation shows it already; True when added.

        ``ts``: Unix seconds when the transfer began, on the server's clock as messages'
        times are (see :class:`~.serverclock.ServerClock`). Without it the card goes at the
        end, stamped now. With it the card goes after the last item that is not newer, so
        it shows at its time among the messages (one reloaded from the local store), or
        with ``last`` (a transfer starting now) at the end, stamped ``ts``."""
        if self.row_of_transfer(transfer_id) is not None or \
                any(i.transfer == transfer_id for i in self._aside):
            return False
        if ts is None or last:
            return self.append(ChatItem(MessageKind.TRANSFER, sender, name,
                                        ts=time.time() if ts is None else ts,
                                        transfer=transfer_id))
        row = len(self._items)
        while row > 0:
            above = self._items[row - 1]
            if not isinstance(above, GapItem) and above.ts <= ts:
                break
            row -= 1
        if row == 0 and self._aside and any(not isinstance(i, GapItem) and i.ts > ts
                                            for i in self._aside):
            self._bring_back(len(self._aside))  # (it goes among them)
            return self.add_transfer(transfer_id, sender, name, ts)
        self.beginInsertRows(_ROOT, row, row)
        self._items.insert(row, ChatItem(MessageKind.TRANSFER, sender, name, ts=ts,
                                         transfer=transfer_id))
        self.endInsertRows()
        return True

    def load_card(self, transfer_id: str) -> int | None:
        """The row of the card of ``transfer_id``, brought back when set aside (see
        :attr:`keep_newest`); None when this conversation has no such card."""
        found = self.find_item(transfer=transfer_id)
        if found is not None and found[0] < len(self._aside):
            self._bring_back(len(self._aside) - found[0])
        return self.row_of_transfer(transfer_id)

    def row_of_transfer(self, transfer_id: str) -> int | None:
        """The row of the card of ``transfer_id``, or None."""
        for row in range(len(self._items) - 1, -1, -1):
            if self._items[row].transfer == transfer_id:
                return row
        return None

    def add_notice(self, text: str, *, error: bool = False) -> None:
        """Append a system notice (or an error, shown in red)."""
        self.append(ChatItem(MessageKind.ERROR if error else MessageKind.SYSTEM, "", text))

    def add_link_notice(self, text: str, *, error: bool = False) -> None:
        """Append a notice about the link to the server ("Disconnected: …", "Reconnected
        to …"), in place of the previous one when that is still the last row: a run of
        drops and reconnects with nothing between shows as one line, the latest (each
        drop added two lines, pushing the conversation out of view)."""
        last = self._link_notice
        if last is not None and self._items and self._items[-1] is last:
            self._remove(len(self._items) - 1)
        item = ChatItem(MessageKind.ERROR if error else MessageKind.SYSTEM, "", text)
        self.append(item)
        self._link_notice = item

    def mark_sent(self, client_msg_id: str, seq: int, ts: float) -> bool:
        """An own message was acked: set its ``seq``, server ``ts`` and state ``sent``. When
        ``seq`` is here already (history brought it first), the pending copy goes."""
        # One pass up from the end: the row, and the last row below it of a lower seq.
        items = self._items
        row, last_older = None, None
        if client_msg_id:
            for r in range(len(items) - 1, -1, -1):
                other = items[r]
                if other.client_msg_id == client_msg_id:
                    row = r
                    break
                if last_older is None and other.seq is not None and other.seq < seq:
                    last_older = r
        if row is None:
            return False
        item = items[row]
        if item.seq == seq:
            return True
        if seq in self._seqs:
            self._remove(row)
            return True
        item.seq, item.ts = seq, ts
        if _STATE_RANK[item.state] < _STATE_RANK[DeliveryState.SENT]:
            item.state = DeliveryState.SENT
        item.error = ""
        self._seqs.add(seq)
        self._changed(row, [self.SeqRole, self.TimestampRole, self.StateRole, self.ErrorRole])
        # Numbered now: it goes below the messages of lower seqs that arrived while it waited
        # (the last of them), or above rows of higher seqs and unsent messages above it; else
        # it stays.
        dest = last_older if last_older is not None else self._row_for_seq(seq, row)
        if dest == 0 and self._aside and any(s > seq for s in self._aside_by_seq):
            # Older than some set aside (a resend that kept its old seq): among them.
            n = len(self._aside)
            self._bring_back(n)
            row += n
            dest = self._row_for_seq(seq, row)
        if dest != row:
            self.beginMoveRows(_ROOT, row, row, _ROOT, dest if dest < row else dest + 1)
            del self._items[row]
            self._items.insert(dest, item)
            self.endMoveRows()
        return True

    def mark_failed(self, client_msg_id: str, reason: str = "") -> bool:
        """An own message was refused: state ``failed`` (``reason`` says why)."""
        row = self._row_of_client_id(client_msg_id)
        if row is None:
            return False
        self._items[row].state = DeliveryState.FAILED
        self._items[row].error = reason
        self._changed(row, [self.StateRole, self.ErrorRole])
        return True

    def mark_pending(self, client_msg_id: str) -> bool:
        """A failed message is retried: back to ``pending``."""
        row = self._row_of_client_id(client_msg_id)
        if row is None:
            return False
        self._items[row].state = DeliveryState.PENDING
        self._items[row].error = ""
        self._changed(row, [self.StateRole, self.ErrorRole])
        return True

    def set_receipts(self, seq: int, state: str, delivered_to: list[str] | tuple[str, ...],
                     read_by: list[str] | tuple[str, ...],
                     counts: tuple[int, int, int] | None = None) -> bool:
        """Apply receipts to own message ``seq`` (its state only moves forward); ``counts``
        are a group message's ``(delivered, read, recipients)``."""
        row = self.row_of_seq(seq)
        item = self._items[row] if row is not None else self._aside_by_seq.get(seq)
        if item is None:
            return False
        new = DeliveryState(state)
        if _STATE_RANK[new] > _STATE_RANK[item.state]:
            item.state = new
        item.delivered_to, item.read_by = tuple(delivered_to), tuple(read_by)
        if counts is not None:
            item.counts = counts
        if row is not None:  # (one set aside shows it when it comes back)
            self._changed(row, [self.StateRole, self.DeliveredToRole, self.ReadByRole])
        return True

    def set_text(self, seq: int, text: str, edited: float | None = None) -> bool:
        """Replace the text of message ``seq`` (deleted, or edited at ``edited``, by its
        sender); False when this conversation does not show it."""
        row = self.row_of_seq(seq)
        item = self._items[row] if row is not None else self._aside_by_seq.get(seq)
        if item is None:
            return False
        if edited is not None and (item.text == RETRACTED_TEXT
                                   or (item.edited is not None and item.edited > edited)):
            return True  # deleted, or edited later since: an old edit changes nothing
        item.text = text
        if edited is not None:
            item.edited = edited
        elif text == RETRACTED_TEXT:
            item.edited = None  # (deleted: not "edited" any more)
        if row is not None:
            self._changed(row, [Qt.ItemDataRole.DisplayRole, self.TextRole, self.EditedRole,
                                Qt.ItemDataRole.ToolTipRole,
                                Qt.ItemDataRole.AccessibleTextRole])
        return True

    def remove_client_id(self, client_msg_id: str) -> bool:
        """Drop an own message (a deleted unsent one)."""
        row = self._row_of_client_id(client_msg_id)
        if row is None:
            return False
        self._remove(row)
        return True

    def has_client_id(self, client_msg_id: str) -> bool:
        return self._row_of_client_id(client_msg_id) is not None

    # -- internals

    def _row_of_client_id(self, client_msg_id: str) -> int | None:
        if not client_msg_id:
            return None
        for row in range(len(self._items) - 1, -1, -1):
            if self._items[row].client_msg_id == client_msg_id:
                return row
        return None

    def _remove(self, row: int) -> None:
        self.beginRemoveRows(_ROOT, row, row)
        item = self._items.pop(row)
        self.endRemoveRows()
        if item.seq is not None and not any(i.seq == item.seq for i in self._items):
            self._seqs.discard(item.seq)

    def _changed(self, row: int, roles: list[int]) -> None:
        idx = self.index(row, 0)
        self.dataChanged.emit(idx, idx, [*roles, Qt.ItemDataRole.ToolTipRole,
                                         Qt.ItemDataRole.AccessibleTextRole])


def _newest_first(loaded: list[QuoteCandidate],
                  cached: Iterable[QuoteCandidate]) -> Iterator[QuoteCandidate]:
    """``loaded`` and ``cached`` (each newest first) as one run, newest first, each seq
    once (the loaded copy: what the tab shows)."""
    seen: set[int] = set()
    rest = iter(cached)
    pending = next(rest, None)
    for item in loaded:
        while pending is not None and pending.seq > item.seq:
            if pending.seq not in seen:
                seen.add(pending.seq)
                yield pending
            pending = next(rest, None)
        seen.add(item.seq)
        yield item
    while pending is not None:
        if pending.seq not in seen:
            seen.add(pending.seq)
            yield pending
        pending = next(rest, None)


class HistorySource(Protocol):
    """Where a :class:`ConversationModel` gets older items and searches (the engine)."""

    def can_fetch_older(self, model: ConversationModel) -> bool: ...
    def fetch_older(self, model: ConversationModel) -> None: ...
    def fetching_older(self, model: ConversationModel) -> bool: ...
    def older_offline(self, model: ConversationModel) -> bool: ...
    def search(self, model: ConversationModel, text: str) -> list[int]: ...
    def load_until(self, model: ConversationModel, seq: int) -> None: ...
    def fill_gap(self, model: ConversationModel, row: int, newest: bool) -> None: ...
    def quote_candidates(self, model: ConversationModel, sender: str,
                         before: int | None) -> Iterable[QuoteCandidate]: ...


# ------------------------------------------------------------------------------------ groups


@dataclass
class GroupRow:
    """One group as this client knows it.

    Attributes:
        name: the group's canonical name.
        leader: the leader's name.
        members: joined members, in joining order.
        invited: users with a pending invitation.
        public: anyone may join (else invite-only).
        member: this user has joined it.
        pending: this user is invited and has not answered yet.
        invited_by: who invited this user ("" when unknown).
        unread: unread messages in its conversation.
        created: Unix seconds.
        left: this account is no longer a member (left, removed, dissolved) and keeps the
            conversation's history: listed last, to open it for reading (``member`` and
            ``pending`` are False; leader and members are not known).
        ended: (a ``left`` row) this app saw the group dissolved (its last member left):
            there is nothing to join again.
    """

    name: str
    leader: str
    members: tuple[str, ...] = ()
    invited: tuple[str, ...] = ()
    public: bool = False
    member: bool = True
    pending: bool = False
    invited_by: str = ""
    unread: int = 0
    created: float = 0.0
    left: bool = False
    ended: bool = False


def _group_sort_key(row: GroupRow) -> tuple[bool, bool, str, str]:
    return (row.left, not row.pending, name_key(row.name), row.name)


class GroupModel(QAbstractListModel):
    """Groups: invitations waiting for an answer first, then by name ignoring case, then
    the groups this account was in and keeps the history of (:attr:`GroupRow.left`).

    The engine keeps two: :attr:`ClientEngine.groups` (groups you are in or invited to, shown
    in the contact list) and :attr:`ClientEngine.directory` (every group the server lists for
    you, for "Join a group…").

    Roles: ``Qt.DisplayRole``/:attr:`NameRole` → str, :attr:`MemberCountRole` → int,
    :attr:`UnreadRole` → int, :attr:`PendingRole` → bool (an invitation awaits an answer),
    :attr:`LeaderRole` → str, :attr:`PublicRole` → bool, :attr:`MembersRole` → list[str],
    :attr:`InvitedByRole` → str, :attr:`MemberRole` → bool (joined),
    :attr:`JoinableRole` → bool (public, or invited, and not joined yet),
    :attr:`LeftRole` → bool (no longer a member; history only),
    ``Qt.ToolTipRole``/``Qt.AccessibleTextRole`` → str.

    Signals:
        pending_changed(): the set of pending invitations changed.
    """

    NameRole = Qt.ItemDataRole.UserRole + 1
    MemberCountRole = Qt.ItemDataRole.UserRole + 2
    UnreadRole = Qt.ItemDataRole.UserRole + 3
    PendingRole = Qt.ItemDataRole.UserRole + 4
    LeaderRole = Qt.ItemDataRole.UserRole + 5
    PublicRole = Qt.ItemDataRole.UserRole + 6
    MembersRole = Qt.ItemDataRole.UserRole + 7
    InvitedByRole = Qt.ItemDataRole.UserRole + 8
    MemberRole = Qt.ItemDataRole.UserRole + 9
    JoinableRole = Qt.ItemDataRole.UserRole + 10
    LeftRole = Qt.ItemDataRole.UserRole + 11

    pending_changed = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[GroupRow] = []
        # Look-ups by name are a dict away: each open group tab looks its group up at every
        # presence change and message (a walk of 300 groups per tab and event; a hunt).
        self._row_by_key: dict[str, int] = {}

    # -- Qt API

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        g = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, self.NameRole):
            return g.name
        if role == self.MemberCountRole:
            return len(g.members)
        if role == self.UnreadRole:
            return g.unread
        if role == self.PendingRole:
            return g.pending
        if role == self.LeaderRole:
            return g.leader
        if role == self.PublicRole:
            return g.public
        if role == self.MembersRole:
            return list(g.members)
        if role == self.InvitedByRole:
            return g.invited_by
        if role == self.MemberRole:
            return g.member
        if role == self.JoinableRole:
            return not g.member and (g.public or g.pending)
        if role == self.LeftRole:
            return g.left
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            if g.left:
                why = "it ended" if g.ended else "you are no longer a member"
                return (f"group {g.name}: {why}; its messages stay "
                        "here to read (right-click to remove it from the list)")
            n = len(g.members)
            text = (f"group {g.name}, {'public' if g.public else 'invite-only'}, "
                    f"{n} member{'s' if n != 1 else ''}, led by {g.leader}")
            if g.pending:
                text += ", invitation" + (f" from {g.invited_by}" if g.invited_by else "") + \
                    " waiting for your answer"
            if g.unread:
                text += f", {g.unread} unread"
            return text
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role, name in ((self.NameRole, b"name"), (self.MemberCountRole, b"memberCount"),
                           (self.UnreadRole, b"unread"), (self.PendingRole, b"pending"),
                           (self.LeaderRole, b"leader"), (self.PublicRole, b"public"),
                           (self.MembersRole, b"members"), (self.InvitedByRole, b"invitedBy"),
                           (self.MemberRole, b"member"), (self.JoinableRole, b"joinable"),
                           (self.LeftRole, b"left")):
            names[role] = QByteArray(name)
        return names

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren

    # -- queries

    def names(self) -> list[str]:
        """The groups you are in or invited to (not :meth:`former` ones)."""
        return [g.name for g in self._rows if not g.left]

    def group(self, name: str) -> GroupRow | None:
        """A copy of the row of group ``name`` (any case) that you are in or invited to, or
        None (also for a :meth:`former` one)."""
        row = self._row_of(name)
        return None if row is None or self._rows[row].left else replace(self._rows[row])

    def row_of(self, name: str) -> int | None:
        return self._row_of(name)

    def former_row(self, name: str) -> GroupRow | None:
        """A copy of the :meth:`former` row of group ``name`` (any case), or None."""
        row = self._row_of(name)
        return replace(self._rows[row]) if row is not None and self._rows[row].left else None

    def rows(self) -> list[GroupRow]:
        """Copies of the rows of the groups you are in or invited to."""
        return [replace(g) for g in self._rows if not g.left]

    def former(self) -> list[str]:
        """The groups listed as :attr:`GroupRow.left` (no longer a member; history only)."""
        return [g.name for g in self._rows if g.left]

    def pending(self) -> list[GroupRow]:
        """Copies of the rows with an invitation awaiting an answer."""
        return [replace(g) for g in self._rows if g.pending]

    # -- changes

    def set_groups(self, rows: list[GroupRow]) -> None:
        """Replace every row (in place, see :func:`replace_rows`); unread counts of groups
        still present are kept."""
        unread = {name_key(g.name): g.unread for g in self._rows}
        new = [replace(r, unread=unread.get(name_key(r.name), r.unread)) for r in rows]
        new.sort(key=_group_sort_key)
        before = [g.name for g in self._rows if g.pending]
        # (in place: a reset at each login lost the view's selection and scroll position)
        replace_rows(self, self._rows, new, lambda g: name_key(g.name), self._reindex)
        if before != [g.name for g in self._rows if g.pending]:
            self.pending_changed.emit()

    def clear(self) -> None:
        self.set_groups([])

    def upsert(self, row: GroupRow) -> None:
        """Add ``row`` or update the group of that name (its unread count is kept, and its
        ``invited_by`` when ``row`` has none)."""
        index = self._row_of(row.name)
        if index is None:
            target = self._target_row(row, self._rows)
            self.beginInsertRows(_ROOT, target, target)
            self._rows.insert(target, replace(row))
            self._reindex()
            self.endInsertRows()
            if row.pending:
                self.pending_changed.emit()
            return
        old = self._rows[index]
        new = replace(row, unread=old.unread, invited_by=row.invited_by or old.invited_by)
        if new == old:
            return
        target = index
        if _group_sort_key(new) != _group_sort_key(old):
            # Moved, not removed and inserted again: the views' current row and selection
            # go with it (they went to the group that took its place, and Enter opened
            # that one: an invitation accepted, a group left; a hunt).
            target = self._target_row(new, self._rows[:index] + self._rows[index + 1:])
        if target != index and self.beginMoveRows(
                _ROOT, index, index, _ROOT, target + 1 if target > index else target):
            # (Qt's destination is counted in the list before the move)
            del self._rows[index]
            self._rows.insert(target, new)
            self._reindex()
            self.endMoveRows()
        else:
            target = index
            self._rows[index] = new
        top = self.index(target, 0)
        self.dataChanged.emit(top, top)
        if old.pending != new.pending:
            self.pending_changed.emit()

    def remove(self, name: str) -> bool:
        """Drop group ``name``; True when it was there."""
        index = self._row_of(name)
        if index is None:
            return False
        pending = self._rows[index].pending
        self._remove_row(index)
        if pending:
            self.pending_changed.emit()
        return True

    def set_unread(self, name: str, count: int) -> None:
        index = self._row_of(name)
        if index is None or self._rows[index].unread == count:
            return
        self._rows[index].unread = max(0, count)
        top = self.index(index, 0)
        self.dataChanged.emit(top, top, [self.UnreadRole, Qt.ItemDataRole.ToolTipRole,
                                         Qt.ItemDataRole.AccessibleTextRole])

    # -- internals

    def _row_of(self, name: str) -> int | None:
        return self._row_by_key.get(name_key(name))

    def _reindex(self) -> None:
        self._row_by_key = {name_key(g.name): i for i, g in enumerate(self._rows)}

    @staticmethod
    def _target_row(row: GroupRow, rows: list[GroupRow]) -> int:
        key = _group_sort_key(row)
        for i, other in enumerate(rows):
            if key < _group_sort_key(other):
                return i
        return len(rows)

    def _remove_row(self, index: int) -> None:
        self.beginRemoveRows(_ROOT, index, index)
        del self._rows[index]
        self._reindex()
        self.endRemoveRows()


@dataclass(frozen=True)
class Member:
    """One row of a group's member list."""

    name: str
    leader: bool = False
    online: bool = False
    me: bool = False
    invited: bool = False
    known: bool = True
    """Whether presence is known (logged in); while it is not, ``online`` is False for all,
    you too, and the panel says "presence unknown" as the contact list does."""


class MembersModel(QAbstractListModel):
    """The members of one group (leader first, then in joining order) followed by pending
    invitees, with their presence taken from the roster. Follows both models by itself.

    Args:
        groups: the engine's :class:`GroupModel`.
        roster: the engine's :class:`RosterModel`.
        group: the group's name.
        me: the logged-in user's name (shown online while logged in).

    Roles: ``Qt.DisplayRole``/:attr:`NameRole` → str, :attr:`LeaderRole` → bool,
    :attr:`OnlineRole` → bool, :attr:`MeRole` → bool, :attr:`InvitedRole` → bool,
    :attr:`PresenceKnownRole` → bool (the roster's: False while not logged in, when nobody,
    you included, is shown online or offline), ``Qt.ToolTipRole``/``Qt.AccessibleTextRole``
    → str.
    """

    NameRole = Qt.ItemDataRole.UserRole + 1
    LeaderRole = Qt.ItemDataRole.UserRole + 2
    OnlineRole = Qt.ItemDataRole.UserRole + 3
    MeRole = Qt.ItemDataRole.UserRole + 4
    InvitedRole = Qt.ItemDataRole.UserRole + 5
    PresenceKnownRole = Qt.ItemDataRole.UserRole + 6

    def __init__(self, groups: GroupModel, roster: RosterModel, group: str, me: str,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self._groups = groups
        self._roster = roster
        self.group = group
        self._me = me
        self._rows: list[Member] = self._compute()
        self._row_by_key: dict[str, int] = {}
        self._reindex()
        # Only what can change this list: its group's row, and the presence of its members.
        # Every roster or group change recomputed every open group's list (a roster look-up
        # per member): ten open group tabs made 20 recomputations of 60 members for a login
        # of someone in none of them, and 10 for each private message (a hunt). A row that
        # moves in either list changes nothing here.
        roster.dataChanged.connect(self._on_roster_changed)
        roster.rowsInserted.connect(self._on_contacts_added)
        roster.rowsRemoved.connect(self._refresh)
        roster.modelReset.connect(self._refresh)
        groups.dataChanged.connect(self._on_groups_changed)
        groups.rowsInserted.connect(self._on_groups_added)
        groups.rowsRemoved.connect(self._on_groups_removed)
        groups.modelReset.connect(self._refresh)

    def _compute(self) -> list[Member]:
        row = self._groups.group(self.group)
        if row is None:
            return []
        me = name_key(self._me)
        known = self._roster.presence_known

        def member(name: str, invited: bool = False) -> Member:
            contact = self._roster.contact(name)
            is_me = name_key(name) == me
            online = known and (is_me or bool(contact and contact.online))
            return Member(name, name_key(name) == name_key(row.leader) and not invited,
                          online, is_me, invited, known)

        members = [member(n) for n in row.members]
        members.sort(key=lambda m: not m.leader)  # stable: joining order otherwise
        return members + [member(n, True) for n in row.invited]

    def _refresh(self, *args: Any) -> None:
        # Rows changed in place (a reset dropped the panel's selection and current row at
        # every join, leave or invitation; noted by a hunt).
        replace_rows(self, self._rows, self._compute(), lambda m: name_key(m.name),
                     self._reindex)

    def _reindex(self) -> None:
        self._row_by_key = {name_key(m.name): i for i, m in enumerate(self._rows)}

    _PRESENCE_ROLES = frozenset({RosterModel.OnlineRole, RosterModel.PresenceKnownRole})
    _GROUP_QUIET_ROLES = frozenset({GroupModel.UnreadRole, Qt.ItemDataRole.ToolTipRole,
                                    Qt.ItemDataRole.AccessibleTextRole})

    def _on_roster_changed(self, top: QModelIndex, bottom: QModelIndex,
                           roles: Sequence[int] = ()) -> None:
        """Roster rows ``top``…``bottom`` changed: a presence change of a member updates
        that member's row; an unread count (or anyone else's presence) changes nothing."""
        if roles and not self._PRESENCE_ROLES.intersection(roles):
            return
        if not roles or RosterModel.PresenceKnownRole in roles:
            self._refresh()  # (everyone's: logged in or out, a new roster)
            return
        for row in range(top.row(), bottom.row() + 1):
            self._update_member(self._roster.index(row, 0).data(RosterModel.NameRole))

    def _on_contacts_added(self, parent: QModelIndex, first: int, last: int) -> None:
        """New contacts (a fresh registration): a member among them shows their presence."""
        for row in range(first, last + 1):
            self._update_member(self._roster.index(row, 0).data(RosterModel.NameRole))

    def _update_member(self, name: str | None) -> None:
        """Member ``name``'s presence, as the roster has it now (nothing for a non-member)."""
        row = self._row_by_key.get(name_key(name or ""))
        if row is None:
            return
        m = self._rows[row]
        contact = self._roster.contact(m.name)
        known = self._roster.presence_known
        online = known and (m.me or bool(contact and contact.online))
        if (online, known) != (m.online, m.known):
            self._rows[row] = replace(m, online=online, known=known)
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)

    def _is_mine(self, first: int, last: int) -> bool:
        key = name_key(self.group)
        return any(name_key(self._groups.index(r, 0).data(GroupModel.NameRole) or "") == key
                   for r in range(first, last + 1))

    def _on_groups_changed(self, top: QModelIndex, bottom: QModelIndex,
                           roles: Sequence[int] = ()) -> None:
        """Group rows changed: this group's members or leader may have; another group's
        change, or an unread count, changes nothing here."""
        if roles and self._GROUP_QUIET_ROLES.issuperset(roles):
            return
        if self._is_mine(top.row(), bottom.row()):
            self._refresh()

    def _on_groups_added(self, parent: QModelIndex, first: int, last: int) -> None:
        if self._is_mine(first, last):
            self._refresh()

    def _on_groups_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        if self._rows and self._groups.row_of(self.group) is None:
            self._refresh()  # (this group is gone: no members)

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        m = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, self.NameRole):
            return m.name
        if role == self.LeaderRole:
            return m.leader
        if role == self.OnlineRole:
            return m.online
        if role == self.MeRole:
            return m.me
        if role == self.InvitedRole:
            return m.invited
        if role == self.PresenceKnownRole:
            return m.known
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            parts = [m.name + (" (you)" if m.me else "")]
            if m.leader:
                parts.append("leader")
            parts.append("invited, has not answered" if m.invited
                         else "presence unknown (not connected)" if not m.known
                         else "online" if m.online else "offline")
            return ", ".join(parts)
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role, name in ((self.NameRole, b"name"), (self.LeaderRole, b"leader"),
                           (self.OnlineRole, b"online"), (self.MeRole, b"me"),
                           (self.InvitedRole, b"invited"),
                           (self.PresenceKnownRole, b"presenceKnown")):
            names[role] = QByteArray(name)
        return names

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren

    def names(self) -> list[str]:
        return [m.name for m in self._rows]

    def member(self, row: int) -> Member:
        return self._rows[row]


# ------------------------------------------------------------------------------ pick lists


def _name_order(name: str) -> tuple[str, str]:
    return (name_key(name), name)


class RosterNamesModel(QAbstractListModel):
    """The names of a :class:`RosterModel` by name (ignoring case), for the pick lists
    (New group…, Invite…, Message several people…), which show no presence.

    The roster moves a row at every presence change (online first), and a sorting filter
    proxy takes a source's row move as a change of its whole layout: with the invite list
    open, each login anywhere sorted and filtered every account again (1,000 accounts:
    about a quarter of a second per login, the window frozen through the 9:00 logins; a
    hunt). Here rows only come and go with the roster's accounts; other roles (the tooltip,
    presence) are the roster's, looked up by name as they are asked for.

    Roles: those of :class:`RosterModel`.
    """

    def __init__(self, roster: RosterModel, parent: Any = None) -> None:
        super().__init__(parent)
        self._roster = roster
        self._names: list[str] = sorted(roster.names(), key=_name_order)
        # (not rowsMoved, nor dataChanged: presence and unread counts change no name)
        for signal in (roster.rowsInserted, roster.rowsRemoved, roster.modelReset,
                       roster.layoutChanged):
            signal.connect(self._sync)

    def _sync(self, *args: Any) -> None:
        """Accounts came or went (or a new roster): the names again, changed in place."""
        new = sorted(self._roster.names(), key=_name_order)
        if new != self._names:
            replace_rows(self, self._names, new, name_key)

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._names)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._names):
            return None
        name = self._names[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, RosterModel.NameRole):
            return name
        row = self._roster.row_of(name)
        return None if row is None else self._roster.index(row, 0).data(role)

    def roleNames(self) -> dict[int, QByteArray]:
        return self._roster.roleNames()

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren


class CheckableProxyModel(QIdentityProxyModel):
    """Adds a check box to every row of a name list (such as the roster) without copying it:
    the checked names live here, keyed ignoring case, so they survive re-sorting and
    filtering of the source. ``nameRole`` is the source role holding the name.

    Signals:
        checked_changed(): the set of checked names changed.
    """

    checked_changed = Signal()

    def __init__(self, source: QAbstractListModel, name_role: int, parent: Any = None) -> None:
        super().__init__(parent)
        self._name_role = name_role
        self._checked: dict[str, str] = {}
        self.setSourceModel(source)

    def _name(self, index: _Index) -> str:
        return self.mapToSource(index).data(self._name_role) or ""

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.CheckStateRole and index.isValid():
            checked = name_key(self._name(index)) in self._checked
            return Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        return super().data(index, role)

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid():
            return False
        name = self._name(index)
        state = value.value if isinstance(value, enum.Enum) else value
        if state == Qt.CheckState.Checked.value:
            self._checked[name_key(name)] = name
        else:
            self._checked.pop(name_key(name), None)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.checked_changed.emit()
        return True

    def flags(self, index: _Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid():
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def checked(self) -> list[str]:
        """The checked names, in the source's current order."""
        order = [self.sourceModel().index(r, 0).data(self._name_role)
                 for r in range(self.sourceModel().rowCount())]
        return [n for n in order if n and name_key(n) in self._checked]

    def set_checked(self, names: list[str], checked: bool = True) -> None:
        """Check (or uncheck) ``names`` (any case)."""
        for name in names:
            if checked:
                self._checked[name_key(name)] = name
            else:
                self._checked.pop(name_key(name), None)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, 0),
                                  [Qt.ItemDataRole.CheckStateRole])
        self.checked_changed.emit()
