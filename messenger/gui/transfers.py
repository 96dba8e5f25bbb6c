"""File transfers on screen: a card per transfer (in its conversation and in the Transfers
panel) and the panel itself. The cards read the controller's
:class:`~messenger.client.transfers.TransferModel` and call the controller; they never see a
socket."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QDesktopServices, QFocusEvent, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ..client.models import local_time
from ..client.transfers import (
    SEND,
    Transfer,
    TransferController,
    TransferModel,
    TransferState,
    format_size,
    guess_mime,
    status_text,
)
from . import (
    resources_rc,  # noqa: F401  (registers :/icons/…)
    theme,
)
from .delegates import TRANSFER_ROW_HEIGHT, PlainToolTipDelegate
from .widgets import ElidedLabel, plain_tooltip

_Index = QModelIndex | QPersistentModelIndex

CARD_WIDTH = 470
"""Largest width of a card in a conversation."""

_WIDE_STATUS = "999.9 MB of 999.9 MB · 99.9 MB/s · 59 min left"
"""About the longest status line of a running transfer: a card is at least as wide (within
its row), so that line does not wrap mid-phrase on a card that a short name made narrow."""

_LONG_RUN = re.compile(r"\S{25,}")


def breakable(text: str) -> str:
    """``text`` with a zero-width space every 20 characters of a run of 25 or more without a
    space, where a wrapping label may break it: "Saved as <a 150-character name> (1).pdf"
    was cut at the card's edge, hiding which copy it was (a hunt)."""
    return _LONG_RUN.sub(
        lambda m: "\u200b".join(m[0][i:i + 20] for i in range(0, len(m[0]), 20)), text)


_BUSY = (TransferState.PREPARING, TransferState.CONNECTING)
"""Busy states whose progress bar runs without a figure while no byte has moved (hashing,
connecting); a resume that connects shows where it stands."""

_ACTIVE = (TransferState.PREPARING, TransferState.OFFERING, TransferState.WAITING,
           TransferState.CONNECTING, TransferState.ACTIVE)


def open_url(url: QUrl) -> bool:
    """Open ``url`` with the desktop (replaced in tests)."""
    return QDesktopServices.openUrl(url)


def confirm_open_program(parent: QWidget | None, name: str, peer: str) -> bool:
    """Ask before opening ``name``, a received file that runs when opened
    (:func:`~messenger.client.transfers.runs_as_program`), from ``peer``; True when the user
    chose to open it. Cancel is the default (Enter and Esc keep it closed)."""
    ext = Path(name).suffix.lower()
    box = QMessageBox(QMessageBox.Icon.Warning, "Open a program?",
                      f"“{name}” is a program or script ({ext}): opening it runs it on this "
                      "computer, with your rights.",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                      parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setInformativeText(f"It came from {peer}. Open it only if you expected it and trust "
                           "where it comes from; a file that looks like a document or a "
                           "picture should not be a program.")
    box.button(QMessageBox.StandardButton.Yes).setText("Run it")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)
    return QMessageBox.StandardButton(box.exec()) == QMessageBox.StandardButton.Yes


