"""The main window: contacts and groups on the left, invitations and conversation tabs on the
right; the compose box of every tab understands the slash commands of
:mod:`messenger.client.commands`."""

from __future__ import annotations

import html
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPoint,
    QSettings,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtDBus import QDBusConnection
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
    QMouseEvent,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyle,
    QSystemTrayIcon,
    QTabBar,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..client.commands import (
    Action,
    help_text,
    multicast_recipients,
    parse_command,
    trim_message,
)
from ..client.connection import ConnectionState
from ..client.conversations import EVERYONE, EVERYONE_TITLE, group_key, is_group, peer_key
from ..client.engine import (
    LOCAL_STORE,
    NOT_CONNECTED,
    ClientEngine,
    ConversationExport,
    group_failure,
)
from ..client.localstore import remove_store
from ..client.models import GroupModel, RosterModel, presence_text
from ..client.notify import (
    COALESCE_SECONDS,
    Backend,
    DesktopNotices,
    Notice,
    NotificationPolicy,
    text_less,
)
from ..client.transfers import AUTO_REFUSED, RECEIVE, TransferController, format_size
from ..protocol import MAX_TEXT_LENGTH, RETRACTED_TEXT, ErrorCode, is_valid_name, name_key
from . import theme
from .account import ChangePasswordDialog
from .conversation import (
    ConversationWidget,
    drop_hint,
    dropped_paths,
    export_done_text,
    too_long_text,
)
from .delegates import GroupDelegate, RosterDelegate
from .desktop_notifications import DesktopNotifications, session_bus
from .groups import (
    GroupConversationWidget,
    GroupDialog,
    InvitationBar,
    InviteDialog,
    JoinGroupDialog,
    MulticastDialog,
    confirm_leave,
)
from .preferences import PreferencesDialog
from .settings import (
    adopt_account_settings,
    app_settings,
    forget_account_settings,
    load_drafts,
    load_multicast_draft,
    load_notification_prefs,
    load_open_tabs,
    load_read_receipts,
    load_reply_drafts,
    load_transfer_prefs,
    load_typing_indicators,
    save_drafts,
    save_multicast_draft,
    save_notification_prefs,
    save_open_tabs,
    save_read_receipts,
    save_reply_drafts,
    save_transfer_prefs,
    save_typing_indicators,
)
from .transfers import TransfersPanel
from .widgets import (
    EditTextDialog,
    EmptyHintListView,
    ErrorLabel,
    plain_tooltip,
    tab_in_drawn_order,
)

log = logging.getLogger("messenger.gui.main")

