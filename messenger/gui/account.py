"""Account dialogs: File → Change password…."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ..client.engine import ClientEngine
from ..protocol import PASSWORD_RULE, ErrorCode, is_valid_password
from .login_dialog import friendly_login_error
from .widgets import ErrorLabel, tab_in_drawn_order

__all__ = ["ChangePasswordDialog"]


class ChangePasswordDialog(QDialog):
    """The current password and the new one twice. Length (6–1024 characters) and the
    repetition are checked here; the server checks the current password (a wrong one counts
    towards the account's lock-out, as a failed login does). The dialog stays open with any
    refusal and closes once the server has changed the password (Cancel and Esc wait for the
    answer, which always comes: the change or a refusal, or the link's loss); the app's
    automatic re-logins then use the new one. The server logs the account's other devices
    out."""

    def __init__(self, engine: ClientEngine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change password")
        self.engine = engine
        self._waiting = False

        def password_edit(name: str) -> QLineEdit:
            edit = QLineEdit()
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setAccessibleName(name)
            edit.textEdited.connect(lambda _t: self._set_error(""))
            return edit

        self.current_edit = password_edit("Current password")
        self.new_edit = password_edit("New password")
        self.repeat_edit = password_edit("Repeat the new password")
        self.error_label = ErrorLabel()
        form = QFormLayout()
        form.addRow("&Current password:", self.current_edit)
        form.addRow("&New password:", self.new_edit)
        form.addRow("&Repeat it:", self.repeat_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.change_button = buttons.addButton("Change",
                                               QDialogButtonBox.ButtonRole.AcceptRole)
        self.change_button.setAccessibleName("Change the password")
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        tab_in_drawn_order(buttons)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.change_button.setDefault(True)
        engine.password_changed.connect(self._on_changed)
        engine.password_change_failed.connect(self._on_failed)
        self.resize(380, self.sizeHint().height())
        self.current_edit.setFocus()

    def error_text(self) -> str:
        return self.error_label.shown_text()

    def _set_error(self, text: str) -> None:
        self.error_label.set_error(text)

    def check(self) -> str:
        """Why the fields cannot be sent ("" when they can)."""
        new = self.new_edit.text()
        if not self.current_edit.text():
            return "Type your current password."
        if not is_valid_password(new):
            return PASSWORD_RULE
        if new != self.repeat_edit.text():
            return "The two new passwords differ."
        if new == self.current_edit.text():
            return "The new password is the current one."
        return ""

    def submit(self) -> None:
        """Change: check the fields, then ask the server and wait for its answer."""
        if self._waiting:
            return
        problem = self.check()
        if problem:
            self._set_error(problem)
            return
        if not self.engine.change_password(self.current_edit.text(), self.new_edit.text()):
            self._set_error("Not connected to the server: try again once it is back.")
            return
        self._set_waiting(True)

    def _set_waiting(self, waiting: bool) -> None:
        self._waiting = waiting
        for widget in (self.current_edit, self.new_edit, self.repeat_edit, self.change_button):
            widget.setEnabled(not waiting)
        self.cancel_button.setEnabled(not waiting)
        self.change_button.setText("Changing…" if waiting else "Change")

    def reject(self) -> None:
        if not self._waiting:  # the server is deciding: its answer must be seen
            super().reject()

    def _on_changed(self) -> None:
        if self._waiting:
            self._set_waiting(False)
            self.accept()

    def _on_failed(self, code: str, message: str) -> None:
        if not self._waiting:
            return
        self._set_waiting(False)
        if code == ErrorCode.BAD_CREDENTIALS:
            message = "The current password is wrong."
            self.current_edit.selectAll()
            self.current_edit.setFocus()
        else:  # the server's words, as the login dialog shows them (one sentence, capital)
            message = friendly_login_error(code, message, "")
        self._set_error(message)