class TransferCard(QWidget):
    """One transfer: icon (video or file), name, size and peer, a progress bar with rate and
    time left, and the actions that fit its state — Accept / Decline (an offer to you),
    Cancel (while it runs), Open / Show in folder (when done; Open asks first for a received
    program or script), Resume (a failed or interrupted
    send whose file is unchanged in size: :meth:`TransferController.can_resume`), Discard
    (a failed or cancelled receive: deletes what was received so far,
    :meth:`TransferController.can_discard`).

    Args:
        controller: the :class:`TransferController`.
        key: the transfer's key.
        align: put the card on the right (own sends in a conversation) or fill the row.

    The status line wraps and the buttons sit under it, right-aligned, so a large font or a
    narrow Transfers panel does not cut them off; the row a card sits on takes its height
    from :meth:`row_height` (asked again when :attr:`size_changed` fires).

    Signals:
        opened(str): the path opened (Open or Show in folder).
        size_changed(): the card needs another height (buttons or progress shown/hidden).
        tabbed_into(): Tab or Shift+Tab put the keyboard focus on one of its buttons (the
            list it sits in scrolls to it: :func:`place_card`).
    """

    opened = Signal(str)
    size_changed = Signal()
    tabbed_into = Signal()

    def __init__(self, controller: TransferController, key: str, *, align: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.key = key
        self.setAutoFillBackground(False)
        frame = QFrame(self)
        frame.setObjectName("transferCard")
        frame.setStyleSheet(
            "#transferCard { background: palette(alternate-base); border: 1px solid "
            "palette(midlight); border-radius: 10px; }")
        if align:
            frame.setMaximumWidth(CARD_WIDTH)
        self.frame = frame
        self.icon = QLabel(frame)
        self.icon.setFixedSize(36, 36)
        # Name, peer, status and reasons come (partly) from the peer: never rich text.
        # The card is as wide as the name wants, up to its row; a longer name is elided in
        # the middle, so its extension stays in sight (the tooltip has it all), instead of
        # pushing the buttons out.
        self.name_label = ElidedLabel("", frame, Qt.TextElideMode.ElideMiddle)
        self.name_label.setStyleSheet("font-weight: bold;")
        # "1.0 MB · from alice · 04:28": elided ("…", whole in the tooltip) in a narrow
        # panel; it was cut off mid-time ("from alice · 04:").
        self.info_label = ElidedLabel("", frame)
        theme.secondary_text(self.info_label)
        self.progress = QProgressBar(frame)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFixedHeight(16)
        self.status_label = QLabel(frame)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.accept_button = QPushButton("Accept", frame)
        self.decline_button = QPushButton("Decline", frame)
        self.cancel_button = QPushButton("Cancel", frame)
        self.open_button = QPushButton("Open", frame)
        self.folder_button = QPushButton("Show in folder", frame)
        self.resume_button = QPushButton("Resume", frame)
        self.discard_button = QPushButton("Discard", frame)
        self.discard_button.setToolTip("Delete the partly received file")
        self.accept_button.clicked.connect(lambda: controller.accept(self.key))
        self.decline_button.clicked.connect(lambda: controller.decline(self.key))
        self.cancel_button.clicked.connect(lambda: controller.cancel(self.key))
        self.resume_button.clicked.connect(lambda: controller.resume(self.key))
        self.discard_button.clicked.connect(lambda: controller.discard(self.key))
        self.open_button.clicked.connect(self.open_file)
        self.folder_button.clicked.connect(self.show_in_folder)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(6)
        buttons.addStretch(1)
        self.action_buttons: tuple[QPushButton, ...] = (
            self.accept_button, self.decline_button, self.cancel_button, self.open_button,
            self.folder_button, self.resume_button, self.discard_button)
        """The card's buttons, as drawn (each shown only in the states it fits)."""
        for b in self.action_buttons:
            b.setAutoDefault(False)
            b.installEventFilter(self)
            buttons.addWidget(b)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.name_label)
        text.addWidget(self.info_label)
        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(text, 1)
        column = QVBoxLayout(frame)
        column.setContentsMargins(10, 8, 10, 8)
        column.setSpacing(4)
        column.addLayout(top)
        column.addWidget(self.progress)
        column.addWidget(self.status_label)
        column.addLayout(buttons)
        outer = self._outer = QHBoxLayout(self)
        outer.setContentsMargins(12, 4, 12, 4)
        self._header = 0
        t = controller.get(key)
        own = t is not None and t.direction == SEND
        if align and own:
            outer.addStretch(1)
        outer.addWidget(frame, 0 if align else 1)
        if align and not own:
            outer.addStretch(1)
        self._height = 0
        controller.model.dataChanged.connect(self._on_changed)
        theme.follow_palette(self, self.refresh)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Tell :attr:`tabbed_into` when Tab or Shift+Tab reaches one of the buttons."""
        if event.type() == QEvent.Type.FocusIn and isinstance(event, QFocusEvent) and \
                event.reason() in (Qt.FocusReason.TabFocusReason,
                                   Qt.FocusReason.BacktabFocusReason):
            self.tabbed_into.emit()
        return super().eventFilter(watched, event)

    def _on_changed(self, top: QModelIndex, bottom: QModelIndex, roles: object = None) -> None:
        for row in range(top.row(), bottom.row() + 1):
            key = self.controller.model.index(row, 0).data(TransferModel.IdRole)
            # Its own row (a card of the Transfers panel shows one member of a group send)
            # or, on a batch card of a conversation, any member's row.
            if key == self.key or self.controller.card_key(key) == self.key:
                self.refresh()
                return

    def transfer(self) -> Transfer | None:
        return self.controller.get(self.key)

    def set_header(self, pixels: int) -> None:
        """Leave ``pixels`` free above the card (the conversation draws the day's line
        there); part of :meth:`row_height`."""
        if pixels != self._header:
            self._header = pixels
            self._outer.setContentsMargins(12, 4 + pixels, 12, 4)

    def row_height(self, width: int) -> int:
        """The height (pixels) this card needs at ``width`` pixels."""
        want = self.status_label.fontMetrics().horizontalAdvance(_WIDE_STATUS) + 22
        self.frame.setMinimumWidth(max(0, min(want, CARD_WIDTH, width - 24)))
        self.layout().activate()
        height = self.heightForWidth(width) if self.hasHeightForWidth() else -1
        return max(height, self.minimumSizeHint().height(), TRANSFER_ROW_HEIGHT // 2)

    def _check_height(self) -> None:
        # Only after a change of content: a change of width comes from the view, whose own
        # re-layout asks row_height() for the new width.
        height = self.row_height(self.width() if self.width() > 0 else CARD_WIDTH)
        if height != self._height:
            self._height = height
            self.size_changed.emit()

    def refresh(self) -> None:
        """Show the transfer's current state."""
        t = self.transfer()
        if t is None:
            return
        # The icon and its tooltip follow the extension the file has here, not the
        # sender's MIME type (an .exe offered as video/mp4 showed as a video).
        video = t.is_video
        icon = QIcon(":/icons/video.svg" if video else ":/icons/file.svg")
        self.icon.setPixmap(icon.pixmap(QSize(36, 36)))
        kind = "Video" if video else "Program" if t.is_program else "File"
        self.icon.setAccessibleName(kind)
        self.icon.setToolTip(plain_tooltip(
            "A program: it runs when opened" if kind == "Program" else
            t.mime if t.direction == SEND else guess_mime(t.saved_name)))
        shown = t.display_name
        self.name_label.setText(shown)
        arrow = f"to {t.peer}" if t.direction == SEND else f"from {t.peer}"
        # The time, as a message bubble has it (when it was offered or sent).
        when = time.strftime("%H:%M", local_time(t.created))
        self.info_label.setText(f"{format_size(t.size)} · {arrow} · {when}")
        st = t.state
        permille = 1000 if st is TransferState.DONE else \
            int(1000 * t.done / t.size) if t.size else 0
        busy = st in _BUSY and t.done <= 0
        self.progress.setRange(0, 0 if busy else 1000)  # (0, 0): runs without a figure
        self.progress.setValue(max(0, min(1000, permille)))
        # Whole percents rounded down: "100 %" only once it is done (997 of 1000 KB of an
        # interrupted send rounded up to "100 %").
        percent = 100 if st is TransferState.DONE else min(99, max(0, permille) // 10)
        self.progress.setFormat(f"{percent} %")
        # A bar only while bytes move or a busy step runs, and on an ended one that got
        # some of the way (a Resume continues from there); done: the status line says so.
        self.progress.setVisible(
            st is TransferState.ACTIVE or busy
            or (st in (TransferState.CONNECTING, TransferState.FAILED,
                       TransferState.CANCELLED) and t.done > 0))
        status = status_text(t)
        self.status_label.setText(breakable(status))
        self.status_label.setToolTip(plain_tooltip(
            # (A file sent to a group's members: where it stands with each of them.)
            "\n".join(f"{m.peer}: {status_text(m)}" for m in t.members) if t.members
            else t.path if st is TransferState.DONE and t.path else status))
        # Red for what went wrong or what the other side refused; not for the user's own
        # Decline / Cancel, nor for an offer answered on another of their devices, nor for
        # a send that goes on by itself (a pause).
        bad = (st is TransferState.FAILED and not t.auto_resume) or (
            st in (TransferState.DECLINED, TransferState.CANCELLED) and t.by_peer)
        self.status_label.setStyleSheet(theme.error_style() if bad
                                        else "color: palette(text);")
        incoming = t.direction != SEND and st is TransferState.INCOMING
        done = st is TransferState.DONE
        focus = QApplication.focusWidget()
        had_focus = focus is not None and self.isAncestorOf(focus)
        self.accept_button.setVisible(incoming)
        self.decline_button.setVisible(incoming)
        # (Also a failed send that resumes by itself: Cancel stops that.)
        self.cancel_button.setVisible(st in _ACTIVE or (st is TransferState.FAILED
                                                        and t.auto_resume))
        self.open_button.setVisible(done)
        self.folder_button.setVisible(done)
        self.open_button.setEnabled(done and bool(t.path) and Path(t.path).exists())
        self.folder_button.setEnabled(self.open_button.isEnabled())
        # Resume: a failed send (also one found interrupted after a restart) whose file is
        # still there with the same size; the recipient's partial file continues.
        self.resume_button.setVisible(self.controller.can_resume(self.key))
        self.discard_button.setVisible(self.controller.offers_discard(self.key))
        if had_focus:
            self._keep_focus()
        name = f"{shown}, {format_size(t.size)}, {arrow}: {status}"
        self.setAccessibleName(f"File transfer {shown}")
        self.setToolTip(plain_tooltip(name))
        for button, verb in ((self.accept_button, "Accept"), (self.decline_button, "Decline"),
                             (self.cancel_button, "Cancel"), (self.open_button, "Open"),
                             (self.folder_button, "Show in folder"),
                             (self.resume_button, "Resume"),
                             (self.discard_button, "Discard")):
            button.setAccessibleName(f"{verb} {shown}")
        self._check_height()

    def _keep_focus(self) -> None:
        """The card had the keyboard focus: keep it there when the focused button hid
        (Accept pressed with Space: Qt passed the focus on to the next widget of the
        window, the contacts filter, a hunt). It goes to the first button the card shows
        now, else to the list the card sits in."""
        focus = QApplication.focusWidget()
        if focus is not None and self.isAncestorOf(focus) and focus.isVisible():
            return
        for button in (self.cancel_button, self.open_button, self.folder_button,
                       self.resume_button, self.discard_button, self.accept_button,
                       self.decline_button):
            if button.isVisibleTo(self) and button.isEnabled():
                button.setFocus(Qt.FocusReason.OtherFocusReason)
                return
        holder = self.parentWidget()
        while holder is not None and not holder.focusPolicy() & Qt.FocusPolicy.TabFocus:
            holder = holder.parentWidget()
        if holder is not None:
            holder.setFocus(Qt.FocusReason.OtherFocusReason)

    def open_file(self) -> None:
        """Open the received or sent file with the desktop; a received file that runs when
        opened (a program, a script, a shortcut: ``Transfer.is_program``) only after
        :func:`confirm_open_program`."""
        t = self.transfer()
        if t is None or not t.path:
            return
        if not Path(t.path).exists():
            # (It asked the desktop to open a missing file, which said nothing: a hunt.)
            self.status_label.setText(f"{Path(t.path).name} is no longer there: it was moved "
                                      "or deleted.")
            self.status_label.setStyleSheet(theme.error_style())
            self.open_button.setEnabled(False)
            return
        if t.direction != SEND and t.is_program and \
                not confirm_open_program(self.window(), Path(t.path).name, t.peer):
            return  # (a program a peer chose ran at a click on Open, unasked: a hunt)
        open_url(QUrl.fromLocalFile(t.path))
        self.opened.emit(t.path)

    def show_in_folder(self) -> None:
        t = self.transfer()
        if t is not None and t.path:
            folder = str(Path(t.path).parent)
            open_url(QUrl.fromLocalFile(folder))
            self.opened.emit(folder)


def card_row_height(view: QAbstractItemView, index: _Index, width: int) -> int:
    """The height of the row at ``index`` of ``view`` that holds a :class:`TransferCard`
    (:data:`TRANSFER_ROW_HEIGHT` until the card is placed)."""
    card = view.indexWidget(index)
    return card.row_height(width) if isinstance(card, TransferCard) else TRANSFER_ROW_HEIGHT


class _RowHeights(QObject):
    """The rows of one view whose card changed height, told to the view once per event-loop
    pass (each ``sizeHintChanged`` makes the view lay out all its rows again)."""

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self._view = view
        self._rows: list[QPersistentModelIndex] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._flush)

    @classmethod
    def of(cls, view: QAbstractItemView) -> _RowHeights:
        found = view.findChild(cls)
        return found if isinstance(found, cls) else cls(view)

    def add(self, row: QPersistentModelIndex) -> None:
        self._rows.append(row)
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        rows, self._rows = self._rows, []
        valid = [r for r in rows if r.isValid()]
        if valid:
            self._view.itemDelegate().sizeHintChanged.emit(QModelIndex(valid[0]))


