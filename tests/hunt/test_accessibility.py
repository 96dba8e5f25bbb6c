"""Hunt: accessibility, keyboard and look of the desktop app (messenger/gui/).

Each test fails on the code it was written against, for the reason its docstring gives. Real
server on 127.0.0.1:0, real engines and windows (offscreen)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAccessible, QFont, QTextDocument
from PySide6.QtWidgets import QAbstractButton, QApplication, QMenu, QWidget

from messenger.client.conversations import peer_key
from messenger.client.models import MessageKind

sys.path.insert(0, str(Path(__file__).parent.parent / "gui"))
from test_transfer_window import drop

# The GUI fixtures of tests/gui/conftest.py (open_window, login_dialog, dark_app), loaded
# under a name of their own (a plain "import conftest" would find tests/conftest.py).
_spec = importlib.util.spec_from_file_location(
    "_gui_fixtures_for_hunt44", Path(__file__).parent.parent / "gui" / "conftest.py")
_gui = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gui)
open_window = _gui.open_window
login_dialog = _gui.login_dialog


def type_line(qtbot, window, text: str, key: str) -> None:
    widget = window.conversation_widget(key)
    qtbot.keyClicks(widget.compose, text)
    qtbot.keyClick(widget.compose, Qt.Key.Key_Return)


def active(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    return window


def acc_name(widget: QWidget) -> str:
    iface = QAccessible.queryAccessibleInterface(widget)
    return iface.text(QAccessible.Text.Name) if iface is not None else ""


@pytest.fixture
def font_16pt(qapp):
    """The app's font at 16 pt (a large-font desktop setting); the old one back afterwards."""
    before = QFont(qapp.font())
    big = QFont(before)
    big.setPointSizeF(16)
    QApplication.setFont(big)
    yield big
    QApplication.setFont(before)


# --------------------------------------------------------------------------- keyboard focus


def test_a_new_invitation_does_not_throw_away_the_keyboard_focus(qtbot, open_window):
    """Bob tabs to "Accept" on an invitation; while he reads it, a second invitation comes.
    The bar is rebuilt (InvitationBar.rebuild deletes every row's buttons), the focused
    button with it, and the keyboard focus goes nowhere: the window is active but no widget
    has the focus, so his next Space/Enter/Tab does nothing and a screen reader goes silent."""
    bob = active(qtbot, open_window("bob"))
    alice = open_window("alice")
    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.create_group("first", invite=["bob"])
    qtbot.waitUntil(bob.invitation_bar.isVisible)
    active(qtbot, bob)
    accept, _decline = bob.invitation_bar.buttons("first")
    accept.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: bob.focusWidget() is accept)

    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.create_group("second", invite=["bob"])
    qtbot.waitUntil(lambda: bob.invitation_bar.buttons("second") is not None)
    qtbot.wait(50)  # (the deleteLater of the old rows)

    assert bob.isActiveWindow()
    assert QApplication.focusWidget() is not None, "the keyboard focus was lost"
    assert QApplication.focusWidget() is bob.invitation_bar.buttons("first")[0]


def test_accepting_a_file_with_the_keyboard_leaves_the_focus_on_its_card(qtbot, open_window,
                                                                         tmp_path):
    """Alice tabs to a file card's Accept and presses Space. Accept and Decline hide, and
    Qt moves the focus on to the next widget of the window's chain: the "Filter contacts"
    box of the sidebar. Her next keys filter the contact list; a screen reader announces
    "Filter contacts" instead of the transfer. The focus belongs on the card (its Cancel)
    or back in the message box."""
    bob = open_window("bob")
    alice = active(qtbot, open_window("alice"))
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    source = tmp_path / "notes.txt"
    source.write_text("hello " * 200)
    with qtbot.waitSignal(alice.transfers.transfer_added, timeout=10_000) as added:
        assert drop(bob.open_conversation("alice"), source)
    key = added.args[0]
    tab = alice.open_conversation("bob")
    active(qtbot, alice)
    card = tab.card(key)
    qtbot.waitUntil(card.accept_button.isVisible)
    card.accept_button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: alice.focusWidget() is card.accept_button)

    qtbot.keyClick(card.accept_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not card.accept_button.isVisible())

    focus = alice.focusWidget()
    assert focus is not alice.contacts_filter, "the focus jumped to the contacts filter"
    assert focus is tab.compose or (focus is not None and card.isAncestorOf(focus)), focus


def test_tab_reaches_the_message_list_not_only_shift_tab(qtbot, open_window):
    """Forward Tab cycles through the whole window (message box, Attach, Send, the
    sidebar, the tab bar, the ▾ button, the message box again) and never stops on the
    message list: only Shift+Tab from the message box reaches it. The conversation itself,
    the main content, is skipped by a keyboard or screen-reader user who tabs forward (the
    tab's focus proxy, the message box, is jumped to when Tab enters the tab page)."""
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


