"""Conversation → New conversation… (Ctrl+N): a name completed from the contact list,
checked before a tab opens, spelt as the contact list spells it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from messenger.gui.main_window import NewConversationDialog


# The completion pop-up grabs the keyboard, which the offscreen platform cannot do.
@pytest.mark.qt_log_ignore("This plugin does not support grabbing the keyboard")
def test_new_conversation_checks_the_name_and_uses_the_roster_spelling(qtbot, open_window):
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("charlie") is not None)
    alice.activateWindow()
    qtbot.waitUntil(alice.isActiveWindow)
    tabs_before = alice.tabs.count()
    qtbot.keyClick(alice.tabs.currentWidget().compose, Qt.Key.Key_N,
                   Qt.KeyboardModifier.ControlModifier)
    dialog = alice.dialog
    assert isinstance(dialog, NewConversationDialog) and dialog.isVisible()

    def attempt(text: str) -> str:
        dialog.name_edit.clear()
        qtbot.keyClicks(dialog.name_edit, text)
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
        return dialog.error_text()

    assert attempt("no spaces") == "A user name has 1–32 letters, digits, “_”, “.” or “-”."
    assert attempt("ALICE") == "That is you: pick someone else to chat with."
    assert attempt("nobody") == "There is no user named “nobody” on this server."
    assert dialog.isVisible() and alice.tabs.count() == tabs_before  # no tab for any of them

    # The contact list completes what is typed (any case).
    dialog.completer.setCompletionPrefix("CH")
    assert dialog.completer.currentCompletion() == "charlie"

    with qtbot.waitSignal(dialog.accepted):
        assert attempt("BOB") == ""
    assert alice.current_key() == "bob"
    assert alice.tabs.tabText(alice.tabs.currentIndex()) == "bob"
    assert alice.conversation_widget("bob").model.title == "bob"
    assert bob.engine.user == "bob"


@pytest.mark.qt_log_ignore("This plugin does not support grabbing the keyboard")
def test_enter_opens_the_conversation(qtbot, open_window):
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("charlie") is not None)
    dialog = alice.ask_new_conversation()
    qtbot.keyClicks(dialog.name_edit, "charlie")
    dialog.completer.popup().hide()  # (Enter would first close the completion list)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)
    assert alice.current_key() == "charlie"
