"""Conversation tabs: long names elided (whole in the tooltip), Ctrl+PgDown / Ctrl+PgUp to
step through them, Alt+1…9 to jump to one, a middle click to close one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QAbstractButton, QTabBar

from messenger.client.conversations import EVERYONE, group_key, peer_key
from messenger.gui.main_window import MAX_TAB_WIDTH

from .conftest import active

CTRL, ALT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier


def test_keys_step_and_jump_between_tabs(qtbot, open_window):
    alice = active(qtbot, open_window("alice"))
    alice.open_conversation("bob")
    alice.open_conversation("charlie")
    assert [alice.tabs.tabText(i) for i in range(3)] == ["Everyone", "bob", "charlie"]
    compose = alice.tabs.currentWidget().compose
    qtbot.keyClick(compose, Qt.Key.Key_PageDown, CTRL)  # wraps from the last to the first
    assert alice.current_key() == EVERYONE
    qtbot.keyClick(alice.tabs.currentWidget().compose, Qt.Key.Key_PageUp, CTRL)
    assert alice.current_key() == "charlie"
    qtbot.keyClick(alice.tabs.currentWidget().compose, Qt.Key.Key_PageUp, CTRL)
    assert alice.current_key() == "bob"

    qtbot.keyClicks(alice.tabs.currentWidget().compose, "draft")
    qtbot.keyClick(alice.tabs.currentWidget().compose, Qt.Key.Key_3, ALT)
    assert alice.current_key() == "charlie"
    qtbot.keyClick(alice.tabs.currentWidget().compose, Qt.Key.Key_2, ALT)
    assert alice.current_key() == "bob"
    assert alice.tabs.currentWidget().compose.toPlainText() == "draft"  # no digit typed
    assert alice.focusWidget() is alice.tabs.currentWidget().compose
    qtbot.keyClick(alice.tabs.currentWidget().compose, Qt.Key.Key_9, ALT)  # no ninth tab
    assert alice.current_key() == "bob"
    assert alice.tabs.currentWidget().compose.toPlainText() == "draft"
    qtbot.keyClick(alice.tabs.currentWidget().compose, Qt.Key.Key_1, ALT)
    assert alice.current_key() == EVERYONE
    assert alice.conversation_widget(EVERYONE).compose.toPlainText() == ""


def test_long_names_are_elided_and_a_middle_click_closes(qtbot, open_window):
    alice = active(qtbot, open_window("alice"))
    alice.resize(800, 500)
    long_name = "a_very_long_user_name_of_32_char"
    alice.open_conversation("bob")
    alice.open_conversation(long_name)
    bar = alice.tabs.tabBar()
    index = alice.tabs.indexOf(alice.conversation_widget(long_name))
    assert bar.elideMode() == Qt.TextElideMode.ElideRight
    assert bar.tabRect(index).width() <= MAX_TAB_WIDTH
    assert bar.tabToolTip(index) == f"Conversation with {long_name}"

    everyone = alice.tabs.indexOf(alice.conversation_widget(EVERYONE))
    qtbot.mouseClick(bar, Qt.MouseButton.MiddleButton, pos=bar.tabRect(everyone).center())
    assert alice.conversation_widget(EVERYONE) is not None  # Everyone has no close button
    qtbot.mouseClick(bar, Qt.MouseButton.MiddleButton, pos=bar.tabRect(index).center())
    assert alice.conversation_widget(long_name) is None
    assert [alice.tabs.tabText(i) for i in range(alice.tabs.count())] == ["Everyone", "bob"]


def test_the_corner_menu_lists_every_tab_and_goes_to_one(qtbot, open_window):
    alice = open_window("alice")
    alice.open_conversation("bob")
    alice.open_conversation("charlie")
    assert alice.tabs.cornerWidget(Qt.Corner.TopRightCorner) is alice.tab_list_button
    alice.tab_list_menu.aboutToShow.emit()  # (as when it opens)
    actions = alice.tab_list_menu.actions()
    assert [a.text() for a in actions] == ["Everyone", "bob", "charlie"]
    assert [a.isChecked() for a in actions] == [False, False, True]
    actions[1].trigger()
    assert alice.current_key() == "bob"


def test_the_unread_count_leads_the_tab_text_so_eliding_keeps_it(qtbot, open_window):
    """A long name is elided at the right: the count comes first so it stays in sight (it
    was cut off the end, and a tab with unread messages looked like a read one)."""
    alice = active(qtbot, open_window("alice"))
    bob = open_window("bob")
    alice.open_conversation("bob")
    alice.open_conversation("charlie")  # bob's tab is in the background
    qtbot.waitUntil(lambda: bob.engine.logged_in)
    bob.engine.send_unicast("alice", "one")
    bob.engine.send_unicast("alice", "two")
    index = alice.tabs.indexOf(alice.conversation_widget("bob"))
    qtbot.waitUntil(lambda: alice.tabs.tabText(index) == "(2) bob", timeout=10_000)
    alice.open_conversation("bob")
    qtbot.waitUntil(lambda: alice.tabs.tabText(index) == "bob")  # read: no count


def test_ctrl_w_leaves_the_typing_in_the_next_tabs_message_box(qtbot, open_window):
    """Ctrl+W while typing in a tab: the next tab showed, but the keyboard focus went to
    the contacts' filter box, and what was typed next filtered the contacts (a hunt)."""
    from PySide6.QtWidgets import QApplication

    alice = open_window("alice")
    alice.activateWindow()
    bob = alice.open_conversation("bob")
    charlie = alice.open_conversation("charlie")
    qtbot.waitUntil(lambda: QApplication.focusWidget() is charlie.compose)
    qtbot.keyClick(charlie.compose, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert alice.tabs.currentWidget() is bob
    assert QApplication.focusWidget() is bob.compose


def test_tab_reaches_the_message_list_not_only_shift_tab(qtbot, open_window):
    """Forward Tab cycled through the whole window (message box, Attach, Send, the
    sidebar, the tab bar, the ▾ button, the message box again) and never stopped on the
    message list: the tab's focus proxy, the message box, was jumped to when Tab entered
    the tab (a hunt). Only Shift+Tab reached the conversation itself, the main content."""
    alice = active(qtbot, open_window("alice"))
    tab = alice.open_conversation("bob")
    tab.compose.setFocus()
    qtbot.waitUntil(lambda: alice.focusWidget() is tab.compose)
    seen = []
    for _ in range(25):
        widget = alice.focusWidget()
        seen.append(widget)
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
    assert tab.compose in seen[1:], "Tab did not come round"
    assert tab.view in seen, [w.accessibleName() or type(w).__name__ for w in seen]
    # Focusing the tab itself still types into its message box.
    alice.contacts_filter.setFocus()
    tab.setFocus(Qt.FocusReason.ShortcutFocusReason)
    assert alice.focusWidget() is tab.compose


def test_tab_close_buttons_say_which_tab_they_close(qtbot, open_window):
    """Each conversation tab's ✕ reached a screen reader as a button with no name (Qt's
    close button has only a "Close Tab" description), the same for every tab: "button" for
    bob's, "button" for charlie's (a hunt)."""
    alice = open_window("alice")
    alice.open_conversation("bob")
    alice.open_conversation("charlie")
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("lab", invite=[])
    alice.open_group("lab")
    bar = alice.tabs.tabBar()
    names = []
    for key in (peer_key("bob"), peer_key("charlie"), group_key("lab")):
        index = alice.tabs.indexOf(alice.conversation_widget(key))
        button = bar.tabButton(index, QTabBar.ButtonPosition.RightSide) or \
            bar.tabButton(index, QTabBar.ButtonPosition.LeftSide)
        assert isinstance(button, QAbstractButton)
        names.append(QAccessible.queryAccessibleInterface(button).text(QAccessible.Text.Name))
    assert names == ["Close conversation with bob", "Close conversation with charlie",
                     "Close group lab"]
