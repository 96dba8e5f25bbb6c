"""Keyboard shortcuts and menus: the standard keys work from wherever the keyboard focus
is, and a menu item that cannot act is greyed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from messenger.client.conversations import EVERYONE

from .conftest import active

CTRL = Qt.KeyboardModifier.ControlModifier


def menu_action(window, menu: str, text: str):
    """The action ``text`` of the menu bar's menu ``menu`` (both as shown, "&" included)."""
    for top in window.menuBar().actions():
        if top.text() == menu:
            for action in top.menu().actions():
                if action.text() == text:
                    return action
    raise AssertionError(f"no {menu} → {text}")


def test_ctrl_q_quits_from_wherever_the_focus_is(qtbot, open_window):
    """File → Quit had only the platform's own Quit key: where the platform has none
    (Windows, a desktop without a key scheme) Ctrl+Q did nothing and the menu showed no key
    for Quit (a hunt)."""
    alice = active(qtbot, open_window("alice"))
    assert QKeySequence("Ctrl+Q") in menu_action(alice, "&File", "&Quit").shortcuts()
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: alice.focusWidget() is tab.compose)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Q, CTRL)
    assert not alice.isVisible()


def test_close_tab_is_greyed_on_the_everyone_tab(qtbot, open_window):
    """Conversation → Close tab (Ctrl+W) stood enabled on the Everyone tab, which cannot be
    closed: choosing it there, or pressing Ctrl+W, did nothing at all (a hunt)."""
    alice = active(qtbot, open_window("alice"))
    close_tab = menu_action(alice, "&Conversation", "&Close tab")
    assert alice.current_key() == EVERYONE
    assert not close_tab.isEnabled()
    bob = alice.open_conversation("bob")
    assert close_tab.isEnabled()
    qtbot.keyClick(bob.compose, Qt.Key.Key_W, CTRL)
    assert alice.current_key() == EVERYONE
    assert not close_tab.isEnabled()
    alice.open_conversation("bob")
    alice.tabs.setCurrentIndex(0)  # (Ctrl+PgUp, a click on its tab, …)
    assert not close_tab.isEnabled()


def test_escape_closes_the_find_bar_from_the_message_box_and_the_list(qtbot, open_window):
    """With the find bar open, Escape closed it only while the keyboard was in its own
    box: back in the message box (to answer what was found) or in the message list, Escape
    left it open, and with a reply begun it took the reply away instead (a hunt). Escape
    now closes the find bar first, then, pressed again, drops the reply."""
    alice = active(qtbot, open_window("alice"))
    tab = alice.open_conversation("bob")
    qtbot.keyClick(tab.compose, Qt.Key.Key_F, CTRL)
    assert tab.find_bar.isVisibleTo(tab)
    qtbot.keyClicks(tab.find_edit, "lunch")
    tab.compose.setFocus()
    qtbot.waitUntil(lambda: alice.focusWidget() is tab.compose)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Escape)
    assert not tab.find_bar.isVisibleTo(tab)
    assert tab.delegate.search_text == ""

    qtbot.keyClick(tab.compose, Qt.Key.Key_F, CTRL)
    tab.view.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: alice.focusWidget() is tab.view)
    qtbot.keyClick(tab.view, Qt.Key.Key_Escape)
    assert not tab.find_bar.isVisibleTo(tab)

    tab.reply("bob", "lunch at 12?")  # (the message's menu → Reply)
    qtbot.keyClick(tab.compose, Qt.Key.Key_F, CTRL)
    tab.compose.setFocus()
    qtbot.waitUntil(lambda: alice.focusWidget() is tab.compose)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Escape)
    assert not tab.find_bar.isVisibleTo(tab)
    assert tab.reply_to is not None  # the find bar first
    qtbot.keyClick(tab.compose, Qt.Key.Key_Escape)
    assert tab.reply_to is None