def place_card(view: QAbstractItemView, index: QModelIndex, card: TransferCard) -> None:
    """Put ``card`` on ``view``'s row ``index``; the row follows the card's height, and
    the view scrolls to the card when Tab reaches one of its buttons (the focus went to a
    card scrolled out of sight: Tab from the Transfers list, scrolled to the newest, landed
    on the oldest card's Open, 2,500 pixels above; a hunt)."""
    row = QPersistentModelIndex(index)
    heights = _RowHeights.of(view)
    card.size_changed.connect(lambda: heights.add(row))
    card.tabbed_into.connect(lambda: _scroll_to(view, row))
    view.setIndexWidget(index, card)


def _scroll_to(view: QAbstractItemView, row: QPersistentModelIndex) -> None:
    if row.isValid():
        view.scrollTo(QModelIndex(row), QAbstractItemView.ScrollHint.EnsureVisible)


def chain_card_tab_order(view: QAbstractItemView, rows: Iterable[QModelIndex]) -> None:
    """Tab from ``view`` goes through the buttons of the cards on ``rows`` (in that order),
    then on to what followed ``view`` (Shift+Tab back the same way). A card placed on a
    row (:func:`place_card`) otherwise comes last in the window's tab order, after the
    compose box and every other control (a hunt). Used by the Transfers panel and by a
    conversation's message list."""
    previous: QWidget = view
    for index in rows:
        card = view.indexWidget(index)
        if isinstance(card, TransferCard):
            for button in card.action_buttons:
                QWidget.setTabOrder(previous, button)
                previous = button


