"""Small widgets shared by the dialogs."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from PySide6 import QtGui
from PySide6.QtCore import QEvent, QMimeData, QObject, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QFont,
    QFontMetrics,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QTextDocumentFragment,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListView,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from . import theme

__all__ = ["EditTextDialog", "ElidedLabel", "EmptyHintListView", "ErrorLabel",
           "MessageTextEdit", "fit_lines", "pasted_text", "plain_tooltip"]


def plain_tooltip(text: str) -> str:
    """``text`` as a tooltip that shows exactly that text: a tooltip, unlike a label, has no
    text format and takes anything that looks like HTML (``Qt.mightBeRichText``) as rich
    text, so such text is escaped; other text is returned as it is."""
    if not text or not QtGui.Qt.mightBeRichText(text):
        return text
    return QtGui.Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNormal)


class ElidedLabel(QLabel):
    """A one-line label that gives up width by eliding its text ("…") instead of holding the
    window wide; while it is cut short, the whole text is its tooltip. ``text()`` is always
    the whole text."""

    MIN_CHARS = 6
    """Characters it still shows at its narrowest (with the "…")."""

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.mode = mode
        """Where the "…" goes: ``ElideMiddle`` keeps a file name's extension in sight."""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        margins = self.contentsMargins()
        narrow = self.fontMetrics().horizontalAdvance("M" * self.MIN_CHARS) + \
            margins.left() + margins.right()
        return QSize(min(hint.width(), narrow), hint.height())

    def shown_text(self) -> str:
        """What is drawn: the text, elided to the width it has."""
        return self.fontMetrics().elidedText(self.text(), self.mode,
                                             self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()),
                                  self.palette(), self.isEnabled(), self.shown_text(),
                                  self.foregroundRole())
        painter.end()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._update_tip()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_tip()

    def _update_tip(self) -> None:
        self.setToolTip(plain_tooltip(self.text()) if self.shown_text() != self.text() else "")


def tab_in_drawn_order(box: QDialogButtonBox) -> QDialogButtonBox:
    """Make Tab reach ``box``'s buttons in the order they are drawn, and return ``box``.
    Tab followed the order they were made in: a box made with Cancel and the action
    added to it drew "[Log in] [Cancel]" and Tab reached Cancel first (a hunt). Where
    each button is drawn depends on the platform's button layout, so the order is read
    from the box's layout (in reading order), each time the box is shown or laid out
    anew (Qt's tab order only takes once the box is in its dialog)."""
    _DrawnTabOrder(box)
    return box


class _DrawnTabOrder(QObject):
    """Keeps the tab order of a :class:`QDialogButtonBox`'s buttons (see
    :func:`tab_in_drawn_order`)."""

    def __init__(self, box: QDialogButtonBox) -> None:
        super().__init__(box)
        self.box = box
        box.installEventFilter(self)
        self.apply()

    def apply(self) -> None:
        layout = self.box.layout()
        drawn = [] if layout is None else [
            widget for i in range(layout.count())
            if isinstance(widget := layout.itemAt(i).widget(), QAbstractButton)]
        for first, second in pairwise(drawn):  # (reading order: mirrored right to left)
            QWidget.setTabOrder(first, second)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.box and event.type() in (QEvent.Type.Show,
                                                    QEvent.Type.LayoutRequest):
            self.apply()
        return False


class ErrorLabel(QLabel):
    """A dialog's error line: error-coloured for the palette (bold by default), wrapped,
    announced as "Error" to screen readers, hidden while there is nothing to say; plain
    text (what it shows often comes from the server)."""

    def __init__(self, parent: QWidget | None = None, *, bold: bool = True) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # (a server's reason: never rich text)
        theme.follow_palette(self, lambda: self.setStyleSheet(theme.error_style(bold=bold)))
        self.setWordWrap(True)
        self.setAccessibleDescription("Error")
        self.hide()

    def shown_text(self) -> str:
        """The error shown ("" when hidden)."""
        return self.text() if not self.isHidden() else ""

    def set_error(self, text: str, *, fit_window: bool = True) -> None:
        """Show ``text`` ("" hides the line); with ``fit_window`` the window grows to fit."""
        self.setText(text)
        self.setVisible(bool(text))
        window = self.window()
        if text and fit_window and window is not self:
            window.resize(window.width(), window.heightForWidth(window.width()))


