"""One conversation tab: the message list (model + bubble delegate, transfer cards), a find bar
(Ctrl+F), a bar for unsent messages (Retry / Delete), an error bar for refused drops, the
typing indicator and the compose box with Send and Attach; files dropped anywhere on the tab
are offered to its person or group."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote_to_bytes

from PySide6.QtCore import (
    QEvent,
    QIdentityProxyModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFocusEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QResizeEvent,
    QShowEvent,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import paths
from ..client.commands import (
    ANSWERED_LATER,
    LEADING_BLANK_LINES,
    Action,
    looks_like_command,
    parse_command,
)
from ..client.conversations import is_everyone, is_group, is_private
from ..client.engine import ConversationExport
from ..client.models import ChatItem, ConversationModel, DeliveryState, MessageKind
from ..client.quotes import (
    QuoteOutcome,
    QuoteTarget,
    excerpt,
    quoted_of,
    reply_text,
    split_quote,
)
from ..client.textsearch import fold
from ..protocol import MAX_TEXT_LENGTH, RETRACTED_TEXT
from . import theme
from .delegates import BubbleDelegate
from .widgets import ElidedLabel, pasted_text, plain_tooltip

log = logging.getLogger("messenger.gui.conversation")


def dropped_paths(event: QDropEvent | QDragEnterEvent | QDragMoveEvent) -> list[str] | None:
    """The local paths of a drag's URLs; None when it carries no URL, [] when some URL is not
    a local file (a web link)."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    urls = mime.urls()
    if not urls:
        return None
    if not all(u.isLocalFile() for u in urls):
        return []
    return [local_path(u) for u in urls]


WEB_LINK_DROPPED = "Only files from this computer can be sent (not web links)."
"""What a drop of web links (not local files) on a conversation says."""


def drop_hint(paths: list[str], key: str, title: str, transfers: object) -> str:
    """What a drag of ``paths`` (:func:`dropped_paths`) over conversation ``key``, called
    ``title``, says a drop will do, or why it cannot send them (``transfers``: the
    :class:`~messenger.client.transfers.TransferController`, whose ``recipients`` says who
    would get them). The conversation's tab, and the contact list, the group list and the
    tab bar (where no tab of it may be open) say the same."""
    if not paths:
        return WEB_LINK_DROPPED
    # Which of them can go (a folder, a pipe, /dev/zero cannot), said as the drop says it.
    sendable = getattr(transfers, "sendable", None)
    count, refused = sendable(paths) if sendable is not None else (len(paths), "")
    if not count:
        return refused
    recipients = getattr(transfers, "recipients", None)
    if recipients is not None:
        _people, reason = recipients(key)  # (offline, not a member, Everyone…)
        if reason:
            return reason
    who = title if is_private(key) else f"the members of {title} who are online"
    files = "the file" if len(paths) == 1 else f"the {len(paths)} files" \
        if count == len(paths) else f"{count} of the {len(paths)} files"
    return f"Drop to send {files} to {who}" + (f". {refused}" if refused else "")


def local_path(url: QUrl) -> str:
    """The local path of file ``url`` as the system names it: ``QUrl.toLocalFile`` turns
    bytes of a name that is not UTF-8 (a file from an old Latin-1 archive) into "\ufffd",
    a path that does not exist ("… does not exist any more", said of a file right there: a
    hunt); its bytes are kept here as :func:`os.fsdecode` does (surrogates), and the send
    says what is wrong with the name."""
    path = url.toLocalFile()
    if "\ufffd" in path and os.name == "posix":
        raw = unquote_to_bytes(url.path(QUrl.ComponentFormattingOption.FullyEncoded))
        return os.fsdecode(raw)
    return path


def _local_paths(mime: QMimeData) -> list[str]:
    """The local files a clipboard holds (none when it holds anything else, e.g. a web
    link)."""
    urls = mime.urls() if mime.hasUrls() else []
    if not urls or not all(u.isLocalFile() for u in urls):
        return []
    return [local_path(u) for u in urls]


PASTED_IMAGE_UNREADABLE = ("The pasted picture could not be read (it may be too large to "
                           "paste). Save it to a file and send that with Attach… "
                           "(Ctrl+Shift+A).")
"""What a tab says when a picture pasted alone (see :func:`pasted_image_is_a_file`) gives
no image: Qt reads none over 256 MB, nor one in a format it has no reader for."""

PASTED_KEPT_DAYS = 30
"""Pasted images older than this are removed when the next one is saved (they are kept that
long so that a transfer of one can still be resumed)."""


def save_pasted_image(image: QImage, folder: Path | None = None) -> Path:
    """Write ``image`` as ``pasted-YYYYmmdd-HHMMSS[-N].png`` in ``folder`` (default
    :func:`messenger.paths.pasted_dir`), first removing pasted images older than
    :data:`PASTED_KEPT_DAYS`. Raises OSError when it cannot be written."""
    folder = folder or paths.pasted_dir()
    too_old = time.time() - PASTED_KEPT_DAYS * 86400
    for old in folder.glob("pasted-*.png"):
        try:
            if old.stat().st_mtime < too_old:
                old.unlink()
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
    stem = "pasted-" + time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stem}.png"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.png"
    if not image.save(str(path), "PNG"):
        raise OSError(f"cannot write {path}")
    return path


_ROOT = QModelIndex()

_MATCH_ROLES = frozenset(int(r) for r in (Qt.ItemDataRole.DisplayRole,
                                          ConversationModel.TextRole, ConversationModel.SeqRole))
"""The roles whose change may change the find bar's matches (their text, their seq)."""


def open_link(url: QUrl) -> bool:
    """Open a web link from a message with the desktop's browser (replaced in tests)."""
    return QDesktopServices.openUrl(url)


PIN_SLACK_PX = 8
"""A list scrolled to within this many pixels of its end counts as showing the newest
message: new ones then scroll into view; otherwise a "↓ N new" button appears."""

FOLLOWED_ROWS = 120
"""While the list shows its newest message, it keeps at most this many rows: older ones go
aside in the model (:attr:`~messenger.client.models.ConversationModel.keep_newest`) and
come back when scrolled up to. A ``QListView`` measures every row again at each new one:
in a tab open all day on a busy Everyone, each message cost more than the last."""

MARKER_PAGES = 40
"""At most this many older pages are loaded from the cache to show where the unread
messages start (the "New messages" line), all of them before the list is laid out once;
further back, the view starts at the top of what was loaded."""

NO_MATCHES_HERE = "No matches on this computer"
NO_MATCHES_HERE_TIP = ("Only the messages this computer has were searched; older ones are "
                       "still on the server. Scroll up to load them (or export the "
                       "conversation), and they are searched too.")
"""What the find bar says when no cached message matches while the server may hold older
ones (see ``ConversationWidget._say_matches``)."""

TYPING_SHOWN_MS = 6000
"""How long "bob is typing…" stays after the last ``typing`` event."""

EXPORT_SHOWN_MS = 15_000
"""How long the outcome of an export stays in its bar."""


def repliable(item: ChatItem) -> bool:
    """``item`` is a message (own or someone else's) the server stored, not deleted: it can
    be answered with a quote."""
    return item.kind in (MessageKind.OWN, MessageKind.OTHER) and item.seq is not None and \
        item.text != RETRACTED_TEXT


def quotes(item: ChatItem) -> bool:
    """Whether ``item`` is a reply whose quote names a message to go to."""
    return item.kind in (MessageKind.OWN, MessageKind.OTHER) and \
        quoted_of(item.text) is not None


def copied_text(item: ChatItem) -> str:
    """What Copy (the menu's Copy text, Ctrl+C in the message list) puts on the clipboard
    for ``item``: what its bubble says. A reply's quote line is drawn as a block above it,
    not copied."""
    if item.kind in (MessageKind.OWN, MessageKind.OTHER):
        return split_quote(item.text)[1]
    return item.text


def editable(item: ChatItem) -> bool:
    """``item`` is an own message the server stored that can still be edited or deleted for
    everyone (not pending, failed or already deleted)."""
    return item.kind is MessageKind.OWN and item.seq is not None and \
        item.state not in (DeliveryState.PENDING, DeliveryState.FAILED) and \
        item.text != RETRACTED_TEXT


TOO_LONG_PREFIX = "Too long to send: "
"""How the error bar of a message too long to send begins (it goes once the text fits)."""


def too_long_text(length: int) -> str:
    """What the app says of a text of ``length`` characters, over the server's limit."""
    return (f"{TOO_LONG_PREFIX}{length:,} characters, and the limit is {MAX_TEXT_LENGTH:,}. "
            "Shorten it, or save it to a file and send the file.")

class NewestLastProxy(QIdentityProxyModel):
    """Shows a :class:`ConversationModel` unchanged but refuses the view's own
    ``fetchMore``: a ``QAbstractItemView`` fetches when its *last* row is visible, which in a
    chat is the newest end and always visible, so it would load the whole history. The tab
    asks for older pages itself when scrolled to the top."""

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> bool:
        return False

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> None:
        return None


FIND_PAUSE_MS = 250
"""How long the find bar waits for the next key before searching a long conversation."""
FIND_AT_ONCE_S = 0.04
"""A search that took longer than this (seconds) makes the next ones wait for a pause in
the typing (:data:`FIND_PAUSE_MS`): a key per 150 ms search made typing stutter."""


def find_waits(last_cost: float) -> bool:
    """Whether the find bar waits for a pause in the typing before it searches, given how
    long (seconds) the last search of this conversation took. Short conversations are
    searched at every key."""
    return last_cost > FIND_AT_ONCE_S


class FindLineEdit(QLineEdit):
    """The find bar's input: Enter → next match, Shift+Enter → previous, Escape → close.

    Signals:
        step(int): +1 (next) or -1 (previous).
        closed(): Escape was pressed.
    """

    step = Signal(int)
    closed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            back = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.step.emit(-1 if back else 1)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


