"""Login dialog follow-ups."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from messenger.client.engine import ClientEngine
from messenger.gui.login_dialog import LoginDialog, split_host_port


@pytest.mark.parametrize(("typed", "expected"), [
    ("127.0.0.1 : 5657", ("127.0.0.1", 5657)),
    ("chat.lab: 5657", ("chat.lab", 5657)),
    ("chat.lab :5657", ("chat.lab", 5657)),
    ("[::1] : 6000", ("::1", 6000)),
])
def test_spaces_around_the_colon(typed, expected):
    assert split_host_port(typed) == expected


def test_spaces_around_the_colon_log_in(qtbot, server):
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=f"127.0.0.1 : {server.port}", port=5555, user="alice")
    qtbot.addWidget(dialog)
    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        dialog.submit()
    assert (dialog.host_edit.text(), dialog.port_spin.value()) == ("127.0.0.1", server.port)
    engine.close()


def test_the_cancel_button_has_an_accessible_name(qtbot):
    dialog = LoginDialog(ClientEngine(), host="127.0.0.1", port=5555, user="alice")
    qtbot.addWidget(dialog)
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).accessibleName() \
        == "Cancel"
