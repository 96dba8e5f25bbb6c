"""The main window: contact list on the left, conversation tabs on the right."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..client.connection import ConnectionState
from ..client.conversations import EVERYONE, EVERYONE_TITLE, peer_key
from ..client.engine import ClientEngine
from ..client.models import RosterModel
from .conversation import ConversationWidget
from .delegates import RosterDelegate

log = logging.getLogger("messenger.gui.main")

_STATE_TEXT = {
    ConnectionState.DISCONNECTED: "Disconnected",
    ConnectionState.CONNECTING: "Connecting…",
    ConnectionState.HANDSHAKING: "Connecting…",
    ConnectionState.CONNECTED: "Connected, not logged in",
    ConnectionState.LOGGING_IN: "Logging in…",
    ConnectionState.LOGGED_IN: "Online",
}


class MulticastDialog(QDialog):
    """Pick two or more contacts and write one message to all of them."""

    def __init__(self, names: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Message several people")
        self.list = QListWidget()
        self.list.setAccessibleName("Recipients")
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("Message")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        send = buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        send.setAccessibleName("Send to the chosen people")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Send to (choose two or more):"))
        layout.addWidget(self.list)
        layout.addWidget(self.text)
        layout.addWidget(buttons)

    def recipients(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]


class MainWindow(QMainWindow):
    """Contacts and conversations of a logged-in ``engine``.

    Args:
        engine: a logged-in :class:`ClientEngine`; the window shows its models.
        log_file: shown in Help → About.

    Signals:
        logout_requested(): the user chose File → Log out (the app shows the login again).
    """

    logout_requested = Signal()

    def __init__(self, engine: ClientEngine, *, log_file: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.log_file = log_file
        self.logout_chosen = False
        self._tabs_by_key: dict[str, ConversationWidget] = {}
        self.resize(900, 600)

        self.roster_view = QListView()
        self.roster_view.setModel(engine.roster)
        self.roster_view.setItemDelegate(RosterDelegate(self.roster_view))
        self.roster_view.setAccessibleName("Contacts")
        self.roster_view.setToolTip("Double-click a contact to chat")
        self.roster_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.roster_view.setMouseTracking(True)
        self.roster_view.doubleClicked.connect(self._on_contact_activated)
        self.roster_view.activated.connect(self._on_contact_activated)
        contacts_label = QLabel("Contacts")
        contacts_label.setStyleSheet("font-weight: bold; padding: 6px 8px 2px 8px;")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(0)
        left_layout.addWidget(contacts_label)
        left_layout.addWidget(self.roster_view)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Conversations")
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._on_current_changed)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([220, 680])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.state_label = QLabel()
        self.state_label.setAccessibleName("Connection state")
        self.statusBar().addWidget(self.state_label, 1)

        self._build_menus()
        everyone = self.open_conversation(EVERYONE)
        bar = self.tabs.tabBar()
        index = self.tabs.indexOf(everyone)
        for side in (bar.ButtonPosition.RightSide, bar.ButtonPosition.LeftSide):
            if bar.tabButton(index, side) is not None:
                bar.setTabButton(index, side, None)

        engine.state_changed.connect(self._update_state)
        engine.connection_failed.connect(self._on_connection_failed)
        engine.unread_changed.connect(self._on_unread_changed)
        engine.request_failed.connect(self._on_request_failed)
        self._update_state(engine.state)
        self._update_title()

    # ------------------------------------------------------------------ building

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.logout_action = QAction("Log &out", self)
        self.logout_action.triggered.connect(self._logout)
        file_menu.addAction(self.logout_action)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        conv_menu = self.menuBar().addMenu("&Conversation")
        new_action = QAction("&New conversation…", self)
        new_action.setShortcut(QKeySequence("Ctrl+N"))
        new_action.triggered.connect(self._ask_new_conversation)
        conv_menu.addAction(new_action)
        multi_action = QAction("Message &several people…", self)
        multi_action.setShortcut(QKeySequence("Ctrl+Shift+N"))
        multi_action.triggered.connect(self._ask_multicast)
        conv_menu.addAction(multi_action)
        self.close_tab_action = QAction("&Close tab", self)
        self.close_tab_action.setShortcut(QKeySequence("Ctrl+W"))
        self.close_tab_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.close_tab_action.triggered.connect(lambda: self.close_tab(self.tabs.currentIndex()))
        conv_menu.addAction(self.close_tab_action)
        self.addAction(self.close_tab_action)

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Messenger", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    # ------------------------------------------------------------------ conversations

    def conversation_widget(self, key: str) -> ConversationWidget | None:
        """The open tab of conversation ``key``, or None."""
        return self._tabs_by_key.get(key)

    def current_key(self) -> str | None:
        widget = self.tabs.currentWidget()
        return widget.key if isinstance(widget, ConversationWidget) else None

    def open_conversation(self, key_or_name: str) -> ConversationWidget:
        """Open (or focus) the tab of a conversation: :data:`EVERYONE` or a user's name."""
        if key_or_name == EVERYONE:
            key, title = EVERYONE, EVERYONE_TITLE
        else:
            key, title = peer_key(key_or_name), key_or_name
        widget = self._tabs_by_key.get(key)
        if widget is None:
            model = self.engine.conversation(key, title)
            widget = ConversationWidget(model, self.tabs)
            widget.send_requested.connect(self.engine.send_to)
            self._tabs_by_key[key] = widget
            index = self.tabs.addTab(widget, model.title)
            self.tabs.setTabToolTip(index, f"Conversation with {model.title}"
                                    if key != EVERYONE else "Messages to everyone")
            self._update_tab_text(key)
        self.tabs.setCurrentWidget(widget)
        widget.compose.setFocus()
        return widget

    def close_tab(self, index: int) -> None:
        """Close the tab at ``index`` (the Everyone tab stays); its history stays in the
        engine and shows again when the tab is reopened."""
        widget = self.tabs.widget(index)
        if not isinstance(widget, ConversationWidget) or widget.key == EVERYONE:
            return
        self.tabs.removeTab(index)
        del self._tabs_by_key[widget.key]
        widget.deleteLater()

    def _on_contact_activated(self, index: QModelIndex) -> None:
        name = index.data(RosterModel.NameRole)
        if name:
            self.open_conversation(name)

    def _ask_new_conversation(self) -> None:
        name, ok = QInputDialog.getText(self, "New conversation", "User name:")
        if ok and name.strip():
            self.open_conversation(name.strip())

    def _ask_multicast(self) -> None:
        dialog = MulticastDialog(self.engine.roster.names(), self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        users = dialog.recipients()
        text = dialog.text.toPlainText().strip()
        if len(users) < 2 or not text:
            QMessageBox.information(self, "Message several people",
                                    "Choose two or more people and write a message.")
            return
        self.engine.send_multicast(users, text)

    # ------------------------------------------------------------------ unread

    def _on_current_changed(self, index: int) -> None:
        key = self.current_key()
        if key is not None:
            self.engine.mark_read(key)

    def _on_unread_changed(self, key: str, count: int) -> None:
        if count and key == self.current_key() and self.isActiveWindow():
            self.engine.mark_read(key)
            return
        self._update_tab_text(key)

    def _update_tab_text(self, key: str) -> None:
        widget = self._tabs_by_key.get(key)
        if widget is None:
            return
        count = self.engine.unread(key)
        title = widget.model.title
        self.tabs.setTabText(self.tabs.indexOf(widget), f"{title} ({count})" if count else title)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            key = self.current_key()
            if key is not None:
                self.engine.mark_read(key)
        super().changeEvent(event)

    # ------------------------------------------------------------------ status

    def _update_title(self) -> None:
        e = self.engine
        who = f"{e.user}@{e.host}:{e.port}" if e.user else f"{e.host}:{e.port}"
        self.setWindowTitle(f"{who} — Messenger")

    def _update_state(self, state: ConnectionState) -> None:
        text = _STATE_TEXT.get(state, state.value)
        if state is ConnectionState.LOGGED_IN:
            text = f"Online as {self.engine.user} on {self.engine.host}:{self.engine.port}"
        self.state_label.setText(text)
        self._update_title()

    def _on_connection_failed(self, code: str, message: str) -> None:
        self.state_label.setText(f"Disconnected: {message}")

    def _on_request_failed(self, key: str, code: str, message: str) -> None:
        log.info("request in %s failed: %s %s", key, code, message)
        self.statusBar().showMessage(f"Not sent: {message}", 8000)

    def about_text(self) -> str:
        """What Help → About shows: version, server, fingerprint and the log file path."""
        fp = self.engine.fingerprint or "unknown"
        return (f"<b>Messenger {__version__}</b><br>A desktop messenger for LANs.<br><br>"
                f"Server: {self.engine.host}:{self.engine.port}<br>"
                f"Certificate SHA-256: <tt>{fp}</tt><br><br>"
                f"Log file: <tt>{self.log_file or 'not logging to a file'}</tt>")

    def show_about(self) -> QMessageBox:
        """Open Help → About (non-modal) and return the box."""
        box = QMessageBox(QMessageBox.Icon.Information, "About Messenger", self.about_text(),
                          QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    # ------------------------------------------------------------------ closing

    def _logout(self) -> None:
        self.logout_chosen = True
        self.logout_requested.emit()
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.engine.close()  # logs out first when logged in
        super().closeEvent(event)
