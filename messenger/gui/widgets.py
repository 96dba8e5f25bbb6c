"""Small widgets shared by the dialogs."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from . import theme

__all__ = ["ErrorLabel"]


class ErrorLabel(QLabel):
    """A dialog's error line: error-coloured for the palette (bold by default), wrapped,
    announced as "Error" to screen readers, hidden while there is nothing to say."""

    def __init__(self, parent: QWidget | None = None, *, bold: bool = True) -> None:
        super().__init__(parent)
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
