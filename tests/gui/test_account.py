"""File → Change password…: checked in the dialog, then by the server."""

from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.gui.app import _quit_on_signals
from messenger.gui.login_dialog import LoginDialog


def fill(qtbot, dialog, current: str, new: str, repeat: str) -> None:
    for edit, text in ((dialog.current_edit, current), (dialog.new_edit, new),
                       (dialog.repeat_edit, repeat)):
        edit.clear()
        qtbot.keyClicks(edit, text)


def test_change_password_from_the_file_menu(qtbot, open_window, server, tmp_path):
    window = open_window("alice")
    dialog = window.ask_change_password()
    assert dialog.isVisible()
    assert dialog.current_edit.echoMode() is QLineEdit.EchoMode.Password
    fill(qtbot, dialog, "alice123", "new-one-1", "new-one-2")
    qtbot.keyClick(dialog.repeat_edit, Qt.Key.Key_Return)
    assert dialog.error_text() == "The two new passwords differ." and dialog.isVisible()
    fill(qtbot, dialog, "alice123", "short", "short")
    dialog.submit()
    assert dialog.error_text() == "A password has 6 to 1024 characters."
    fill(qtbot, dialog, "wrong-guess", "new-secret", "new-secret")
    dialog.submit()
    assert not dialog.change_button.isEnabled()  # waiting for the server
    qtbot.waitUntil(lambda: dialog.error_text() == "The current password is wrong.",
                    timeout=10_000)
    assert dialog.isVisible() and dialog.change_button.isEnabled()
    fill(qtbot, dialog, "alice123", "new-secret", "new-secret")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.keyClick(dialog.repeat_edit, Qt.Key.Key_Return)
        dialog.reject()  # Esc / Cancel while the server decides: the answer must be seen
        assert dialog.isVisible() and not dialog.cancel_button.isEnabled()
    assert "password was changed" in window.statusBar().currentMessage()
    # (a passing message does not hide whether the app is online)
    assert window.state_label.isVisible() and "Online as" in window.state_label.text()
    other = ClientEngine(data_dir=tmp_path / "other-computer")
    try:
        with qtbot.waitSignal(other.login_succeeded, timeout=10_000):
            other.connect_to(server.host, server.port)
            other.login("alice", "new-secret")
    finally:
        other.close()
        qtbot.waitUntil(lambda: other.state is ConnectionState.DISCONNECTED)


def test_change_password_says_the_lock_out_as_the_login_dialog_does(qtbot, open_window):
    """Wrong current passwords count towards the lock-out; its message was the server's raw
    text ("too many failed logins: … locked for 10 s. Try again in 10 s.")."""
    window = open_window("alice")
    dialog = window.ask_change_password()
    for _ in range(4):  # --max-failed-logins is 3 by default
        fill(qtbot, dialog, "wrong-guess", "new-secret", "new-secret")
        dialog.submit()
        qtbot.waitUntil(dialog.change_button.isEnabled, timeout=10_000)
    text = dialog.error_text()
    assert text.startswith("Too many failed logins: this account is locked"), text
    assert text.count("Try again") == 1
    dialog.reject()


def test_the_other_computer_goes_back_to_the_login_for_a_password_change(
        qtbot, open_window, monkeypatch, tmp_path):
    """The other computer's status line said only "Disconnected: The server at … closed the
    connection", which read as a server outage (a hunt); then its window stayed, showing
    alice's conversations and taking messages that went out as alice at her next login
    there, typed by whoever sat down next in a lab (another hunt). It goes back to the
    login dialog, which says why."""
    desktop = open_window("alice")
    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "lab-home"))
    lab = open_window("alice")
    lab.open_conversation("bob")
    assert desktop.engine.change_password("alice123", "new-secret")
    qtbot.waitUntil(lambda: not lab.isVisible(), timeout=10_000)
    assert lab.logout_chosen
    assert lab.logout_reason.startswith("You were logged out: the password of alice was "
                                        "changed"), lab.logout_reason
    dialog = LoginDialog(ClientEngine(), user="alice", notice=lab.logout_reason)
    qtbot.addWidget(dialog)
    assert dialog.error_label.text() == lab.logout_reason


@pytest.fixture
def sigterm(qtbot):
    """``sigterm()`` sends this process SIGTERM with the app's own handlers installed
    (``messenger.gui.app._quit_on_signals``), as ``kill PID``, a session end or systemd do;
    the previous handlers are put back afterwards."""
    caught = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None))
              if s is not None]
    before = {s: signal.getsignal(s) for s in caught}
    wake = _quit_on_signals()

    def send() -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    yield send
    wake.stop()
    for s, handler in before.items():
        signal.signal(s, handler)


def test_sigterm_while_a_password_change_waits_still_closes_the_window(
        qtbot, open_window, sigterm):
    """SIGTERM (kill, the desktop session ending, systemd) while File → Change password…
    waits for the server's answer: the dialog refuses to close (its answer must be seen), so
    QApplication.closeAllWindows() stopped there and Qt 6's quit() was cancelled by the same
    refusal: the window stayed, and the app ran on until it was killed hard (no logout, the
    open tabs and the window's place not saved)."""
    alice = open_window("alice")
    dialog = alice.ask_change_password()
    fill(qtbot, dialog, "alice123", "new-secret", "new-secret")
    dialog.submit()
    assert not dialog.cancel_button.isEnabled()  # the server decides
    sigterm()
    qtbot.waitUntil(lambda: not alice.isVisible(), timeout=5_000)
    qtbot.waitUntil(lambda: alice.engine.state is ConnectionState.DISCONNECTED)
    assert alice.engine.store is None  # closeEvent ran: the session saved, the store closed