def pasted_image_is_a_file(source: QMimeData) -> bool:
    """Whether pasted (or dropped) data is a picture to send as a file: an image and no
    text, as a screenshot or a browser's Copy Image. Cells copied in a spreadsheet, or a
    paragraph in a word processor, come as text *and* a picture of them: the text is what
    the user means to type. A picture in a format Qt has no reader for counts too (its
    paste then says it cannot be read, see :data:`PASTED_IMAGE_UNREADABLE`)."""
    pictured = source.hasImage() or any(f.startswith("image/") for f in source.formats())
    return pictured and not source.text().strip()



class ComposeEdit(QPlainTextEdit):
    """A multi-line input where Enter sends and Shift+Enter inserts a new line (while an
    input method composes a word, Enter confirms it: see :meth:`composing`).

    Signals:
        submitted(str): the text (stripped of surrounding whitespace) when Enter was pressed
            on non-blank text; the box is cleared.
        too_long(int): Enter was pressed on a text longer than the server takes
            (:data:`~messenger.protocol.MAX_TEXT_LENGTH` characters, the count given, as
            :attr:`sent_length` counts it); it stays in the box.
    """

    submitted = Signal(str)
    too_long = Signal(int)
    files_pasted = Signal(object)  # (a list of str: kept as Python objects, see local_path)
    image_pasted = Signal(QImage)
    image_unreadable = Signal()
    """A picture was pasted alone but could not be read (see :data:`PASTED_IMAGE_UNREADABLE`)."""
    edit_last = Signal()
    """Up was pressed in the empty box: edit the newest own message (as in Telegram, Slack,
    Element)."""
    escaped = Signal()
    """Escape was pressed (the tab cancels a reply)."""

    MIN_LINES, MAX_LINES = 3, 10
    """The box shows this many lines of text at least, and grows up to the most (then it
    scrolls) as a longer message is typed; it shrinks back when it is sent."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        # Short enough for a narrow tab (a longer hint was cut off in its middle); the
        # tooltip has the rest.
        self.setPlaceholderText("Write a message… (Enter sends, /help lists commands)")
        self.setToolTip("Enter sends; Shift+Enter starts a new line; /help lists the commands")
        self.document().contentsChanged.connect(self._fit)
        self._fit()
        self.sent_length: Callable[[str], int] = len
        """The length of what a submitted text goes out as (its tab counts a reply's quote,
        and a command's text alone)."""

    def _fit(self) -> None:
        # (QPlainTextDocumentLayout measures the document in lines, wrapped ones included)
        lines = int(self.document().documentLayout().documentSize().height() + 0.5)
        lines = min(self.MAX_LINES, max(self.MIN_LINES, lines))
        height = int(self.fontMetrics().lineSpacing() * lines + 2 * self.frameWidth() + 12)
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()  # (a narrower box wraps into more lines)

    # Pasted files (copied in a file manager) and images (a screenshot) are sent, not typed.
    # Text that comes with a picture is typed: office suites put a picture of copied cells
    # or paragraphs beside their text (see pasted_image_is_a_file).
    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return bool(_local_paths(source)) or pasted_image_is_a_file(source) or \
            source.hasImage() or source.hasHtml() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        paths = _local_paths(source)
        if paths:
            self.files_pasted.emit(paths)
            return
        if pasted_image_is_a_file(source):
            image = QImage(source.imageData()) if source.hasImage() else QImage()
            if image.isNull():  # (too big for Qt to read, or no reader: say so)
                self.image_unreadable.emit()
            else:
                self.image_pasted.emit(image)
            return
        plain = QMimeData()  # (only the text: see pasted_text)
        plain.setText(pasted_text(source))
        super().insertFromMimeData(plain)

    # Files dropped on the compose box go to the tab (to be sent), not into the text; a web
    # link dropped on it is typed, as when it is pasted (passed on, the tab refused it).
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event):
            event.ignore()
            return
        super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_paths(event):
            event.ignore()
            return
        super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if dropped_paths(event):
            event.ignore()
            return
        super().dropEvent(event)

    def composing(self) -> bool:
        """Whether an input method (Japanese, Chinese, Korean, …) is composing a word in the
        box: shown underlined at the cursor, not yet part of the text."""
        layout = self.textCursor().block().layout()
        return layout is not None and bool(layout.preeditAreaText())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.composing():
                # Enter confirms the word being composed (an input method that let it
                # through had the text sent without it): the next Enter sends.
                QGuiApplication.inputMethod().commit()
            elif event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == \
                Qt.KeyboardModifier.NoModifier and not self.composing():
            # (Up and Escape while a word is composed are the input method's: passed on,
            # they opened Edit on the last message or cancelled the reply; a hunt.)
            self.escaped.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Up and event.modifiers() in (
                Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier) \
                and not self.toPlainText() and not self.composing():
            self.edit_last.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    @staticmethod
    def _trimmed(raw: str) -> str:
        """``raw`` as :meth:`submit` sends it (see there)."""
        text = LEADING_BLANK_LINES.sub("", raw).rstrip()
        return text.lstrip() if text.lstrip().startswith("/") else text

    def outgoing_length(self) -> int:
        """The length the text in the box would go out with (as :meth:`submit` measures it
        against the limit: trimmed, with the quote of a reply): 0 when blank."""
        raw = self.toPlainText()
        return self.sent_length(self._trimmed(raw)) if raw.strip() else 0

    def submit(self) -> None:
        """Emit ``submitted`` with the current text (unless blank) and clear the box. Blank
        lines around it and trailing spaces go; the first line's indentation stays (pasted
        code keeps its shape), except before a ``/command``. A word an input method is
        composing is confirmed first (Send takes no focus, which would have confirmed it)."""
        if self.composing():
            QGuiApplication.inputMethod().commit()
        raw = self.toPlainText()
        if not raw.strip():
            return
        text = self._trimmed(raw)
        length = self.sent_length(text)
        if length > MAX_TEXT_LENGTH:  # refused by the server: keep it to shorten it
            self.too_long.emit(length)
            return
        self.clear()  # (first: a send that could not be kept puts the text back)
        self.submitted.emit(text)


def export_done_text(path: Path, count: int, complete: bool) -> str:
    """How a finished export is told (``ConversationExport.finished``'s arguments): in its
    tab's export bar, or in the main window's status bar when no tab follows it."""
    note = "" if complete else " — only what this computer has: the server could not " \
        "be asked for the rest"
    return f"Exported {count:,} message{'s' if count != 1 else ''} to {path}{note}."


