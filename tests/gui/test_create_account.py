"""Creating an account from the login dialog, as a new user meets it: the reason a name is
refused, where the cursor goes after a refusal, and the password typed twice."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit

from messenger.client.connection import ConnectionState


@pytest.fixture
def dialog(login_dialog):
    """The shown login dialog (tests/gui/conftest.py)."""
    return login_dialog


def fill(dialog, user: str, password: str, repeat: str | None = None) -> None:
    """Tick "Create a new account" and type the fields (``repeat`` defaults to the
    password); the cursor ends in the password box."""
    dialog.create_check.setChecked(True)
    dialog.user_edit.setText(user)
    dialog.repeat_edit.setText(password if repeat is None else repeat)
    dialog.password_edit.setFocus()
    dialog.password_edit.setText(password)


def register(qtbot, dialog, user: str, password: str = "long-enough") -> None:
    """Fill the form and press Enter in the password box; wait for the refusal."""
    fill(dialog, user, password)
    with qtbot.waitSignal(dialog.engine.login_failed, timeout=10_000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)


def test_a_name_too_like_an_existing_one_is_not_called_taken(qtbot, dialog):
    """"aIice" (capital i) is refused because it reads like "alice": the server says so,
    and the dialog said the name was taken and to log in instead (there is no "aIice")."""
    register(qtbot, dialog, "aIice")
    error = dialog.error_text()
    assert "'alice'" in error and error[0].isupper(), error
    assert "log in instead" not in error, error


def test_the_reserved_name_everyone_is_not_explained_by_the_character_rule(qtbot, dialog):
    """"Everyone" fits the name rule; the dialog answered with the rule anyway."""
    register(qtbot, dialog, "Everyone")
    error = dialog.error_text()
    assert "1–32 letters" not in error, error
    assert error.startswith("'Everyone' is the name of the conversation with everyone"), error


def test_a_plain_taken_name_keeps_its_sentence_and_gets_the_cursor(qtbot, dialog):
    """After "The name “bob” is taken…" the user types a new name: the cursor was in the
    password box (its text selected), so the new name replaced the password."""
    register(qtbot, dialog, "bob")
    assert dialog.error_text().startswith("The name “bob” is taken."), dialog.error_text()
    assert QApplication.focusWidget() is dialog.user_edit
    assert dialog.user_edit.selectedText() == "bob"


def test_a_malformed_user_name_puts_the_cursor_in_the_user_name(qtbot, dialog):
    dialog.user_edit.setText("my name")
    dialog.password_edit.setFocus()
    dialog.password_edit.setText("alice123")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.error_text().startswith("Enter your user name")
    assert QApplication.focusWidget() is dialog.user_edit


def test_an_empty_server_address_puts_the_cursor_in_the_server_box(qtbot, dialog):
    dialog.host_edit.clear()
    dialog.user_edit.setText("alice")
    dialog.password_edit.setFocus()
    dialog.password_edit.setText("alice123")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.error_text() == "Enter the server's address."
    assert QApplication.focusWidget() is dialog.host_edit


def test_a_wrong_password_keeps_the_cursor_in_the_password(qtbot, dialog):
    dialog.user_edit.setText("alice")
    dialog.password_edit.setText("wrong-one")
    with qtbot.waitSignal(dialog.engine.login_failed, timeout=10_000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is dialog.password_edit
    assert dialog.password_edit.selectedText() == "wrong-one"


def test_create_account_says_the_password_rule_and_asks_for_it_twice(qtbot, dialog):
    """A new account's password was typed once, unseen: a typo made an account nobody could
    log in to (Change password needs the current one). And the rule (6 to 1024
    characters) was only told after a refusal."""
    def passwords() -> list[QLineEdit]:
        return [e for e in dialog.findChildren(QLineEdit)
                if e.echoMode() is QLineEdit.EchoMode.Password and e.isVisible()]

    assert passwords() == [dialog.password_edit]
    assert not dialog.password_hint.isVisible()
    dialog.create_check.setChecked(True)
    assert passwords() == [dialog.password_edit, dialog.repeat_edit]
    assert dialog.password_hint.isVisible()
    assert dialog.password_hint.text() == "A password has 6 to 1024 characters."
    dialog.create_check.setChecked(False)
    assert passwords() == [dialog.password_edit]


def test_two_different_passwords_are_not_sent(qtbot, dialog):
    fill(dialog, "newcomer", "secret-one", "secret-on")
    with qtbot.assertNotEmitted(dialog.engine.login_failed):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.error_text() == "The two passwords differ."
    assert QApplication.focusWidget() is dialog.repeat_edit
    assert dialog.engine.state is ConnectionState.DISCONNECTED


def test_the_same_password_twice_creates_the_account(qtbot, dialog):
    fill(dialog, "newcomer", "secret-one")
    with qtbot.waitSignal(dialog.engine.login_succeeded, timeout=10_000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)


def test_the_password_rule_is_read_whole_with_a_large_font(qtbot, font_16pt, dialog):
    """With a 16 pt font, ticking "Create a new account" showed the password rule under
    "Repeat it:" as "A password has 6 to 1024": "characters." was cut away, on a second
    line the dialog gave no room to (its minimum counts the word-wrapped rule at one line;
    a hunt). The dialog grows to show the rule whole."""
    dialog.create_check.setChecked(True)
    qtbot.waitUntil(dialog.password_hint.isVisible)
    hint = dialog.password_hint
    qtbot.waitUntil(lambda: hint.height() >= hint.heightForWidth(hint.width()))
    assert hint.heightForWidth(hint.width()) > hint.fontMetrics().height()  # (two lines)