class EmptyHintListView(QListView):
    """A list view that says what to do while its model has no rows (an empty white box
    says nothing): ``hint`` is a callable so it can follow state (e.g. a search filter)."""

    def __init__(self, hint: Callable[[], str] | QWidget | None = None,
                 parent: QWidget | None = None) -> None:
        if isinstance(hint, QWidget):  # (made by a .ui form: EmptyHintListView(parent))
            hint, parent = None, hint
        super().__init__(parent)
        self.hint: Callable[[], str] = hint or (lambda: "")

    _HINT_FLAGS = int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                      | Qt.TextFlag.TextWordWrap)

    def hint_text(self) -> str:
        """The hint drawn now ("" while the model has rows), shortened with "…" to the
        lines that fit in the viewport (painted into it, the hint neither scrolls nor makes
        the list taller: with a large font its last line was cut in half)."""
        model = self.model()
        text = self.hint() if model is None or model.rowCount() == 0 else ""
        return fit_lines(text, self.font(), self._hint_rect()) if text else ""

    def _hint_rect(self) -> QRect:
        return self.viewport().rect().adjusted(12, 12, -12, -12)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        text = self.hint_text()
        if not text:
            return
        painter = QPainter(self.viewport())
        # (the palette's PlaceholderText is 4.0:1 on white: secondary text is ≥ 4.5:1)
        painter.setPen(theme.colors(self.palette()).system_text)
        painter.drawText(self._hint_rect(), self._HINT_FLAGS, text)
        painter.end()


def fit_lines(text: str, font: QFont, rect: QRect) -> str:
    """``text`` as it fits in ``rect`` word-wrapped in ``font``: whole when it does, else the
    lines that fit, the last of them ending in "…" (one line at least)."""
    metrics = QFontMetrics(font)
    room = max(1, rect.height() // metrics.lineSpacing())
    layout = QTextLayout(text, font)
    layout.setTextOption(QTextOption(Qt.AlignmentFlag.AlignHCenter))  # (wraps at words)
    starts: list[int] = []
    layout.beginLayout()
    while (line := layout.createLine()).isValid():
        line.setLineWidth(rect.width())
        starts.append(line.textStart())
    layout.endLayout()
    if len(starts) <= room:
        return text
    last = starts[room - 1]
    return text[:last] + metrics.elidedText(text[last:], Qt.TextElideMode.ElideRight,
                                            rect.width())


def pasted_text(source: QMimeData) -> str:
    """The plain text that pasted (or dropped) data types into a message box (the tab's
    compose box, :class:`MessageTextEdit`): its text as copied, markup and all. Qt's own
    paste read a clipboard that offers ``text/markdown`` first as Markdown (``**bold**``
    became a bold "bold", list markers and backticks went, and the formatting never left
    this computer), and typed nothing from one that holds only HTML; such HTML gives its
    text here."""
    if source.hasText():
        return source.text()
    if source.hasHtml():
        return QTextDocumentFragment.fromHtml(source.html()).toPlainText()
    return ""


class MessageTextEdit(QPlainTextEdit):
    """A message box in a dialog: Tab and Shift+Tab move the focus on (a tab typed into a
    message was sent as such, and the keyboard never got to Send), Ctrl+Enter emits
    :attr:`submitted` (Enter starts a new line, as in any multi-line box).

    Signals:
        submitted: Ctrl+Enter (or Ctrl+Return) was pressed.
    """

    submitted = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            event.accept()
            self.submitted.emit()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasHtml() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        plain = QMimeData()  # (only the text: see pasted_text)
        plain.setText(pasted_text(source))
        super().insertFromMimeData(plain)


class EditTextDialog(QDialog):
    """Asks for a new text in a :class:`MessageTextEdit` (QInputDialog's multi-line box
    typed Tab into the text and had no key for OK): ``note`` above it, ``text`` in it."""

    def __init__(self, title: str, label: str, text: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text = MessageTextEdit("New text")
        self.text.setPlainText(text)
        self.text.moveCursor(QtGui.QTextCursor.MoveOperation.End)
        self.text.submitted.connect(self.accept)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setToolTip("Ctrl+Enter")
        tab_in_drawn_order(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        caption = QLabel(label)
        caption.setTextFormat(Qt.TextFormat.PlainText)
        caption.setWordWrap(True)
        caption.setBuddy(self.text)
        layout = QVBoxLayout(self)
        layout.addWidget(caption)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.text.setFocus()
