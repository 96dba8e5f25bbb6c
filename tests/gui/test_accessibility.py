"""Keyboard and screen-reader checks that span several dialogs and windows: the order Tab
takes, and what a button is called."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QAbstractButton, QDialogButtonBox, QWidget


def _tab_order(dialog: QWidget, widgets: list[QWidget]) -> list[QWidget]:
    """``widgets`` in the order Tab reaches them (the dialog's focus chain)."""
    order, w = [], dialog.nextInFocusChain()
    while w is not dialog:
        if w in widgets and w not in order:
            order.append(w)
        w = w.nextInFocusChain()
    return order


def test_tab_reaches_a_dialogs_buttons_in_the_order_they_are_drawn(qtbot, open_window,
                                                                  login_dialog):
    """In the login dialog (and "New conversation", "Message several people", "Change
    password", "Join a group", the group and preferences dialogs) the buttons read
    "[Log in] [Cancel]" left to right, but Tab went from the last field to Cancel first
    and only then to Log in: the button box was made with Cancel and the action button
    added after it, and its tab order stayed the order of creation (a hunt). Keyboard users
    landed on Cancel where they expected the action."""
    alice = open_window("alice")
    dialogs = {"login": login_dialog}
    for tag, ask in (("new conversation", alice.ask_new_conversation),
                     ("message several", lambda: alice.ask_multicast(["bob", "charlie"])),
                     ("change password", alice.ask_change_password),
                     ("join", alice.ask_join_group),
                     ("new group", alice.ask_new_group),
                     ("preferences", alice.ask_preferences)):
        dialogs[tag] = ask()
        qtbot.waitUntil(dialogs[tag].isVisible)
    wrong = {}
    for tag, dialog in dialogs.items():
        buttons = [b for b in dialog.findChildren(QAbstractButton)
                   if b.isVisible() and b.parentWidget().inherits("QDialogButtonBox")]
        assert len(buttons) >= 2, tag
        drawn = sorted(buttons, key=lambda b: b.mapToGlobal(QPoint(0, 0)).x())
        tabbed = _tab_order(dialog, buttons)
        if [b.text() for b in tabbed] != [b.text() for b in drawn]:
            wrong[tag] = ([b.text() for b in drawn], [b.text() for b in tabbed])
    assert wrong == {}, wrong


def _label(text: str) -> str:
    return text.replace("&", "").replace("↓", "").rstrip("…").strip().lower()


def _name(widget: QWidget) -> str:
    iface = QAccessible.queryAccessibleInterface(widget)
    return iface.text(QAccessible.Text.Name) if iface is not None else ""


def test_a_buttons_spoken_name_contains_its_visible_label(qtbot, open_window):
    """WCAG 2.5.3 (label in name): a voice-control user says what they see ("click
    Attach", "press New group", "click OK"). Several buttons' accessible names replaced the
    label with other words (a hunt): "Attach…" was "Send a file to bob", "New group…"
    "Create a group", Preferences' "OK" "Save the preferences", "Message 2 selected…"
    "Message the selected contacts", so the command found nothing."""
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    alice.roster_view.selectAll()
    qtbot.waitUntil(alice.multicast_button.isVisible)
    dialog = alice.ask_preferences()
    qtbot.waitUntil(dialog.isVisible)
    buttons = [tab.attach_button, tab.send_button, tab.export_folder_button,
               tab.retry_button, tab.delete_button, alice.new_group_button,
               alice.join_group_button, alice.multicast_button, alice.reconnect_button,
               *dialog.buttonBox.buttons()]
    wrong = {b.text(): _name(b) for b in buttons if _label(b.text()) not in _name(b).lower()}
    assert wrong == {}, wrong


def test_the_login_dialogs_cancel_button_is_named_and_says_what_it_does(qtbot,
                                                                      login_dialog):
    """The login dialog's Cancel was its one control without an accessible name, and what
    it does changed unsaid: it quits the app, but while a login is under way it stops that
    login. It is named "Cancel", and its description (and tooltip) says which it does."""
    cancel = login_dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    assert cancel.accessibleName() == "Cancel" and _name(cancel) == "Cancel"
    assert cancel.accessibleDescription() == "Quit Messenger"
    login_dialog.user_edit.setText("alice")
    login_dialog.password_edit.setText("alice123")
    login_dialog.submit()
    assert cancel.accessibleDescription() == "Stop the login under way"
    cancel.click()
    assert login_dialog.isVisible() and cancel.accessibleDescription() == "Quit Messenger"
