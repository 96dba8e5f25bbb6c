"""Operator hunt: the login dialog's "certificate changed" flow (TOFU)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.pins import PinStore
from messenger.gui.login_dialog import LoginDialog


@pytest.fixture
def login_dialog(qtbot, server):
    """A shown, active login dialog for ``server`` (as tests/gui/conftest.py makes it)."""
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=server.host, port=server.port)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    yield dialog
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_forget_pin_forgets_the_server_whose_certificate_changed(qtbot, login_dialog,
                                                                  server):
    """After "The server's certificate changed … 127.0.0.1:PORT", the user edits the
    Server box (to try another address of theirs) and then clicks "Forget the pinned
    certificate", still shown: the pin of the server now typed, which nothing was wrong
    with, is forgotten (its next connection is a "first use" an attacker could answer), and
    the changed one stays pinned. _forget_pin reads the fields, not the server that
    failed."""
    dialog = login_dialog
    pins = PinStore()
    pins.pin(server.host, server.port, ":".join(["11"] * 32))  # (not the server's)
    pins.pin("chat.example", server.port, server.fingerprint)  # another server, good pin
    dialog.user_edit.setText("alice")
    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(dialog.engine.connection_failed, timeout=10_000):
        dialog.submit()
    assert dialog.forget_button.isVisible()
    dialog.host_edit.setText("chat.example")
    if dialog.forget_button.isVisible():
        qtbot.mouseClick(dialog.forget_button, Qt.MouseButton.LeftButton)
    assert pins.get("chat.example", server.port) == server.fingerprint