class _CardRowDelegate(PlainToolTipDelegate):
    """Rows of the Transfers panel: room for a card, nothing painted (the card covers it)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        view = self.parent()
        if not isinstance(view, QAbstractItemView):
            return QSize(300, TRANSFER_ROW_HEIGHT)
        width = view.viewport().width()  # the card takes the row's width: as wide as the panel
        return QSize(width, card_row_height(view, index, width))

    def paint(self, painter, option, index) -> None:
        return None


FOLLOW_SLACK_PX = 8
"""The Transfers list scrolled to within this many pixels of its end counts as showing the
newest transfer: new ones then scroll into view."""


class TransfersPanel(QWidget):
    """Every transfer of the session with its progress and actions (a ``QListView`` on the
    controller's :class:`TransferModel`, one :class:`TransferCard` per row), oldest first.
    While the list shows its end, a new transfer scrolls into view (and the end stays in
    view as cards grow); scrolled back to older ones, the list stays where it is."""

    def __init__(self, controller: TransferController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.view = QListView(self)
        self.view.setModel(controller.model)
        self.view.setItemDelegate(_CardRowDelegate(self.view))
        self.view.setAccessibleName("Transfers")
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.empty_label = QLabel("No transfers yet: drop a file on a conversation, or use "
                                  "its Attach button.", self)
        self.empty_label.setWordWrap(True)
        theme.secondary_text(self.empty_label, "padding: 8px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.view, 1)
        self._follows_end = True
        bar = self.view.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)
        controller.model.rowsInserted.connect(self._on_rows)
        controller.model.rowsMoved.connect(self._chain_tab_order)
        controller.model.modelReset.connect(self._chain_tab_order)
        self._on_rows(QModelIndex(), 0, controller.model.rowCount() - 1)

    def _on_rows(self, parent: QModelIndex, first: int, last: int) -> None:
        model = self.controller.model
        for row in range(first, last + 1):
            index = model.index(row, 0)
            if self.view.indexWidget(index) is None:
                key = index.data(TransferModel.IdRole)
                place_card(self.view, index, TransferCard(self.controller, key, align=False))
        self.empty_label.setVisible(model.rowCount() == 0)
        self._chain_tab_order()
        if last >= first and self._follows_end:
            # (Not while the user looks at older cards: the list jumped to the end under
            # the mouse at every new offer, a click meant for one card's Open landing on
            # another's; a hunt.)
            self.view.scrollToBottom()

    def _on_scrolled(self, value: int) -> None:
        bar = self.view.verticalScrollBar()
        self._follows_end = value >= bar.maximum() - FOLLOW_SLACK_PX

    def _on_range_changed(self, low: int, high: int) -> None:
        # The list grew (a card got taller, a row came): one that showed its end still does.
        if self._follows_end:
            self.view.verticalScrollBar().setValue(high)

    def _chain_tab_order(self) -> None:
        """Tab from the list goes through its cards' buttons, row by row, then on out of
        the panel (see :func:`chain_card_tab_order`)."""
        model = self.controller.model
        chain_card_tab_order(self.view, (model.index(r, 0) for r in range(model.rowCount())))

    def card(self, key: str) -> TransferCard | None:
        row = self.controller.model.row_of(key)
        if row is None:
            return None
        widget = self.view.indexWidget(self.controller.model.index(row, 0))
        return widget if isinstance(widget, TransferCard) else None