def test_shift_f10_opens_the_menu_of_a_group_in_the_list(qtbot, open_window, monkeypatch):
    """The Groups list's own actions (Leave…, Invite…, and for a group you left "Remove
    from list", which is nowhere else) are in a right-click menu only. The message list
    answers Shift+F10 (for keyboards without a Menu key, as most laptops); the Groups list
    does not, so a keyboard-only user cannot take a left group off the list."""
    menus: list[list[str]] = []
    monkeypatch.setattr(QMenu, "popup", lambda menu, pos, at=None: menus.append(
        [a.text() for a in menu.actions()]))
    alice = active(qtbot, open_window("alice"))
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("team", invite=["bob"])
    view = alice.groups_view
    view.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(view.hasFocus)
    view.setCurrentIndex(view.model().index(0, 0))
    qtbot.keyClick(view, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert menus and "Leave…" in menus[-1], menus


# --------------------------------------------------------------------------- screen readers


def test_a_screen_reader_hears_that_a_message_was_edited(qtbot, open_window):
    """The bubble of an edited message says "edited" beside its time; what a screen reader
    reads for the row (Qt.AccessibleTextRole, also the tooltip: models.py
    ConversationModel.data) does not, so a blind user cannot tell the text changed."""
    bob = open_window("bob")
    alice = open_window("alice")
    alice.open_conversation("bob")
    type_line(qtbot, alice, "see you at 3", peer_key("bob"))
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    alice.engine.edit(model.items()[-1].seq, peer_key("bob"), "see you at 4")
    bob_model = bob.engine.conversation(peer_key("alice"))
    qtbot.waitUntil(lambda: bob_model.rowCount() > 0
                    and bob_model.items()[-1].text == "see you at 4"
                    and bob_model.items()[-1].edited is not None, timeout=10_000)
    row = next(r for r in range(bob_model.rowCount())
               if bob_model.items()[r].kind is MessageKind.OTHER)
    spoken = bob_model.data(bob_model.index(row, 0), Qt.ItemDataRole.AccessibleTextRole)
    assert "see you at 4" in spoken
    assert "edited" in spoken.lower(), spoken


def test_the_size_limit_unit_box_has_a_name_of_its_own(qtbot, open_window):
    """Preferences → "Largest file: [4.00] [GB ▾]": the unit box has no accessible name
    and no buddy label, so a screen reader reads its value as its name ("GB, combo box")
    and never says what it is the unit of."""
    alice = open_window("alice")
    dialog = alice.ask_preferences()
    qtbot.waitUntil(dialog.isVisible)
    name = acc_name(dialog.unitCombo)
    assert name not in ("", "MB", "GB"), name


def test_tab_close_buttons_say_which_tab_they_close(qtbot, open_window):
    """Each conversation tab's ✕ reaches a screen reader as a button with no name (Qt's
    default close button: only a "Close Tab" description), the same for every tab: "button"
    for bob's, "button" for charlie's."""
    alice = open_window("alice")
    alice.open_conversation("bob")
    alice.open_conversation("charlie")
    bar = alice.tabs.tabBar()
    for who in ("bob", "charlie"):
        index = alice.tabs.indexOf(alice.conversation_widget(peer_key(who)))
        button = bar.tabButton(index, bar.ButtonPosition.RightSide) or \
            bar.tabButton(index, bar.ButtonPosition.LeftSide)
        assert isinstance(button, QAbstractButton)
        assert who in acc_name(button), (who, acc_name(button))


def _label(text: str) -> str:
    return text.replace("&", "").rstrip("…").strip().lower()


def test_a_buttons_spoken_name_contains_its_visible_label(qtbot, open_window):
    """WCAG 2.5.3 (label in name): a voice-control user says what they see ("click
    Attach", "press New group", "click OK"). Several buttons' accessible names replace the
    label with other words: "Attach…" is "Send a file to bob", "New group…" is "Create a
    group", Preferences' "OK" is "Save the preferences", so the command finds nothing."""
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    dialog = alice.ask_preferences()
    qtbot.waitUntil(dialog.isVisible)
    buttons = [tab.attach_button, tab.send_button, alice.new_group_button,
               alice.join_group_button, *dialog.buttonBox.buttons()]
    wrong = {b.text(): acc_name(b) for b in buttons
             if _label(b.text()) not in acc_name(b).lower()}
    assert wrong == {}, wrong


# --------------------------------------------------------------------------- look


def _overflows(label) -> bool:
    """Whether ``label``'s (rich) text needs more room than the label has: a line wider
    than it (cut off at the right, no "…") or more lines than its height."""
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setDocumentMargin(0)
    doc.setHtml(label.text())
    width = label.contentsRect().width()
    doc.setTextWidth(width)
    return doc.idealWidth() > width + 1 or doc.size().height() > label.contentsRect().height() + 1


def test_a_long_group_name_in_the_invitation_bar_is_not_cut_off(qtbot, font_16pt,
                                                                 open_window):
    """With a 16 pt desktop font, in a window 700 px wide, an invitation to a group
    with a long name ("Engineering_Department_Meetings", 31 characters: group names have
    no spaces) shows "…invited you to Engineering_Departmen" cut in the middle of a letter:
    the label word-wraps (groups.py InvitationBar.rebuild) but a name without spaces cannot
    wrap, and nothing elides it. Bob cannot read which group invites him."""
    bob = open_window("bob")
    bob.resize(700, 600)
    alice = open_window("alice")
    name = "Engineering_Department_Meetings"
    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.create_group(name, invite=["bob"])
    qtbot.waitUntil(bob.invitation_bar.isVisible)
    qtbot.wait(50)
    label = next(iter(bob.invitation_bar._rows.values()))[3]  # (row, accept, decline, label)
    assert label.isVisible()
    assert not _overflows(label), (label.width(), label.text())


def test_at_its_minimum_size_the_window_does_not_hide_the_message_box(qtbot, open_window):
    """With an invitation waiting, the window can be made as small as without one: its
    minimum counts the invitation bar at one line (its label's height-for-width is not
    part of the minimum), while at that width the bar takes three. At the minimum size the
    message box then runs under the status bar (its last line hidden) and Attach / Send
    are squeezed to 14 px, their labels cut."""
    bob = active(qtbot, open_window("bob"))
    tab = bob.open_conversation("alice")
    alice = open_window("alice")
    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.create_group("a_really_long_group_name_here_32", invite=["bob"])
    qtbot.waitUntil(bob.invitation_bar.isVisible)
    bob.resize(10, 10)  # (clamped to the window's minimum size)
    qtbot.wait(100)
    central = bob.centralWidget()
    bottom = tab.compose.mapTo(central, QPoint(0, tab.compose.height())).y()
    assert bottom <= central.height(), (bottom, central.height())
    for button in (tab.send_button, tab.attach_button):
        assert button.height() >= button.minimumSizeHint().height(), \
            (button.text(), button.height())


def _tab_order(dialog, widgets) -> list:
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
    password", "Join a group") the buttons read "[Log in] [Cancel]" left to right, but Tab
    goes from the last field to Cancel first and only then to Log in: the button box is
    made with Cancel and the action button added after it (login_dialog.py:169-171, and the
    same in groups.py, main_window.py, account.py), and its tab order stays the order of
    creation. Keyboard users land on Cancel where they expect the action."""
    alice = open_window("alice")
    dialogs = {"login": login_dialog}
    for tag, ask in (("new conversation", alice.ask_new_conversation),
                     ("message several", lambda: alice.ask_multicast(["bob", "charlie"])),
                     ("change password", alice.ask_change_password),
                     ("join", alice.ask_join_group)):
        dialogs[tag] = ask()
        qtbot.waitUntil(dialogs[tag].isVisible)
    wrong = {}
    for tag, dialog in dialogs.items():
        buttons = [b for b in dialog.findChildren(QAbstractButton)
                   if b.isVisible() and b.parentWidget().inherits("QDialogButtonBox")]
        drawn = sorted(buttons, key=lambda b: b.mapToGlobal(QPoint(0, 0)).x())
        tabbed = _tab_order(dialog, buttons)
        if [b.text() for b in tabbed] != [b.text() for b in drawn]:
            wrong[tag] = ([b.text() for b in drawn], [b.text() for b in tabbed])
    assert wrong == {}, wrong


def test_the_password_rule_is_read_whole_with_a_large_font(qtbot, font_16pt, login_dialog):
    """With a 16 pt font, ticking "Create a new account" shows the password rule under
    "Repeat it:" as "A password has 6 to 1024" — "characters." is cut away (a second line
    the dialog gives no room to: it grows to its new minimum only, which counts the
    word-wrapped rule at one line; login_dialog.py _on_mode_toggled does not adjust the
    size). The rule then reads as a whole sentence that says something else."""
    dialog = login_dialog
    dialog.create_check.setChecked(True)
    qtbot.waitUntil(dialog.password_hint.isVisible)
    qtbot.wait(50)
    assert dialog.height() >= dialog.minimumHeight()  # (the window did grow to its minimum)
    hint = dialog.password_hint
    assert hint.height() >= hint.heightForWidth(hint.width()), \
        (hint.text(), hint.height(), hint.heightForWidth(hint.width()))
