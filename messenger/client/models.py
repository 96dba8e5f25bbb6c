"""Qt item models of the client state: the roster and one model per conversation.

QtCore only. Views never own data: these models live in the engine (so a closed tab reopens
with its history) and views only show them.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from ..protocol.names import name_key

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


def _roster_sort_key(contact: Contact) -> tuple[bool, str, str]:
    return (not contact.online, name_key(contact.name), contact.name)


class RosterModel(QAbstractListModel):
    """Every account except the logged-in user's own, online first, then by name ignoring case.

    Roles: ``Qt.DisplayRole``/:attr:`NameRole` → str, :attr:`OnlineRole` → bool,
    :attr:`UnreadRole` → int, ``Qt.ToolTipRole`` and ``Qt.AccessibleTextRole`` → str.

    Signals:
        unread_total_changed(int): the sum of unread counts changed.
    """

    NameRole = Qt.ItemDataRole.UserRole + 1
    OnlineRole = Qt.ItemDataRole.UserRole + 2
    UnreadRole = Qt.ItemDataRole.UserRole + 3

    unread_total_changed = Signal(int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Contact] = []

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
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            text = f"{c.name}, {'online' if c.online else 'offline'}"
            if c.unread:
                text += f", {c.unread} unread"
            return text
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names[self.NameRole] = QByteArray(b"name")
        names[self.OnlineRole] = QByteArray(b"online")
        names[self.UnreadRole] = QByteArray(b"unread")
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

    def contact(self, name: str) -> Contact | None:
        """A copy of the row for ``name`` (any case), or None."""
        row = self._row_of(name)
        return None if row is None else replace(self._rows[row])

    def row_of(self, name: str) -> int | None:
        """The row of ``name`` (any case), or None."""
        return self._row_of(name)

    def unread_total(self) -> int:
        return sum(c.unread for c in self._rows)

    # -- changes

    def set_roster(self, entries: list[tuple[str, bool]]) -> None:
        """Replace every row with ``entries`` of ``(name, online)``; unread counts of names
        still present are kept."""
        unread = {name_key(c.name): c.unread for c in self._rows}
        rows = [Contact(n, bool(on), unread.get(name_key(n), 0)) for n, on in entries]
        rows.sort(key=_roster_sort_key)
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()
        self.unread_total_changed.emit(self.unread_total())

    def clear(self) -> None:
        self.set_roster([])

    def set_online(self, name: str, online: bool) -> None:
        """Record a presence change; adds ``name`` when it is new (a fresh registration)."""
        row = self._row_of(name)
        if row is None:
            self._insert(Contact(name, online))
            return
        contact = self._rows[row]
        if contact.online == online:
            return
        contact.online = online
        self._changed(row, [self.OnlineRole])
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
        key = name_key(name)
        for i, c in enumerate(self._rows):
            if name_key(c.name) == key:
                return i
        return None

    def _changed(self, row: int, roles: list[int]) -> None:
        idx = self.index(row, 0)
        self.dataChanged.emit(idx, idx, [*roles, Qt.ItemDataRole.ToolTipRole,
                                         Qt.ItemDataRole.AccessibleTextRole])

    def _target_row(self, contact: Contact, rows: list[Contact]) -> int:
        key = _roster_sort_key(contact)
        for i, other in enumerate(rows):
            if key < _roster_sort_key(other):
                return i
        return len(rows)

    def _insert(self, contact: Contact) -> None:
        row = self._target_row(contact, self._rows)
        self.beginInsertRows(_ROOT, row, row)
        self._rows.insert(row, contact)
        self.endInsertRows()

    def _resort(self, row: int) -> None:
        contact = self._rows[row]
        rest = self._rows[:row] + self._rows[row + 1:]
        new = self._target_row(contact, rest)
        if new == row:
            return
        # Qt's destination is counted in the list *before* the move.
        dest = new + 1 if new > row else new
        if not self.beginMoveRows(_ROOT, row, row, _ROOT, dest):
            return
        rest.insert(new, contact)
        self._rows = rest
        self.endMoveRows()


# ------------------------------------------------------------------------------ conversation


class MessageKind(enum.StrEnum):
    """How a conversation item looks: one's own message, someone else's, a system notice or
    an error."""

    OWN = "own"
    OTHER = "other"
    SYSTEM = "system"
    ERROR = "error"


class DeliveryState(enum.StrEnum):
    """An own message's progress: ``pending`` (sent, no ack yet) → ``sent`` (stored by the
    server) or ``failed`` (refused). Received messages and notices are ``sent``."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass
