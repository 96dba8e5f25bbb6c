"""Hunt: the transfer GUI (cards, the Transfers panel, drops, restart)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def drop(widget, *files: Path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in files])
    pos = widget.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(QPointF(QPoint(pos)), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_a_file_dropped_on_a_contacts_row_is_offered_to_them(qtbot, open_window, tmp_path):
    """Dragging a file onto bob's row in the contact list (as in IP Messenger and most LAN
    chat tools) is refused by the list with a no-entry cursor and not a word of why: only a
    conversation's tab takes files."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    view = alice.roster_view
    proxy = view.model()
    rows = [proxy.index(r, 0) for r in range(proxy.rowCount())]
    (row,) = [i for i in rows if "bob" in str(i.data(Qt.ItemDataRole.DisplayRole))]
    rect = view.visualRect(row)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    pos = rect.center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted(), "the contact list does not take a dropped file"
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000):
        QApplication.sendEvent(view.viewport(), QDropEvent(
            QPointF(QPoint(pos)), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier))


def test_a_file_dropped_on_a_conversations_tab_header_is_taken(qtbot, open_window, tmp_path):
    """Dragging a file onto the tab header of bob's conversation (another tab is current),
    as in a browser or a tabbed chat app: the tab bar refuses it without a word."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    alice.open_conversation("bob")
    alice.open_conversation("charlie")  # current: charlie's tab
    bar = alice.tabs.tabBar()
    (index,) = [i for i in range(alice.tabs.count())
                if alice.tabs.widget(i) is alice.conversation_widget("bob")]
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    pos = bar.tabRect(index).center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(bar, enter)
    assert enter.isAccepted(), "the tab bar does not take a dropped file"
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000):
        QApplication.sendEvent(bar, QDropEvent(
            QPointF(QPoint(pos)), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier))
