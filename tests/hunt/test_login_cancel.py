"""Login dialog follow-ups."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox

from messenger.client.engine import ClientEngine
from messenger.gui.login_dialog import LoginDialog


def test_the_cancel_button_has_an_accessible_name(qtbot):
    dialog = LoginDialog(ClientEngine(), host="127.0.0.1", port=5555, user="alice")
    qtbot.addWidget(dialog)
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).accessibleName() \
        == "Cancel"
