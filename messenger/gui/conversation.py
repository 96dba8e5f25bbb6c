"""One conversation tab: the message list (model + bubble delegate) and the compose box."""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..client.conversations import is_everyone, is_group
from ..client.models import ConversationModel
from .delegates import BubbleDelegate

log = logging.getLogger("messenger.gui.conversation")


class ComposeEdit(QPlainTextEdit):
    """A multi-line input where Enter sends and Shift+Enter inserts a new line.

    Signals:
        submitted(str): the text (stripped of surrounding whitespace) when Enter was pressed
            on non-blank text; the box is cleared.
    """

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setPlaceholderText("Write a message — Enter sends, Shift+Enter starts a new line, "
                                "/help lists the commands")
        line = self.fontMetrics().lineSpacing()
        self.setFixedHeight(int(line * 3 + 2 * self.frameWidth() + 12))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submit()
            event.accept()
            return
        super().keyPressEvent(event)

    def submit(self) -> None:
        """Emit ``submitted`` with the current text (unless blank) and clear the box."""
        text = self.toPlainText().strip()
        if text:
            self.submitted.emit(text)
            self.clear()


class ConversationWidget(QWidget):
    """A tab showing one :class:`ConversationModel` (owned by the engine, not by this widget).

    Signals:
        send_requested(str, str): ``(conversation key, text)``.
    """

    send_requested = Signal(str, str)

    def __init__(self, model: ConversationModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.key = model.key
        self.view = QListView(self)
        self.view.setModel(model)
        self.view.setItemDelegate(BubbleDelegate(self.view))
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(False)
        self.view.setWordWrap(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.setStyleSheet("QListView { border: none; background: palette(base); }")
        who = "everyone" if is_everyone(model.key) else \
            f"group {model.title}" if is_group(model.key) else model.title
        self.view.setAccessibleName(f"Messages with {who}")

        self.compose = ComposeEdit(self)
        self.compose.setAccessibleName(f"Message to {who}")
        self.compose.submitted.connect(self._on_submitted)
        self.send_button = QPushButton("Send", self)
        self.send_button.setAccessibleName(f"Send message to {who}")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self.compose.submit)

        bottom = QHBoxLayout()
        bottom.setContentsMargins(8, 4, 8, 8)
        bottom.addWidget(self.compose, 1)
        bottom.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)
        self.body = QHBoxLayout(self)
        """The tab's row: the conversation column, then any side panel (see groups.py)."""
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(0)
        self.body.addLayout(layout, 1)
        self.setFocusProxy(self.compose)

        model.rowsInserted.connect(self._on_rows_inserted)
        self.view.scrollToBottom()

    def _on_submitted(self, text: str) -> None:
        self.send_requested.emit(self.key, text)

    def _on_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        self.view.scrollToBottom()
