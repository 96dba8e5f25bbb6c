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