class ConversationWidget(QWidget):
    """A tab showing one :class:`ConversationModel` (owned by the engine, not by this widget).

    Scrolling to the top loads older history (``model.fetchMore``) and keeps the view where it
    was. A failed message gets a context menu (right-click, or the menu key on the focused
    list) and a bar above the compose box with Retry / Delete buttons.

    Signals:
        send_requested(str, str): ``(conversation key, text)``.
        retry_requested(str): a failed message's ``client_msg_id``.
        delete_requested(str): an unsent message's ``client_msg_id``.
        retract_requested(str, int): ``(conversation key, seq)``: delete a sent own message
            for everyone (the window asks first).
        edit_requested(str, int): ``(conversation key, seq)``: change a sent own message's
            text (the window asks for it).
        typing(str): the conversation key, whenever the compose box changes.
        files_dropped(str, list): ``(conversation key, [local paths])``: files were dropped
            on the tab or chosen with Attach (the window offers them, or calls
            :meth:`show_error` to say why not).
    """

    send_requested = Signal(str, str)
    retry_requested = Signal(str)
    delete_requested = Signal(str)
    retract_requested = Signal(str, int)
    edit_requested = Signal(str, int)
    typing = Signal(str)
    files_dropped = Signal(str, object)  # (list of str, not through QString: local_path)
    caught_up = Signal(str)
    """``(key)``: the list scrolled back down to the newest message (the window marks the
    conversation read only then)."""
    status_message = Signal(str)
    """A word for the window's status bar (a quoted message that is not there any more)."""

    def __init__(self, model: ConversationModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.key = model.key
        self.proxy = NewestLastProxy(self)
        self.proxy.setSourceModel(model)
        self.view = QListView(self)
        self.delegate = BubbleDelegate(self.view)
        self.delegate.track(self.proxy)  # (before setModel: see track)
        self.view.setModel(self.proxy)
        self.delegate.show_senders = not is_private(model.key)
        self.view.setItemDelegate(self.delegate)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(False)
        self.view.setWordWrap(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.view.setStyleSheet("QListView { border: none; background: palette(base); }")
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.setMouseTracking(True)  # the hand cursor over links
        self.view.viewport().installEventFilter(self)
        self.view.installEventFilter(self)  # focus in: the newest message becomes current
        menu_key = QAction(self.view)
        menu_key.setShortcut(QKeySequence("Shift+F10"))  # the Menu key works by itself
        menu_key.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        menu_key.triggered.connect(self._keyboard_menu)
        self.view.addAction(menu_key)
        who = self._who()
        self.view.setAccessibleName(f"Messages with {who}")

        # Header: whom the conversation is with, and their status (set by the window:
        # "online", "last seen 5 min ago", "4 members, 2 online", ...).
        self.header = QWidget(self)
        self.header.setObjectName("conversationHeader")
        self.header.setStyleSheet(
            "#conversationHeader { border-bottom: 1px solid palette(midlight); }")
        self.title_label = ElidedLabel(("# " if is_group(model.key) else "") + model.title,
                                       self.header)
        self.title_label.setStyleSheet("font-weight: bold;")
        self.title_label.setAccessibleDescription("Conversation")
        self.status_label = ElidedLabel("", self.header)
        theme.secondary_text(self.status_label)
        self.status_label.setAccessibleDescription(f"Status of {who}")
        header_layout = QHBoxLayout(self.header)
        header_layout.setContentsMargins(12, 6, 12, 6)
        header_layout.setSpacing(10)
        header_layout.addWidget(self.title_label)
        header_layout.addWidget(self.status_label)
        header_layout.addStretch(1)

        # "↓ 3 new" over the list's bottom right, while messages arrive below what is shown.
        self._follows_end = False
        self._pinned = True  # the list shows its end: new messages scroll into view
        self._anchor: tuple[int, int] | None = None  # row, y (see _before_rows_inserted)
        self._unseen = 0
        self.jump_button = QToolButton(self.view)
        self.jump_button.setAccessibleName("Jump to the newest message")
        self.jump_button.setToolTip("Jump to the newest message")
        self.jump_button.setStyleSheet(
            "QToolButton { background: palette(highlight); color: palette(highlighted-text);"
            " border: none; border-radius: 12px; padding: 4px 10px; font-weight: bold; }")
        self.jump_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.jump_button.clicked.connect(self.jump_to_latest)
        self.jump_button.hide()

        # What an empty conversation says instead of a blank pane.
        self.empty_label = QLabel(self.view)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.retry_blocked = ""
        self.empty_label.setText(self._empty_text())
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme.secondary_text(self.empty_label)
        self.empty_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.empty_label.hide()
        # While files are dragged over the tab: what a drop will do (or why it cannot).
        self.drop_overlay = QLabel(self.view)
        self.drop_overlay.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.drop_overlay.setObjectName("dropOverlay")
        self.drop_overlay.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_overlay.setWordWrap(True)
        self.drop_overlay.setStyleSheet(
            "#dropOverlay { background: palette(highlight); color: palette(highlighted-text);"
            " border-radius: 12px; font-size: 14pt; font-weight: bold; padding: 24px; }")
        self.drop_overlay.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.drop_overlay.hide()

        # Find bar (Ctrl+F).
        self.find_bar = QWidget(self)
        self.find_edit = FindLineEdit(self.find_bar)
        self.find_edit.setPlaceholderText("Find in this conversation")
        self.find_edit.setAccessibleName(f"Find in the conversation with {who}")
        self.find_edit.setClearButtonEnabled(True)
        self.find_edit.textChanged.connect(self._on_find_text)
        # A search of a long conversation takes a while (~150 ms at 100,000 cached
        # messages): then it waits for a pause in the typing instead of running per key.
        self._find_pause = QTimer(self)
        self._find_pause.setSingleShot(True)
        self._find_pause.setInterval(FIND_PAUSE_MS)
        self._find_pause.timeout.connect(self._run_find)
        self._find_cost = 0.0
        """Seconds the last whole search took (see :func:`find_waits`)."""
        self.find_edit.step.connect(self.find_step)
        self.find_edit.closed.connect(self.close_find)
        self.find_label = QLabel(self.find_bar)
        self.find_label.setAccessibleDescription("Matches")
        self.find_label.setMinimumWidth(
            max(map(self.find_label.fontMetrics().horizontalAdvance,
                    (NO_MATCHES_HERE, "9,999 of 9,999 messages", "Searching…"))) + 8)
        # The search starts at the newest match (at the bottom): the next match is older,
        # further up, so ↑ is "next" (Enter, F3) and ↓ goes back down (Shift+Enter).
        self.find_older = QToolButton(self.find_bar)
        self.find_older.setText("↑")
        self.find_older.setToolTip("Next match, further up (Enter, F3)")
        self.find_older.setAccessibleName("Next match, older")
        self.find_older.clicked.connect(lambda: self.find_step(1))
        self.find_newer = QToolButton(self.find_bar)
        self.find_newer.setText("↓")
        self.find_newer.setToolTip("Previous match, further down (Shift+Enter, Shift+F3)")
        self.find_newer.setAccessibleName("Previous match, newer")
        self.find_newer.clicked.connect(lambda: self.find_step(-1))
        find_close = QToolButton(self.find_bar)
        find_close.setText("✕")
        find_close.setToolTip("Close (Escape)")
        find_close.setAccessibleName("Close the find bar")
        find_close.clicked.connect(self.close_find)
        find_layout = QHBoxLayout(self.find_bar)
        find_layout.setContentsMargins(8, 4, 8, 4)
        find_layout.addWidget(self.find_edit, 1)
        find_layout.addWidget(self.find_label)
        find_layout.addWidget(self.find_older)
        find_layout.addWidget(self.find_newer)
        find_layout.addWidget(find_close)
        self.find_bar.hide()
        self.matches: list[int] = []
        """Seqs of the messages matching the find text, oldest first."""
        self.match_index = -1
        for seq_text, step in (("F3", 1), ("Shift+F3", -1)):
            action = QAction(self)
            action.setShortcut(QKeySequence(seq_text))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda checked=False, s=step: self.find_step(s))
            self.addAction(action)

        # Unsent messages.
        self.failed_bar = QWidget(self)
        self.failed_bar.setObjectName("failedBar")
        self.failed_label = QLabel(self.failed_bar)
        self.failed_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.failed_label.setWordWrap(True)
        self.retry_button = QPushButton("Retry", self.failed_bar)
        self.retry_button.setAccessibleName("Retry the unsent messages")
        self.retry_button.clicked.connect(self.retry_failed)
        self.delete_button = QPushButton("Delete", self.failed_bar)
        self.delete_button.setAccessibleName("Delete the unsent messages")
        self.delete_button.clicked.connect(self.delete_failed)
        failed_layout = QHBoxLayout(self.failed_bar)
        failed_layout.setContentsMargins(8, 4, 8, 4)
        failed_layout.addWidget(self.failed_label, 1)
        failed_layout.addWidget(self.retry_button)
        failed_layout.addWidget(self.delete_button)
        self.failed_bar.hide()
        self.retry_blocked = ""
        """Why a retry cannot succeed now ("" when it may): see :meth:`set_retry_blocked`."""
        self.being_deleted: Callable[[int], bool] = lambda seq: False
        """Whether the deletion of own message ``seq`` waits to be made (the window sets
        it to :meth:`ClientEngine.deletion_waiting`): Edit… is not offered for it."""

        # Why a drop (or an attachment) was refused: stays until dismissed.
        self.error_bar = QWidget(self)
        self.error_bar.setObjectName("errorBar")
        self.error_label = QLabel(self.error_bar)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        theme.follow_palette(self, self._apply_colors)
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleDescription("Error")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_close = QToolButton(self.error_bar)
        self.error_close.setText("✕")
        self.error_close.setToolTip("Dismiss")
        self.error_close.setAccessibleName("Dismiss the error")
        self.error_close.clicked.connect(self.dismiss_error)
        error_layout = QHBoxLayout(self.error_bar)
        error_layout.setContentsMargins(8, 4, 8, 4)
        error_layout.addWidget(self.error_label, 1)
        error_layout.addWidget(self.error_close, 0, Qt.AlignmentFlag.AlignTop)
        self.error_bar.hide()

        # Export progress and outcome (Conversation → Export…, see show_export).
        self.export_bar = QWidget(self)
        self.export_label = QLabel(self.export_bar)
        self.export_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.export_label.setAccessibleDescription("Export")
        self.export_label.setWordWrap(True)
        self.export_progress = QProgressBar(self.export_bar)
        self.export_progress.setAccessibleName("Export progress")
        self.export_progress.setMaximumWidth(200)
        self.export_folder_button = QPushButton("Show in folder", self.export_bar)
        self.export_folder_button.setAccessibleName("Show in folder: the exported file")
        self.export_folder_button.clicked.connect(self._show_export_folder)
        self.export_folder_button.hide()
        self._exported_to: Path | None = None
        self.export_button = QPushButton("Cancel", self.export_bar)
        self.export_button.setAccessibleName("Cancel the export")
        self.export_button.clicked.connect(self._on_export_button)
        export_layout = QHBoxLayout(self.export_bar)
        export_layout.setContentsMargins(8, 4, 8, 4)
        export_layout.addWidget(self.export_label, 1)
        export_layout.addWidget(self.export_progress)
        export_layout.addWidget(self.export_folder_button)
        export_layout.addWidget(self.export_button)
        self.export_bar.hide()
        self.export_job: ConversationExport | None = None
        """The export in progress shown in the export bar, if any."""
        self._export_hide = QTimer(self)
        self._export_hide.setSingleShot(True)
        self._export_hide.setInterval(EXPORT_SHOWN_MS)
        self._export_hide.timeout.connect(self.export_bar.hide)

        self.typing_label = QLabel(self)
        self.typing_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.typing_label.setAccessibleDescription("Typing indicator")
        theme.secondary_text(self.typing_label, "font-style: italic; padding: 0 12px;")
        self.typing_label.hide()
        self._typing_timer = QTimer(self)
        self._typing_timer.setSingleShot(True)
        self._typing_timer.setInterval(TYPING_SHOWN_MS)
        self._typing_timer.timeout.connect(self.typing_label.hide)

        # The message being answered (context menu → Reply), over the compose box.
        self.reply_to: tuple[str, str] | None = None
        """``(sender, text)`` of the message the next one sent answers, or None; see
        :meth:`reply`."""
        # While a submitted text is being sent: (text, reply_to, reply seq); see
        # restore_submitted.
        self._submitting: tuple[str, tuple[str, str] | None, int | None] | None = None
        self._reply_seq: int | None = None  # ... and its seq (to follow an edit or delete)
        # What this box sends (its own message, a command's answer) shows at the end even
        # while the user reads older messages; an own message typed on another computer
        # does not pull the list down. _sending: a submission is being handled;
        # _added_while_sending: it added rows here; _answer_due: the server's answer to a
        # command typed here is awaited.
        self._sending = self._added_while_sending = self._answer_due = False
        self.reply_bar = QWidget(self)
        self.reply_bar.setObjectName("replyBar")
        self.reply_label = QLabel(self.reply_bar)
        self.reply_label.setAccessibleDescription("Replying to")
        self.reply_label.setTextFormat(Qt.TextFormat.PlainText)
        self.reply_label.setMinimumWidth(1)  # elided by text, never widens the tab
        reply_close = QToolButton(self.reply_bar)
        reply_close.setText("✕")
        reply_close.setToolTip("Do not reply (Escape)")
        reply_close.setAccessibleName("Cancel the reply")
        reply_close.clicked.connect(self.cancel_reply)
        reply_layout = QHBoxLayout(self.reply_bar)
        reply_layout.setContentsMargins(12, 4, 8, 0)
        reply_layout.addWidget(self.reply_label, 1)
        reply_layout.addWidget(reply_close)
        self.reply_bar.hide()

        self._setting_draft = False
        self.compose = ComposeEdit(self)
        self.compose.setAccessibleName(f"Message to {who}")
        self.compose.submitted.connect(self._on_submitted)
        self.compose.sent_length = self._sent_length
        self.compose.too_long.connect(lambda n: self.show_error(too_long_text(n)))
        self.compose.edit_last.connect(self.edit_last_message)
        self.compose.escaped.connect(self.escape)
        self.compose.files_pasted.connect(lambda p: self.files_dropped.emit(self.key, p))
        self.compose.image_pasted.connect(self._on_image_pasted)
        self.compose.image_unreadable.connect(lambda: self.show_error(PASTED_IMAGE_UNREADABLE))
        self.compose.textChanged.connect(self._on_compose_changed)
        self.send_button = QPushButton("Send", self)
        self.send_button.setAccessibleName(f"Send message to {who}")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self.compose.submit)
        self.attach_button = QPushButton("Attach…", self)
        self.attach_button.setAccessibleName(f"Attach a file for {who}")
        self.attach_button.setToolTip("Send a file (or drop files anywhere on this tab)")
        self.attach_button.clicked.connect(lambda: self.attach())
        buttons = QVBoxLayout()
        buttons.setSpacing(4)
        buttons.addStretch(1)
        for button in (self.send_button, self.attach_button):
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a click leaves the typing there
        buttons.addWidget(self.attach_button)
        buttons.addWidget(self.send_button)
        # Tab goes as the eye does: the box, then Attach… above Send.
        QWidget.setTabOrder(self.compose, self.attach_button)
        QWidget.setTabOrder(self.attach_button, self.send_button)

        # Why the compose box is disabled (a group you left), over it.
        self.closed_label = QLabel(self)
        self.closed_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.closed_label.setObjectName("closedLabel")
        self.closed_label.setAccessibleDescription("Why you cannot write here")
        self.closed_label.setWordWrap(True)
        theme.secondary_text(self.closed_label, "font-style: italic; padding: 4px 12px 0 12px;",
                       selector="#closedLabel")
        self.closed_label.hide()
        self._placeholder = self.compose.placeholderText()

        bottom = QHBoxLayout()
        bottom.setContentsMargins(8, 4, 8, 8)
        bottom.addWidget(self.compose, 1)
        bottom.addLayout(buttons)
        layout = QVBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.find_bar)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.typing_label)
        layout.addWidget(self.failed_bar)
        layout.addWidget(self.error_bar)
        layout.addWidget(self.export_bar)
        layout.addWidget(self.closed_label)
        layout.addWidget(self.reply_bar)
        layout.addLayout(bottom)
        self.body = QHBoxLayout(self)
        """The tab's row: the conversation column, then any side panel (see groups.py)."""
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(0)
        self.body.addLayout(layout, 1)
        # The tab itself hands the focus on (focusInEvent), with no focus proxy: with the
        # message box as its proxy, Tab into the tab jumped to the box and forward Tab never
        # reached the message list (only Shift+Tab did; a hunt).

        self.setAcceptDrops(True)
        self.transfers = None
        """The :class:`~messenger.client.transfers.TransferController` whose cards this tab
        shows (see :meth:`set_transfers`)."""
        self._card_rows: list[QPersistentModelIndex] = []
        """The rows that hold a card (for the tab order: see :meth:`_add_cards`)."""

        self._anchor: QPersistentModelIndex | None = None
        self._filling = False
        self._marking = False
        self._gap_check = QTimer(self)
        self._gap_check.setSingleShot(True)
        self._gap_check.setInterval(0)
        self._gap_check.timeout.connect(self.fill_visible_gap)
        # The end is scrolled to once per burst of new rows, after Qt lays them out: each
        # scrollToBottom lays out every row at once (rows differ in height), and one per
        # row made 500 messages queued while offline freeze the window for 16 s (a hunt).
        self._to_end = QTimer(self)
        self._to_end.setSingleShot(True)
        self._to_end.setInterval(0)
        self._to_end.timeout.connect(self.view.scrollToBottom)
        self._flash = QTimer(self)  # (the quoted message's outline, for a moment)
        self._flash.setSingleShot(True)
        self._flash.setInterval(self.FLASH_MS)
        self._flash.timeout.connect(self._end_flash)
        self._quote_wait: tuple[int | None, str, int] | None = None
        """A quote looked for in older pages from the server: the reply's ``(seq,
        client_msg_id, pages asked so far)``."""
        model.older_done.connect(self._quote_page_came)
        for change in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            change.connect(self._update_empty)
        self._update_empty()
        model.rowsAboutToBeInserted.connect(self._before_rows_inserted)
        model.rowsInserted.connect(self._on_rows_inserted)
        # Matches are counted again once per burst (a page, a run of messages), and not for
        # ticks and receipts: each count searches the whole cache (tens of ms at 100,000).
        self._matches_check = QTimer(self)
        self._matches_check.setSingleShot(True)
        self._matches_check.setInterval(0)
        self._matches_check.timeout.connect(self._refresh_matches)
        model.rowsInserted.connect(self._rows_came)
        self._to_recheck: dict[int, str] | None = {}
        """In a long conversation (see :func:`find_waits`), the messages that came or changed
        since the matches were counted (seq → text), checked alone instead of a search of
        the whole cache per message; None: search it all again."""
        model.dataChanged.connect(self._text_changed)  # (edits; a pending message's seq)
        model.rowsRemoved.connect(self._update_failed_bar)
        model.dataChanged.connect(self._failed_maybe_changed)
        model.dataChanged.connect(self._follow_reply)
        model.modelReset.connect(self._follow_reply)
        model.modelReset.connect(self._update_failed_bar)
        self.view.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.view.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self._fill_timer = QTimer(self)  # (once the layout has settled: see fill_if_short)
        self._fill_timer.setSingleShot(True)
        self._fill_timer.setInterval(0)
        self._fill_timer.timeout.connect(self.fill_if_short)
        self._update_failed_bar()
        self.view.scrollToBottom()

    def focusInEvent(self, event: QFocusEvent) -> None:
        """The tab given the focus (``setFocus`` on it, a tab switch): typing goes to the
        message box, or to the message list while nothing can be sent here."""
        super().focusInEvent(event)
        (self.compose if self.writable else self.view).setFocus(event.reason())

    # ------------------------------------------------------------------ sending

    @property
    def writable(self) -> bool:
        """False while nothing can be sent here (see :meth:`set_writable`)."""
        return self.compose.isEnabled()

    def set_writable(self, writable: bool, reason: str = "") -> None:
        """Enable or disable the compose box, Send and Attach; while disabled, ``reason``
        shows over the box (a draft in it is kept)."""
        for widget in (self.compose, self.send_button, self.attach_button):
            widget.setEnabled(writable)
        self.compose.setPlaceholderText(self._placeholder if writable else "")
        self.closed_label.setText(reason if not writable else "")
        self.closed_label.setVisible(not writable and bool(reason))
        if not writable:
            self.cancel_reply()

    def _on_submitted(self, text: str) -> None:
        self.set_unread_marker(None)  # answered: what was new is not any more
        submitted = (text, self.reply_to, self._reply_seq)
        sent = self._as_sent(text)
        if sent != text:
            text = sent
            self.cancel_reply()
        # (The send is handled before emit returns: a failure to keep it comes back through
        # restore_submitted meanwhile, and only then.)
        self._submitting = submitted
        self._answer_due = False
        self._sending, self._added_while_sending = True, False
        try:
            self.send_requested.emit(self.key, text)
        finally:
            self._submitting = None
            self._sending = False
        # A server's answer to a command typed here (/users, /join …) comes later: it
        # shows at the end like what the rest answer at once (see _on_rows_inserted).
        self._answer_due = not self._added_while_sending and \
            parse_command(submitted[0]).action in ANSWERED_LATER

    def _sent_length(self, text: str) -> int:
        """The length of the message ``text`` typed here goes out as: with the quote of the
        message it answers, if any; a command's text alone ("/msg bob " does not count
        towards the limit; a command without a text sends nothing)."""
        command = parse_command(text)
        if command.action is not Action.TEXT:
            return len(command.text)
        sent = self._as_sent(text)
        return len(sent) if sent != text else len(command.text)

    def _as_sent(self, text: str) -> str:
        """``text`` as it goes out from this box: with the quote line of the message it
        answers, if any (a too-long reply was checked without it, and the text was lost)."""
        if self.reply_to is None:
            return text
        command = parse_command(text)
        if command.action is not Action.TEXT:
            # A command (/help, /msg …, @bob …) is not the answer: the reply waits for the
            # text. "//text" is text ("/text"): it answers, its slash unescaped here (the
            # quote line in front makes it plain text for run_command).
            return text
        sender, quoted = self.reply_to
        return reply_text(sender, quoted, command.text if text.lstrip().startswith("//")
                          else text)

    def restore_submitted(self) -> bool:
        """While the text submitted from this box is being sent: put it back (with the
        message it answered, if any), because it could not be kept on this computer and so
        was not sent. False (nothing done) at any other time, or when the box has new text."""
        if self._submitting is None:
            return False
        text, reply_to, seq = self._submitting
        self._submitting = None
        if self.compose.toPlainText():
            return False
        self.compose.setPlainText(text)
        self.compose.moveCursor(QTextCursor.MoveOperation.End)
        if reply_to is not None and self.reply_to is None:
            self.reply(*reply_to, seq)
        return True

    def reply_draft(self) -> tuple[str, str, int | None] | None:
        """``(sender, quoted text, seq)`` of the message being answered, or None: kept with
        the draft when the tab closes or the app quits (see :meth:`reply`)."""
        if self.reply_to is None:
            return None
        return (self.reply_to[0], self.reply_to[1], self._reply_seq)

    def reply(self, sender: str, text: str, seq: int | None = None, *,
              focus: bool = True) -> None:
        """Make the next message sent here a reply to ``sender``'s message ``text``: a bar
        over the compose box says so (✕ or Escape cancels), and the message goes with a
        quote line (:func:`~messenger.client.quotes.reply_text`). Focus goes to the box.
        With the message's ``seq``, the reply follows it: an edit changes the quote, and
        deleting it for everyone cancels the reply (its text must not go out quoted)."""
        self.reply_to = (sender, text)
        self._reply_seq = seq
        self._show_reply()
        self.reply_bar.show()
        self._follow_reply()  # (as the message is now: a reply put back may be out of date)
        if focus:
            self.compose.setFocus(Qt.FocusReason.OtherFocusReason)

    def escape(self) -> None:
        """Escape in the message box or the message list: the find bar closes first (it
        stayed open unless the keyboard was in its own box, and a reply begun was dropped
        instead; a hunt); without it, the reply being written is dropped."""
        if not self.find_bar.isHidden():
            self.close_find()
        else:
            self.cancel_reply()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # An Escape the message list (or a button of the tab) left unused comes here.
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == \
                Qt.KeyboardModifier.NoModifier and not self.find_bar.isHidden():
            self.close_find()
            event.accept()
            return
        super().keyPressEvent(event)

    def cancel_reply(self) -> None:
        """Forget the message being answered (see :meth:`reply`)."""
        self.reply_to = None
        self._reply_seq = None
        self.reply_bar.hide()
        self._dismiss_if_fits()  # (without its quote line, the text may fit now)

    def _follow_reply(self, *args: object) -> None:
        """The model changed: the message being answered may have been edited, deleted for
        everyone, or (a reset) be gone."""
        if self._reply_seq is None or self.reply_to is None:
            return
        row = self.model.row_of_seq(self._reply_seq)
        item = self.model.item(row) if row is not None else None
        if item is None and (oldest := self.model.oldest_seq()) is not None and \
                self._reply_seq < oldest:
            return  # older than the loaded rows (a reply restored after a restart): kept
        if item is None or item.text == RETRACTED_TEXT:
            self.cancel_reply()
        elif item.text != self.reply_to[1]:
            self.reply_to = (self.reply_to[0], item.text)
            self._show_reply()

    def _show_reply(self) -> None:
        if self.reply_to is None:
            return
        sender, text = self.reply_to
        full = f"↪ Replying to {sender}: {excerpt(text)}"
        self.reply_label.setToolTip(plain_tooltip(full))
        fm = self.reply_label.fontMetrics()
        width = max(80, self.reply_bar.width() - 60) if self.reply_bar.isVisible() \
            else max(80, self.width() - 80)
        self.reply_label.setText(fm.elidedText(full, Qt.TextElideMode.ElideRight, width))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._show_reply()

    def set_unread_marker(self, seq: int | None, card: str = "") -> None:
        """Draw the "New messages" line above message ``seq`` (or above the transfer card
        ``card``: a file offer that came first) and scroll so that it is at the top (as far
        as the view scrolls); None and "" remove the line."""
        if card:
            seq = None
        if seq == self.delegate.unread_seq and card == self.delegate.unread_card:
            return
        was = self.delegate.unread_seq
        self.delegate.unread_seq = seq
        self.delegate.unread_card = card
        self.delegate.forget_heights([self.model.row_of_seq(was) if was is not None else None])
        pages = 0
        self._marking = True  # (one layout for all the pages, below: not one per page)
        try:
            # (load_card, load_until: back if set aside while the list followed the end)
            row = self.model.load_card(card) if card else \
                self.model.row_of_seq(seq) if seq is not None else None
            if row is None and seq is not None and self.model.find_item(seq) is not None:
                row = self.model.load_until(seq)
            while seq is not None and row is None and pages < MARKER_PAGES \
                    and self.model.canFetchMore():
                oldest = self.model.oldest_seq()
                if oldest is not None and oldest < seq:
                    break  # not among the loaded rows although older ones are (a gap)
                rows = self.model.rowCount()
                self.model.fetchMore()
                if self.model.rowCount() == rows:
                    break  # the page comes from the server, later
                pages += 1
                row = self.model.row_of_seq(seq)
        finally:
            self._marking = False
        self.delegate.forget_heights([row])  # (its height changed: the line)
        self.view.doItemsLayout()
        if row is not None:
            self.view.scrollTo(self.proxy.index(row, 0),
                               QAbstractItemView.ScrollHint.PositionAtTop)
        elif seq is not None:
            self.view.scrollToTop()  # as far back as loaded: the line is further up

    def _on_compose_changed(self) -> None:
        text = self.compose.toPlainText()
        if text.strip() and not self._setting_draft and not looks_like_command(text):
            self.typing.emit(self.key)  # (not for /msg charlie … typed in bob's tab)
        self._dismiss_if_fits()

    def _dismiss_if_fits(self) -> None:
        """Take the "Too long to send" bar away once the text fits: counted as Enter counts
        it, with a reply's quote line (by the typed length, the bar went while the reply
        was still too long to send, and Enter brought it back)."""
        if self.error_bar.isVisibleTo(self) and \
                self.error_label.text().startswith(TOO_LONG_PREFIX) and \
                self.compose.outgoing_length() <= MAX_TEXT_LENGTH:
            self.dismiss_error()  # (short enough now, or sent, or cleared: no longer true)

    def set_draft(self, text: str) -> None:
        """Put an unsent text back into the compose box (cursor at its end), without telling
        the other side that someone is typing."""
        self._setting_draft = True
        try:
            self.compose.setPlainText(text)
        finally:
            self._setting_draft = False
        self.compose.moveCursor(QTextCursor.MoveOperation.End)

    def draft(self) -> str:
        """The compose box's text, not sent yet."""
        return self.compose.toPlainText()

    # ------------------------------------------------------------------ history

    def _before_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        # The row at the top of the screen and where it is, to keep it there.
        self._anchor = None
        if first == 0 and self.model.rowCount() and not self._pinned:
            top = self.view.indexAt(self.view.viewport().rect().topLeft())
            if top.isValid():  # (its row moves down by the rows inserted above it)
                self._anchor = (top.row(), self.view.visualRect(top).top())

    def _on_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        self._add_cards(first, last)
        self._gap_check.start()  # (once per burst: looking for gaps walks every row)
        if self._filling or self._marking:
            return  # fill_visible_gap / set_unread_marker place the view themselves
        if first == 0 and last + 1 < self.model.rowCount():
            # Older history at the top: keep the message that was at the top where it was
            # (or the end in view, when the user went there meanwhile).
            anchor, self._anchor = self._anchor, None
            if self._pinned:
                self.view.scrollToBottom()
            elif anchor is not None:
                # What the reader looks at stays put, wherever they have scrolled to.
                self.view.doItemsLayout()
                index = self.proxy.index(anchor[0] + last - first + 1, 0)
                moved = self.view.visualRect(index).top() - anchor[1]
                bar = self.view.verticalScrollBar()
                bar.setValue(bar.value() + moved)
            else:
                self.view.scrollTo(self.proxy.index(last + 1, 0),
                                   QAbstractItemView.ScrollHint.PositionAtTop)
            return
        if last + 1 < self.model.rowCount():
            # In the middle: a search match's window (find_step then shows it), or catch-up
            # messages older than ones already shown. The end stays in view if it was.
            if self._pinned:
                self._to_end.start()
            return
        mine = self._sending
        self._added_while_sending |= mine
        if self._answer_due and self.proxy.index(last, 0).data(
                ConversationModel.KindRole) in (MessageKind.SYSTEM, MessageKind.ERROR):
            mine, self._answer_due = True, False
        if self._pinned or mine:
            self._to_end.start()
        else:  # the user reads older messages: leave them there, say that more came
            self._unseen += last - first + 1
            self.jump_button.setText(f"↓ {self._unseen} new")
            self.jump_button.setAccessibleName(f"{self._unseen} new: jump to the newest "
                                               "message")
            self.jump_button.adjustSize()
            self._place_jump_button()
            self.jump_button.show()
        if any(self.model.data(self.model.index(r, 0), ConversationModel.StateRole)
               is DeliveryState.FAILED for r in range(first, last + 1)):
            self._update_failed_bar()  # (the new rows only: each count walks every row)

    def jump_to_latest(self) -> None:
        """Scroll to the newest message (the "↓ N new" button)."""
        self.view.scrollToBottom()
        was, self._pinned = self._pinned, True
        self._unseen = 0
        self.jump_button.hide()
        if not was:
            self.caught_up.emit(self.key)

    @property
    def _pinned(self) -> bool:
        """The list shows its end: new messages scroll into view, and the model keeps only
        the newest :data:`FOLLOWED_ROWS` rows (what the reader scrolls back to stays)."""
        return self._follows_end

    @_pinned.setter
    def _pinned(self, pinned: bool) -> None:
        self._follows_end = pinned
        self.model.keep_newest = FOLLOWED_ROWS if pinned else None

    @property
    def at_latest(self) -> bool:
        """The list shows its newest message (new ones scroll into view)."""
        return self._pinned

    def _update_empty(self, *args: object) -> None:
        """Show the "No messages yet" hint while the conversation has no rows."""
        empty = self.model.rowCount() == 0
        if empty:
            self.empty_label.setGeometry(self.view.viewport().geometry())
        self.empty_label.setVisible(empty)

    def _place_jump_button(self) -> None:
        viewport = self.view.viewport()
        self.jump_button.move(viewport.width() - self.jump_button.width() - 14,
                              viewport.height() - self.jump_button.height() - 10)

    def _on_range_changed(self, low: int, high: int) -> None:
        """The list got taller than its viewport by more (a smaller window, the reply bar or
        a taller compose box, a message that wrapped anew): one that showed its end still
        does, instead of the newest messages sliding out below. One that does not fill its
        viewport asks for older messages (see :meth:`fill_if_short`)."""
        if self._pinned and not self._filling:
            self.view.verticalScrollBar().setValue(high)
        if high == 0:
            self._fill_timer.start()

    def fill_if_short(self) -> bool:
        """Load older messages while the list does not fill its viewport (it has no scroll
        bar to pull them with): an empty cache on a new computer, a short page. True when a
        page was asked for; each page that arrives checks again."""
        if self.view.verticalScrollBar().maximum() > 0 or not self.isVisible():
            return False
        return self.load_older()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fill_timer.start()

    def _on_scrolled(self, value: int) -> None:
        bar = self.view.verticalScrollBar()
        was, self._pinned = self._pinned, value >= bar.maximum() - PIN_SLACK_PX
        if self._pinned and self._unseen:
            self._unseen = 0
            self.jump_button.hide()
        if self._pinned and not was:
            self.caught_up.emit(self.key)
        if value == bar.minimum():
            self.load_older()
        if not self._filling and self.model.gap_rows():
            self._gap_check.start()

    def fill_visible_gap(self) -> bool:
        """Load a page of the first gap (see :class:`~messenger.client.models.GapItem`)
        that is on screen, keeping what the reader looks at in place: with messages visible
        above the gap, its oldest messages come in above it (the reader scrolls down into
        them); else its newest come in below it and the message below stays put. True when
        a page was loaded."""
        if not self.view.isVisible():
            return False
        viewport = self.view.viewport().rect()
        for row in self.model.gap_rows():
            rect = self.view.visualRect(self.proxy.index(row, 0))
            if not rect.isValid() or not viewport.intersects(rect):
                continue
            newest = rect.top() <= viewport.top()
            below = QPersistentModelIndex(self.proxy.index(row + 1, 0))
            y = self.view.visualRect(self.proxy.index(row + 1, 0)).top()
            gaps = (self.model.rowCount(), self.model.gap_rows())
            self._filling = True
            try:
                self.model.fill_gap(row, newest)
                if newest and below.isValid():
                    moved = self.view.visualRect(self.proxy.index(below.row(), 0)).top() - y
                    bar = self.view.verticalScrollBar()
                    bar.setValue(bar.value() + moved)
            finally:
                self._filling = False
            if (self.model.rowCount(), self.model.gap_rows()) == gaps:
                return False  # nothing came (no source): do not try again and again
            self._gap_check.start()  # still on screen (a tall window)? the next page
            return True
        return False

    def load_older(self) -> bool:
        """Ask the model for the next older page (what scrolling to the top does); True when
        there may be one."""
        if not self.model.canFetchMore():
            return False
        self.model.fetchMore()
        return True

    # ------------------------------------------------------------------ files

    def set_transfers(self, controller: object) -> None:
        """Show the transfer items of this conversation as cards of ``controller``'s
        transfers (a :class:`~messenger.client.transfers.TransferController`)."""
        self.transfers = controller
        self._add_cards(0, self.model.rowCount() - 1)

    def _add_cards(self, first: int, last: int) -> None:
        if self.transfers is None:
            return
        from .transfers import TransferCard, chain_card_tab_order, place_card

        placed = False
        for row in range(first, last + 1):
            index = self.proxy.index(row, 0)
            if index.data(ConversationModel.KindRole) != MessageKind.TRANSFER:
                continue
            if self.view.indexWidget(index) is None:
                key = index.data(ConversationModel.TransferRole)
                place_card(self.view, index, TransferCard(self.transfers, key))
                self._card_rows.append(QPersistentModelIndex(index))
                placed = True
        if placed:
            # Tab from the message list reaches the cards' buttons, oldest first (placed
            # on rows, they came last in the window's tab order: after the compose box).
            self._card_rows = sorted((r for r in self._card_rows if r.isValid()),
                                     key=QPersistentModelIndex.row)
            chain_card_tab_order(self.view, (self.proxy.index(r.row(), 0)
                                             for r in self._card_rows))

    def card(self, key: str) -> QWidget | None:
        """The card of transfer ``key`` in this conversation (a file sent to a group's
        members: the one card of them all), or None."""
        if self.transfers is not None:
            key = self.transfers.card_key(key)
        row = self.model.row_of_transfer(key)
        return None if row is None else self.view.indexWidget(self.proxy.index(row, 0))

    def attach(self, paths: list[str] | None = None) -> None:
        """The Attach button: choose files (or use ``paths``) and offer them."""
        if not self.writable:
            self.show_error(self.closed_label.text() or "Nothing can be sent here.")
            return
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(self, "Send files")
            if not paths:
                return
        self.files_dropped.emit(self.key, list(paths))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        # Any file drag is taken, so that a drop that cannot be sent can say why.
        paths = dropped_paths(event)
        if paths is not None:
            event.acceptProposedAction()
            self._show_drop_overlay(self.drop_text(paths))
        else:
            event.ignore()

    def drop_text(self, paths: list[str]) -> str:
        """What the overlay says while ``paths`` are dragged over the tab (also what the
        status bar says while they are dragged over the tab's header)."""
        if paths and not self.writable:
            return self.closed_label.text() or "Nothing can be sent here."
        return drop_hint(paths, self.key, self.model.title, self.transfers)

    def _show_drop_overlay(self, text: str) -> None:
        self.drop_overlay.setText(text)
        margin = 16
        self.drop_overlay.setGeometry(self.view.rect().adjusted(margin, margin, -margin,
                                                                -margin))
        self.drop_overlay.raise_()
        self.drop_overlay.show()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_overlay.hide()
        super().dragLeaveEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_paths(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_overlay.hide()
        paths = dropped_paths(event)
        if paths is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.take_dropped(paths)

    def take_dropped(self, paths: list[str]) -> None:
        """Files dropped here (:func:`dropped_paths`: ``[]`` for web links), on the tab or
        on its header, its contact's or its group's row: offered (:attr:`files_dropped`),
        or the error bar says why not."""
        if not paths:
            self.show_error(WEB_LINK_DROPPED)
            return
        if not self.writable:
            self.show_error(self.closed_label.text() or "Nothing can be sent here.")
            return
        self.files_dropped.emit(self.key, paths)

    def _on_image_pasted(self, image: QImage) -> None:
        try:
            path = save_pasted_image(image)
        except OSError as exc:
            self.show_error(f"The pasted image could not be saved to send it: {exc}")
            return
        self.files_dropped.emit(self.key, [str(path)])

    def show_error(self, text: str) -> None:
        """Show ``text`` in the red bar above the compose box until dismissed (✕)."""
        self.error_label.setText(text)
        self.error_bar.show()

    def dismiss_error(self) -> None:
        self.error_bar.hide()
        self.error_label.clear()

    # ------------------------------------------------------------------ header

    def _who(self) -> str:
        """Whom the conversation is with, for accessible names ("group lab", "bob")."""
        title = self.model.title
        return "everyone" if is_everyone(self.key) else \
            f"group {title}" if is_group(self.key) else title

    def update_title(self) -> None:
        """Show the model's title again (a group's name may change case: a later group
        reusing a dissolved one's name), in the header and the accessible names."""
        self.title_label.setText(("# " if is_group(self.key) else "") + self.model.title)
        who = self._who()
        self.view.setAccessibleName(f"Messages with {who}")
        self.status_label.setAccessibleDescription(f"Status of {who}")
        self.find_edit.setAccessibleName(f"Find in the conversation with {who}")
        self.compose.setAccessibleName(f"Message to {who}")
        self.send_button.setAccessibleName(f"Send message to {who}")
        self.attach_button.setAccessibleName(f"Attach a file for {who}")

    def set_status(self, text: str) -> None:
        """The header's status line (empty hides nothing: the title stays)."""
        if self.status_label.text() != text:
            self.status_label.setText(text)

    def status(self) -> str:
        return self.status_label.text()

    # ------------------------------------------------------------------ typing

    def show_typing(self, user: str) -> None:
        """Show "<user> is typing…" for 6 s (each new event restarts the 6 s)."""
        self.typing_label.setText(f"{user} is typing…")
        self.typing_label.show()
        self._typing_timer.start()

    def hide_typing(self) -> None:
        self._typing_timer.stop()
        self.typing_label.hide()

    # ------------------------------------------------------------------ failed messages

    def _failed_maybe_changed(self, _top: QModelIndex, _bottom: QModelIndex,
                              roles: list[int] | None = None) -> None:
        # Only a change that names the error (failed, retried) changes the failed ones: a
        # receipt does not, and each count walks every row (receipts for a long burst).
        if not roles or ConversationModel.ErrorRole in roles:
            self._update_failed_bar()

    def _update_failed_bar(self, *args: object) -> None:
        failed = self.model.failed_items()
        if not failed:
            self.failed_bar.hide()
            return
        reason = failed[-1].error or "refused by the server"
        n = len(failed)
        what = f"{n} message{'s' if n != 1 else ''} not sent"
        # When a retry would be refused again, only Delete is offered, and the line over the
        # closed compose box says why (not twice in other words).
        self.failed_label.setText(f"{what}." if self.retry_blocked else f"{what}: {reason}")
        self.retry_button.setVisible(not self.retry_blocked)
        self.failed_bar.show()

    def _empty_text(self) -> str:
        """What the list says while it has no rows."""
        if self.retry_blocked:
            return "No messages."
        model = self.model
        return "No messages yet." + (
            "" if is_everyone(model.key) else
            f" Say hello to {model.title}!" if is_private(model.key)
            else " Say hello to the group!") + "\nDrop a file here to send it."

    def set_retry_blocked(self, reason: str) -> None:
        """Say why nothing sent here can succeed now (such as "There is no user named zed on
        this server."): Retry is hidden, the compose box is closed with ``reason`` over it,
        and the empty list no longer invites to say hello; "" opens it all again."""
        if reason != self.retry_blocked:
            self.retry_blocked = reason
            self.delegate.retry_blocked = bool(reason)
            self.view.doItemsLayout()  # the failed marks' words change width
            self._update_failed_bar()
            self.set_writable(not reason, reason)
            self.empty_label.setText(self._empty_text())

    def retry_failed(self) -> None:
        """Retry every failed message of this conversation (oldest first)."""
        for cmid in self.model.failed_ids():
            self.retry_requested.emit(cmid)

    def delete_failed(self) -> None:
        """Delete every failed message of this conversation."""
        for cmid in self.model.failed_ids():
            self.delete_requested.emit(cmid)

    def message_menu(self, row: int, link: str | None = None) -> QMenu | None:
        """The context menu of the item at ``row``: Copy (and Copy link when opened on the
        link ``link``), Reply for a stored message while the tab is writable, Go to the
        quoted message for a reply, for an unsent
        own message Retry / Delete, for a sent one Edit and Delete for everyone."""
        if not 0 <= row < self.model.rowCount():
            return None
        item = self.model.item(row)
        menu = QMenu(self)
        copy = menu.addAction("Copy text")
        said = copied_text(item)
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(said))
        if link is not None:
            copy_link = menu.addAction("Copy link")
            copy_link.triggered.connect(lambda: QGuiApplication.clipboard().setText(link))
        if repliable(item) and self.writable:
            answer = menu.addAction("Reply")
            answer.triggered.connect(lambda: self.reply(item.sender, item.text, item.seq))
        if quotes(item):
            go = menu.addAction("Go to the quoted message")
            go.triggered.connect(
                lambda: self.go_to_quote(self._row_of(item.seq, item.client_msg_id)))
        if item.kind is MessageKind.OWN and item.state in (DeliveryState.FAILED,
                                                           DeliveryState.PENDING):
            if item.state is DeliveryState.FAILED and not self.retry_blocked:
                retry = menu.addAction("Retry")
                retry.triggered.connect(lambda: self.retry_requested.emit(item.client_msg_id))
            delete = menu.addAction("Delete")
            delete.triggered.connect(lambda: self.delete_requested.emit(item.client_msg_id))
        elif editable(item):
            # An edit needs membership since the message (the server refuses it after a
            # leave, also when joined again: it was offered and always failed; a hunt).
            # Delete for everyone stays.
            if self.writable and not self._before_membership(item) and \
                    not self.being_deleted(item.seq):
                change = menu.addAction("Edit…")
                change.triggered.connect(lambda: self.edit_requested.emit(self.key, item.seq))
            retract = menu.addAction("Delete for everyone…")
            retract.triggered.connect(lambda: self.retract_requested.emit(self.key, item.seq))
        return menu

    def _before_membership(self, item: ChatItem) -> bool:
        """Whether own group message ``item`` is older than the current membership (the
        newest "You joined" or "You created the group" line of the tab)."""
        if not is_group(self.key) or item.seq is None:
            return False
        for row in range(self.model.rowCount() - 1, -1, -1):
            other = self.model.item(row)
            if other.kind is MessageKind.SYSTEM and other.seq is not None and \
                    other.text in ("You joined", "You created the group"):
                return item.seq < other.seq
        return False

    EDIT_LAST_LOOKBACK = 500
    """How many of the newest items Up in the empty compose box looks through for an own
    message to edit."""

    def edit_last_message(self) -> bool:
        """Ask to edit the newest own sent message (Up in the empty compose box); False when
        none of the last :attr:`EDIT_LAST_LOOKBACK` items is one."""
        rows = self.model.rowCount()
        for row in range(rows - 1, max(-1, rows - 1 - self.EDIT_LAST_LOOKBACK), -1):
            item = self.model.item(row)
            if editable(item):
                if self._before_membership(item) or self.being_deleted(item.seq):
                    return False  # (the server refuses it: see message_menu)
                self.edit_requested.emit(self.key, item.seq)
                return True
        return False

    def link_at(self, pos: QPoint) -> str | None:
        """The URL of the message link under ``pos`` (view viewport coordinates), or None."""
        index = self.view.indexAt(pos)
        if not index.isValid():
            return None
        option = QStyleOptionViewItem()
        option.font = self.view.font()
        option.rect = self.view.visualRect(index)
        return self.delegate.link_at(option, index,
                                     QPointF(pos - option.rect.topLeft()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Links in messages: a hand cursor over them, and a left click opens them. A left
        click on a reply's quote block, or Enter on a reply in the list, goes to the quoted
        message (:meth:`go_to_quote`). The jump button follows the list's size."""
        if watched is self.view and event.type() == QEvent.Type.FocusIn:
            self._current_in_view()
        if watched is self.view and isinstance(event, QKeyEvent) and \
                event.type() == QEvent.Type.KeyPress and \
                event.matches(QKeySequence.StandardKey.Copy):
            # Ctrl+C copies the current message as the menu's Copy text does (Qt's list
            # copied the raw text, a reply's "> bob: …" line in front; a hunt).
            current = self.view.currentIndex()
            if current.isValid():
                QGuiApplication.clipboard().setText(copied_text(self.model.item(current.row())))
            return True
        if watched is self.view and isinstance(event, QKeyEvent) and \
                event.type() == QEvent.Type.KeyPress and \
                event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            current = self.view.currentIndex()  # Enter on a reply: to the quoted message
            if current.isValid() and quotes(self.model.item(current.row())):
                self.go_to_quote(current.row())
                return True
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            self._place_jump_button()
            self._update_empty()
        if watched is self.view.viewport() and isinstance(event, QContextMenuEvent) and \
                event.reason() == QContextMenuEvent.Reason.Mouse and \
                not self.view.indexAt(event.pos()).isValid():
            # A right-click on no message opens no menu (it opened the current message's,
            # the one clicked last, where nothing was pointed at; a hunt): only the Menu key
            # and Shift+F10 mean the current message (see _context_menu).
            return True
        if watched is self.view.viewport() and isinstance(event, QMouseEvent):
            kind = event.type()
            if kind == QEvent.Type.MouseMove:
                over = self.link_at(event.position().toPoint()) is not None
                self.view.viewport().setCursor(Qt.CursorShape.PointingHandCursor if over
                                               else Qt.CursorShape.ArrowCursor)
            elif kind == QEvent.Type.MouseButtonRelease and \
                    event.button() == Qt.MouseButton.LeftButton:
                url = self.link_at(event.position().toPoint())
                if url is not None:
                    log.info("opening a link from a message")
                    open_link(QUrl(url))
                    return True
                row = self.quote_at(event.position().toPoint())
                if row is not None:
                    self.go_to_quote(row)
                    return True
        return super().eventFilter(watched, event)

    def quote_at(self, pos: QPoint) -> int | None:
        """The row of the reply whose quote block is under ``pos`` (view viewport
        coordinates), or None."""
        index = self.view.indexAt(pos)
        if not index.isValid():
            return None
        option = QStyleOptionViewItem()
        option.font = self.view.font()
        option.rect = self.view.visualRect(index)
        inside = self.delegate.quote_at(option, index, QPointF(pos - option.rect.topLeft()))
        return index.row() if inside else None

    FLASH_MS = 1500
    """How long the quoted message a click went to stays outlined (milliseconds)."""
    QUOTE_PAGES = 10
    """How many older pages (from the cache, then from the server) a quote not found, or
    found only as a message edited since the reply, is looked for in; then what was found
    stands (the edited message is gone to), and when nothing was, the status bar says it is
    not there (or, the search stopped earlier for lack of a connection, to connect to look
    for it)."""

    def _row_of(self, seq: int | None, client_msg_id: str) -> int:
        """The row of message ``seq`` (an unsent one's: ``client_msg_id``) now (rows move as
        older pages come in), or -1."""
        if seq is not None:
            row = self.model.row_of_seq(seq)
            return -1 if row is None else row
        for row in range(self.model.rowCount() - 1, -1, -1):
            if self.model.item(row).client_msg_id == client_msg_id:
                return row
        return -1

    def go_to_quote(self, row: int, pages: int = 0) -> bool:
        """Go to the message the reply at ``row`` quotes (a click on its quote block, Enter
        on it in the message list, or its menu's "Go to the quoted message"): scrolled to,
        made current and outlined for a moment. Found by its sender and excerpt among the
        older messages, loaded or cached (:meth:`ConversationModel.find_quoted`), else in
        older pages from the server as scrolling up loads them (one already on its way is
        waited for); when it is not there (deleted, or older than the history), the status
        bar says so, and nothing moves; when the search stopped for lack of a connection
        (:meth:`ConversationModel.older_offline`), it says to connect to look for it.
        False when it was not gone to (yet)."""
        self._quote_wait = None
        if self.delegate.flash_seq is not None:  # (the outline of the last one goes)
            self._flash.stop()
            self._end_flash()
        if not 0 <= row < self.model.rowCount():
            return False
        target = self.model.find_quoted(row)
        if target.outcome in (QuoteOutcome.GONE, QuoteOutcome.EDITED) and \
                pages < self.QUOTE_PAGES:
            # Not found, or only by an edit since: the message itself may be further back.
            reply = self.model.item(row)
            if self.model.canFetchMore():
                self._quote_wait = (reply.seq, reply.client_msg_id, pages + 1)
                self.model.fetchMore()  # (from the cache: older_done comes at once)
                return False
            if self.model.fetching_older():
                # A page is already on its way (the user just scrolled to the top): it is
                # waited for. canFetchMore is False meanwhile, and the click said "not in
                # the history any more" at once (a hunt).
                self._quote_wait = (reply.seq, reply.client_msg_id, pages + 1)
                return False
            if target.outcome is QuoteOutcome.GONE and self.model.older_offline():
                # The search stopped for lack of a connection, not at the start of the
                # conversation: "not in the history any more" was false (a hunt).
                target = QuoteTarget(QuoteOutcome.OFFLINE)
        # (The pages spent, what was found stands: a message edited since the reply is gone
        # to. It was replaced by "not in the history any more" once ten pages were read, so
        # in a long conversation the edited message was never gone to; a review.)
        if target.seq is None:
            self.status_message.emit(target.status())
            return False
        found = self.model.load_until(target.seq)
        if found is None:
            self.status_message.emit(QuoteTarget(QuoteOutcome.GONE).status())
            return False
        # As find_step: a jump into a gap must not be undone by the scroll to the end that
        # the insert starts.
        self._to_end.stop()
        self._pinned = False
        self.view.setCurrentIndex(self.proxy.index(found, 0))
        # A scroll to the top loads the page above (fetchMore): the current index follows
        # its row down; one more scroll puts it back in view.
        for _ in range(3):
            current = self.view.currentIndex()
            self.view.scrollTo(current, QAbstractItemView.ScrollHint.PositionAtCenter)
            if self.view.currentIndex() == current:
                break
        bar = self.view.verticalScrollBar()
        self._pinned = bar.value() >= bar.maximum() - PIN_SLACK_PX
        self.delegate.flash_seq = target.seq
        self._flash.start()
        self.view.viewport().update()
        if target.status():
            self.status_message.emit(target.status())
        return True

    def _quote_page_came(self) -> None:
        """An older page came (or none) while a quote was looked for: look again."""
        if self._quote_wait is None:
            return
        seq, client_msg_id, pages = self._quote_wait
        self._quote_wait = None
        row = self._row_of(seq, client_msg_id)
        if row >= 0:
            self.go_to_quote(row, pages)

    def _end_flash(self) -> None:
        self.delegate.flash_seq = None
        self.view.viewport().update()

    def _current_in_view(self) -> None:
        """Keyboard focus came to the message list: unless the current message is on screen,
        the newest one shown becomes current (its bubble gets the focus ring; arrows move
        from there; the Menu key opens its menu)."""
        current = self.view.currentIndex()
        area = self.view.viewport().rect()
        if current.isValid() and self.view.visualRect(current).intersects(area):
            return
        # The lowest row on screen (rows are contiguous, so a few probes upwards find it
        # at once; no walk over thousands of rows).
        for y in range(area.bottom(), area.top() - 1, -max(1, area.height() // 8)):
            index = self.view.indexAt(QPoint(area.center().x(), y))
            if index.isValid():
                self.view.setCurrentIndex(index)
                return
        rows = self.proxy.rowCount()
        if rows:
            self.view.setCurrentIndex(self.proxy.index(rows - 1, 0))

    def _apply_colors(self) -> None:
        """The failed and error bars' colours, for the light or dark palette."""
        c = theme.colors()
        self.failed_bar.setStyleSheet(f"#failedBar {{ background: {c.error_bubble.name()}; }}")
        self.failed_label.setStyleSheet(theme.error_style())
        self.error_bar.setStyleSheet(f"#errorBar {{ background: {c.error_bubble.name()}; "
                                     f"border-top: 1px solid {c.error_border.name()}; }}")
        self.error_label.setStyleSheet(theme.error_style())

    def _keyboard_menu(self) -> None:
        """Shift+F10: the menu of the current message (brought on screen first)."""
        self._current_in_view()
        self._context_menu(self.view.visualRect(self.view.currentIndex()).center())

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():  # the Menu key with the current message off screen
            index = self.view.currentIndex()  # (a right-click on no message: eventFilter)
        menu = self.message_menu(index.row(), self.link_at(pos)) if index.isValid() else None
        if menu is not None:
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            menu.popup(self.view.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ find

    def open_find(self) -> None:
        """Show the find bar and focus it (Ctrl+F)."""
        self.find_bar.show()
        self.find_edit.setFocus()
        self.find_edit.selectAll()

    def close_find(self) -> None:
        self._find_pause.stop()
        self.find_bar.hide()
        self.find_edit.clear()
        self.compose.setFocus()

    def _on_find_text(self, text: str) -> None:
        self.delegate.search_text = text  # (what is on screen lights up at once)
        if text and find_waits(self._find_cost):
            self._find_pause.start()
            self.find_label.setText("Searching…")
            self.find_label.setToolTip("")
            self.view.viewport().update()
            return
        self._run_find()

    def _run_find(self) -> None:
        """Search the conversation for the find bar's text and go to the newest match."""
        self._find_pause.stop()
        self._to_recheck = {}
        text = self.find_edit.text()
        self.delegate.search_text = text
        started = time.perf_counter()
        self.matches = self.model.find(text) if text else []
        if text:
            self._find_cost = time.perf_counter() - started
        self.match_index = -1
        if self.matches:
            self.find_step(1)  # the newest match first…
        else:
            self.delegate.current_seq = None
            self._say_matches(0 if text else None)
            self.view.viewport().update()

    def _text_changed(self, top: QModelIndex, bottom: QModelIndex,
                      roles: list[int] = ()) -> None:
        if not roles or any(int(r) in _MATCH_ROLES for r in roles):
            self._recheck_rows(top.row(), bottom.row())

    def _rows_came(self, _parent: QModelIndex, first: int, last: int) -> None:
        self._recheck_rows(first, last)

    def _recheck_rows(self, first: int, last: int) -> None:
        """Count rows ``first``…``last`` (new or changed) among the matches, soon."""
        if self.find_bar.isHidden() or not self.find_edit.text():
            return
        if self._to_recheck is not None and find_waits(self._find_cost) \
                and last - first < 1_000:
            for row in range(max(first, 0), min(last + 1, self.model.rowCount())):
                item = self.model.item(row)
                if item.seq is not None:
                    self._to_recheck[item.seq] = item.text
        else:
            self._to_recheck = None
        self._matches_check.start()

    def _refresh_matches(self, *_: object) -> None:
        """Messages that come or change while the find bar is open count among its matches
        (a new "lunch" was neither counted nor reachable; a groups hunt); the current match
        stays the current one. In a long conversation only the messages that came or
        changed are looked at (a search of the whole cache per message that came made the
        window stutter in a busy group while the find bar was open)."""
        text = self.find_edit.text()
        recheck, self._to_recheck = self._to_recheck, {}
        if self.find_bar.isHidden() or not text or self._find_pause.isActive():
            return
        if recheck is None or not find_waits(self._find_cost):
            matches = self.model.find(text)
        else:
            folded = fold(text)
            found = set(self.matches)
            for seq, body in recheck.items():
                if folded in fold(body):
                    found.add(seq)
                else:
                    found.discard(seq)
            matches = sorted(found)
        if matches == self.matches:
            if not matches:
                self._say_matches(0)  # (the last page from the server may have come)
            return
        current = self.delegate.current_seq
        self.matches = matches
        self.match_index = matches.index(current) if current in matches else -1
        n = len(matches)
        if self.match_index >= 0:
            self._say_matches(n, self.match_index)
        else:
            self._say_matches(n)
        self.view.viewport().update()

    def _say_matches(self, n: int | None, index: int = -1) -> None:
        """Put how many messages match in the find bar ("2 of 5 messages"; None: nothing is
        searched for). The search covers only the messages this computer has: while the
        server may hold older ones, none found is "No matches on this computer" (a flat "No
        matches" made people think a message they could scroll up to was not there)."""
        tip = ""
        if n is None:
            text = ""
        elif index >= 0:
            text = f"{n - index} of {n} message{'s' if n != 1 else ''}"
        elif n:
            text = f"{n} message{'s' if n != 1 else ''}"
        elif self.model.server_more is False:  # (the server said there is nothing older)
            text = "No matches"
        else:
            text = NO_MATCHES_HERE
            tip = NO_MATCHES_HERE_TIP
        self.find_label.setText(text)
        self.find_label.setToolTip(tip)
        # (↑/↓ stayed enabled with nothing to go to; noted by a hunt)
        self.find_older.setEnabled(bool(n))
        self.find_newer.setEnabled(bool(n))

    def find_step(self, step: int) -> None:
        """Go to the next (``step`` = 1) or previous (-1) match; newest first, wrapping."""
        if self._find_pause.isActive():  # (Enter right after typing: search now)
            self._run_find()
            return
        if not self.matches:
            return
        if self.match_index < 0:
            self.match_index = len(self.matches) - 1
        else:
            self.match_index = (self.match_index - step) % len(self.matches)
        seq = self.matches[self.match_index]
        row = self.model.load_until(seq)
        self.delegate.current_seq = seq
        # Shown as "n of m" counting from the newest.
        # Messages, not places: a message with the text twice is one stop (both lit).
        self._say_matches(len(self.matches), self.match_index)
        if row is not None:
            # The match may have been loaded in the middle of a list that showed its end
            # (inside a gap row): the scroll to the end that such an insert starts would run
            # after this one and take the match off the screen again.
            self._to_end.stop()
            self._pinned = False
            self.view.scrollTo(self.proxy.index(row, 0),
                               QAbstractItemView.ScrollHint.PositionAtCenter)
            bar = self.view.verticalScrollBar()
            self._pinned = bar.value() >= bar.maximum() - PIN_SLACK_PX  # (the end in view)
        self.view.viewport().update()

    # ------------------------------------------------------------------ export

    def show_export(self, job: ConversationExport) -> None:
        """Follow ``job`` in the export bar: what it is doing and how far it got, with
        Cancel; then its outcome, for a while. The tab follows one job at a time (bound
        methods, not lambdas holding the widget: a closed tab is let go of, see
        :meth:`stop_following_export`)."""
        self.stop_following_export()
        self.export_job = job
        self._export_hide.stop()
        job.progress.connect(self._update_export)
        job.finished.connect(self._export_finished)
        job.failed.connect(self._export_outcome)
        self.export_button.setText("Cancel")
        self.export_button.setAccessibleName("Cancel the export")
        self.export_folder_button.hide()
        self.export_progress.show()
        self._update_export()
        self.export_bar.show()

    def stop_following_export(self) -> None:
        """Stop following the export the bar shows, if any (the job runs on): the tab is
        closing, or follows another job. A tab reopened while it runs follows it again
        (``MainWindow._open``)."""
        job, self.export_job = self.export_job, None
        if job is None:
            return
        for signal, slot in ((job.progress, self._update_export),
                             (job.finished, self._export_finished),
                             (job.failed, self._export_outcome)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # (already gone with the job)
                pass

    def _update_export(self) -> None:
        job = self.export_job
        if job is None:
            return
        if job.phase == "fetching":
            self.export_progress.setRange(0, 0)  # how much the server holds is unknown
            self.export_label.setText(f"Exporting to {job.path.name}: fetching the history "
                                      f"from the server… {job.fetched:,} messages")
        elif job.phase == "writing":
            self.export_progress.setRange(0, max(1, job.total))
            self.export_progress.setValue(job.written)
            self.export_label.setText(f"Exporting to {job.path.name}: writing {job.written:,} "
                                      f"of {job.total:,} messages…")

    def _export_finished(self, count: int, complete: bool) -> None:
        job = self.export_job
        if job is None:
            return
        self._exported_to = job.path
        self.export_folder_button.show()
        self._export_outcome(export_done_text(job.path, count, complete))

    def _show_export_folder(self) -> None:
        if self._exported_to is not None:
            open_link(QUrl.fromLocalFile(str(self._exported_to.parent)))

    def _export_outcome(self, text: str) -> None:
        if self.export_job is None:
            return
        self.stop_following_export()
        self.export_label.setText(text)
        self.export_progress.hide()
        self.export_button.setText("✕")
        self.export_button.setAccessibleName("Dismiss")
        self.export_bar.show()
        self._export_hide.start()

    def _on_export_button(self) -> None:
        if self.export_job is not None:
            self.export_job.cancel()
        else:
            self._export_hide.stop()
            self.export_bar.hide()