class ChatItem:
    """One conversation row.

    Attributes:
        kind: :class:`MessageKind`.
        sender: canonical user name ("" for notices).
        text: the message, notice or error text.
        ts: Unix seconds (server time once acked; local time while pending).
        seq: the server's sequence number, None until acked / for notices.
        state: :class:`DeliveryState`.
        client_msg_id: the client's id of the message ("" for notices).
        also: other recipients of a multicast.
    """

    kind: MessageKind
    sender: str
    text: str
    ts: float = field(default_factory=time.time)
    seq: int | None = None
    state: DeliveryState = DeliveryState.SENT
    client_msg_id: str = ""
    also: tuple[str, ...] = ()


class ConversationModel(QAbstractListModel):
    """The items of one conversation, oldest first.

    Args:
        key: the conversation key (see :mod:`messenger.client.conversations`).
        title: what the tab shows (the peer's name or "Everyone").

    Roles: ``Qt.DisplayRole``/:attr:`TextRole` → str, :attr:`SenderRole` → str,
    :attr:`TimestampRole` → float (Unix seconds), :attr:`KindRole` → :class:`MessageKind`,
    :attr:`SeqRole` → int or None, :attr:`StateRole` → :class:`DeliveryState`,
    :attr:`AlsoRole` → list[str], :attr:`ClientMsgIdRole` → str, ``Qt.ToolTipRole`` and
    ``Qt.AccessibleTextRole`` → str.
    """

    SenderRole = Qt.ItemDataRole.UserRole + 1
    TextRole = Qt.ItemDataRole.UserRole + 2
    TimestampRole = Qt.ItemDataRole.UserRole + 3
    KindRole = Qt.ItemDataRole.UserRole + 4
    SeqRole = Qt.ItemDataRole.UserRole + 5
    StateRole = Qt.ItemDataRole.UserRole + 6
    AlsoRole = Qt.ItemDataRole.UserRole + 7
    ClientMsgIdRole = Qt.ItemDataRole.UserRole + 8

    def __init__(self, key: str, title: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.key = key
        self.title = title
        self._items: list[ChatItem] = []
        self._seqs: set[int] = set()

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
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            who = {MessageKind.OWN: "You", MessageKind.SYSTEM: "Notice",
                   MessageKind.ERROR: "Error"}.get(item.kind, item.sender)
            stamp = time.strftime("%H:%M", time.localtime(item.ts))
            return f"{who} at {stamp}: {item.text}"
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role, name in ((self.SenderRole, b"sender"), (self.TextRole, b"text"),
                           (self.TimestampRole, b"timestamp"), (self.KindRole, b"kind"),
                           (self.SeqRole, b"seq"), (self.StateRole, b"state"),
                           (self.AlsoRole, b"also"), (self.ClientMsgIdRole, b"clientMsgId")):
            names[role] = QByteArray(name)
        return names

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren

    # -- queries

    def items(self) -> list[ChatItem]:
        """Copies of the items, oldest first."""
        return [replace(i) for i in self._items]

    def has_seq(self, seq: int) -> bool:
        return seq in self._seqs

    # -- changes

    def append(self, item: ChatItem) -> bool:
        """Add ``item`` at the end unless its ``seq`` is here already (redelivery); True when
        it was added."""
        if item.seq is not None:
            if item.seq in self._seqs:
                return False
            self._seqs.add(item.seq)
        row = len(self._items)
        self.beginInsertRows(_ROOT, row, row)
        self._items.append(item)
        self.endInsertRows()
        return True

    def add_notice(self, text: str, *, error: bool = False) -> None:
        """Append a system notice (or an error, shown in red)."""
        self.append(ChatItem(MessageKind.ERROR if error else MessageKind.SYSTEM, "", text))

    def mark_sent(self, client_msg_id: str, seq: int, ts: float) -> bool:
        """An own message was acked: set its ``seq``, server ``ts`` and state ``sent``."""
        row = self._row_of_client_id(client_msg_id)
        if row is None:
            return False
        item = self._items[row]
        item.seq, item.ts, item.state = seq, ts, DeliveryState.SENT
        self._seqs.add(seq)
        self._changed(row, [self.SeqRole, self.TimestampRole, self.StateRole])
        return True

    def mark_failed(self, client_msg_id: str) -> bool:
        """An own message was refused: state ``failed``."""
        row = self._row_of_client_id(client_msg_id)
        if row is None:
            return False
        self._items[row].state = DeliveryState.FAILED
        self._changed(row, [self.StateRole])
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

    def _changed(self, row: int, roles: list[int]) -> None:
        idx = self.index(row, 0)
        self.dataChanged.emit(idx, idx, [*roles, Qt.ItemDataRole.ToolTipRole,
                                         Qt.ItemDataRole.AccessibleTextRole])
