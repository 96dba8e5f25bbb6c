"""Login dialog follow-ups."""

from __future__ import annotations

import socket

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.gui.login_dialog import LoginDialog, split_host_port


@pytest.fixture
def silent_port():
    """A port that takes the TCP connection and never answers the TLS handshake (a wrong
    address that does not refuse): the dialog stays "Connecting…" until its timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("how", ["click", "escape"])
def test_cancel_while_connecting_stops_the_attempt_and_a_second_cancel_closes(
        qtbot, server, silent_port, how):
    engine = ClientEngine()
    dialog = LoginDialog(engine, host="127.0.0.1", port=silent_port, user="alice")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.password_edit.setText("alice123")
    dialog.submit()
    assert engine.state is ConnectionState.CONNECTING
    cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    if how == "click":
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    else:
        qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible(), "the whole app quit"
    assert engine.state is ConnectionState.DISCONNECTED
    assert dialog.host_edit.isEnabled() and dialog.submit_button.isEnabled()
    assert "Cancelled" in dialog.status_label.text() + dialog.error_text()
    # The fields are editable: the right port logs in.
    dialog.port_spin.setValue(server.port)
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        dialog.submit()
    engine.close()


def test_a_second_cancel_closes_the_dialog(qtbot, silent_port):
    engine = ClientEngine()
    dialog = LoginDialog(engine, host="127.0.0.1", port=silent_port, user="alice")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.password_edit.setText("alice123")
    dialog.submit()
    cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    with qtbot.waitSignal(dialog.finished) as finished:
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert finished.args == [QDialog.DialogCode.Rejected.value]


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