def confirm_retract(parent: QWidget) -> bool:
    """Ask before a message is deleted for everyone (replaced in tests)."""
    answer = QMessageBox.question(
        parent, "Delete for everyone",
        "Delete this message for everyone? They will see that a message was deleted.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes


def confirm_logout_unsent(parent: QWidget, count: int, failed: int = 0, *, edits: int = 0,
                          deletes: int = 0) -> bool:
    """Ask before logging out with ``count`` messages not sent yet, ``edits`` edits and
    ``deletes`` deletions for everyone not made yet (replaced in tests); ``failed`` messages
    the server refused for good are named apart: they never go by themselves."""
    what = logout_waiting_text(count, edits, deletes)
    refused = ""
    if failed:
        refused = (" (1 message the server refused waits in its conversation for Retry or "
                   "Delete: it does not go by itself.)") if failed == 1 else \
            (f" ({failed:,} messages the server refused wait in their conversations for "
             "Retry or Delete: they do not go by themselves.)")
    answer = QMessageBox.question(
        parent, "Log out",
        f"{what}. They stay on this computer and go the next time you log in "
        f"here, not from another computer.{refused}\n\nLog out anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes


def forget_question(user: str, server: str, unsent: int = 0, edits: int = 0,
                    deletes: int = 0) -> str:
    """The question of File → Log out and remove my data from this computer: what goes
    (``user``'s messages saved here for ``server``, drafts, settings, the window's layout),
    what stays, and what waiting to go is lost (``unsent`` messages, ``edits`` and
    ``deletes`` not made yet)."""
    lost = ""
    if unsent or edits or deletes:
        lost = (f"\n\n{logout_waiting_text(unsent, edits, deletes)}: "
                f"{'it' if unsent + edits + deletes == 1 else 'they'} will be lost.")
    return (f"Log out and remove {user}'s data on {server} from this computer?\n\n"
            "Removed: the messages saved here (they come back from the server at your next "
            "login), messages not sent yet, your drafts, your settings for this account (open "
            "tabs, muted conversations, notifications, read receipts, files accepted without "
            "asking, download folder) and the window's size and layout.\n\n"
            "Not removed: files you received, exported or pasted." + lost)


def confirm_forget(parent: QWidget, question: str) -> bool:
    """Ask :func:`forget_question`'s ``question`` (replaced in tests); Cancel is the
    default."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Remove my data", question,
                      QMessageBox.StandardButton.Cancel, parent)
    remove = box.addButton("Log out and remove", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is remove


def logout_waiting_text(count: int, edits: int = 0, deletes: int = 0) -> str:
    """What waits to go, for the logout question: "1 message is not sent yet", "1 deletion
    is not made yet", joined."""

    def some(n: int, one: str, many: str, done: str) -> str:
        return f"1 {one} is not {done} yet" if n == 1 else f"{n:,} {many} are not {done} yet"

    parts = [some(n, one, many, done) for n, one, many, done in (
        (count, "message", "messages", "sent"), (edits, "edit", "edits", "made"),
        (deletes, "deletion", "deletions", "made")) if n]
    return "; ".join(parts)


def ask_new_text(parent: QWidget, old: str, note: str = "") -> str | None:
    """Ask for a message's new text, ``note`` above it (replaced in tests); None when
    cancelled."""
    label = f"{note}\n\nNew text:" if note else "New text:"
    dialog = EditTextDialog("Edit message", label, old, parent)
    try:
        ok = dialog.exec() == QDialog.DialogCode.Accepted
        return dialog.text.toPlainText() if ok else None
    finally:
        dialog.deleteLater()


MAX_TAB_WIDTH = 180
"""Tabs wider than this (long names) are elided with "…"; the tooltip has the whole name."""
MIN_TAB_WIDTH = 100
"""When the tabs do not fit, they shrink to this (or their full width, if less), then the bar
scrolls."""


def tray_body(text: str, platform: str = sys.platform) -> str:
    """A notification's body as ``QSystemTrayIcon.showMessage`` must get it: on Linux the
    desktop's notification server takes the body as markup (freedesktop Desktop
    Notifications, "body-markup"), so a message's ``&``, ``<`` and ``>`` are escaped: "Tom &
    Jerry" made xfce4-notifyd show nothing, and "<b>" turned text bold. Elsewhere it is
    plain text already."""
    return html.escape(text, quote=False) if platform.startswith("linux") else text


def tray_tooltip(who: str, unread: int) -> str:
    """The tray icon's tooltip: the account and how many messages are unread
    ("alice@lab:5555 — 3 unread messages"), as the window title says it; a window kept in
    the tray said only "Messenger"."""
    if not unread:
        return f"Messenger — {who}"
    return f"Messenger — {who} — {unread:,} unread message{'s' if unread != 1 else ''}"


def _first_sentence(message: str) -> str:
    """The first sentence of a (possibly long, several-line) connection error, for the
    status line; the whole text goes to its tooltip."""
    line = message.strip().split("\n", 1)[0]
    cut = min((i for i in (line.find(". "), line.find(": ")) if i > 0), default=-1)
    return (line[:cut] if cut > 0 else line).rstrip(".")


class ConversationTabBar(QTabBar):
    """The conversation tabs: at most :data:`MAX_TAB_WIDTH` wide (the text elided at the
    right), and a middle click closes a tab that has a close button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setElideMode(Qt.TextElideMode.ElideRight)
        self.setUsesScrollButtons(True)

    def tabSizeHint(self, index: int) -> QSize:
        size = super().tabSizeHint(index)
        if size.width() > MAX_TAB_WIDTH:
            size.setWidth(MAX_TAB_WIDTH)
        return size

    def minimumTabSizeHint(self, index: int) -> QSize:
        # Squeezed, a tab keeps a few letters of its name (beyond that the bar scrolls).
        size = super().minimumTabSizeHint(index)
        size.setWidth(max(size.width(), min(MIN_TAB_WIDTH, self.tabSizeHint(index).width())))
        return size

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            index = self.tabAt(event.position().toPoint())
            closable = index >= 0 and self.tabsClosable() and any(
                self.tabButton(index, side) is not None
                for side in (QTabBar.ButtonPosition.RightSide,
                             QTabBar.ButtonPosition.LeftSide))
            if closable:
                self.tabCloseRequested.emit(index)
                event.accept()
                return
        super().mouseReleaseEvent(event)


class FileDropTarget(QObject):
    """Takes files dragged onto ``widget`` for the conversation under the pointer (a row of
    the contact or the group list, a tab of the tab bar): ``target(pos)`` names it as
    ``(key, title)``, or None where a drop would send nothing. While they are dragged,
    ``hint(key, title, paths)`` is what the status bar says a drop will do (or why it
    cannot); a drop calls ``take(key, title, paths)``. (Such drops were refused with a
    no-entry cursor and not a word of why: only a conversation's tab took files; a hunt.)"""

    def __init__(self, widget: QWidget, status: Callable[[str], None],
                 target: Callable[[QPoint], tuple[str, str] | None],
                 hint: Callable[[str, str, list[str]], str],
                 take: Callable[[str, str, list[str]], None]) -> None:
        super().__init__(widget)
        self._status, self._target, self._hint, self._take = status, target, hint, take
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and \
                isinstance(event, QDragMoveEvent):  # (a QDragEnterEvent is one too)
            paths = dropped_paths(event)
            found = None if paths is None else self._target(event.position().toPoint())
            if found is None:
                # Entering between rows: taken, so that moving onto a row can be.
                if paths is not None and kind == QEvent.Type.DragEnter:
                    event.acceptProposedAction()
                else:
                    event.ignore()
                self._status("")
                return True
            event.acceptProposedAction()
            assert paths is not None
            self._status(self._hint(*found, paths))
            return True
        if kind == QEvent.Type.DragLeave:
            self._status("")
            return False
        if kind == QEvent.Type.Drop and isinstance(event, QDropEvent):
            self._status("")
            paths = dropped_paths(event)
            found = None if paths is None else self._target(event.position().toPoint())
            if found is None or paths is None:
                event.ignore()
                return True
            event.acceptProposedAction()
            self._take(*found, paths)
            return True
        return False


class NewConversationDialog(QDialog):
    """Conversation → New conversation…: a user name, completed from the contact list
    (which lists every account). Refuses a malformed name, your own, and a name nobody has;
    on OK :attr:`chosen` is the name as the contact list spells it."""

    def __init__(self, engine: ClientEngine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New conversation")
        self.engine = engine
        self.chosen = ""
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("User name")
        self.name_edit.setAccessibleName("User name")
        self.name_edit.setClearButtonEnabled(True)
        self.completer = QCompleter(engine.roster, self)
        self.completer.setCompletionRole(RosterModel.NameRole)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        self.name_edit.setCompleter(self.completer)
        self.name_edit.textEdited.connect(lambda _t: self._set_error(""))
        self.error_label = ErrorLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.open_button = buttons.addButton("Open", QDialogButtonBox.ButtonRole.AcceptRole)
        tab_in_drawn_order(buttons)
        self.open_button.setAccessibleName("Open the conversation")
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Chat with:"))
        layout.addWidget(self.name_edit)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.open_button.setDefault(True)  # (once in the dialog, or Cancel becomes it)
        self.resize(320, self.sizeHint().height())
        self.name_edit.setFocus()

    def error_text(self) -> str:
        return self.error_label.shown_text()

    def _set_error(self, text: str) -> None:
        self.error_label.set_error(text)

    def check(self, name: str) -> str:
        """Why ``name`` cannot be chatted with ("" when it can)."""
        name = name.strip()
        if not name:
            return "Type the name of the person to chat with."
        if not is_valid_name(name):
            return "A user name has 1–32 letters, digits, “_”, “.” or “-”."
        if self.engine.user and name_key(name) == name_key(self.engine.user):
            return "That is you: pick someone else to chat with."
        if self.engine.roster.contact(name) is None:
            return f"There is no user named “{name}” on this server."
        return ""

    def submit(self) -> None:
        name = self.name_edit.text().strip()
        error = self.check(name)
        if error:
            self._set_error(error)
            self.name_edit.setFocus()
            self.name_edit.selectAll()
            return
        self.chosen = self.engine.canonical_user(name)
        self.accept()


DRAFT_SAVE_MS = 2_000
"""Unsent texts are written to the settings this long after the last keystroke."""
TABS_SAVE_MS = 2_000
"""The open tabs are written to the settings this long after they change (so a crash or a
power cut keeps them)."""
ROSTER_HOLD_MS = 1_500
"""After the last click or move of the pointer in the contact list, rows keep their places at
least this long (and for as long as the pointer is over it): see
:meth:`RosterModel.set_order_held`."""
STATUS_REFRESH_MS = 30_000
"""How often the conversation headers' "last seen … ago" is written again, and the local date
looked at (the tabs are drawn again when it changed: see :meth:`MainWindow._redraw_on_new_day`)."""

OFFLINE_TEXT = "Offline — connecting…"
"""The status bar of an account opened offline (the login dialog's "Open offline") until its
first login."""
OFFLINE_VERSION_TEXT = ("Offline — the server speaks another protocol version; update the "
                        "app")
"""The status bar of an account opened offline after the server answered with another
protocol version (:attr:`ClientEngine.waits_for_update`): nothing reconnects by itself;
"Reconnect now" tries."""

_STATE_TEXT = {
    ConnectionState.DISCONNECTED: "Disconnected",
    ConnectionState.CONNECTING: "Connecting…",
    ConnectionState.HANDSHAKING: "Connecting…",
    ConnectionState.CONNECTED: "Connected, not logged in",
    ConnectionState.LOGGING_IN: "Logging in…",
    ConnectionState.LOGGED_IN: "Online",
}


class MainWindow(QMainWindow):
    """Contacts and conversations of a logged-in ``engine``.

    Args:
        engine: a logged-in :class:`ClientEngine`; the window shows its models.
        log_file: shown in Help → About.
        transfers: the :class:`TransferController` of ``engine`` (default: a new one with the
            settings' download folder, size limit and auto-accept list). The window closes
            it when it closes.
        notification_bus: the D-Bus connection whose notification service shows the
            pop-ups (default: the session bus, when there is one); without the service, the
            tray icon's balloon shows them.

    Signals:
        logout_requested(): the user chose File → Log out (the app shows the login again).
        notified(Notice): a notification of new messages, file offers or invitations
            to a group was shown (with the notification service: once it answered) (a
            :class:`~messenger.client.notify.Notice`: a pop-up of the desktop's
            notification service, else of the tray icon where there is a system tray; and
            the task bar entry asks for attention).
    """

    logout_requested = Signal()
    notified = Signal(object)

    def __init__(self, engine: ClientEngine, *, log_file: Path | None = None,
                 transfers: TransferController | None = None,
                 notification_bus: QDBusConnection | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        theme.restyle_on_desktop_changes(self)  # (the desktop turning dark, a bigger font)
        self.engine = engine
        # (Choices about people and privacy are the account's: see gui/settings.py; kept
        # under the server's home, whatever address it was typed as.)
        if engine.user and engine.moved_from is not None:
            adopt_account_settings(engine.user, engine.moved_from, engine.home)
        # (engine.account: also an account opened offline, before its login)
        self._account = (engine.account, *engine.home) if engine.account else None
        self.opened_offline = not engine.logged_in and engine.auto_reconnect
        """Opened from the local store while the server could not be reached (the login
        dialog's "Open offline"): until the first login the status bar says "Offline —
        connecting…"."""
        self.transfers = transfers or TransferController(
            engine, load_transfer_prefs(account=self._account), parent=self)
        self.transfers.transfer_added.connect(self._on_transfer_added)
        self.log_file = log_file
        self.logout_chosen = False
        self.forgotten = False
        """File → Log out and remove my data was chosen: when the window closes, the
        account's local store and settings go (the login dialog then starts blank)."""
        self._forgot = False
        self.logout_reason = ""
        """Why the session ended when the window did not choose it (for the login dialog)."""
        self._tabs_by_key: dict[str, ConversationWidget] = {}
        engine.send_read_receipts = load_read_receipts(account=self._account)
        engine.typing_indicators = load_typing_indicators(account=self._account)
        # Unsent texts of closed tabs (open tabs keep theirs in the compose box), kept across
        # restarts per account and server; written DRAFT_SAVE_MS after the last keystroke.
        self._drafts: dict[str, str] = {}
        # (the message each draft answers: it went out as a plain message after the tab was
        # closed or the app restarted, its quote dropped unsaid; a hunt)
        self._reply_drafts: dict[str, tuple[str, str, int | None]] = {}
        self._drafts_for: tuple[str, str, int] | None = None
        # What the settings file holds now: a message sent from a draft written there is
        # taken out at once, not DRAFT_SAVE_MS later (a crash meanwhile put the sent text
        # back in its box at the next start, to be sent twice; a hunt).
        self._drafts_saved: set[str] = set()
        self._multicast_saved = False
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_SAVE_MS)
        self._draft_timer.timeout.connect(self.save_drafts)
        # The open tabs and the current one, written TABS_SAVE_MS after they change (not
        # only when the window closes: after a crash or a power cut the restart reopened
        # the tabs of the last quit; a hunt).
        self._tabs_timer = QTimer(self)
        self._tabs_timer.setSingleShot(True)
        self._tabs_timer.setInterval(TABS_SAVE_MS)
        self._tabs_timer.timeout.connect(self.save_tabs)
        self._restored = False  # (the saved tabs are back: changes are saved from then on)
        self.resize(900, 600)

        self.dialog: QDialog | None = None
        """The group/join/invite/multicast dialog last opened (they are window-modal)."""
        self._multicast_draft: tuple[str, list[str]] = ("", [])
        """The text and recipients of a "Message several people" closed unsent (Escape
        threw a message away): the next one opens with them, also after a restart (kept
        with the drafts)."""
        self._multicast_open: MulticastDialog | None = None
        """The "Message several people" dialog open now, if any: its text and recipients
        are the multicast draft while it is open (see :meth:`multicast_draft`)."""

        # The contact list, filtered by what is typed above it (a view of the engine's
        # roster model: the proxy owns no data).
        self.contacts_proxy = QSortFilterProxyModel(self)
        self.contacts_proxy.setSourceModel(engine.roster)
        self.contacts_proxy.setFilterRole(RosterModel.NameRole)
        self.contacts_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.contacts_filter = QLineEdit()
        self.contacts_filter.setPlaceholderText("Filter contacts…")
        self.contacts_filter.setAccessibleName("Filter contacts")
        self.contacts_filter.setClearButtonEnabled(True)
        self.contacts_filter.textChanged.connect(self._apply_filter)
        self.contacts_filter.textChanged.connect(lambda: self.roster_view.viewport().update())
        self.contacts_filter.returnPressed.connect(self._open_first_contact)
        self.roster_view = EmptyHintListView(
            lambda: f"Nobody matches “{self.contacts_filter.text().strip()}”."
            if self.contacts_filter.text().strip() else "Nobody else has an account here yet.")
        self.roster_view.setModel(self.contacts_proxy)
        self.roster_view.setItemDelegate(RosterDelegate(self.roster_view))
        # Every row is as high as the next (one line at the list's font, the unread badge
        # inside it): each login or logout anywhere (a row's dot, its row moving) made the
        # list measure all of its rows again, one RosterDelegate.sizeHint per account.
        self.roster_view.setUniformItemSizes(True)
        self.roster_view.setAccessibleName("Contacts")
        self.roster_view.setToolTip("Double-click a contact to chat; select several "
                                    "(Ctrl/Shift+click) to message them all at once")
        self.roster_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.roster_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.roster_view.setMouseTracking(True)
        # Online first: rows move as people come and go. Not under the pointer: a double-click
        # opened whoever had moved there (or nobody), so the order holds while the pointer
        # is over the list and for a moment after a click; it sorts when it leaves.
        self._roster_hold = QTimer(self)
        self._roster_hold.setSingleShot(True)
        self._roster_hold.setInterval(ROSTER_HOLD_MS)
        self._roster_hold.timeout.connect(self._release_roster_order)
        self.roster_view.viewport().installEventFilter(self)
        self.contacts_filter.installEventFilter(self)  # (Down: into the list)
        self.roster_view.doubleClicked.connect(self._on_contact_activated)
        self.roster_view.activated.connect(self._on_contact_activated)
        # The picked contacts, by name key: the view's selection holds only the rows shown,
        # and the filter dropped the pick of every row it hid (picking people one filter at
        # a time kept only the last).
        self._picked: dict[str, str] = {}
        self._filtering = False
        self.roster_view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # (A model reset drops the selection without a selectionChanged: the view must show
        # the picks again. The roster changes its rows in place, but a reset is allowed.)
        self.contacts_proxy.modelReset.connect(self._show_picked)
        engine.roster.rowsRemoved.connect(self._on_selection_changed)
        self.multicast_button = QPushButton("Message selected…")
        self.multicast_button.setAccessibleName("Message selected contacts")
        self.multicast_button.clicked.connect(lambda: self.ask_multicast(self.selected_contacts()))
        self.multicast_button.hide()

        self.groups_view = EmptyHintListView(
            lambda: "No groups yet. “New group…” starts one; “Join…” finds the public ones.")
        self.groups_view.setModel(engine.groups)
        self.groups_view.setItemDelegate(GroupDelegate(self.groups_view))
        self.groups_view.setAccessibleName("Groups")
        self.groups_view.setToolTip("Double-click a group to open it; right-click for more")
        self.groups_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.groups_view.setMouseTracking(True)
        self.groups_view.doubleClicked.connect(self._on_group_activated)
        self.groups_view.activated.connect(self._on_group_activated)
        self.groups_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.groups_view.customContextMenuRequested.connect(self._group_menu)
        # Shift+F10 (keyboards without a Menu key, as most laptops') opens the current
        # group's menu, as in the message list: "Remove from list" was mouse-only (a hunt).
        group_menu_key = QAction(self.groups_view)
        group_menu_key.setShortcut(QKeySequence("Shift+F10"))  # the Menu key works by itself
        group_menu_key.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        group_menu_key.triggered.connect(self._group_keyboard_menu)
        self.groups_view.addAction(group_menu_key)
        self.new_group_button = QPushButton("New group…")
        self.new_group_button.setAccessibleName("New group")
        self.new_group_button.setAccessibleDescription("Create a group")
        self.new_group_button.clicked.connect(lambda: self.ask_new_group())
        self.join_group_button = QPushButton("Join…")
        self.join_group_button.setAccessibleName("Join a public group")
        self.join_group_button.clicked.connect(self.ask_join_group)

        def header(text: str) -> QLabel:
            label = QLabel(text)
            label.setStyleSheet("font-weight: bold; padding: 6px 8px 2px 8px;")
            return label

        group_buttons = QHBoxLayout()
        group_buttons.setContentsMargins(6, 4, 6, 6)
        group_buttons.addWidget(self.new_group_button)
        group_buttons.addWidget(self.join_group_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(0)
        left_layout.addWidget(header("Contacts"))
        filter_box = QHBoxLayout()
        filter_box.setContentsMargins(6, 0, 6, 4)
        filter_box.addWidget(self.contacts_filter)
        left_layout.addLayout(filter_box)
        left_layout.addWidget(self.roster_view, 3)
        left_layout.addWidget(self.multicast_button)
        left_layout.addWidget(header("Groups"))
        left_layout.addWidget(self.groups_view, 2)
        left_layout.addLayout(group_buttons)

        self.tabs = QTabWidget()
        self.tabs.setTabBar(ConversationTabBar(self.tabs))
        self.tabs.setAccessibleName("Conversations")
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._on_current_changed)
        self.tabs.currentChanged.connect(self._tabs_changed)
        self.tabs.tabBar().tabMoved.connect(self._tabs_changed)
        # Every open conversation in one list (as browsers do), for when the tabs are more
        # than the bar shows.
        self.tab_list_button = QToolButton(self.tabs)
        self.tab_list_button.setArrowType(Qt.ArrowType.DownArrow)
        self.tab_list_button.setStyleSheet(
            "QToolButton { border: none; padding: 2px 6px; }"
            " QToolButton::menu-indicator { image: none; width: 0; }")
        self.tab_list_button.setAutoRaise(True)
        self.tab_list_button.setToolTip("All open conversations")
        self.tab_list_button.setAccessibleName("All open conversations")
        self.tab_list_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.tab_list_menu = QMenu(self.tab_list_button)
        self.tab_list_menu.aboutToShow.connect(self._fill_tab_list)
        self.tab_list_button.setMenu(self.tab_list_menu)
        self.tabs.setCornerWidget(self.tab_list_button, Qt.Corner.TopRightCorner)

        self.invitation_bar = InvitationBar(engine)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(self.invitation_bar)
        right_layout.addWidget(self.tabs, 1)

        self.sidebar = left
        splitter = self.splitter = QSplitter()
        splitter.setObjectName("mainSplitter")
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 670])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.state_label = QLabel()
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.state_label.setAccessibleDescription("Connection state")
        # Permanent (on the right): a passing message ("Refused: …") on the left does not
        # hide whether the app is online or reconnecting.
        self.statusBar().addPermanentWidget(self.state_label)
        self.reconnect_button = QPushButton("Reconnect now")
        self.reconnect_button.setAccessibleName("Reconnect now")
        self.reconnect_button.setToolTip("Try to reach the server again at once")
        self.reconnect_button.clicked.connect(self.reconnect_now)
        self.reconnect_button.hide()
        self.statusBar().addPermanentWidget(self.reconnect_button)
        self._reconnect_due = 0.0
        self._attempting = False  # a reconnect attempt runs (or ran) since the last login
        self._last_failure = ""  # why the last attempt failed (shown with the countdown)
        self._stopped_reason = ""  # why the link is down for good (no retry), till a login
        self._logged_out_reason = ""  # the server's word for the close that follows it
        self._server_stopped = False  # it said so (a restart or maintenance), till a login
        self._countdown = QTimer(self)
        self._countdown.setInterval(250)
        self._countdown.timeout.connect(self._show_countdown)

        self.transfers_panel = TransfersPanel(self.transfers)
        self.transfers_dock = QDockWidget("Transfers", self)
        self.transfers_dock.setObjectName("transfersDock")
        self.transfers_dock.setWidget(self.transfers_panel)
        self.transfers_dock.setAccessibleName("Transfers")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.transfers_dock)
        self.transfers_dock.hide()

        self.notifications = NotificationPolicy(load_notification_prefs(account=self._account))
        self._notify_timer = QTimer(self)
        self._notify_timer.setSingleShot(True)
        self._notify_timer.setInterval(int(COALESCE_SECONDS * 1000))
        self._notify_timer.timeout.connect(self._show_notice)
        self.last_notice: Notice | None = None
        # The desktop's notification service: each pop-up's id says which notice it is.
        self.desktop_notices = DesktopNotices()
        self.desktop = DesktopNotifications(
            notification_bus if notification_bus is not None else session_bus(), self)
        self.desktop.action_invoked.connect(self._on_notification_action)
        self.desktop.shown.connect(self._on_notification_shown)
        self._asked: dict[int, Notice] = {}  # the service's answer pending, by request
        self._read_while_asked: set[str] = set()  # (their pop-ups go as soon as they come)
        self._hiding: dict[int, int] = {}  # requests taking the text out of pop-up (id)
        self.desktop.closed.connect(self.desktop_notices.closed)
        # Messages that come into the conversation being read are read once per pass of the
        # event loop, not one by one: each mark_read syncs the cache to disk and sends a
        # ``read`` and a ``ping`` (a burst of 60 broadcasts made 60 of each; a hunt).
        self._read_soon: set[str] = set()
        self._read_timer = QTimer(self)
        self._read_timer.setSingleShot(True)
        self._read_timer.setInterval(0)
        self._read_timer.timeout.connect(self._read_what_came)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(self._app_icon(), self)
            self.tray.setToolTip("Messenger")
            self.tray.messageClicked.connect(lambda: self.open_notice())
            self.tray.activated.connect(lambda _reason: self.bring_to_front())
            self.tray.show()

        self._build_menus()
        everyone = self.open_conversation(EVERYONE)
        bar = self.tabs.tabBar()
        index = self.tabs.indexOf(everyone)
        for side in (bar.ButtonPosition.RightSide, bar.ButtonPosition.LeftSide):
            if bar.tabButton(index, side) is not None:
                bar.setTabButton(index, side, None)
        self._take_file_drops()

        engine.state_changed.connect(self._update_state)
        engine.connection_failed.connect(self._on_connection_failed)
        engine.unread_changed.connect(self._on_unread_changed)
        engine.conversation_renamed.connect(self._on_conversation_renamed)
        engine.request_failed.connect(self._on_request_failed)
        engine.password_changed.connect(
            lambda: self.statusBar().showMessage("Your password was changed.", 6000))
        engine.group_joined.connect(self.open_group)
        engine.group_failed.connect(self._on_group_failed)
        engine.reconnect_scheduled.connect(self._on_reconnect_scheduled)
        engine.server_stopping.connect(self._on_server_stopping)
        engine.login_failed.connect(self._on_relogin_failed)
        engine.send_delayed.connect(self._on_send_delayed)
        engine.reconnecting.connect(self._on_reconnecting)
        engine.typing_received.connect(self._on_typing)
        engine.presence_changed.connect(self._on_presence_changed)
        engine.message_received.connect(self._on_message_received)
        engine.invitation_received.connect(self._on_invitation_received)
        engine.groups.pending_changed.connect(self._close_answered_invitations)
        for model in (engine.roster, engine.groups):
            for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved):
                signal.connect(self._update_headers)
        engine.groups.dataChanged.connect(self._on_groups_data_changed)
        engine.roster.dataChanged.connect(self._on_roster_data_changed)
        self._status_clock = QTimer(self)  # "last seen 5 min ago" ages
        self._status_clock.setInterval(STATUS_REFRESH_MS)
        self._status_clock.timeout.connect(self._update_headers)
        self._day_shown = time.localtime()[:3]
        self._status_clock.timeout.connect(self._redraw_on_new_day)
        self._status_clock.start()
        if self.opened_offline and (left := engine.reconnect_in()) is not None:
            self._on_reconnect_scheduled(left)  # (scheduled before the window was made)
        self._update_state(engine.state)
        self._update_title()
        self._restore_session()

    # ------------------------------------------------------------------ building

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.reconnect_action = QAction("&Reconnect now", self)
        self.reconnect_action.setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.reconnect_action.setEnabled(False)
        self.reconnect_action.triggered.connect(self.reconnect_now)
        file_menu.addAction(self.reconnect_action)
        self.logout_action = QAction("Log &out", self)
        self.logout_action.triggered.connect(self._logout)
        file_menu.addAction(self.logout_action)
        self.forget_action = QAction("Log out and re&move my data from this computer…", self)
        self.forget_action.triggered.connect(self.logout_and_forget)
        file_menu.addAction(self.forget_action)
        self.password_action = QAction("Change pass&word…", self)
        self.password_action.triggered.connect(self.ask_change_password)
        file_menu.addAction(self.password_action)
        file_menu.addSeparator()
        self.preferences_action = QAction("&Preferences…", self)
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Preferences)
        if QKeySequence("Ctrl+,") not in keys:  # the platform's key (if any), and Ctrl+,
            keys.append(QKeySequence("Ctrl+,"))
        self.preferences_action.setShortcuts(keys)
        self.preferences_action.triggered.connect(self.ask_preferences)
        file_menu.addAction(self.preferences_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
        if QKeySequence("Ctrl+Q") not in keys:  # (Windows has no Quit key: Ctrl+Q did nothing)
            keys.append(QKeySequence("Ctrl+Q"))
        quit_action.setShortcuts(keys)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        conv_menu = self.menuBar().addMenu("&Conversation")
        new_action = QAction("&New conversation…", self)
        new_action.setShortcut(QKeySequence("Ctrl+N"))
        new_action.triggered.connect(self.ask_new_conversation)
        conv_menu.addAction(new_action)
        multi_action = QAction("Message &several people…", self)
        multi_action.setShortcut(QKeySequence("Ctrl+Shift+N"))
        multi_action.triggered.connect(lambda: self.ask_multicast(self.selected_contacts()))
        conv_menu.addAction(multi_action)
        self.reply_action = QAction("&Reply to the last private message", self)
        self.reply_action.setShortcut(QKeySequence("Ctrl+R"))
        self.reply_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.reply_action.triggered.connect(self.reply)
        conv_menu.addAction(self.reply_action)
        self.addAction(self.reply_action)
        self.close_tab_action = QAction("&Close tab", self)
        self.close_tab_action.setShortcut(QKeySequence("Ctrl+W"))
        self.close_tab_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.close_tab_action.triggered.connect(lambda: self.close_tab(self.tabs.currentIndex()))
        conv_menu.addAction(self.close_tab_action)
        self.addAction(self.close_tab_action)
        self.next_tab_action = QAction("Ne&xt tab", self)
        self.next_tab_action.setShortcuts([QKeySequence("Ctrl+PgDown"),
                                           QKeySequence("Ctrl+Tab")])
        self.next_tab_action.triggered.connect(lambda: self.step_tab(1))
        self.previous_tab_action = QAction("Pre&vious tab", self)
        self.previous_tab_action.setShortcuts([QKeySequence("Ctrl+PgUp"),
                                               QKeySequence("Ctrl+Shift+Tab")])
        self.previous_tab_action.triggered.connect(lambda: self.step_tab(-1))
        for action in (self.next_tab_action, self.previous_tab_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            conv_menu.addAction(action)
            self.addAction(action)
        # Alt+1 … Alt+9: the first … ninth tab (not in a menu: nine entries would crowd it).
        self.tab_number_actions: list[QAction] = []
        for n in range(1, 10):
            action = QAction(f"Tab {n}", self)
            action.setShortcut(QKeySequence(f"Alt+{n}"))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _c=False, i=n - 1: self.go_to_tab(i))
            self.addAction(action)
            self.tab_number_actions.append(action)
        conv_menu.addSeparator()
        self.find_action = QAction("&Find…", self)
        self.find_action.setShortcut(QKeySequence("Ctrl+F"))
        self.find_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.find_action.triggered.connect(self.find)
        conv_menu.addAction(self.find_action)
        self.addAction(self.find_action)
        self.export_action = QAction("&Export…", self)
        self.export_action.triggered.connect(lambda: self.ask_export())
        conv_menu.addAction(self.export_action)
        self.mute_action = QAction("&Mute notifications", self)
        self.mute_action.setCheckable(True)
        self.mute_action.setToolTip("No notifications for this conversation; its badge still "
                                    "counts new messages")
        self.mute_action.toggled.connect(self._set_muted)
        conv_menu.addAction(self.mute_action)

        view_menu = self.menuBar().addMenu("&View")
        self.transfers_action = self.transfers_dock.toggleViewAction()
        self.transfers_action.setText("&Transfers")
        self.transfers_action.setShortcut(QKeySequence("Ctrl+Shift+T"))
        view_menu.addAction(self.transfers_action)
        self.transfers_action.triggered.connect(self._transfers_toggled)
        # In a narrow window the contacts and groups take half of it: they can go.
        self.sidebar_action = QAction("&Contacts and groups", self)
        self.sidebar_action.setCheckable(True)
        self.sidebar_action.setChecked(True)
        self.sidebar_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.sidebar_action.toggled.connect(self.sidebar.setVisible)
        view_menu.addAction(self.sidebar_action)
        conv_menu.addSeparator()
        self.attach_action = QAction("Sen&d a file…", self)
        self.attach_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.attach_action.triggered.connect(self._attach_current)
        conv_menu.addAction(self.attach_action)

        group_menu = self.menuBar().addMenu("&Groups")
        new_group = QAction("&New group…", self)
        new_group.setShortcut(QKeySequence("Ctrl+G"))
        new_group.triggered.connect(lambda: self.ask_new_group())
        group_menu.addAction(new_group)
        join_group = QAction("&Join a group…", self)
        join_group.setShortcut(QKeySequence("Ctrl+J"))
        join_group.triggered.connect(self.ask_join_group)
        group_menu.addAction(join_group)

        help_menu = self.menuBar().addMenu("&Help")
        commands = QAction("&Commands", self)
        commands.triggered.connect(lambda: self._notice(help_text()))
        help_menu.addAction(commands)
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
        """Open (or focus) the tab of a conversation: :data:`EVERYONE`, a user's name or a
        group conversation's key."""
        if key_or_name == EVERYONE:
            key, title = EVERYONE, EVERYONE_TITLE
        elif is_group(key_or_name):
            return self.open_group(self.engine.conversation(key_or_name).title)
        else:  # as the contact list spells it
            key, title = peer_key(key_or_name), self.engine.canonical_user(key_or_name)
        return self._open(key, title)

    def open_group(self, name: str) -> GroupConversationWidget:
        """Open (or focus) the tab of group ``name``."""
        row = self.engine.groups.group(name)
        title = row.name if row is not None else name
        widget = self._open(group_key(title), title)
        assert isinstance(widget, GroupConversationWidget)
        return widget

    def _open(self, key: str, title: str, *, focus: bool = True) -> ConversationWidget:
        """The tab of conversation ``key`` (made if new); made current when ``focus``."""
        widget = self._tabs_by_key.get(key)
        if widget is None:
            model = self.engine.conversation(key, title)
            if is_group(key):
                widget = GroupConversationWidget(model, self.engine, self.tabs)
                widget.invite_requested.connect(self.ask_invite)
            else:
                widget = ConversationWidget(model, self.tabs)
            widget.send_requested.connect(self.run_command)
            widget.send_requested.connect(self._sent_from_tab)  # (after run_command)
            widget.retry_requested.connect(self.engine.retry)
            widget.delete_requested.connect(self.discard_unsent)
            widget.retract_requested.connect(self.retract)
            widget.edit_requested.connect(self.edit_message)
            widget.typing.connect(self.engine.notify_typing)
            widget.files_dropped.connect(self.send_files)
            widget.caught_up.connect(self._on_caught_up)
            widget.status_message.connect(self._say_for_tab)
            widget.set_transfers(self.transfers)
            widget.being_deleted = self.engine.deletion_waiting
            self._tabs_by_key[key] = widget
            widget.set_status(self.status_text(key))
            if key != EVERYONE and not is_group(key):
                widget.set_retry_blocked(self.retry_blocked(key))
            draft = self._drafts.pop(key, "")
            if draft:
                widget.set_draft(draft)
            answered = self._reply_drafts.pop(key, None)
            if answered is not None and draft:
                self._restore_reply(widget, answered)
            widget.compose.textChanged.connect(self._draft_timer.start)
            if (job := self.engine.export_of(key)) is not None:
                widget.show_export(job)  # (started before the tab was closed)
            self.tabs.addTab(widget, ("# " if is_group(key) else "") + model.title)
            self._update_tab_text(key)
            self._tabs_changed()
        if focus:
            self.tabs.setCurrentWidget(widget)
            widget.compose.setFocus()
        return widget

    def _restore_reply(self, widget: ConversationWidget,
                       answered: tuple[str, str, int | None]) -> None:
        """Put back the reply ``answered`` (sender, text, seq) kept while ``widget``'s tab
        was closed or the app was not running, as the message is now: not at all when it
        was deleted for everyone meanwhile, with its new text when it was edited (the
        deleted text went out quoted: the tab was not there to follow the change; a hunt).
        The cache knows also a message older than the tab's loaded rows."""
        sender, text, seq = answered
        store = self.engine.store
        cached = store.message(seq, widget.key) if seq is not None and store else None
        if cached is not None:
            if cached.text == RETRACTED_TEXT:
                return
            text = cached.text
        widget.reply(sender, text, seq, focus=False)

    def retract(self, key: str, seq: int) -> bool:
        """"Delete for everyone…" on an own message: ask, then ask the server."""
        if not confirm_retract(self):
            return False
        return self.engine.retract(seq, key)

    def edit_message(self, key: str, seq: int) -> bool:
        """"Edit…" on an own message: ask for the new text, then ask the server."""
        model = self.engine.conversation(key)
        row = model.row_of_seq(seq)
        if row is None:
            return False
        old = model.item(row).text
        # The text it is made on is the one shown now: edited on another device while the
        # dialog was open, the edit must not overwrite that (it read the base after the
        # dialog, and did; a hunt).
        base = model.item(row).edited or 0.0
        text = ask_new_text(self, old)
        # Over the limit, the server refused it after the dialog closed and the new text
        # was lost (a hunt): asked again, with the text as typed.
        while text is not None and len(trim_message(text)) > MAX_TEXT_LENGTH:
            text = ask_new_text(self, text, too_long_text(len(trim_message(text))))
        # Trimmed as the compose box trims what it sends: pasted code keeps its first
        # line's indentation (stripped, an unchanged text was sent as an edit, and lost it).
        new = trim_message(text) if text is not None else ""
        if not new or new == old:
            return False
        return self.engine.edit(seq, key, new, base=base)

    def status_text(self, key: str, now: float | None = None) -> str:
        """The header status of conversation ``key``: a contact's presence or last seen,
        a group's members online, everyone online; empty while not logged in (presence would
        be stale)."""
        engine = self.engine
        if not engine.logged_in:
            return ""
        roster = engine.roster

        def online(name: str) -> bool:
            if name_key(name) == name_key(engine.user):
                return True
            contact = roster.contact(name)
            return contact is not None and contact.online

        if key == EVERYONE:  # (counted by the roster: this runs at every presence change)
            return f"{roster.rowCount() + 1} people, {roster.online_count() + 1} online"
        model = engine.conversation(key)
        if is_group(key):
            row = engine.groups.group(model.title)
            if row is None:
                return "you are not a member"
            n = len(row.members)
            return (f"{n} member{'s' if n != 1 else ''}, "
                    f"{sum(online(m) for m in row.members)} online")
        return presence_text(roster.contact(model.title), now)

    def _update_headers(self, *args: object, names: set[str] | None = None,
                        keys: set[str] | None = None) -> None:
        """Write the tabs' header status again: every tab's, or (``names``: name keys of the
        contacts that changed) only Everyone's and those of the tabs they are in, or
        (``keys``) only those tabs'."""
        now = time.time()
        groups = self.engine.groups
        for key, widget in self._tabs_by_key.items():
            if keys is not None and key not in keys:
                continue
            if names is not None and key != EVERYONE:
                if is_group(key):
                    row = groups.group(widget.model.title)
                    if row is None or names.isdisjoint(map(name_key, row.members)):
                        continue
                elif key not in names:  # (a private tab's key is the name key)
                    continue
            widget.set_status(self.status_text(key, now))
            if key != EVERYONE and not is_group(key):
                widget.set_retry_blocked(self.retry_blocked(key))

    def _redraw_on_new_day(self) -> None:
        """When the local date changed since the last look (midnight passed, or the time
        zone changed), draw the open tabs again: their day separators ("Today",
        "Yesterday", "Monday") are worked out as they are drawn, and an app left open
        overnight showed "Today" above yesterday's messages until something else drew them."""
        day = time.localtime()[:3]
        if day == self._day_shown:
            return
        self._day_shown = day
        for widget in self._tabs_by_key.values():
            widget.view.viewport().update()

    # What a header shows of a roster row (presence), or of a group's row (its members).
    _HEADER_ROSTER_ROLES = frozenset({RosterModel.OnlineRole, RosterModel.PresenceKnownRole})
    _NO_HEADER_GROUP_ROLES = frozenset({GroupModel.UnreadRole, Qt.ItemDataRole.ToolTipRole,
                                        Qt.ItemDataRole.AccessibleTextRole})

    def _on_roster_data_changed(self, top: QModelIndex, bottom: QModelIndex,
                                roles: list[int] | None = None) -> None:
        """A presence changed: only the headers that show it are written again; every
        tab's for a change of many rows (a login's roster); none for an unread count."""
        if roles and self._HEADER_ROSTER_ROLES.isdisjoint(roles):
            return
        if bottom.row() - top.row() >= 16:
            self._update_headers()
            return
        roster = self.engine.roster
        self._update_headers(names={
            name_key(roster.index(r, 0).data(RosterModel.NameRole) or "")
            for r in range(top.row(), bottom.row() + 1)})

    def _on_groups_data_changed(self, top: QModelIndex, bottom: QModelIndex,
                                roles: list[int] | None = None) -> None:
        """A group's row changed: its own tab's header is written again (its members); an
        unread count changes no header. Every tab's was, at every message in any group: a
        roster look-up per member of every open group (a hunt)."""
        if roles and self._NO_HEADER_GROUP_ROLES.issuperset(roles):
            return
        groups = self.engine.groups
        self._update_headers(keys={
            group_key(groups.index(r, 0).data(GroupModel.NameRole) or "")
            for r in range(top.row(), bottom.row() + 1)})

    def retry_blocked(self, key: str) -> str:
        """Why unsent messages to person ``key`` cannot be retried now ("" when they can):
        the contact list holds every account, so a name missing from it (while logged in)
        has none. Groups say it themselves (membership)."""
        if not self.engine.logged_in or self.engine.roster.contact(key) is not None:
            return ""
        title = self.engine.conversation(key).title
        return f"There is no user named “{title}” on this server."

    def _fill_tab_list(self) -> None:
        """The corner menu: one entry per tab, in the bar's order, with its unread count;
        the current one checked."""
        menu = self.tab_list_menu
        menu.clear()
        current = self.tabs.currentIndex()
        for index in range(self.tabs.count()):
            action = menu.addAction(self.tabs.tabText(index).replace("&", "&&"))
            action.setCheckable(True)
            action.setChecked(index == current)
            action.triggered.connect(lambda _checked=False, i=index: self.go_to_tab(i))

    def step_tab(self, step: int) -> None:
        """Ctrl+PgDown (``step`` 1) / Ctrl+PgUp (-1): the next / previous tab, wrapping."""
        count = self.tabs.count()
        if count:
            self.go_to_tab((self.tabs.currentIndex() + step) % count)

    def go_to_tab(self, index: int) -> None:
        """Alt+1 … Alt+9: make tab ``index`` (from 0) current, typing in its compose box."""
        if 0 <= index < self.tabs.count():
            self.tabs.setCurrentIndex(index)
            widget = self.tabs.currentWidget()
            if isinstance(widget, ConversationWidget) and widget.writable:
                widget.compose.setFocus()

    def close_tab(self, index: int) -> None:
        """Close the tab at ``index`` (the Everyone tab stays); its history stays in the
        engine and shows again when the tab is reopened."""
        widget = self.tabs.widget(index)
        if not isinstance(widget, ConversationWidget) or widget.key == EVERYONE:
            return
        focus = QApplication.focusWidget()
        typing = focus is not None and (focus is widget or widget.isAncestorOf(focus))
        self.tabs.removeTab(index)
        del self._tabs_by_key[widget.key]
        self._tabs_changed()
        if widget.draft().strip():
            self._drafts[widget.key] = widget.draft()  # back when the tab is reopened
            if (answered := widget.reply_draft()) is not None:
                self._reply_drafts[widget.key] = answered
        widget.stop_following_export()  # (the export runs on: a reopened tab shows it)
        widget.deleteLater()
        current = self.tabs.currentWidget()
        if typing and isinstance(current, ConversationWidget):
            # (Qt handed the focus to the next widget in the chain, the contacts' filter
            # box: what was typed next filtered the contacts; a hunt)
            (current.compose if current.writable else current.view).setFocus()

    def _on_contact_activated(self, index: QModelIndex) -> None:
        name = index.data(RosterModel.NameRole)
        if name:
            self.open_conversation(name)

    def _on_group_activated(self, index: QModelIndex) -> None:
        name = index.data(GroupModel.NameRole)
        if not name:
            return
        if index.data(GroupModel.PendingRole):
            if self.invitation_bar.buttons(name) is not None:
                self.statusBar().showMessage(
                    f"Answer the invitation to {name} first: Accept or Decline above.", 8000)
            else:  # summed up in the bar ("… and N more"): answer it here
                self._group_menu(self.groups_view.visualRect(index).center())
            return
        self.open_group(name)

    def _group_keyboard_menu(self) -> None:
        """Shift+F10 in the Groups list: the menu of the current group (scrolled to)."""
        index = self.groups_view.currentIndex()
        if index.isValid():
            self.groups_view.scrollTo(index)
            self._group_menu(self.groups_view.visualRect(index).center())

    def _group_menu(self, pos: QPoint) -> None:
        index = self.groups_view.indexAt(pos)
        name = index.data(GroupModel.NameRole)
        if not name:
            return
        menu = QMenu(self)
        if index.data(GroupModel.PendingRole):
            menu.addAction("Accept invitation", lambda: self.engine.accept_invitation(name))
            menu.addAction("Decline invitation", lambda: self.engine.decline_invitation(name))
            if self.engine.has_history(group_key(name)):  # (invited again: what was said)
                menu.addAction("Open (history)", lambda: self.open_group(name))
        elif index.data(GroupModel.LeftRole):
            menu.addAction("Open (history)", lambda: self.open_group(name))
            menu.addAction("Remove from list", lambda: self.engine.forget_group(name))
        else:
            menu.addAction("Open", lambda: self.open_group(name))
            if self.engine.may_invite(name):  # (as the tab's Invite… button)
                menu.addAction("Invite…", lambda: self.ask_invite(name))
            menu.addAction("Leave…", lambda: self.leave_group(name))
        menu.popup(self.groups_view.viewport().mapToGlobal(pos))

    def leave_group(self, name: str) -> bool:
        """Leave group ``name`` after asking (its tab, if open, asks and remembers it)."""
        widget = self._tabs_by_key.get(group_key(name))
        if isinstance(widget, GroupConversationWidget):
            return widget.leave()
        if not confirm_leave(self, name, self.engine.groups.group(name), self.engine.user):
            return False
        return self.engine.leave_group(name, key=group_key(name))

    def ask_new_conversation(self) -> NewConversationDialog:
        """Conversation → New conversation… (Ctrl+N): ask for a user (completed from the
        contact list) and open the conversation with them."""
        dialog = NewConversationDialog(self.engine, self)
        dialog.accepted.connect(lambda: self.open_conversation(dialog.chosen))
        self._show_dialog(dialog)
        return dialog

    def selected_contacts(self) -> list[str]:
        """The names picked in the contact list, in list order: those selected among the
        rows shown, and those picked before the filter hid them."""
        roster = self.engine.roster
        rows = sorted((row, key) for key in self._picked
                      if (row := roster.row_of(key)) is not None)
        return [self._picked[key] for _row, key in rows]

    def _on_selection_changed(self, *args: object) -> None:
        """The user changed the selection (or a selected contact's account went): the picks
        are the rows selected among those shown, and the earlier picks the filter hides."""
        if self._filtering:
            return
        roster = self.engine.roster
        picked = {key: name for key, name in self._picked.items()
                  if roster.row_of(key) is not None and not self.contact_index(key).isValid()}
        for index in self.roster_view.selectionModel().selectedRows():
            name = index.data(RosterModel.NameRole)
            picked[name_key(name)] = name
        self._picked = picked
        self._update_selection()

    def _apply_filter(self, text: str) -> None:
        """Filter the contact list by ``text`` without its leading and trailing spaces (a
        name pasted from a message, "bob ", matched nobody); the picks stay, and show again
        when their rows do."""
        self._filtering = True
        try:
            self.contacts_proxy.setFilterFixedString(text.strip())
        finally:
            self._filtering = False
        self._show_picked()

    def _show_picked(self) -> None:
        """Select the shown rows of the picked contacts (a filter or a reset dropped them)."""
        shown = QItemSelection()
        for name in self._picked.values():
            index = self.contact_index(name)
            if index.isValid():
                shown.select(index, index)
        self._filtering = True
        try:
            self.roster_view.selectionModel().select(
                shown, QItemSelectionModel.SelectionFlag.Select)
        finally:
            self._filtering = False
        self._update_selection()

    def contact_index(self, name: str) -> QModelIndex:
        """The contact list's (filtered) index of ``name``; invalid when not shown."""
        row = self.engine.roster.row_of(name)
        if row is None:
            return QModelIndex()
        return self.contacts_proxy.mapFromSource(self.engine.roster.index(row, 0))

    def filter_match(self) -> QModelIndex:
        """The contact Enter in the filter box opens: the one whose name is what was typed
        (any case), else the first shown whose name starts with it, else the first shown
        (invalid when none is). The filter matches anywhere in a name and online people
        come first, so the first row alone opened bobby (online) for "bob" (offline)."""
        proxy = self.contacts_proxy
        typed = name_key(self.contacts_filter.text().strip())
        rows = [proxy.index(r, 0) for r in range(proxy.rowCount())]
        keys = [name_key(i.data(RosterModel.NameRole) or "") for i in rows]
        for wanted in (lambda k: k == typed, lambda k: k.startswith(typed)):
            found = next((i for i, k in zip(rows, keys, strict=True) if wanted(k)), None)
            if found is not None:
                return found
        return rows[0] if rows else QModelIndex()

    def _open_first_contact(self) -> None:
        """Enter in the search box: open the conversation with :meth:`filter_match`."""
        index = self.filter_match()
        if index.isValid():
            self._on_contact_activated(index)
            self.contacts_filter.clear()

    def _update_selection(self, *args: object) -> None:
        count = len(self.selected_contacts())
        self.multicast_button.setText(f"Message {count} selected…")
        self.multicast_button.setAccessibleName(f"Message {count} selected contacts")
        self.multicast_button.setVisible(count >= 2)

    def _show_dialog(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()
        return dialog

    def ask_multicast(self, recipients: list[str] | None = None) -> MulticastDialog:
        """Open the "Message several people" dialog with ``recipients`` checked (none
        given: those of the last one closed unsent) and the text closed unsent, if any."""
        text, drafted = self._multicast_draft
        dialog = MulticastDialog(self.engine, self, recipients=recipients or drafted)
        dialog.text.setPlainText(text)
        dialog.text.moveCursor(QTextCursor.MoveOperation.End)

        def send() -> None:
            self._multicast_draft = ("", [])
            self.engine.send_multicast(dialog.recipients(), dialog.text.toPlainText().strip())
            if self._multicast_saved:
                gone()  # (``accepted`` comes before ``finished``: it is not open now)
                self.save_drafts()  # (sent: not back in the dialog after a crash)
            else:
                self._draft_timer.start()  # (written with the drafts)

        def keep() -> None:
            self._multicast_draft = (dialog.text.toPlainText(), dialog.recipients())
            self._draft_timer.start()

        def gone() -> None:
            if self._multicast_open is dialog:
                self._multicast_open = None

        dialog.finished.connect(gone)  # (after accepted or rejected; deleted on close)
        dialog.accepted.connect(send)
        dialog.rejected.connect(keep)
        dialog.text.textChanged.connect(self._draft_timer.start)  # (saved as typed)
        dialog.picker.changed.connect(self._draft_timer.start)
        self._multicast_open = dialog
        self._show_dialog(dialog)
        dialog.text.setFocus()
        return dialog

    def multicast_draft(self) -> tuple[str, list[str]]:
        """The "Message several people" text and recipients to keep with the drafts: those
        of the dialog open now, else of the last one closed unsent. (Only a closed dialog
        was kept: a window closed with one open — a quit, a logout forced from another
        computer — lost what was being written; a lifecycle hunt.)"""
        dialog = self._multicast_open
        if dialog is not None:
            return dialog.text.toPlainText(), dialog.recipients()
        return self._multicast_draft

    def ask_new_group(self, invite: list[str] | None = None) -> GroupDialog:
        """Open the group-creation dialog (the selected contacts come pre-checked)."""
        chosen = invite if invite is not None else self.selected_contacts()
        dialog = GroupDialog(self.engine, self, invite=chosen)
        self._show_dialog(dialog)
        return dialog

    def ask_join_group(self) -> JoinGroupDialog:
        """Open "Join a group…"."""
        dialog = JoinGroupDialog(self.engine, self)
        self._show_dialog(dialog)
        return dialog

    def ask_invite(self, group: str) -> InviteDialog:
        """Open the invite picker of ``group``."""
        dialog = InviteDialog(self.engine, group, self)
        self._show_dialog(dialog)
        return dialog

    def ask_change_password(self) -> ChangePasswordDialog:
        """File → Change password…."""
        dialog = ChangePasswordDialog(self.engine, self)
        self._show_dialog(dialog)
        return dialog

    def ask_preferences(self) -> PreferencesDialog:
        """File → Preferences…: on OK the settings are saved and the transfer controller
        uses them at once (for the next offer, sent or received)."""
        dialog = PreferencesDialog(self.transfers.prefs, self.engine.roster.names(), self,
                                   notifications=self.notifications.prefs,
                                   read_receipts=self.engine.send_read_receipts,
                                   typing_indicators=self.engine.typing_indicators)

        def apply() -> None:
            prefs = dialog.prefs()
            saved = save_transfer_prefs(prefs, account=self._account)
            self.transfers.prefs = prefs  # public, replaceable at any time
            had_text = self.notifications.prefs.show_text
            self.notifications.prefs = dialog.notification_prefs()
            if had_text and not self.notifications.prefs.show_text:
                self._hide_pop_up_text()
            saved &= save_notification_prefs(self.notifications.prefs, account=self._account)
            self.engine.send_read_receipts = dialog.read_receipts()
            saved &= save_read_receipts(self.engine.send_read_receipts, account=self._account)
            self.engine.typing_indicators = dialog.typing_indicators()
            if not self.engine.typing_indicators:
                for widget in self._tabs_by_key.values():
                    widget.hide_typing()  # (at once: not seen for up to 6 s more)
            saved &= save_typing_indicators(self.engine.typing_indicators,
                                            account=self._account)
            if saved:
                self.statusBar().showMessage("Preferences saved.", 4000)
                return
            # (used all the same, until the app is closed; "saved" was said regardless)
            file = app_settings().fileName()
            log.warning("could not write the settings file %s", file)
            self.statusBar().showMessage(
                f"Preferences could not be saved ({file} cannot be written): they apply "
                "until the app is closed.", 15_000)

        dialog.accepted.connect(apply)
        self._show_dialog(dialog)
        return dialog

    def reply(self) -> None:
        """Ctrl+R: open the conversation with the last person you exchanged a private message
        with."""
        peer = self.engine.last_private_peer
        if peer:
            self.open_conversation(peer)
        else:
            self.statusBar().showMessage("Nobody to reply to yet.", 6000)

    # ------------------------------------------------------------------ commands

    def _notice(self, text: str, *, error: bool = False, key: str | None = None) -> None:
        self.engine.conversation(key or self.current_key() or EVERYONE).add_notice(
            text, error=error)

    def run_command(self, key: str, text: str) -> None:
        """Carry out what was typed in the compose box of conversation ``key``: plain text
        goes to that conversation, slash commands do what :mod:`~messenger.client.commands`
        says; their feedback (usage lines, /help, /users, errors) appears in that tab."""
        e = self.engine
        cmd = parse_command(text)
        a = cmd.action

        def notice(message: str, error: bool = False) -> None:
            e.conversation(key).add_notice(message, error=error)

        def refuse(message: str) -> None:
            notice(message, True)
            # Nothing was sent: the text goes back in its box, to be corrected (or sent
            # with "//" in front: a path pasted with the error under it is no command).
            widget = self._tabs_by_key.get(key)
            if widget is not None:
                widget.restore_submitted()

        if a is Action.TEXT:
            e.send_to(key, cmd.text)
        elif a is Action.UNICAST:
            user = e.account_named(cmd.users[0])
            if user is None:  # (no tab for a person who does not exist)
                refuse(f"Not sent: there is no user named “{cmd.users[0]}” on this server.")
                return
            e.send_unicast(user, cmd.text)
            self.open_conversation(user)
        elif a is Action.REPLY:
            peer = e.last_private_peer
            if not peer:
                notice("Nobody to reply to yet: /r answers the last person you exchanged a "
                       "private message with.", True)
                return
            e.send_unicast(peer, cmd.text)
            self.open_conversation(peer)
        elif a is Action.MULTICAST:
            users, refused = multicast_recipients(cmd.users, e.user or e.account,
                                                  e.account_named)
            if refused:
                refuse(refused)
            elif e.send_multicast(users, cmd.text) and \
                    key not in {peer_key(u) for u in users}:
                # (said as it is queued: a refusal comes later, in their tabs)
                notice(f"Sending to {', '.join(users)} — each sees it in their "
                       "conversation with you.")
        elif a is Action.BROADCAST:
            e.send_broadcast(cmd.text)
            self.open_conversation(EVERYONE)
        elif a is Action.CREATE:
            e.create_group(cmd.group, [], public=True, key=key)
        elif a is Action.CREATE_GROUP:
            e.create_group(cmd.group, list(cmd.users), public=False, key=key)
        elif a is Action.JOIN:
            e.join_group(cmd.group, key=key)
        elif a is Action.GROUP_MSG:
            e.send_group(cmd.group, cmd.text)
            self.open_group(cmd.group)
        elif a is Action.PARTY_INVITE:
            e.party_invite(cmd.users[0], key=key)
        elif a in (Action.PARTY_ACCEPT, Action.PARTY_DECLINE):
            group = e.pending_invitation()
            if not group:
                notice("No invitation is waiting for an answer.", True)
            elif a is Action.PARTY_ACCEPT:
                e.accept_invitation(group, key=key)
            else:
                e.decline_invitation(group, key=key)
        elif a in (Action.PARTY_LEAVE, Action.PARTY_WHO, Action.PARTY_MSG):
            party = e.party
            if not party:
                notice("You are not in a party: /party invite <user> starts one.", True)
            elif a is Action.PARTY_LEAVE:
                widget = self._tabs_by_key.get(group_key(party))
                if isinstance(widget, GroupConversationWidget):
                    widget.left_here = True
                e.leave_group(party, key=key)
            elif a is Action.PARTY_WHO:
                notice(self.party_text(party))
            else:
                e.send_group(party, cmd.text)
                self.open_group(party)
        elif a is Action.USERS:
            e.list_users(key)
        elif a is Action.HELP:
            notice(help_text())
        elif a is Action.QUIT:
            self.close()
        elif a is Action.LOGOUT:
            self._logout()
        else:  # USAGE, UNKNOWN
            refuse(cmd.error)

    def party_text(self, group: str) -> str:
        """What ``/party who`` shows: the members of ``group`` with leader and presence."""
        row = self.engine.groups.group(group)
        if row is None:
            return f"{group}: no members known."
        parts = []
        for name in row.members:
            tags = []
            if name_key(name) == name_key(row.leader):
                tags.append("leader")
            if name_key(name) == name_key(self.engine.user):
                tags.append("you")
            else:
                contact = self.engine.roster.contact(name)
                tags.append("online" if contact is not None and contact.online else "offline")
            parts.append(f"{name} ({', '.join(tags)})")
        text = (f"Party {row.name} ({'public' if row.public else 'invite-only'}, "
                f"{len(row.members)} member{'s' if len(row.members) != 1 else ''}): "
                + ", ".join(parts))
        if row.invited:
            text += f"; invited: {', '.join(row.invited)}"
        return text

    # ------------------------------------------------------------------ files

    def send_files(self, key: str, paths: list[str]) -> bool:
        """Offer ``paths`` in conversation ``key`` (dropped or attached); when that is not
        possible, the tab's error bar says why until dismissed. True when offered."""
        reason = self.transfers.send_files(key, paths)
        widget = self._tabs_by_key.get(key)
        if widget is not None:
            if reason is None:
                widget.dismiss_error()
            else:
                widget.show_error(reason)
        elif reason is not None:
            self._notice(f"Not sent: {reason}", error=True, key=key)
        return reason is None

    def _say_for_tab(self, text: str) -> None:
        """A tab's word for the status bar (a quoted message not there any more)."""
        self.statusBar().showMessage(text, 8000)

    def _take_file_drops(self) -> None:
        """Files dropped on a contact's row, a group's row or a conversation's tab header go
        to that conversation, as if dropped on its tab (:class:`FileDropTarget`)."""

        def status(text: str) -> None:
            if text:
                self.statusBar().showMessage(text)
            else:
                self.statusBar().clearMessage()

        def contact_at(pos: QPoint) -> tuple[str, str] | None:
            name = self.roster_view.indexAt(pos).data(RosterModel.NameRole)
            return (peer_key(name), self.engine.canonical_user(name)) if name else None

        def group_at(pos: QPoint) -> tuple[str, str] | None:
            index = self.groups_view.indexAt(pos)
            name = index.data(GroupModel.NameRole)
            if not name or index.data(GroupModel.PendingRole):
                return None  # (an invitation: nothing to send to until it is answered)
            return group_key(name), name

        def tab_at(pos: QPoint) -> tuple[str, str] | None:
            widget = self.tabs.widget(self.tabs.tabBar().tabAt(pos))
            if isinstance(widget, ConversationWidget):
                return widget.key, widget.model.title
            return None

        self._file_drops = [
            FileDropTarget(widget, status, target, self.drop_hint, self.take_dropped_files)
            for widget, target in ((self.roster_view.viewport(), contact_at),
                                   (self.groups_view.viewport(), group_at),
                                   (self.tabs.tabBar(), tab_at))]

    def drop_hint(self, key: str, title: str, paths: list[str]) -> str:
        """What a drop of ``paths`` (:func:`~messenger.gui.conversation.dropped_paths`) on
        conversation ``key``'s row or tab header will do, as its tab says it
        (:meth:`ConversationWidget.drop_text`), also when no tab of it is open."""
        widget = self._tabs_by_key.get(key)
        if widget is not None:
            return widget.drop_text(paths)
        return drop_hint(paths, key, title, self.transfers)

    def take_dropped_files(self, key: str, title: str, paths: list[str]) -> None:
        """Files dropped on conversation ``key``'s row or tab header: its tab opens (or
        comes to the front) and takes them as a drop on it
        (:meth:`ConversationWidget.take_dropped`: offered, or its error bar says why)."""
        self._open(key, title).take_dropped(paths)

    def _attach_current(self) -> None:
        widget = self.tabs.currentWidget()
        if isinstance(widget, ConversationWidget):
            widget.attach()

    def _transfers_toggled(self, shown: bool) -> None:
        """View → Transfers (Ctrl+Shift+T): the keyboard focus goes into the panel when it
        opens, and back to the conversation when it closes."""
        if shown:
            self.transfers_panel.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        elif self.tabs.currentWidget() is not None:
            self.tabs.currentWidget().setFocus(Qt.FocusReason.ShortcutFocusReason)

    def show_transfers(self) -> TransfersPanel:
        """View → Transfers: show the panel listing every transfer."""
        self.transfers_dock.show()
        self.transfers_dock.raise_()
        return self.transfers_panel

    def _on_transfer_added(self, key: str) -> None:
        t = self.transfers.get(key)
        if t is None or t.direction != RECEIVE:
            return
        # An offer to us: make sure its conversation is open (the card is there), in the
        # background: becoming current, even for a moment, would mark it read.
        if is_group(t.conversation):
            title = self.engine.conversation(t.conversation).title
            row = self.engine.groups.group(title)
            name = row.name if row is not None else title
            self._open(group_key(name), name, focus=self.tabs.currentWidget() is None)
        else:
            self._open(peer_key(t.peer), self.engine.canonical_user(t.peer),
                       focus=self.tabs.currentWidget() is None)
        # The name it is saved under, as on the card: the sender's raw name may carry bidi
        # overrides ("invoice<U+202E>fdp.exe" read "invoiceexe.pdf" in the pop-up: a hunt).
        shown = t.display_name
        self.statusBar().showMessage(f"{t.peer} offers you “{shown}”.", 8000)
        if t.error.startswith(AUTO_REFUSED):
            return  # (refused without asking: the card says so, nothing to answer)
        # In the background, a pop-up as for a message (the tab's count says it too).
        conversation = self.engine.conversation(t.conversation)
        title = ("# " if is_group(t.conversation) else "") + conversation.title
        if self.notifications.message(t.conversation, title, t.peer,
                                      f"📎 {shown} ({format_size(t.size)})",
                                      window_active=self._app_in_front(), card=key):
            self._notify_timer.start()

    # ------------------------------------------------------------------ find, export, typing

    def find(self) -> None:
        """Ctrl+F: open the find bar of the current conversation."""
        widget = self.tabs.currentWidget()
        if isinstance(widget, ConversationWidget):
            widget.open_find()

    def ask_export(self, path: str | None = None) -> ConversationExport | None:
        """Conversation → Export…: write the whole current conversation to a text file (asks
        where unless ``path`` is given); the tab's export bar follows the returned job."""
        key = self.current_key()
        if key is None:
            return None
        if path is None:
            title = self.engine.conversation(key).title
            path, _ = QFileDialog.getSaveFileName(
                self, "Export conversation", f"{title}.txt", "Text files (*.txt)")
            if not path:
                return None
        try:
            job = self.engine.export_conversation(key, path)
        except OSError as exc:
            why = exc.strerror or str(exc)  # (not "[Errno 2] …: '/x.txt'", the path twice)
            QMessageBox.warning(self, "Export failed", f"Could not write {path}: {why}.")
            return None
        self._tabs_by_key[key].show_export(job)
        job.finished.connect(
            lambda count, complete: self._export_ended(job, export_done_text(
                job.path, count, complete)))
        job.failed.connect(lambda text: self._export_ended(job, text))
        return job

    def _export_ended(self, job: ConversationExport, text: str) -> None:
        """An export ended: its outcome goes to the status bar when no tab follows it (its
        tab was closed meanwhile: a tab open on its conversation follows it and says so
        itself, see ``_open``); it ended unsaid before (a hunt)."""
        if job.key not in self._tabs_by_key:
            self.statusBar().showMessage(text, 15_000)

    def _on_typing(self, key: str, user: str) -> None:
        widget = self._tabs_by_key.get(key)
        if widget is not None:
            widget.show_typing(user)

    def _on_presence_changed(self, user: str, online: bool) -> None:
        """Someone who goes offline types no more: their "is typing…" goes at once (it
        stayed for its 6 s under "last seen just now"; a hunt)."""
        widget = self._tabs_by_key.get(peer_key(user))
        if not online and widget is not None:
            widget.hide_typing()

    def _on_message_received(self, key: str, item: object) -> None:
        widget = self._tabs_by_key.get(key)
        if widget is not None:
            widget.hide_typing()
        model = self.engine.conversation(key)
        title = ("# " if is_group(key) else "") + model.title
        if self.notifications.message(key, title, getattr(item, "sender", ""),
                                      getattr(item, "text", ""),
                                      window_active=self._app_in_front(),
                                      seq=getattr(item, "seq", None)):
            self._notify_timer.start()

    def _on_invitation_received(self, group: str, by: str) -> None:
        """An invitation to ``group``: in the background, a pop-up as for a message ("# lab",
        "alice invited you to lab"; the yellow bar waited unseen in a minimized window)."""
        if self.notifications.invitation(group_key(group), group, by,
                                         window_active=self._app_in_front()):
            self._notify_timer.start()

    def _close_answered_invitations(self) -> None:
        """An invitation answered (Accept / Decline here, or on another computer): its
        pop-up goes (it stayed in the desktop's list, asking still)."""
        for nid in self.desktop_notices.answered(self._still_invited):
            self.desktop.close(nid)

    def _still_invited(self, group: str) -> bool:
        """Whether the invitation to ``group`` still waits for an answer (not answered on
        another computer of the account meanwhile)."""
        row = self.engine.groups.group(group)
        return row is not None and row.pending

    # ------------------------------------------------------------------ notifications

    def _window_active(self) -> bool:
        """Whether the user can see the window: active *and* not minimized (a minimized
        window may stay the active one). Every "is it read?" check asks this one (mark
        read); pop-ups ask :meth:`_app_in_front`, true whenever this is: a message is never
        marked read with no pop-up and no badge left."""
        return self.isActiveWindow() and not self.isMinimized()

    def _app_in_front(self) -> bool:
        """Whether the user is in the app: this window active, or one of its own dialogs
        (Preferences, Change password…, New group…), for Qt the active window then. Pop-ups
        ask this: one came up over the app's own dialog as if the user were in another
        program (a hunt). Reading still asks :meth:`_window_active` (a dialog may cover the
        conversation): a message that comes meanwhile keeps its badge, and is read when
        the window is active again."""
        if self.isMinimized():
            return False
        widget = QApplication.activeWindow()
        while widget is not None:
            if widget is self:
                return True
            widget = widget.parentWidget()
        return False

    def _app_icon(self) -> QIcon:
        icon = QApplication.windowIcon()
        if icon.isNull():
            icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        return icon

    def _show_notice(self) -> None:
        notice = self.notifications.flush(self.engine.unread_text, self.engine.card_unread,
                                          self._still_invited)
        if notice is None or self._app_in_front():
            return
        self.last_notice = notice
        QApplication.alert(self)  # the task bar entry asks for attention until activated
        backend = self.desktop_notices.backend(self.desktop.available(), self.tray is not None)
        if backend is Backend.SERVICE:
            if not self.desktop_notices.ask(notice):
                return  # (it waits for the id of its conversation's pop-up: it replaces it)
            if self._ask_service(notice):
                return
            self.desktop_notices.answer(notice, 0)
            backend = self.desktop_notices.backend(False, self.tray is not None)
        self._pop_up_in_tray(notice, backend)

    def _ask_service(self, notice: Notice, replaces: int | None = None) -> int:
        """Ask the notification service for ``notice``'s pop-up (replacing pop-up
        ``replaces``; default: its conversation's), text-less when "show message text" is
        off; the request's number, 0 when there is no service. Asked
        in the background: the answer, the pop-up's id, comes to
        :meth:`_on_notification_shown` (a hung service does not freeze the window)."""
        if replaces is None:
            replaces = self.desktop_notices.replaces(notice)
        if not self.notifications.prefs.show_text:
            notice = text_less(notice)  # (one made before "show text" went off)
        request = self.desktop.notify(notice.title, notice.body, replaces=replaces)
        if request:
            self._asked[request] = notice
        return request

    def _on_notification_shown(self, request: int, nid: int) -> None:
        """The service's answer to :meth:`_show_notice`'s request: the pop-up's id, or 0
        when it refused or did not answer (the tray's balloon then, if any). The
        conversation's next notice, held back until this id came, goes out then,
        replacing this pop-up (it stacked as a second one)."""
        notice = self._asked.pop(request, None)
        if notice is None:
            return
        read = notice.key in self._read_while_asked
        self._read_while_asked.discard(notice.key)
        if (old := self._hiding.pop(request, None)) is not None:
            if read or not nid:
                self.desktop.close(nid or old)  # (refused: it goes, text and all)
            else:
                self.desktop_notices.shown(nid, notice)
            return
        if read:
            if nid:
                self.desktop.close(nid)  # read while the service took its time: it goes
            self.notified.emit(notice)
        elif nid:
            self.desktop_notices.shown(nid, notice)
            log.debug("notified: %s (%d messages)", notice.title, notice.count)
            self.notified.emit(notice)
            if not self.notifications.prefs.show_text and text_less(notice) != notice:
                self._hide_text(nid, notice)  # ("show text" went off meanwhile)
        else:
            self._pop_up_in_tray(notice, self.desktop_notices.backend(False,
                                                                       self.tray is not None))
        held = self.desktop_notices.answer(notice, nid)
        if held is not None and not self._ask_service(held, 0 if read else None):
            self.desktop_notices.answer(held, 0)
            self._pop_up_in_tray(held, self.desktop_notices.backend(False,
                                                                     self.tray is not None))

    def _hide_pop_up_text(self) -> None:
        """Preferences → "show message text" went off: the pop-ups still on screen showing
        who wrote what are replaced by text-less ones ("New message"; they stayed as they
        were, in view of the shared screen the setting is for). A pop-up the service has
        not shown yet is replaced when it comes (:meth:`_on_notification_shown`). The
        tray's balloon cannot be taken back."""
        for nid, notice in self.desktop_notices.showing():
            if text_less(notice) != notice:
                self._hide_text(nid, notice)

    def _hide_text(self, nid: int, notice: Notice) -> None:
        """Replace pop-up ``nid`` (showing ``notice``) by a text-less one; closed when the
        service does not answer."""
        hidden = text_less(notice)
        self.desktop_notices.shown(nid, hidden)  # (a click opens its conversation still)
        if request := self._ask_service(hidden, nid):
            self._hiding[request] = nid
        else:
            self.desktop.close(nid)

    def _pop_up_in_tray(self, notice: Notice, backend: Backend) -> None:
        if backend is Backend.TRAY and self.tray is not None:
            self.tray.showMessage(notice.title, tray_body(notice.body), self._app_icon(), 8000)
        log.debug("notified: %s (%d messages)", notice.title, notice.count)
        self.notified.emit(notice)

    def _on_notification_action(self, nid: int, action: str) -> None:
        """A click on a pop-up of the notification service: the one it was (an older one
        still in the desktop's list opened the newest one's conversation)."""
        notice = self.desktop_notices.clicked(nid, action)
        if notice is not None:
            self.open_notice(notice)

    def open_notice(self, notice: Notice | None = None) -> None:
        """A click on notification ``notice`` (default: the last one; the tray's balloon
        does not say which): the window comes to the front, on the conversation it was
        about (when it was about one)."""
        self.bring_to_front()
        if notice is None:
            notice = self.last_notice
        if notice is not None and notice.key is not None:
            key = notice.key
            name = key if key == EVERYONE or is_group(key) \
                else self.engine.conversation(key).title
            self.tabs.setCurrentWidget(self.open_conversation(name))

    def bring_to_front(self) -> None:
        """Show the window (restored if minimized, as it was before: maximized or full
        screen stays so), raise and activate it."""
        if self.isMinimized():
            # (not showNormal(): that dropped the maximized state the window had)
            self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.show()
        self.raise_()
        self.activateWindow()

    def _set_muted(self, muted: bool) -> None:
        key = self.current_key()
        if key is None:
            return
        prefs = self.notifications.prefs
        keys = prefs.muted | {key} if muted else prefs.muted - {key}
        if keys != prefs.muted:
            self.notifications.prefs = replace(prefs, muted=frozenset(keys))
            save_notification_prefs(self.notifications.prefs, account=self._account)

    # ------------------------------------------------------------------ unread

    def _on_current_changed(self, index: int) -> None:
        """Another tab is in front: it is read, when the window is on screen. While the
        window is built (hidden: Everyone is current for a moment, then the tab restored
        from the last session) or minimized, nothing is read: the first show or restore
        that activates the window reads the tab in front then (:meth:`changeEvent`)."""
        key = self.current_key()
        if key is not None:
            self._show_unread_line(key)
            if self.isVisible() and not self.isMinimized():
                self.engine.mark_read(key)
        self.mute_action.setEnabled(key is not None)
        # (Everyone cannot be closed: Close tab and Ctrl+W stood enabled there and did nothing)
        self.close_tab_action.setEnabled(key not in (None, EVERYONE))
        self.mute_action.setChecked(key is not None and key in self.notifications.prefs.muted)

    def _show_unread_line(self, key: str) -> None:
        """Draw the "New messages" line of ``key``'s tab above what is unread there: the
        oldest unread message, or a file offer that came before it."""
        widget = self._tabs_by_key.get(key)
        if widget is not None:
            widget.set_unread_marker(self.engine.first_unread(key),
                                     card=self.engine.first_unread_card(key))

    def _on_unread_changed(self, key: str, count: int) -> None:
        if not count and (nid := self.desktop_notices.read(key)):
            self.desktop.close(nid)  # read here or on another computer: its pop-up goes
        if not count and any(n.key == key for n in self._asked.values()):
            self._read_while_asked.add(key)
        if count and self._reading(key):
            # Read at the end of this pass of the event loop, with whatever else comes in
            # it (see _read_what_came); the badge does not flash meanwhile.
            self._read_soon.add(key)
            self._read_timer.start()
            return
        self._update_tab_text(key)
        self._update_title()

    def _reading(self, key: str) -> bool:
        """Whether the user sees what comes into ``key``: its tab is the current one, the
        window active and the list at its newest message."""
        widget = self._tabs_by_key.get(key)
        return key == self.current_key() and self._window_active() \
            and widget is not None and widget.at_latest

    def _read_what_came(self) -> None:
        """The messages that came into the conversation being read during the last pass of
        the event loop are read: one ``mark_read`` (one sync of the cache, one ``read``, one
        ``ping``) for all of them. One that is no longer looked at (another tab, the window
        left, the list scrolled up meanwhile) keeps them unread and shows its badge."""
        keys, self._read_soon = self._read_soon, set()
        for key in keys:
            if not self.engine.unread(key):
                continue
            if self._reading(key):
                self.engine.mark_read(key)
            else:
                self._update_tab_text(key)
                self._update_title()

    def discard_unsent(self, client_msg_id: str) -> bool:
        """Delete an unsent message (Delete on a pending or failed one); a message already
        on its way cannot be stopped, and the status bar says so."""
        if self.engine.discard(client_msg_id):
            return True
        self.statusBar().showMessage(
            "That message is already on its way; once it is sent, use Delete for everyone.",
            8000)
        return False

    def _on_caught_up(self, key: str) -> None:
        """The user scrolled down to the newest message of ``key``: what came meanwhile is
        seen now (not before: a message that arrives while the user reads older ones stays
        unread, and its sender gets no read receipt)."""
        if key == self.current_key() and self._window_active() and self.engine.unread(key):
            self.engine.mark_read(key)

    def _on_conversation_renamed(self, key: str) -> None:
        widget = self._tabs_by_key.get(key)
        if widget is not None:
            widget.update_title()
            self._update_tab_text(key)

    def _update_tab_text(self, key: str) -> None:
        widget = self._tabs_by_key.get(key)
        if widget is None:
            return
        count = self.engine.unread(key)
        title = ("# " if is_group(key) else "") + widget.model.title
        index = self.tabs.indexOf(widget)
        # The count first: a long name is elided at the right and must not take it along.
        self.tabs.setTabText(index, f"({count}) {title}" if count else title)
        # The tab may be elided: its tooltip has the whole name (and the unread count).
        tip = "Messages to everyone" if key == EVERYONE else \
            f"Group {widget.model.title}" if is_group(key) else \
            f"Conversation with {widget.model.title}"
        self.tabs.setTabToolTip(index, f"{tip} — {count} unread" if count else tip)
        # Its ✕ says which tab it closes (Qt's reached a screen reader as "button", the
        # same on every tab; a hunt).
        bar = self.tabs.tabBar()
        for side in (QTabBar.ButtonPosition.LeftSide, QTabBar.ButtonPosition.RightSide):
            button = bar.tabButton(index, side)
            if button is not None:
                button.setAccessibleName(f"Close {tip[0].lower()}{tip[1:]}")

    _POINTER_EVENTS = frozenset({
        QEvent.Type.Enter, QEvent.Type.MouseMove, QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick, QEvent.Type.Wheel})

    def eventFilter(self, watched: object, event: QEvent) -> bool:
        """The contact list's pointer: it holds the list's order (see ``_roster_hold``).
        Down in the contact filter goes into the list, at its first row (it did nothing:
        the arrows are how a keyboard reaches a filtered list; noted by a hunt)."""
        if watched is self.contacts_filter and event.type() == QEvent.Type.KeyPress \
                and event.key() == Qt.Key.Key_Down and self.contacts_proxy.rowCount():
            self.roster_view.setFocus()
            self.roster_view.setCurrentIndex(self.contacts_proxy.index(0, 0))
            return True
        if watched is self.roster_view.viewport():
            if event.type() in self._POINTER_EVENTS:
                self.engine.roster.set_order_held(True)
                self._roster_hold.start()
            elif event.type() == QEvent.Type.Leave:
                self._roster_hold.stop()
                self.engine.roster.set_order_held(False)
        return super().eventFilter(watched, event)

    def _release_roster_order(self) -> None:
        """The quiet time after the last click is over: sort, unless the pointer still
        rests on the list (its leaving will)."""
        if not self.roster_view.viewport().underMouse():
            self.engine.roster.set_order_held(False)

    def changeEvent(self, event: QEvent) -> None:
        # Restoring a minimized window that kept the focus brings no ActivationChange: the
        # state change is when its messages are seen.
        if event.type() in (QEvent.Type.ActivationChange, QEvent.Type.WindowStateChange) \
                and self._window_active():
            self.notifications.discard()  # the badges show it all now
            self._notify_timer.stop()
            key = self.current_key()
            if key is not None and self.engine.unread(key):
                self._show_unread_line(key)
            if key is not None:
                self.engine.mark_read(key)
        super().changeEvent(event)

    # ------------------------------------------------------------------ status

    def _update_title(self) -> None:
        e = self.engine
        who = f"{e.account}@{e.host}:{e.port}" if e.account else f"{e.host}:{e.port}"
        unread = sum(e.unread(key) for key in e.conversation_keys())
        self.setWindowTitle(f"({unread}) {who} — Messenger" if unread else f"{who} — Messenger")
        if self.tray is not None:
            self.tray.setToolTip(tray_tooltip(who, unread))

    def _update_state(self, state: ConnectionState) -> None:
        # Presence is known only while logged in (the login's roster brings it back).
        self.engine.roster.set_presence_known(state is ConnectionState.LOGGED_IN)
        if state is not ConnectionState.LOGGED_IN:
            # Nor is typing: "bob is typing…" stayed for its 6 s under "Disconnected".
            for widget in self._tabs_by_key.values():
                widget.hide_typing()
        self._update_headers()
        text = _STATE_TEXT.get(state, state.value)
        auto = self.engine.auto_reconnect
        if state is ConnectionState.CONNECTING:
            self._stopped_reason = ""  # a new attempt: the last reason no longer holds
        if state is ConnectionState.LOGGED_IN:
            self.opened_offline = False
            self._attempting, self._last_failure, self._stopped_reason = False, "", ""
            self._logged_out_reason, self._server_stopped = "", False
            self.state_label.setToolTip("")
            text = f"Online as {self.engine.user} on {self.engine.host}:{self.engine.port}"
            self._countdown.stop()
            current = self.tabs.currentWidget()
            if isinstance(current, ConversationWidget):
                current.fill_if_short()  # (opened offline: the server's history now)
        elif auto and state is not ConnectionState.DISCONNECTED:
            text = OFFLINE_TEXT if self.opened_offline else "Reconnecting…"
        elif auto and self._countdown.isActive():
            return  # the countdown says it
        elif auto and self.opened_offline and self.engine.waits_for_update:
            text = OFFLINE_VERSION_TEXT  # (no countdown: "Reconnect now" tries)
        elif state is ConnectionState.DISCONNECTED and self._stopped_reason:
            text = f"Disconnected: {_first_sentence(self._stopped_reason)}"  # (a changed
            # certificate: the fingerprints and what to do are in the tooltip and Everyone)
        self.state_label.setText(text)
        offline = auto and state is not ConnectionState.LOGGED_IN
        self.reconnect_button.setVisible(offline)
        self.reconnect_button.setEnabled(state is ConnectionState.DISCONNECTED)
        self.reconnect_action.setEnabled(offline and state is ConnectionState.DISCONNECTED)
        self._update_title()

    def _on_connection_failed(self, code: str, message: str) -> None:
        self.state_label.setToolTip(plain_tooltip(message))
        if self._attempting and self.engine.auto_reconnect:
            # A reconnect attempt failed: the countdown that follows says why, and the line
            # does not flicker through "Disconnected: …" on every try.
            self._last_failure = _first_sentence(message)
            if self.engine.waits_for_update:  # (no countdown follows: the line says why)
                self._attempting = False
                self.state_label.setText(OFFLINE_VERSION_TEXT if self.opened_offline
                                         else f"Disconnected: {self._last_failure}")
            return
        self._attempting = False
        if self._logged_out_reason:
            # The server said why it ends the session (the password was changed elsewhere):
            # that, not "the server closed the connection", which read as an outage.
            message, self._logged_out_reason = self._logged_out_reason, ""
            self.state_label.setToolTip(plain_tooltip(message))
        self._stopped_reason = message
        self.state_label.setText(f"Disconnected: {_first_sentence(message)}")

    def _on_reconnect_scheduled(self, delay: float) -> None:
        self._reconnect_due = time.monotonic() + delay
        self._countdown.start()
        self._show_countdown()
        self.reconnect_button.show()
        self.reconnect_button.setEnabled(True)
        self.reconnect_action.setEnabled(True)

    def _on_send_delayed(self, message: str, delay: float) -> None:
        """The server refused a send for now (sending too fast): say why the clocks wait."""
        self.statusBar().showMessage(
            f"Sending slowed down by the server ({message.rstrip('.')}): the waiting "
            f"messages go by themselves in {max(1, math.ceil(delay))} s.",
            max(4000, int(delay * 1000) + 2000))

    def _on_relogin_failed(self, code: str, message: str) -> None:
        """A reconnect reached the server and its login was refused: a refused password
        ends the session (back to the login dialog, as when it is changed while online);
        anything else is said on the line, where the reason of the attempt before stood
        ("Retrying in 46 s — Cannot reach the server", locked out; a hunt)."""
        if not self._attempting:
            return  # (a login of the dialog's: it says why)
        if code == ErrorCode.BAD_CREDENTIALS:
            # The password was changed while this computer was offline (on another one, or
            # by the operator's --reset-password): the session ended for good, as for one
            # online at that moment. Back to the login dialog, which says why; the window
            # stayed with the account's conversations for whoever sat down next (a hunt).
            message = ("The password was refused (changed on another computer?). Log in "
                       "again with the new one.")
            self.state_label.setToolTip(plain_tooltip(message))
            self.state_label.setText(f"Disconnected: {_first_sentence(message)}")
            self._attempting, self._stopped_reason = False, message
            self.logout_reason = ("You were logged out: the password was refused when the "
                                  "app logged in again (changed on another computer?). Log "
                                  "in with the new one.")
            if self.opened_offline:  # (typed when the server could not check it)
                self.logout_reason = ("You were logged out: the server refused the password "
                                      "typed when the app was opened offline. Log in again.")
            self.logout_chosen = True
            QTimer.singleShot(0, self.close)
            return
        short = f"Login refused: {_first_sentence(message)}"
        message = f"Could not log in again: {message}"
        self.state_label.setToolTip(plain_tooltip(message))
        if self.engine.auto_reconnect:
            self._last_failure = short
            self._server_stopped = False  # (it is back: this is why it is not used)
            if self._countdown.isActive():
                self._show_countdown()
            return
        self._attempting = False
        self._stopped_reason = message
        self.state_label.setText(f"Disconnected: {short}")

    def _on_server_stopping(self, message: str) -> None:
        """The server said it stops: until the next login the countdown says so (its tries
        fail with "Cannot reach" while it is down: the tooltip gives that)."""
        self._server_stopped = True

    def _show_countdown(self) -> None:
        left = max(0, math.ceil(self._reconnect_due - time.monotonic()))
        # The countdown first: a narrow window elides the reason, not when the next try is.
        if self.opened_offline:
            text = f"{OFFLINE_TEXT} next try in {left} s"
            if self._last_failure:
                text += f" — {self._last_failure}"
        elif self._server_stopped:
            text = f"Server stopped — reconnecting in {left} s"
        elif self._last_failure:
            text = f"Retrying in {left} s — {self._last_failure}"
        else:
            text = f"Connection lost — reconnecting in {left} s"
        self.state_label.setText(text)

    def _on_reconnecting(self) -> None:
        self._attempting = True
        self._countdown.stop()
        self.state_label.setText(OFFLINE_TEXT if self.opened_offline else "Reconnecting…")
        self.reconnect_button.setEnabled(False)
        self.reconnect_action.setEnabled(False)

    def reconnect_now(self) -> None:
        """File → Reconnect now (and the status bar button)."""
        self.engine.reconnect_now()

    def _on_request_failed(self, key: str, code: str, message: str) -> None:
        log.info("request in %s failed: %s %s", key, code, message)
        widget = self._tabs_by_key.get(key)
        if code == LOCAL_STORE:
            # Not kept, not sent: the text goes back in the box it was typed in (which may
            # be another tab's: /msg bob … in Everyone), if it is being sent from one now.
            for tab in self._tabs_by_key.values():
                tab.restore_submitted()
        if code == ErrorCode.PASSWORD_CHANGED:
            # The session ended for good: back to the login dialog, which says why. The
            # window stayed, showing the account's conversations and taking messages as it
            # to whoever sat down next at a shared computer (a hunt).
            self._logged_out_reason = message[:1].upper() + message[1:]
            self.logout_reason = f"You were logged out: {message.rstrip('.')}."
            self.logout_chosen = True
            QTimer.singleShot(0, self.close)
            return
        if widget is not None and key == self.current_key() and widget.failed_bar.isVisible():
            return  # the tab in view says it already, with Retry / Delete
        self.statusBar().showMessage(message[:1].upper() + message[1:], 8000)

    def _on_group_failed(self, op: str, group: str, code: str, message: str) -> None:
        if code == NOT_CONNECTED:  # (already one sentence: "… may or may not have been done")
            self.statusBar().showMessage(message, 8000)
            return
        self.statusBar().showMessage(group_failure(op, group, message), 8000)

    def about_text(self) -> str:
        """What Help → About shows: version, server, fingerprint and the log file path."""
        fp = html.escape(self.engine.fingerprint or "unknown")
        log_file = html.escape(str(self.log_file or "not logging to a file"))
        return (f"<b>Messenger {__version__}</b><br>A desktop messenger for LANs.<br><br>"
                f"Server: {html.escape(self.engine.host)}:{self.engine.port}<br>"
                f"Server key SHA-256: <tt>{fp}</tt><br><br>"
                f"Log file: <tt>{log_file}</tt>")

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
        # (A message typed while the server was away stays on this computer: on a shared
        # one the account may never log in here again, and nothing said so; a hunt.)
        # Only pending ones go later: one the server refused for good (✗, Retry / Delete)
        # never goes by itself, and asking about it promised it would, at every log-out.
        # Edits and deletions for everyone waiting for the link stay there too (a hunt).
        store = self.engine.store
        pending = len(store.outbox(state="pending")) if store is not None else 0
        failed = len(store.outbox(state="failed")) if store is not None else 0
        edits, deletes = self.engine.changes_waiting()
        if (pending or edits or deletes) and not confirm_logout_unsent(
                self, pending, failed, edits=edits, deletes=deletes):
            return
        self.logout_chosen = True
        self.logout_requested.emit()
        self.close()

    def logout_and_forget(self) -> None:
        """File → Log out and remove my data from this computer (a shared computer: a lab,
        a classroom): asked first (:func:`confirm_forget`, which names what is lost), then
        a logout, and once the window has closed the account's local store (with its
        ``-wal``/``-shm`` files and set-aside copies, also those under the server's other
        addresses: :meth:`ClientEngine.local_store_paths`, :func:`remove_store`) and its settings
        (:func:`forget_account_settings`) are removed. Received, exported and pasted files
        stay."""
        e = self.engine
        store = e.store
        unsent = len(store.outbox()) if store is not None else 0
        edits, deletes = e.changes_waiting()
        server = f"{e.host}:{e.port}" if e.host else "this server"
        if not confirm_forget(self, forget_question(e.account or "this account", server,
                                                    unsent, edits, deletes)):
            return
        self.forgotten = True
        self.logout_chosen = True
        self.logout_requested.emit()
        self.close()

    def _forget_account(self) -> None:
        """Remove what :meth:`logout_and_forget` promised (the engine and store closed);
        :attr:`logout_reason` says how it went, for the login dialog."""
        e = self.engine
        # (with the copies under the server's other addresses: a moved one stayed, a hunt)
        left = [part for path in e.local_store_paths() for part in remove_store(path)]
        where = self._drafts_for or ((e.account, *e.home) if e.account else None)
        saved = forget_account_settings(*where) if where is not None else True
        self._drafts.clear()
        self._reply_drafts.clear()
        if left or not saved:
            what = [str(p) for p in left]
            if not saved:
                what.append(str(app_settings().fileName()))
            self.logout_reason = ("Logged out, but some of your data could not be removed "
                                  f"from this computer: {', '.join(what)}.")
        else:
            self.logout_reason = ("Logged out. Your messages, drafts and settings were "
                                  "removed from this computer.")
        log.info("removed the local data of %s on %s:%d%s", e.account, *e.home,
                 f" (left: {', '.join(map(str, left))})" if left else "")

    # ------------------------------------------------------------------ session

    def _restore_session(self) -> None:
        """Size and place, panels and the open conversation tabs as they were when the
        window last closed (tabs per account and server; a group only while a member)."""
        s = app_settings()
        geometry = s.value("window/geometry")
        if geometry:
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if state:
            self.restoreState(state)
        splitter = s.value("window/splitter")
        if splitter:
            self.splitter.restoreState(splitter)
        self.sidebar_action.setChecked(s.value("window/sidebar", True, type=bool))
        e = self.engine
        if not e.account:
            self._restored = True
            return
        self._drafts_for = (e.account, *e.home)
        self._drafts = load_drafts(*self._drafts_for, s)
        self._reply_drafts = load_reply_drafts(*self._drafts_for, s)
        self._multicast_draft = load_multicast_draft(*self._drafts_for, s)
        self._drafts_saved = set(self._drafts)
        self._multicast_saved = any(self._multicast_draft)
        everyone = self._tabs_by_key.get(EVERYONE)
        if everyone is not None and self._drafts.get(EVERYONE):
            everyone.set_draft(self._drafts.pop(EVERYONE))
            if (answered := self._reply_drafts.pop(EVERYONE, None)) is not None:
                self._restore_reply(everyone, answered)
        tabs, current = load_open_tabs(*self._drafts_for, s)
        for key, title in tabs:
            if key == EVERYONE:
                # Where it was dragged to among the others (it stayed first: a hunt). The
                # tabs come back one after another, so it goes after those before it.
                if everyone is not None:
                    bar = self.tabs.tabBar()
                    bar.moveTab(self.tabs.indexOf(everyone), self.tabs.count() - 1)
                continue
            if is_group(key):
                row = e.groups.group(title)
                former = {group_key(n): n for n in e.groups.former()}
                if row is not None and (row.member or (row.pending and e.has_history(key))):
                    self._open(group_key(row.name), row.name, focus=False)
                elif key in former:  # (left: kept for reading, as before the restart)
                    self._open(key, former[key], focus=False)
                elif not e.logged_in and e.has_history(key):
                    # Opened offline: the groups are known once logged in; its messages
                    # saved here are read meanwhile (dropped, the tab was gone for good).
                    self._open(key, title, focus=False)
            elif peer_key(title) == key:
                self._open(key, title, focus=False)  # not read until looked at
        widget = self._tabs_by_key.get(current or "")
        if widget is not None:
            self._open(widget.key, widget.model.title)
        self._restored = True

    def save_session(self) -> None:
        """Remember the window's size and place, its panels and (for this account and server)
        the open conversation tabs; done when it closes."""
        s = app_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("window/sidebar", self.sidebar_action.isChecked())
        self.save_tabs(s)
        self.save_drafts()
        s.sync()

    def _tabs_changed(self, *args: object) -> None:
        """A tab opened, closed or moved, or another one came in front: :meth:`save_tabs`
        soon (once for a burst; not while the window is built: its tabs are the saved
        ones; nor once the account's data is removed)."""
        if self._restored and not self.forgotten:
            self._tabs_timer.start()

    def save_tabs(self, settings: QSettings | None = None) -> None:
        """Remember the open conversation tabs in their order and the current one, for this
        account and server (:func:`save_open_tabs`)."""
        self._tabs_timer.stop()
        e = self.engine
        if e.account:  # (also offline: the tabs are that account's)
            tabs = []
            for i in range(self.tabs.count()):
                widget = self.tabs.widget(i)
                if isinstance(widget, ConversationWidget):
                    tabs.append((widget.key, widget.model.title))
            save_open_tabs(e.account, *e.home, tabs, self.current_key(), settings)

    def drafts(self) -> dict[str, str]:
        """Conversation key → unsent text, of open and closed tabs."""
        drafts = dict(self._drafts)
        for key, widget in self._tabs_by_key.items():
            drafts[key] = widget.draft()
        return {key: text for key, text in drafts.items() if text.strip()}

    def save_drafts(self) -> None:
        """Write :meth:`drafts` for the account and server they were typed for."""
        self._draft_timer.stop()
        e = self.engine
        where = self._drafts_for or ((e.account, *e.home) if e.account else None)
        if where is not None:
            drafts = self.drafts()
            save_drafts(*where, drafts)
            replies = dict(self._reply_drafts)
            for key, widget in self._tabs_by_key.items():
                replies.pop(key, None)
                if (answered := widget.reply_draft()) is not None:
                    replies[key] = answered
            save_reply_drafts(*where, {k: v for k, v in replies.items() if k in drafts})
            multicast = self.multicast_draft()
            save_multicast_draft(*where, *multicast)
            self._drafts_saved = set(drafts)
            self._multicast_saved = bool(multicast[0].strip() or multicast[1])

    def _sent_from_tab(self, key: str, text: str) -> None:
        """What was typed in conversation ``key``'s box was sent (or done): when that box's
        draft is in the settings file, the drafts are written now, not DRAFT_SAVE_MS later:
        a crash in between brought the sent text back as a draft at the next start."""
        if key in self._drafts_saved:
            self.save_drafts()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.forgotten:  # (nothing of the account is written: it goes below)
            self._draft_timer.stop()
            self._tabs_timer.stop()
        else:
            self.save_session()
        self._notify_timer.stop()
        for nid in self.desktop_notices.close_all():
            self.desktop.close(nid)  # (quit, log out: a pop-up left behind opened nothing)
        self._roster_hold.stop()
        self.engine.roster.set_order_held(False)  # (the roster is the engine's, not ours)
        if self.tray is not None:
            self.tray.hide()
        self.desktop.stop()  # (its thread ends after the call it is in, if any)
        self.transfers.close()  # peers are told; partial files stay for a resume
        self.engine.close()  # logs out first when logged in
        self.engine.close_store()  # (the next window of this account opens it)
        if self.forgotten and not self._forgot:
            self._forgot = True  # (once: a second close must not remove a later login's)
            self._forget_account()
        super().closeEvent(event)
