"""Groups, invitations, multicast and every slash-command family, driven through real app
windows (alice, bob, charlie) talking to one server."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QMessageBox

from messenger.client.conversations import EVERYONE, group_key
from messenger.client.engine import ClientEngine
from messenger.client.models import (
    DeliveryState,
    GroupModel,
    GroupRow,
    MembersModel,
    MessageKind,
    RosterModel,
)
from messenger.gui import delegates, groups
from messenger.gui.groups import (
    GroupConversationWidget,
    GroupDialog,
    InviteDialog,
    JoinGroupDialog,
    invite_summary,
)
from messenger.protocol import MAX_TEXT_LENGTH

from .conftest import active, texts, type_line

OTHER, SYSTEM, ERROR = MessageKind.OTHER, MessageKind.SYSTEM, MessageKind.ERROR


class Answers:
    """Stands in for :func:`messenger.gui.groups.ask`: records each question box's text and
    answers with the next of ``replies`` (True: the box's Yes button, e.g. Leave)."""

    def __init__(self, monkeypatch, *replies: bool) -> None:
        self.replies = list(replies)
        self.asked: list[tuple[str, str, str]] = []
        monkeypatch.setattr(groups, "ask", self)

    def __call__(self, box: QMessageBox) -> QMessageBox.StandardButton:
        yes = box.button(QMessageBox.StandardButton.Yes)
        self.asked.append((box.text(), box.informativeText(), yes.text()))
        assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
        return QMessageBox.StandardButton.Yes if self.replies.pop(0) \
            else QMessageBox.StandardButton.Cancel


def check_in_picker(qtbot, dialog: GroupDialog, name: str) -> None:
    """Filter the dialog's contact list down to ``name`` and tick it with the Space key."""
    dialog.filterEdit.clear()
    qtbot.keyClicks(dialog.filterEdit, name[:2])
    assert dialog.picker.visible_names() == [name]
    view = dialog.membersView
    view.setFocus()
    view.setCurrentIndex(view.model().index(0, 0))
    qtbot.keyClick(view, Qt.Key.Key_Space)


def test_create_group_in_the_dialog_accept_in_another_window_and_chat(qtbot, open_window,
                                                                     monkeypatch):
    answers = Answers(monkeypatch, True)
    alice, bob = open_window("alice"), open_window("bob")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)

    dialog = alice.ask_new_group(invite=[])
    assert isinstance(dialog, GroupDialog) and dialog.inviteOnlyRadio.isChecked()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.error_text() == "Enter a name for the group."
    qtbot.keyClicks(dialog.nameEdit, "no spaces")
    dialog.submit()
    assert "1–32 letters" in dialog.error_text()
    # A pasted name too long is refused, not cut short ("physics-lab-second-year-tuesdays"
    # was made of it without a word; a groups hunt).
    dialog.nameEdit.setText("physics-lab-second-year-tuesdays-2026")
    assert dialog.nameEdit.text() == "physics-lab-second-year-tuesdays-2026"
    dialog.submit()
    assert "1–32 letters" in dialog.error_text()
    dialog.nameEdit.clear()
    qtbot.keyClicks(dialog.nameEdit, "lab")
    dialog.submit()
    assert "pick at least one person" in dialog.error_text()
    check_in_picker(qtbot, dialog, "bob")
    assert dialog.picker.checked() == ["bob"] and dialog.error_text() == ""
    assert dialog.chosenLabel.text() == "Invite: bob"
    assert dialog.chosenLabel.wordWrap()  # a long choice wraps instead of widening the dialog
    with qtbot.waitSignal(dialog.accepted, timeout=10_000), \
            qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    tab = alice.tabs.currentWidget()
    assert isinstance(tab, GroupConversationWidget) and tab.group == "lab"
    assert alice.tabs.tabText(alice.tabs.currentIndex()) == "# lab"
    assert tab.members.names() == ["alice", "bob"]  # bob still only invited
    # Her own part in her words ("led by alice" to alice, and "alice (you)" was cut short
    # by the leader badge in the narrow panel).
    assert tab.info_label.text() == "Invite-only · led by you"
    assert [delegates.member_label(m.name, m.me) for m in
            (tab.members.member(r) for r in range(tab.members.rowCount()))] == ["You", "bob"]
    assert tab.members.member(1).invited and tab.remove_button.isVisible()

    # bob: a notice bar with Accept / Decline, and the group in his list marked as invited.
    assert bob.invitation_bar.isVisible()
    groups = bob.engine.groups
    assert groups.data(groups.index(0, 0), GroupModel.PendingRole) is True
    assert any("alice invited you" in t for t in texts(bob, EVERYONE, SYSTEM))
    accept, _decline = bob.invitation_bar.buttons("lab")
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    assert not bob.invitation_bar.isVisible()
    bob_tab = bob.tabs.currentWidget()
    assert isinstance(bob_tab, GroupConversationWidget) and bob_tab.group == "lab"
    assert not bob_tab.remove_button.isVisible()  # only the leader removes
    assert not bob_tab.invite_button.isEnabled()  # invite-only: the leader invites
    qtbot.waitUntil(lambda: tab.members.names() == ["alice", "bob"]
                    and not tab.members.member(1).invited)
    m = tab.members
    assert m.data(m.index(0, 0), MembersModel.LeaderRole) is True
    assert m.data(m.index(1, 0), MembersModel.OnlineRole) is True

    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "welcome to the lab")
    assert texts(bob, group_key("lab"), OTHER) == ["welcome to the lab"]
    with qtbot.waitSignal(alice.engine.message_received, timeout=10_000):
        type_line(qtbot, bob, "glad to be here")
    assert texts(alice, group_key("lab"), OTHER) == ["glad to be here"]

    # The same name again (any case) is refused by the server, shown in the dialog.
    again = alice.ask_new_group(invite=[])
    qtbot.keyClicks(again.nameEdit, "LAB")
    again.publicRadio.setChecked(True)
    with qtbot.waitSignal(alice.engine.group_failed, timeout=10_000):
        qtbot.mouseClick(again.ok_button, Qt.MouseButton.LeftButton)
    assert again.error_text() == "A group named “LAB” exists already — choose another name."
    assert again.isVisible() and again.ok_button.isEnabled()
    # One that reads like it ("1ab") too, and the dialog says which it looks like.
    again.nameEdit.clear()
    qtbot.keyClicks(again.nameEdit, "1ab")
    with qtbot.waitSignal(alice.engine.group_failed, timeout=10_000):
        qtbot.mouseClick(again.ok_button, Qt.MouseButton.LeftButton)
    assert again.error_text() == ("The name '1ab' looks too much like 'lab', an existing "
                                  "group's: pick another name")
    again.reject()

    # The leader removes bob from the member panel.
    tab.members_view.setCurrentIndex(m.index(1, 0))
    assert tab.remove_button.isEnabled()
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        qtbot.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    assert answers.asked[0][:1] == ("Remove bob from “lab”?",)
    qtbot.waitUntil(lambda: "alice removed you" in texts(bob, group_key("lab"), SYSTEM))
    assert not bob_tab.leave_button.isEnabled()
    assert bob_tab.info_label.text() == "You are not a member of this group."
    assert not bob_tab.compose.isEnabled() and not bob_tab.send_button.isEnabled()
    assert bob_tab.closed_label.text() == "You are not a member of this group."
    assert bob_tab.closed_label.isVisibleTo(bob_tab)


def test_leave_asks_first_then_the_tab_cannot_be_written_in(qtbot, open_window, monkeypatch):
    answers = Answers(monkeypatch, False, True)
    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        type_line(qtbot, alice, "/create den", EVERYONE)
        alice.engine.invite_to_group("den", ["bob"])
        qtbot.waitUntil(lambda: bob.invitation_bar.buttons("den") is not None)
        qtbot.mouseClick(bob.invitation_bar.buttons("den")[0], Qt.MouseButton.LeftButton)
    tab = bob.tabs.currentWidget()
    assert isinstance(tab, GroupConversationWidget) and tab.compose.isEnabled()
    qtbot.keyClicks(tab.compose, "half-written")

    # Cancel: nothing is sent, bob stays in. A group message after it comes back as the
    # server's next answer: a leave sent before it would have been answered first.
    left: list = []
    bob.engine.group_left.connect(left.append)
    qtbot.mouseClick(tab.leave_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(bob.engine.message_acked, timeout=10_000):
        bob.engine.send_group("den", "still here")
    assert left == []
    assert answers.asked[0][0] == "Leave the group “den”?"
    assert "no longer get its messages" in answers.asked[0][1]
    assert answers.asked[0][1].endswith("To come back, join it again.")  # (public)
    assert "leader (" not in answers.asked[0][1]  # (bob does not lead it)
    assert answers.asked[0][2] == "Leave"
    assert bob.engine.groups.group("den").member and tab.compose.isEnabled()

    # Leave: the tab stays (its history), but nothing can be written or attached there.
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        qtbot.mouseClick(tab.leave_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "bob left" in texts(alice, group_key("den"), SYSTEM))
    assert len(answers.asked) == 2
    for widget in (tab.compose, tab.send_button, tab.attach_button):
        assert not widget.isEnabled()
    assert tab.closed_label.isVisibleTo(tab)
    assert tab.closed_label.text() == "You left this group — join it again to write here."
    # No member list to show (it was an empty box with greyed Invite and Leave).
    assert not tab.member_panel.isVisibleTo(tab) and not tab.members_button.isVisibleTo(tab)
    assert tab.compose.toPlainText() == "half-written"  # the draft is kept
    tab.attach(["/etc/hostname"])
    assert tab.error_label.text().startswith("You left this group")

    # Joining again (public group) makes the tab writable again.
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        type_line(qtbot, bob, "/join den", EVERYONE)
    assert tab.compose.isEnabled() and tab.send_button.isEnabled()
    assert not tab.closed_label.isVisibleTo(tab)
    assert tab.member_panel.isVisibleTo(tab) and tab.members_button.isVisibleTo(tab)


@pytest.mark.parametrize("public", [True, False])
def test_the_last_member_leaving_is_told_the_group_ended(qtbot, open_window, monkeypatch,
                                                          public):
    """alice, the only member of "solo", leaves: the group is dissolved (the leave question
    said so), yet the tab read "You left this group — join it again to write here." (an
    invite-only one: "its leader can invite you again"). There was nothing to join: /join
    answered "There is no group named solo"."""
    Answers(monkeypatch, True)
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("solo", [], public=public)
    tab = alice.open_group("solo")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000):
        alice.engine.send_group("solo", "note to self")
    with qtbot.waitSignal(alice.engine.group_left, timeout=10_000):
        qtbot.mouseClick(tab.leave_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.closed_label.text() == "This group ended: its last member left.")
    assert not tab.compose.isEnabled()
    row = alice.engine.groups.row_of("solo")
    assert "it ended" in alice.engine.groups.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    # A new group of that name is someone's new group: joined, the tab is writable again.
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("solo", [], public=True)
    assert tab.compose.isEnabled() and not tab.closed_label.isVisibleTo(tab)


def test_a_group_that_ended_still_says_so_after_a_restart(qtbot, open_window, monkeypatch):
    """alice, the last member of "solo", left: its tab said "This group ended: its last member
    left." and the row "it ended". After a restart of the app the same tab read "You are not
    a member of this group." and the row "you are no longer a member" (the ended flag lived in
    the row only): as if the group went on without her."""
    Answers(monkeypatch, True)
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("solo", [], public=True)
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000):
        alice.engine.send_group("solo", "note to self")
    with qtbot.waitSignal(alice.engine.group_left, timeout=10_000):
        alice.engine.leave_group("solo")
    qtbot.waitUntil(lambda: alice.engine.groups.former_row("solo") is not None
                    and alice.engine.groups.former_row("solo").ended, timeout=10_000)
    alice.close()
    alice.engine.close()
    qtbot.waitUntil(lambda: not alice.engine.logged_in)
    again = open_window("alice")
    assert again.engine.groups.former() == ["solo"]
    tab = again.open_group("solo")
    assert tab.closed_label.text() == "This group ended: its last member left."
    row = again.engine.groups.row_of("solo")
    assert "it ended" in again.engine.groups.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    # A new group of that name, joined and left while others stay: not "ended" after a restart.
    bob = open_window("bob")
    with qtbot.waitSignal(again.engine.invitation_received, timeout=10_000):
        bob.engine.create_group("solo", ["alice"])
    with qtbot.waitSignal(again.engine.group_joined, timeout=10_000):
        again.engine.accept_invitation("solo")
    with qtbot.waitSignal(again.engine.group_left, timeout=10_000):
        again.engine.leave_group("solo")
    again.close()
    again.engine.close()
    qtbot.waitUntil(lambda: not again.engine.logged_in)
    third = open_window("alice")
    assert not third.engine.groups.former_row("solo").ended
    assert third.open_group("solo").closed_label.text() != \
        "This group ended: its last member left."


def solo_ended_on_the_laptop(qtbot, open_window, tmp_path):
    """alice made the public group "solo" and wrote in it on her desktop, whose app then
    quit; on her laptop (its own data dir) she left it as its last member, so it ended.
    Returns the laptop's window."""
    desk = open_window("alice")
    with qtbot.waitSignal(desk.engine.group_joined, timeout=10_000):
        desk.engine.create_group("solo", [], public=True)
    with qtbot.waitSignal(desk.engine.message_acked, timeout=10_000):
        desk.engine.send_group("solo", "note to self")
    desk.close()
    desk.engine.close()
    qtbot.waitUntil(lambda: not desk.engine.logged_in)
    laptop = open_window("alice", data_dir=tmp_path / "laptop")
    with qtbot.waitSignal(laptop.engine.group_left, timeout=10_000):
        laptop.engine.leave_group("solo")
    return laptop


def test_a_group_ended_on_the_accounts_other_computer_says_so_here(qtbot, open_window,
                                                                   monkeypatch, tmp_path):
    """alice, the last member of "solo", left it on her laptop while her desktop app was
    logged out: back on the desktop, its row read "you are no longer a member" and its tab
    "You are not a member of this group." as if the group went on without her; only the
    computer that left it knew it ended."""
    Answers(monkeypatch, True)
    solo_ended_on_the_laptop(qtbot, open_window, tmp_path)
    back = open_window("alice")
    qtbot.waitUntil(lambda: back.engine.groups.former_row("solo") is not None
                    and back.engine.groups.former_row("solo").ended, timeout=10_000)
    tab = back.open_group("solo")
    assert tab.closed_label.text() == "This group ended: its last member left."
    row = back.engine.groups.row_of("solo")
    assert "it ended" in back.engine.groups.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    # ... and still after a restart of the desktop's app.
    back.close()
    back.engine.close()
    qtbot.waitUntil(lambda: not back.engine.logged_in)
    again = open_window("alice")
    assert again.engine.groups.former_row("solo").ended


def test_a_group_left_elsewhere_after_a_later_one_of_its_name_is_not_said_to_have_ended(
        qtbot, open_window, monkeypatch, tmp_path):
    """alice's desktop was logged out while, on her laptop, she left "solo" as its last
    member (it ended), then joined bob's new public "solo" and left it again: bob's group
    goes on. Back on the desktop, its tab read "This group ended: its last member left."
    (the end of the earlier group, met in the catch-up) instead of "You left this group —
    join it again to write here.", and its row offered no way back to bob's group."""
    Answers(monkeypatch, True, True)
    laptop = solo_ended_on_the_laptop(qtbot, open_window, tmp_path)
    bob = open_window("bob", data_dir=tmp_path / "bob")
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.create_group("solo", [], public=True)
    with qtbot.waitSignal(laptop.engine.group_joined, timeout=10_000):
        laptop.engine.join_group("solo")
    with qtbot.waitSignal(laptop.engine.group_left, timeout=10_000):
        laptop.engine.leave_group("solo")
    back = open_window("alice")
    qtbot.waitUntil(lambda: back.engine.groups.former_row("solo") is not None, timeout=10_000)
    tab = back.open_group("solo")
    key = group_key("solo")
    qtbot.waitUntil(lambda: texts(back, key, SYSTEM)[-1:] == ["You left"], timeout=10_000)
    assert not back.engine.groups.former_row("solo").ended
    assert tab.closed_label.text() != "This group ended: its last member left."


def test_a_group_seen_ended_goes_on_when_a_later_one_of_its_name_comes_in_the_catch_up(
        qtbot, open_window, monkeypatch, tmp_path):
    """alice's desktop learned that "solo" ended (she left it as its last member on her
    laptop). Later, on the laptop, she joined bob's new public "solo" and left it again;
    back on the desktop its tab still read "This group ended: its last member left." though
    the catch-up had brought her joining and leaving bob's group, which goes on."""
    Answers(monkeypatch, True, True)
    desk = open_window("alice")
    with qtbot.waitSignal(desk.engine.group_joined, timeout=10_000):
        desk.engine.create_group("solo", [], public=True)
    desk.close()
    desk.engine.close()
    qtbot.waitUntil(lambda: not desk.engine.logged_in)
    laptop = open_window("alice", data_dir=tmp_path / "laptop")
    with qtbot.waitSignal(laptop.engine.group_left, timeout=10_000):
        laptop.engine.leave_group("solo")
    seen = open_window("alice")
    qtbot.waitUntil(lambda: seen.engine.groups.former_row("solo") is not None
                    and seen.engine.groups.former_row("solo").ended, timeout=10_000)
    seen.close()
    seen.engine.close()
    qtbot.waitUntil(lambda: not seen.engine.logged_in)
    bob = open_window("bob", data_dir=tmp_path / "bob")
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.create_group("solo", [], public=True)
    with qtbot.waitSignal(laptop.engine.group_joined, timeout=10_000):
        laptop.engine.join_group("solo")
    with qtbot.waitSignal(laptop.engine.group_left, timeout=10_000):
        laptop.engine.leave_group("solo")
    back = open_window("alice")
    key = group_key("solo")
    back.open_group("solo")
    qtbot.waitUntil(lambda: texts(back, key, SYSTEM)[-1:] == ["You left"], timeout=10_000)
    assert not back.engine.groups.former_row("solo").ended
    back.close()
    back.engine.close()
    qtbot.waitUntil(lambda: not back.engine.logged_in)
    again = open_window("alice")  # (and after a restart: the ended mark is not kept)
    assert not again.engine.groups.former_row("solo").ended


def test_a_left_groups_tab_says_an_invitation_waits(qtbot, open_window, monkeypatch):
    """bob left the invite-only group "den" from its tab ("You left this group — its leader
    can invite you again."); alice invited him again and the yellow bar showed the
    invitation, but the tab still told him to wait for one."""
    Answers(monkeypatch, True)
    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("den", ["bob"], public=False)
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.accept_invitation("den")
    tab = bob.open_group("den")
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        qtbot.mouseClick(tab.leave_button, Qt.MouseButton.LeftButton)
    assert tab.closed_label.text() == "You left this group — its leader can invite you again."
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.invite_to_group("den", ["bob"])
    assert bob.invitation_bar.buttons("den") is not None
    assert tab.closed_label.text() == \
        "You are invited to this group — accept the invitation to write here."
    assert not tab.compose.isEnabled()
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        qtbot.mouseClick(bob.invitation_bar.buttons("den")[0], Qt.MouseButton.LeftButton)
    assert tab.compose.isEnabled() and not tab.closed_label.isVisibleTo(tab)


def test_long_names_wrap_or_elide_without_widening_the_window(qtbot, server, open_window):
    long_leader = "a_very_long_user_name_of_32_char"
    long_group = "a-really-long-group-name-32-char"
    assert len(long_leader) == len(long_group) == 32
    leader = ClientEngine()
    with qtbot.waitSignal(leader.login_succeeded, timeout=10_000):
        leader.connect_to(server.host, server.port)
        leader.register(long_leader, "long-secret")
    alice = open_window("alice")
    alice.resize(800, 500)
    qtbot.waitUntil(lambda: alice.width() == 800)
    with qtbot.waitSignal(alice.engine.invitation_received, timeout=10_000):
        leader.create_group(long_group, ["alice"], public=False)
    qtbot.waitUntil(alice.invitation_bar.isVisible)
    labels = [w for w in alice.invitation_bar.findChildren(QLabel)
              if w.accessibleDescription() == "Invitation"]
    assert len(labels) == 1 and labels[0].wordWrap()
    assert long_group in labels[0].toolTip() and long_leader in labels[0].toolTip()
    assert alice.minimumSizeHint().width() <= 800
    alice.layout().activate()
    assert alice.width() == 800

    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        qtbot.mouseClick(alice.invitation_bar.buttons(long_group)[0], Qt.MouseButton.LeftButton)
    tab = alice.tabs.currentWidget()
    assert isinstance(tab, GroupConversationWidget)
    info = tab.info_label
    assert info.toolTip() == f"Invite-only · led by {long_leader}"
    shown = info.text().removeprefix("Invite-only · led by ")
    assert shown.endswith("…") and long_leader.startswith(shown[:-1])
    assert info.fontMetrics().horizontalAdvance(f"led by {shown}") <= info.width()
    alice.layout().activate()
    assert alice.width() == 800
    leader.close()


def test_slash_multicast_with_a_mistyped_name_is_refused_before_it_is_queued(
        qtbot, open_window):
    """alice typed "/multicast bob,chralie lunch?" in Everyone: it said "Sent to bob,
    chralie" there, while the server refused it all (chralie has no account) and said so
    only in bob's and chralie's tabs, not open. The names are checked against the contact
    list first: nothing is queued, Everyone names the unknown one, and the line goes back
    in the box to be corrected. Repeated names and her own are left out of what goes."""
    alice, bob = open_window("alice"), open_window("bob")
    compose = alice.conversation_widget(EVERYONE).compose
    qtbot.keyClicks(compose, "/multicast bob,chralie lunch?")
    qtbot.keyClick(compose, Qt.Key.Key_Return)
    assert texts(alice, EVERYONE, MessageKind.ERROR)[-1] == \
        "Not sent: there is no user named “chralie” on this server."
    assert not [t for t in texts(alice, EVERYONE, SYSTEM) if t.startswith(("Sent", "Sending"))]
    assert compose.toPlainText() == "/multicast bob,chralie lunch?"
    assert not texts(alice, "bob", MessageKind.OWN)
    compose.clear()
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "/multicast bob,BOB,alice,charlie lunch?", EVERYONE)
    assert texts(alice, EVERYONE, SYSTEM)[-1].startswith("Sending to bob, charlie —")
    assert bob.engine.conversation("alice").items()[-1].also == ("charlie",)


def test_msg_to_several_names_or_to_nobody_opens_no_tab(qtbot, open_window):
    """alice typed "/msg bob,charlie hi" in Everyone (IRC's /msg takes "nick1,nick2"): a tab
    opened for a person called "bob,charlie", with a failed message in it. She is told to
    use /multicast now, and a /msg to a name with no account opens no tab either; the text
    stays in the box to be corrected."""
    alice = open_window("alice")
    compose = alice.conversation_widget(EVERYONE).compose
    for line, error in (
            ("/msg bob,charlie hi",
             "To write to several people: /multicast bob,charlie <text>"),
            ("@bob,charlie hi", "To write to several people: /multicast bob,charlie <text>"),
            ("/msg chralie hi", "Not sent: there is no user named “chralie” on this server.")):
        compose.clear()
        qtbot.keyClicks(compose, line)
        qtbot.keyClick(compose, Qt.Key.Key_Return)
        assert texts(alice, EVERYONE, MessageKind.ERROR)[-1] == error
        assert compose.toPlainText() == line
    assert [alice.tabs.widget(i).key for i in range(alice.tabs.count())] == [EVERYONE]


def test_private_broadcast_multicast_reply_and_info_commands(qtbot, open_window):
    alice, bob, charlie = open_window("alice"), open_window("bob"), open_window("charlie")
    qtbot.waitUntil(lambda: all(alice.engine.roster.contact(n).online
                                for n in ("bob", "charlie")))
    # Plain text in Everyone is a broadcast; so is /all and /BROADCAST.
    with qtbot.waitSignal(charlie.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "morning all")
    with qtbot.waitSignal(charlie.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "/BROADCAST coffee?")
    assert texts(charlie, EVERYONE, OTHER) == ["morning all", "coffee?"]

    # Private: /msg with any case of the name opens the tab; @user and /w work too.
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "/msg BOB psst", EVERYONE)
    assert alice.current_key() == "bob"
    assert alice.tabs.tabText(alice.tabs.currentIndex()) == "bob"
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "@bob second")
    with qtbot.waitSignal(charlie.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "/w charlie hi charlie")
    assert texts(bob, "alice", OTHER) == ["psst", "second"]
    assert texts(charlie, "alice", OTHER) == ["hi charlie"]

    # /r: bob answers alice, the last person he exchanged a private message with.
    with qtbot.waitSignal(alice.engine.message_received, timeout=10_000):
        type_line(qtbot, bob, "/r got both", EVERYONE)
    assert texts(alice, "bob", OTHER) == ["got both"]
    # Ctrl+R in alice's window opens the conversation with bob (his /r was the last one).
    alice.open_conversation(EVERYONE)
    alice.activateWindow()
    qtbot.waitUntil(alice.isActiveWindow)
    qtbot.keyClick(alice.conversation_widget(EVERYONE).compose, Qt.Key.Key_R,
                   Qt.KeyboardModifier.ControlModifier)
    assert alice.current_key() == "bob"

    # Multicast: each recipient sees it with the sender, marked with who else got it.
    with qtbot.waitSignals([bob.engine.message_received, charlie.engine.message_received],
                           timeout=10_000):
        type_line(qtbot, alice, "/multicast bob,Charlie lunch at noon", EVERYONE)
    assert texts(charlie, "alice", OTHER)[-1] == "lunch at noon"
    assert charlie.engine.conversation("alice").items()[-1].also == ("bob",)
    assert bob.engine.conversation("alice").items()[-1].also == ("charlie",)
    assert texts(alice, EVERYONE, SYSTEM)[-1].startswith("Sending to bob, charlie")

    # Info: /who lists who is online, since when, from where; /help lists every command.
    with qtbot.waitSignal(alice.engine.users_listed, timeout=10_000):
        type_line(qtbot, alice, "/who", EVERYONE)
    listing = texts(alice, EVERYONE, SYSTEM)[-1]
    assert listing.startswith("Online now (3):") and "charlie — since" in listing
    assert "from 127.0.0.1:" in listing
    type_line(qtbot, alice, "/Help", EVERYONE)
    help_text = texts(alice, EVERYONE, SYSTEM)[-1]
    for word in ("/msg", "/whisper", "@<user>", "/r", "/multicast", "/broadcast", "/creategroup",
                 "/joingroup", "/groupmsg", "/party", "/p", "/activeuser", "/quit", "/logout"):
        assert word in help_text
    # Wrong usage gets the usage line; an unknown command suggests /help. Nothing was sent,
    # so the text stays in the box to be corrected.
    compose = alice.conversation_widget(EVERYONE).compose
    for line in ("/msg bob", "/frobnicate now"):
        qtbot.keyClicks(compose, line)
        qtbot.keyClick(compose, Qt.Key.Key_Return)
        assert compose.toPlainText() == line
        compose.clear()
    assert texts(alice, EVERYONE, ERROR)[-2:] == [
        "Usage: /msg <user> <text>", "Unknown command /frobnicate. Type /help for the list "
        "of commands."]
    # //text sends the slash literally.
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "//shrug", EVERYONE)
    assert texts(bob, EVERYONE, OTHER)[-1] == "/shrug"


def test_contact_selection_multicast(qtbot, open_window):
    alice, bob, charlie = open_window("alice"), open_window("bob"), open_window("charlie")
    roster = alice.engine.roster
    qtbot.waitUntil(lambda: roster.names()[:2] == ["bob", "charlie"]
                    and roster.contact("charlie").online)
    view = alice.roster_view
    view.selectionModel().select(alice.contact_index("bob"),
                                 QItemSelectionModel.SelectionFlag.Select)
    assert not alice.multicast_button.isVisible()
    rect = view.visualRect(alice.contact_index("charlie"))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ControlModifier, rect.center())
    assert alice.selected_contacts() == ["bob", "charlie"]
    assert alice.multicast_button.isVisible()
    assert alice.multicast_button.text() == "Message 2 selected…"
    qtbot.mouseClick(alice.multicast_button, Qt.MouseButton.LeftButton)
    dialog = alice.dialog
    assert dialog.recipients() == ["bob", "charlie"]
    qtbot.keyClicks(dialog.text, "stand-up moved to 10")
    with qtbot.waitSignals([bob.engine.message_received, charlie.engine.message_received],
                           timeout=10_000):
        qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    assert texts(bob, "alice", OTHER) == ["stand-up moved to 10"]
    assert bob.engine.conversation("alice").items()[-1].also == ("charlie",)


def test_a_multicast_too_long_to_send_stays_in_its_dialog(qtbot, open_window):
    """The dialog closed and the server refused the text: it was gone (a hunt)."""
    alice = open_window("alice")
    dialog = alice.ask_multicast(["bob", "charlie"])
    long_text = "x" * (MAX_TEXT_LENGTH + 1)
    dialog.text.setPlainText(long_text)
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.text.toPlainText() == long_text
    assert dialog.error_label.shown_text().startswith("Too long to send: 16,001 characters")
    dialog.reject()


def active_multicast(qtbot, window, recipients: list[str]):
    """``window``'s "Message several people" for ``recipients``, active, the cursor in its
    message box (keys typed reach it)."""
    dialog = window.ask_multicast(recipients)
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    qtbot.waitUntil(dialog.text.hasFocus)
    return dialog


def test_tab_in_the_multicast_message_moves_on_and_ctrl_enter_sends(qtbot, open_window):
    """Tab typed a tab character into the message (sent as such) and the keyboard never
    got on to Send; the main compose box moves the focus on Tab."""
    alice, bob = open_window("alice"), open_window("bob")
    dialog = active_multicast(qtbot, alice, ["bob", "charlie"])
    qtbot.keyClicks(dialog.text, "see you at 5")
    qtbot.keyClick(dialog.text, Qt.Key.Key_Tab)
    assert dialog.text.toPlainText() == "see you at 5"
    assert not dialog.text.hasFocus()
    dialog.text.setFocus()
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        qtbot.keyClick(dialog.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert texts(bob, "alice", OTHER) == ["see you at 5"]


def test_escape_in_the_multicast_dialog_keeps_the_message_for_the_next_one(qtbot,
                                                                          open_window):
    """One Escape (or Cancel) threw a message written for several people away: the next
    dialog opened empty. It opens with the text and the people picked; sent, it is gone."""
    alice, bob = open_window("alice"), open_window("bob")
    dialog = active_multicast(qtbot, alice, ["bob", "charlie"])
    text = "Meeting moved to room 2.14, bring the printed agenda"
    qtbot.keyClicks(dialog.text, text)
    with qtbot.waitSignal(dialog.finished):
        qtbot.keyClick(dialog.text, Qt.Key.Key_Escape)
    again = active_multicast(qtbot, alice, [])  # (the menu with no-one selected)
    assert again.text.toPlainText() == text and again.recipients() == ["bob", "charlie"]
    assert again.text.textCursor().atEnd()
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        qtbot.mouseClick(again.send_button, Qt.MouseButton.LeftButton)
    third = alice.ask_multicast(["bob", "charlie"])
    assert third.text.toPlainText() == ""


def test_party_invite_accept_decline_leave_and_a_public_room(qtbot, open_window):
    alice, bob, charlie = open_window("alice"), open_window("bob"), open_window("charlie")
    # alice has no party: /party invite starts one with her as leader.
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        type_line(qtbot, alice, "/party invite bob")
    assert alice.engine.party == "party-alice"
    assert alice.current_key() == group_key("party-alice")
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        type_line(qtbot, bob, "/party accept")
    assert bob.current_key() == group_key("party-alice")
    with qtbot.waitSignal(charlie.engine.invitation_received, timeout=10_000):
        type_line(qtbot, alice, "/party invite charlie")
    assert charlie.invitation_bar.buttons("party-alice") is not None
    with qtbot.waitSignal(charlie.engine.group_left, timeout=10_000):
        type_line(qtbot, charlie, "/party decline")
    qtbot.waitUntil(lambda: "charlie declined the invitation"
                    in texts(alice, group_key("party-alice"), SYSTEM))
    assert not charlie.invitation_bar.isVisible()
    type_line(qtbot, charlie, "/party accept")
    assert texts(charlie, EVERYONE, ERROR)[-1] == "No invitation is waiting for an answer."

    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        type_line(qtbot, alice, "/p party time")
    assert texts(bob, group_key("party-alice"), OTHER) == ["party time"]
    type_line(qtbot, bob, "/party who")
    who = texts(bob, group_key("party-alice"), SYSTEM)[-1]
    assert who.startswith("Party party-alice (invite-only, 2 members): alice (leader, online)")
    assert "bob (you)" in who
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        type_line(qtbot, bob, "/party leave")
    qtbot.waitUntil(lambda: "bob left" in texts(alice, group_key("party-alice"), SYSTEM))
    assert bob.engine.party == ""
    type_line(qtbot, bob, "/p anyone?", EVERYONE)
    assert texts(bob, EVERYONE, ERROR)[-1].startswith("You are not in a party")

    # A public room: charlie creates it, bob joins by command, alice through the dialog.
    with qtbot.waitSignal(charlie.engine.group_joined, timeout=10_000):
        type_line(qtbot, charlie, "/create lounge", EVERYONE)
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        type_line(qtbot, bob, "/JOIN Lounge", EVERYONE)
    dialog = alice.ask_join_group()
    assert isinstance(dialog, JoinGroupDialog)
    qtbot.waitUntil(lambda: dialog.names() == ["lounge"])
    view = dialog.view
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.visualRect(dialog.proxy.index(0, 0)).center())
    assert dialog.name_edit.text() == "lounge"
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.mouseClick(dialog.join_button, Qt.MouseButton.LeftButton)
    assert alice.current_key() == group_key("lounge")
    qtbot.waitUntil(lambda: charlie.engine.groups.group("lounge").members
                    == ("charlie", "bob", "alice"))
    with qtbot.waitSignals([alice.engine.message_received, charlie.engine.message_received],
                           timeout=10_000):
        type_line(qtbot, bob, "/groupmsg LOUNGE hi room", EVERYONE)
    assert texts(alice, group_key("lounge"), OTHER) == ["hi room"]
    assert bob.current_key() == group_key("lounge")
    # /joingroup of a group you are in already is refused, in the tab where it was typed.
    with qtbot.waitSignal(bob.engine.group_failed, timeout=10_000):
        type_line(qtbot, bob, "/joingroup lounge", EVERYONE)
    assert "already" in texts(bob, EVERYONE, ERROR)[-1]
    # /creategroup invites; the invitation shows in the contact list until answered.
    with qtbot.waitSignal(alice.engine.invitation_received, timeout=10_000):
        type_line(qtbot, charlie, "/creategroup secret alice", EVERYONE)
    assert alice.engine.groups.group("secret").pending
    assert alice.engine.groups.names()[0] == "secret"  # invitations first


def test_the_join_dialog_lists_the_public_groups_once_the_link_is_back(qtbot, open_window):
    """alice opened "Join a group…" while her Wi-Fi was down: it said "Looking for groups…"
    for good, and once the app had reconnected it still listed nothing (charlie's "lounge",
    made meanwhile, never showed) until she closed it and opened it again. A dialog open when
    the link dropped likewise kept the list of before."""
    alice, charlie = open_window("alice"), open_window("charlie")
    with qtbot.waitSignal(alice.engine.reconnecting, timeout=10_000):
        alice.engine._conn._socket.abort()  # the link breaks: the app reconnects by itself
    dialog = alice.ask_join_group()
    assert "not connected" in dialog.empty_label.text().lower()
    with qtbot.waitSignal(charlie.engine.group_joined, timeout=10_000):
        charlie.engine.create_group("lounge", [], public=True)
    qtbot.waitUntil(lambda: dialog.names() == ["lounge"], timeout=10_000)
    assert dialog.empty_label.isHidden()
    # Open across a lost link: what was made meanwhile shows after the reconnect.
    with qtbot.waitSignal(alice.engine.reconnecting, timeout=10_000):
        alice.engine._conn._socket.abort()
    with qtbot.waitSignal(charlie.engine.group_joined, timeout=10_000):
        charlie.engine.create_group("den", [], public=True)
    qtbot.waitUntil(lambda: dialog.names() == ["den", "lounge"], timeout=10_000)


def test_a_group_that_ended_leaves_the_join_dialog_when_joining_it_fails(qtbot, open_window):
    """charlie's public "lounge" was listed in alice's "Join a group…"; it ended (charlie
    left) before she picked it: the join was refused ("no such group") but the row stayed
    in the list, to be picked again, until the dialog was closed and opened again."""
    alice, charlie = open_window("alice"), open_window("charlie")
    with qtbot.waitSignal(charlie.engine.group_joined, timeout=10_000):
        charlie.engine.create_group("lounge", [], public=True)
    dialog = alice.ask_join_group()
    qtbot.waitUntil(lambda: dialog.names() == ["lounge"], timeout=10_000)
    with qtbot.waitSignal(charlie.engine.group_left, timeout=10_000):
        charlie.engine.leave_group("lounge")
    dialog.name_edit.setText("lounge")
    with qtbot.waitSignal(alice.engine.group_failed, timeout=10_000):
        qtbot.mouseClick(dialog.join_button, Qt.MouseButton.LeftButton)
    assert dialog.error_text()
    assert dialog.names() == []
    qtbot.waitUntil(lambda: "No public groups" in dialog.empty_label.text(), timeout=10_000)
    assert not dialog.empty_label.isHidden()


@pytest.mark.parametrize("command", ["/logout", "/QUIT"])
def test_logout_and_quit(qtbot, open_window, command):
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.state_changed, timeout=10_000):
        type_line(qtbot, alice, command)
    assert alice.logout_chosen is (command == "/logout")
    assert not alice.isVisible()


@pytest.mark.parametrize("delegate", ["RosterDelegate", "GroupDelegate", "MemberDelegate"])
def test_list_rows_grow_with_a_large_font_and_keep_their_look_at_the_default(qapp, delegate):
    from PySide6.QtGui import QFont, QFontMetricsF
    from PySide6.QtWidgets import QStyleOptionViewItem

    from messenger.gui import delegates
    kind = getattr(delegates, delegate)
    option = QStyleOptionViewItem()
    option.font = QFont(qapp.font())
    option.font.setPointSizeF(9)
    assert kind().sizeHint(option, None).height() == kind.ROW_HEIGHT
    option.font.setPointSizeF(20)  # as with a large desktop font: no clipped names
    big = kind().sizeHint(option, None).height()
    assert big > kind.ROW_HEIGHT and big >= QFontMetricsF(option.font).height() + 8


def bob_in_lab_with_its_tab_closed(qtbot, open_window):
    """alice's and bob's windows; bob is in alice's group "lab", its tab closed (what comes
    stays unread). Returns (alice, bob, the group's key)."""
    alice = open_window("alice")
    bob = open_window("bob")
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("lab", ["bob"])
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.accept_invitation("lab")
    key = group_key("lab")
    bob.close_tab(bob.tabs.indexOf(bob.conversation_widget(key)))
    return alice, bob, key


def test_a_group_caught_up_after_a_restart_keeps_its_name_and_unread_count(qtbot,
                                                                          open_window):
    """Its tab was closed when the app quit: the catch-up makes its model, titled by the
    group list (it was titled by its key, "#group:lab": not a member, no badge)."""
    alice, bob, key = bob_in_lab_with_its_tab_closed(qtbot, open_window)
    alice.engine.send_group("lab", "hello lab")
    qtbot.waitUntil(lambda: texts(bob, key, MessageKind.OTHER) == ["hello lab"], timeout=10_000)
    assert bob.engine.unread(key) == 1
    bob.close()

    again = open_window("bob")
    # The restarted app catches up with the server (nothing new) and shows the cache.
    qtbot.waitUntil(lambda: texts(again, key, MessageKind.OTHER) == ["hello lab"],
                    timeout=10_000)
    assert again.engine.unread(key) == 1
    model = again.engine.conversation(key)
    row = again.engine.groups.group("lab")
    tab = again.open_group("lab")
    seen = (model.title, row.unread if row else None,
            again.tabs.tabText(again.tabs.indexOf(tab)), tab.writable, tab.closed_label.text())
    assert seen == ("lab", 1, "# lab", True, ""), seen


def test_leaving_a_group_drops_its_unread_count_from_the_title(qtbot, open_window):
    alice, bob, key = bob_in_lab_with_its_tab_closed(qtbot, open_window)
    for n in range(3):
        alice.engine.send_group("lab", f"news {n}")
    qtbot.waitUntil(lambda: len(texts(bob, key, MessageKind.OTHER)) == 3, timeout=10_000)
    assert bob.windowTitle().startswith("(3) ")
    # Groups list → right-click → Leave… (no tab open)
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        bob.engine.leave_group("lab", key=key)
    assert bob.engine.groups.group("lab") is None  # (listed as former: no count)
    assert key not in bob._tabs_by_key
    assert not bob.windowTitle().startswith("("), bob.windowTitle()


def group_menu(window, name: str) -> QMenu:
    """The context menu of group ``name`` in ``window``'s Groups list, as a right-click
    opens it."""
    model = window.groups_view.model()
    row = next(r for r in range(model.rowCount())
               if model.index(r, 0).data(GroupModel.NameRole) == name)
    window._group_menu(window.groups_view.visualRect(model.index(row, 0)).center())
    return [m for m in window.findChildren(QMenu) if m.isVisible()][-1]


def test_the_groups_list_offers_invite_only_to_who_may_invite(qtbot, open_window):
    """Right-click on a group in the Groups list always offered "Invite…", also to a member
    of an invite-only group who does not lead it, who heard "only the leader invites" only
    after picking people. It is offered as the tab's own Invite… button is enabled."""
    alice, bob = open_window("alice"), open_window("bob")
    for name, public in (("den", False), ("pub", True)):
        with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
            alice.engine.create_group(name, ["bob"], public=public)
        with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
            bob.engine.accept_invitation(name)
    actions = {(w.engine.user, g): [a.text() for a in group_menu(w, g).actions()]
               for w in (alice, bob) for g in ("den", "pub")}
    assert actions == {("alice", "den"): ["Open", "Invite…", "Leave…"],
                       ("alice", "pub"): ["Open", "Invite…", "Leave…"],
                       ("bob", "den"): ["Open", "Leave…"],  # invite-only: the leader invites
                       ("bob", "pub"): ["Open", "Invite…", "Leave…"]}
    assert not bob.open_group("den").invite_button.isEnabled()
    assert bob.open_group("pub").invite_button.isEnabled()


def test_a_group_left_stays_listed_for_its_history_until_taken_off_the_list(qtbot,
                                                                           open_window):
    """A group one left vanished from the Groups list: once its tab was closed (or the app
    restarted) nothing led back to what was said there."""
    alice, bob, key = bob_in_lab_with_its_tab_closed(qtbot, open_window)
    alice.engine.send_group("lab", "the plan is in the wiki")
    qtbot.waitUntil(lambda: texts(bob, key, OTHER) == ["the plan is in the wiki"],
                    timeout=10_000)
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        bob.engine.leave_group("lab", key=key)
    listed = bob.engine.groups
    assert listed.former() == ["lab"] and listed.group("lab") is None
    index = listed.index(listed.row_of("lab"), 0)
    assert index.data(GroupModel.LeftRole) is True
    assert "no longer a member" in index.data(Qt.ItemDataRole.ToolTipRole)
    menu = group_menu(bob, "lab")
    assert [a.text() for a in menu.actions()] == ["Open (history)", "Remove from list"]
    menu.actions()[0].trigger()
    tab = bob.conversation_widget(key)
    assert tab is not None and not tab.writable
    assert texts(bob, key, OTHER) == ["the plan is in the wiki"]
    bob.close()  # (with the tab open)

    again = open_window("bob")
    assert again.engine.groups.former() == ["lab"]
    tab = again.conversation_widget(key)  # the tab came back, for reading
    assert tab is not None and not tab.writable
    qtbot.waitUntil(lambda: texts(again, key, OTHER) == ["the plan is in the wiki"],
                    timeout=10_000)
    group_menu(again, "lab").actions()[1].trigger()  # Remove from list
    assert again.engine.groups.former() == [] and again.groups_view.model().rowCount() == 0
    again.close()

    third = open_window("bob")
    assert third.engine.groups.former() == []  # (taken off for good)
    with qtbot.waitSignal(third.engine.invitation_received, timeout=10_000):
        alice.engine.invite_to_group("lab", ["bob"])
    with qtbot.waitSignal(third.engine.group_joined, timeout=10_000):
        third.engine.accept_invitation("lab")
    with qtbot.waitSignal(third.engine.group_left, timeout=10_000):
        third.engine.leave_group("lab")
    assert third.engine.groups.former() == ["lab"]  # a membership lists it again


def test_a_long_choice_is_summed_up_in_the_group_dialog():
    """Thirty names made the dialog as wide as the whole list: past five it says how many."""
    assert invite_summary(["bob", "charlie"]) == "Invite: bob, charlie"
    names = [f"user{i:02d}" for i in range(33)]
    assert invite_summary(names) == \
        "Invite 33: user00, user01, user02, user03, user04 and 28 more"


def test_the_invitation_bar_shows_two_invitations_and_counts_the_rest(qtbot, open_window):
    """Six invitations took a third of the window: two are shown with their buttons, the
    rest summed up in one line, and the next comes up when one is answered."""
    alice, bob = open_window("alice"), open_window("bob")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    for name in ("den", "lab", "pub"):
        with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
            alice.engine.create_group(name, ["bob"])
    bar = bob.invitation_bar
    qtbot.waitUntil(lambda: len(bob.engine.groups.pending()) == 3)
    shown = [g for g in ("den", "lab", "pub") if bar.buttons(g) is not None]
    assert len(shown) == 2
    more = [w.text() for w in bar.findChildren(QLabel) if "more invitation" in w.text()]
    assert more == ["… and 1 more invitation: see the Groups list."]
    # Enter on the one the bar sums up offers Accept / Decline right there.
    (hidden,) = {"den", "lab", "pub"} - set(shown)
    model = bob.groups_view.model()
    row = next(r for r in range(model.rowCount())
               if model.index(r, 0).data(GroupModel.NameRole) == hidden)
    bob.groups_view.activated.emit(model.index(row, 0))
    menus = [m for m in bob.findChildren(QMenu) if m.isVisible()]
    assert [a.text() for a in menus[-1].actions()] == ["Accept invitation", "Decline invitation"]
    menus[-1].close()
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        qtbot.mouseClick(bar.buttons(shown[0])[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(bar.buttons(g) is not None
                                for g in ("den", "lab", "pub") if g != shown[0]))
    assert bar._more is None  # two left: both shown, no summary line


def test_empty_lists_say_what_to_do(qtbot, open_window):
    """An empty Groups list, or a contact search that matches nobody, was a blank box."""
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.rowCount() > 0)
    assert alice.groups_view.hint_text().startswith("No groups yet.")
    assert alice.roster_view.hint_text() == ""
    # (one name for the contact filters: the dialogs' "Filter contacts…")
    assert alice.contacts_filter.placeholderText() == "Filter contacts…"
    alice.contacts_filter.setText("zzz")
    assert alice.roster_view.hint_text() == "Nobody matches “zzz”."
    image = alice.groups_view.viewport().grab().toImage()
    base = image.pixelColor(2, 2)
    assert any(image.pixelColor(x, y) != base for x in range(0, image.width(), 2)
               for y in range(0, 40, 2))  # the hint is drawn
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("lab", [], public=True)
    assert alice.groups_view.hint_text() == ""


def test_pick_lists_are_in_name_order(qtbot, open_window):
    """The contact list puts those online first; a pick list shows no presence, so in that
    order it looked random: the group dialog (and the preferences' list) sort by name."""
    alice, _charlie = open_window("alice"), open_window("charlie")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("charlie").online)
    roster = alice.engine.roster
    assert [roster.index(r, 0).data(RosterModel.NameRole)
            for r in range(roster.rowCount())] == ["charlie", "bob"]  # online first
    dialog = alice.ask_new_group(invite=[])
    assert dialog.picker.visible_names() == ["bob", "charlie"]
    dialog.reject()


def test_pick_lists_say_why_they_are_empty(qtbot, open_window):
    """A filter that matched nobody left the group dialog's list a blank box, as did an
    invitation with everyone invited already."""
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.rowCount() > 0)
    dialog = alice.ask_new_group(invite=[])
    assert dialog.membersView.hint_text() == ""
    qtbot.keyClicks(dialog.filterEdit, "zzz")
    assert dialog.membersView.hint_text() == "Nobody matches “zzz”."
    image = dialog.membersView.viewport().grab().toImage()
    base = image.pixelColor(2, 2)
    assert any(image.pixelColor(x, y) != base for x in range(0, image.width(), 2)
               for y in range(0, 40, 2))  # the hint is drawn
    dialog.reject()
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("lab", ["bob", "charlie"])
    invite = InviteDialog(alice.engine, "lab", alice)
    qtbot.addWidget(invite)
    assert invite.view.hint_text() == \
        "Nobody else to choose: everyone is in it or invited already."


def test_a_narrow_group_tab_gives_the_conversation_the_room(qtbot, open_window):
    """At 480 px the member panel left about 160 px for the conversation: below
    ``NARROW`` it steps aside (the header still counts members), and comes back wider."""
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("lab", [], public=True)
    tab = alice.open_group("lab")
    alice.resize(900, 600)
    qtbot.waitUntil(lambda: tab.member_panel.isVisible())
    alice.sidebar_action.trigger()  # and the contacts: only the conversation is left
    alice.resize(480, 600)
    qtbot.waitUntil(lambda: not tab.member_panel.isVisible())
    qtbot.waitUntil(lambda: tab.view.width() > 400)  # (the layout follows)
    assert not tab.members_button.isChecked()
    alice.resize(900, 600)
    qtbot.waitUntil(lambda: tab.member_panel.isVisible())
    assert tab.members_button.isChecked()
    # The header's Members button brings it back in a narrow tab (it was gone for good,
    # with Invite and Leave), and hides it in a wide one; the choice holds.
    alice.resize(480, 600)
    qtbot.waitUntil(lambda: not tab.member_panel.isVisible())
    qtbot.mouseClick(tab.members_button, Qt.MouseButton.LeftButton)
    assert tab.member_panel.isVisible() and tab.leave_button.isVisible()
    alice.resize(900, 600)
    qtbot.mouseClick(tab.members_button, Qt.MouseButton.LeftButton)
    assert not tab.member_panel.isVisible()
    alice.resize(950, 600)
    qtbot.waitUntil(lambda: tab.width() >= 900)
    assert not tab.member_panel.isVisible()


def test_a_group_one_was_removed_from_while_offline_counts_no_unread(qtbot, open_window):
    """Removed from a group while the link was down: after the reconnect the group was gone
    from the list but its two unread messages stayed in the window title for the session,
    with nothing left to open to clear them (a groups hunt)."""
    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(alice.engine.invitation_received, timeout=10_000):
        bob.engine.create_group("lab", ["alice"])
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.accept_invitation("lab")
    bob.engine.send_group("lab", "one")
    bob.engine.send_group("lab", "two")
    qtbot.waitUntil(lambda: alice.windowTitle().startswith("(2) "), timeout=10_000)
    with qtbot.waitSignal(alice.engine.reconnect_scheduled, timeout=10_000):
        alice.engine._conn._socket.abort()  # (her Wi-Fi drops)
    alice.engine._reconnect_timer.stop()
    bob.engine.remove_from_group("lab", "alice")
    qtbot.waitUntil(lambda: bob.engine.groups.group("lab").members == ("bob",))
    with qtbot.waitSignals([alice.engine.resumed, alice.engine.group_left], timeout=10_000):
        alice.engine.reconnect_now()
    assert alice.engine.groups.group("lab") is None
    assert alice.engine.unread(group_key("lab")) == 0
    assert not alice.windowTitle().startswith("("), alice.windowTitle()


def test_a_new_group_reusing_a_dissolved_ones_name_is_told_apart(qtbot, open_window):
    """A group dissolved and its name taken again (in another case) by a new group: a former
    member's tab showed the old group's history under the old spelling, as if one group
    (a groups hunt). Now the tab takes the new name, and a notice divides the two."""
    alice, bob, charlie = open_window("alice"), open_window("bob"), open_window("charlie")
    bob_in_lab_with_history(qtbot, alice, bob, text="old news")
    key = group_key("lab")
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        alice.engine.remove_from_group("lab", "bob")
    with qtbot.waitSignal(alice.engine.group_left, timeout=10_000):
        alice.engine.leave_group("lab")  # the last member: the group is dissolved
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        charlie.engine.create_group("Lab", ["bob"])
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.accept_invitation("Lab")
    widget = bob._tabs_by_key[key]
    assert widget.model.title == "Lab"
    assert bob.tabs.tabText(bob.tabs.indexOf(widget)) == "# Lab"
    assert widget.title_label.text() == "# Lab"
    notices = texts(bob, key, SYSTEM)
    assert any(n.startswith("A new group Lab was created on ") and
               n.endswith("the messages above were in an earlier group of that name.")
               for n in notices), notices
    charlie.engine.send_group("Lab", "new news")
    qtbot.waitUntil(lambda: texts(bob, key, OTHER) == ["old news", "new news"],
                    timeout=10_000)
    items = [widget.model.item(r).text for r in range(widget.model.rowCount())]
    divider = next(i for i, t in enumerate(items) if t.startswith("A new group Lab"))
    assert items.index("old news") < divider < items.index("new news")
    # The first group of a name in this app says nothing of the kind.
    assert not any("A new group" in n for n in texts(charlie, key, SYSTEM))


def test_the_leave_question_names_the_next_leader_or_says_the_group_ends():
    """A leader leaving was asked the same as anyone (a groups hunt): who leads next, or that
    the group ends with its last member, was found out afterwards."""
    def row(leader, members, invited=(), public=False):
        return GroupRow("lab", leader, tuple(members), tuple(invited), public, True, False,
                        "", 0, 1.0)

    text = groups.leave_consequences(row("alice", ["alice", "bob", "carol"]), "Alice")
    assert "bob becomes its leader (the longest-standing member)." in text
    assert "invitation from its leader" in text
    text = groups.leave_consequences(row("alice", ["alice", "bob"], public=True), "bob")
    assert "leader" not in text and text.endswith("To come back, join it again.")
    text = groups.leave_consequences(row("alice", ["alice"], ["dave", "erin"]), "alice")
    assert text == ("You are its last member: the group ends, and its name is free for a "
                    "new group. The invitations to dave, erin are withdrawn.")
    assert "join it again" in groups.leave_consequences(None, "alice")


def test_the_invitation_bar_counts_the_members_who_accepted_meanwhile(qtbot, open_window):
    """The bar kept saying "(invite-only, 1 member)" while the Groups list under it said
    "2 members" (a class of 20: "1 member" beside "20 members"; a hunt); its buttons stay."""
    alice, bob, charlie = open_window("alice"), open_window("bob"), open_window("charlie")
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("class", ["bob", "charlie"])
    accept, _decline = bob.invitation_bar.buttons("class")
    with qtbot.waitSignal(charlie.engine.group_joined, timeout=10_000):
        charlie.engine.accept_invitation("class")
    qtbot.waitUntil(lambda: len(bob.engine.groups.group("class").members) == 2,
                    timeout=10_000)
    text = " ".join(label.text() for label in bob.invitation_bar.findChildren(QLabel))
    assert "(invite-only, 2 members)" in text, text
    assert bob.invitation_bar.buttons("class")[0] is accept


def test_an_invitation_to_a_group_that_ended_says_why_it_went(qtbot, open_window):
    """alice invited bob to "lab" and then left it, its last member: bob's yellow bar
    vanished without a word, and Everyone still read "alice invited you to the invite-only
    group lab" — nothing said the group was gone (his Accept, clicked a moment late, said
    nothing either). An invitation declined on his other computer goes quietly."""
    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("lab", ["bob"])
    assert bob.invitation_bar.buttons("lab") is not None
    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.leave_group("lab")
    assert bob.invitation_bar.buttons("lab") is None and bob.engine.groups.rows() == []
    assert texts(bob, EVERYONE, SYSTEM)[-1] == \
        "The invitation to lab lapsed: the group ended (its last member left)."
    # Declined (here or elsewhere): no such line.
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("den", ["bob"])
    before = texts(bob, EVERYONE, SYSTEM)
    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        bob.engine.decline_invitation("den")
    qtbot.waitUntil(lambda: "bob declined the invitation" in texts(
        alice, group_key("den"), SYSTEM), timeout=10_000)
    assert not [t for t in texts(bob, EVERYONE, SYSTEM) if t not in before
                and "lapsed" in t]


def test_a_double_click_on_accept_joins_without_saying_it_could_not(qtbot, open_window):
    """A double-click on the invitation bar's Accept (its buttons stayed live until the
    server answered) sent two ``group_accept``s: bob joined, and the status bar then said
    "Could not accept the invitation to den: you are in den already". The invitation's
    buttons go grey at the first click."""
    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("den", ["bob"], public=False)
    qtbot.waitUntil(lambda: bob.invitation_bar.buttons("den") is not None)
    failed: list = []
    bob.engine.group_failed.connect(lambda *args: failed.append(args))
    accept, decline = bob.invitation_bar.buttons("den")
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    assert not accept.isEnabled() and not decline.isEnabled()
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)  # (the second half of a double-click)
    qtbot.waitUntil(lambda: bob.engine.groups.group("den").member)
    with qtbot.waitSignal(bob.engine.message_acked, timeout=10_000):
        bob.engine.send_group("den", "hi")  # answered after a second accept would be
    assert failed == []
    assert "Could not" not in bob.statusBar().currentMessage()
    # An answer refused (here: the server too busy), and the buttons work again.
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("attic", ["bob"], public=False)
    accept, decline = bob.invitation_bar.buttons("attic")
    qtbot.mouseClick(decline, Qt.MouseButton.LeftButton)
    assert not accept.isEnabled()
    bob.engine.group_failed.emit("decline", "attic", "rate_limited", "slow down")
    assert accept.isEnabled() and decline.isEnabled()


def bob_in_lab_with_history(qtbot, alice, bob, name="lab", text="the plan"):
    """bob joins alice's group ``name``, where alice says ``text``."""
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group(name, ["bob"])
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.accept_invitation(name)
    alice.engine.send_group(name, text)
    qtbot.waitUntil(lambda: texts(bob, group_key(name), OTHER) == [text], timeout=10_000)


def test_a_new_computer_lists_a_former_group_in_its_first_session(qtbot, open_window,
                                                                   tmp_path):
    """Its history came with the first catch-up, the row only after a restart (a hunt)."""
    alice, bob = open_window("alice"), open_window("bob")
    bob_in_lab_with_history(qtbot, alice, bob)
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        bob.engine.leave_group("lab")
    assert bob.engine.groups.former() == ["lab"]
    # bob's laptop (a new computer): the catch-up brings lab's history.
    laptop = open_window("bob", data_dir=tmp_path / "laptop")
    key = group_key("lab")
    qtbot.waitUntil(lambda: texts(laptop, key, OTHER) == ["the plan"], timeout=10_000)
    qtbot.waitUntil(lambda: laptop.engine.groups.former() == ["lab"], timeout=10_000)


def test_a_former_group_keeps_its_spelling_after_a_restart(qtbot, open_window):
    """The row said "PhysicsLab", its tab "# physicslab" (a hunt)."""
    alice, bob = open_window("alice"), open_window("bob")
    bob_in_lab_with_history(qtbot, alice, bob, "PhysicsLab")
    key = group_key("PhysicsLab")
    bob.close_tab(bob.tabs.indexOf(bob.conversation_widget(key)))
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        bob.engine.leave_group("PhysicsLab")
    bob.close()
    bob.engine.close()
    qtbot.waitUntil(lambda: not bob.engine.logged_in)
    again = open_window("bob")
    assert again.engine.groups.former() == ["PhysicsLab"]
    qtbot.waitUntil(lambda: not again.engine._resuming, timeout=10_000)
    tab = again.open_group("PhysicsLab")  # the row's "Open (history)"
    assert (tab.model.title, again.tabs.tabText(again.tabs.indexOf(tab))) == \
        ("PhysicsLab", "# PhysicsLab")


def test_a_later_membership_on_another_computer_lists_a_removed_row_again(qtbot, open_window,
                                                                         tmp_path):
    """Taken off the list on the desktop, joined and left again on the laptop: the desktop
    never listed it again (a hunt)."""
    alice, bob = open_window("alice"), open_window("bob")
    bob_in_lab_with_history(qtbot, alice, bob)
    key = group_key("lab")
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        bob.engine.leave_group("lab")
    assert bob.engine.forget_group("lab")  # Remove from list, on the desktop
    bob.close()
    bob.engine.close()
    qtbot.waitUntil(lambda: not bob.engine.logged_in)
    # Next week, on the laptop: invited again, joined, talked, left.
    laptop = open_window("bob", data_dir=tmp_path / "laptop")
    with qtbot.waitSignal(laptop.engine.invitation_received, timeout=10_000):
        alice.engine.invite_to_group("lab", ["bob"])
    with qtbot.waitSignal(laptop.engine.group_joined, timeout=10_000):
        laptop.engine.accept_invitation("lab")
    alice.engine.send_group("lab", "second round")
    qtbot.waitUntil(lambda: "second round" in texts(laptop, key, OTHER), timeout=10_000)
    with qtbot.waitSignal(laptop.engine.group_left, timeout=10_000):
        laptop.engine.leave_group("lab")
    desktop = open_window("bob")
    qtbot.waitUntil(lambda: "second round" in texts(desktop, key, OTHER), timeout=10_000)
    assert desktop.engine.groups.former() == ["lab"]


def test_a_read_only_tab_of_a_former_group_reinvited_comes_back_after_a_restart(
        qtbot, open_window):
    """Invited again and not answered yet: after a restart its history was out of reach
    until the invitation was accepted (a hunt)."""
    alice, bob = open_window("alice"), open_window("bob")
    bob_in_lab_with_history(qtbot, alice, bob)
    key = group_key("lab")
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        alice.engine.remove_from_group("lab", "bob")
    assert bob.conversation_widget(key) is not None  # open, for reading
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.invite_to_group("lab", ["bob"])  # not answered yet
    bob.close()
    bob.engine.close()
    qtbot.waitUntil(lambda: not bob.engine.logged_in)
    again = open_window("bob")
    assert again.engine.groups.group("lab").pending
    assert again.conversation_widget(key) is not None
    assert "Open (history)" in [a.text() for a in group_menu(again, "lab").actions()]


def test_the_invitation_limit_names_the_person_as_spelt(qtbot, open_window, monkeypatch):
    """"Bob already has 50 invitations …": the server's sentence began with a name, and the
    dialog capitalised it (a hunt)."""
    from messenger.server import groups as server_groups

    monkeypatch.setattr(server_groups, "MAX_WAITING_INVITATIONS", 2)
    alice, bob = open_window("alice"), open_window("bob")
    for n in range(2):
        alice.engine.create_group(f"g{n}", ["bob"])
    qtbot.waitUntil(lambda: len(bob.engine.groups.pending()) == 2, timeout=10_000)
    dialog = alice.ask_new_group(invite=[])
    qtbot.keyClicks(dialog.nameEdit, "lab")
    check_in_picker(qtbot, dialog, "bob")
    with qtbot.waitSignal(alice.engine.group_failed, timeout=10_000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.error_text().startswith("bob already has 2 invitations waiting")
    assert dialog.error_text().endswith(".")


def test_the_member_panel_shows_presence_unknown_while_disconnected(qtbot, open_window,
                                                                     tmp_path):
    """Disconnected, the contact list shows presence as unknown, but the member panel
    still said "You, online" (a green dot) and "offline" for the others (a solid grey one):
    it shows the empty ring and "presence unknown" now, and the presence is back with the
    login."""
    alice, _bob, key = bob_in_lab_with_its_tab_closed(qtbot, open_window)
    qtbot.waitUntil(lambda: "bob" in alice.engine.groups.group("lab").members)
    tab = alice.conversation_widget(key)
    members = tab.members
    qtbot.waitUntil(lambda: members.rowCount() == 2)

    def centre(name: str):
        """The colour at the centre of ``name``'s presence dot."""
        view = tab.members_view
        rect = view.visualRect(members.index(members.names().index(name), 0))
        image = view.viewport().grab().toImage()
        ratio = image.devicePixelRatio()
        return image.pixelColor(int((rect.left() + 14) * ratio),
                                int(rect.center().y() * ratio))

    def tips() -> list[str]:
        return [members.index(r, 0).data(Qt.ItemDataRole.ToolTipRole)
                for r in range(members.rowCount())]

    assert centre("alice") == delegates.ONLINE and centre("bob") == delegates.ONLINE
    engine = alice.engine
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()  # the link breaks
    alice.grab().save(str(tmp_path / "members.png"))
    assert tips() == ["alice (you), leader, presence unknown (not connected)",
                      "bob, presence unknown (not connected)"]
    assert not any(members.index(r, 0).data(MembersModel.OnlineRole) for r in range(2))
    assert members.index(0, 0).data(MembersModel.PresenceKnownRole) is False
    for name in ("alice", "bob"):  # an empty ring: the row's background in the middle
        assert centre(name) not in (delegates.ONLINE, delegates.OFFLINE)
    engine.reconnect_now()
    qtbot.waitUntil(lambda: engine.logged_in, timeout=10_000)
    assert tips() == ["alice (you), leader, online", "bob, online"]
    assert centre("alice") == delegates.ONLINE


def test_logging_out_with_unsent_messages_asks_first(qtbot, open_window, server,
                                                     monkeypatch):
    """The server is away; alice writes "hand in by friday" (a clock) and logs out of a lab
    computer: the message stays there and goes only when she next logs in *there*, which may
    be never, and nothing said so (a hunt). The logout asks; Cancel keeps the session."""
    from messenger.gui import main_window

    alice = open_window("alice")
    server.close()
    qtbot.waitUntil(lambda: not alice.engine.logged_in, timeout=10_000)
    assert alice.engine.send_broadcast("hand in by friday")
    asked: list[int] = []
    monkeypatch.setattr(main_window, "confirm_logout_unsent",
                        lambda parent, count, failed=0, **_: asked.append(count) or False)
    alice.logout_action.trigger()  # File → Log out; Cancel
    assert asked == [1] and alice.isVisible() and not alice.logout_chosen
    monkeypatch.setattr(main_window, "confirm_logout_unsent",
                        lambda parent, count, failed=0, **_: True)
    alice.logout_action.trigger()
    assert alice.logout_chosen and not alice.isVisible()


def test_log_out_does_not_promise_that_a_refused_message_goes_later(
        qtbot, open_window, server, monkeypatch):
    """A message the server refused for good (✗, e.g. to a name with no account: "Retry"
    or "Delete") is counted as "not sent yet" by File → Log out, whose question says "They
    stay on this computer and go the next time you log in here": a refused message never
    goes by itself, and every later log-out asked again about it (a hunt)."""
    from messenger.gui import main_window

    alice = open_window("alice")
    assert alice.engine.send_unicast("nosuchperson", "hello?")
    model = alice.engine.conversation("nosuchperson")
    qtbot.waitUntil(lambda: any(i.state is DeliveryState.FAILED for i in model.items()),
                    timeout=10_000)
    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(
        main_window, "confirm_logout_unsent",
        lambda parent, count, failed=0, **_: asked.append((count, failed)) or False)
    server.close()  # one typed offline does go later: asked, the refused one named apart
    qtbot.waitUntil(lambda: not alice.engine.logged_in, timeout=10_000)
    later = alice.engine.send_broadcast("later")
    alice.logout_action.trigger()  # (Cancel)
    assert asked == [(1, 1)] and alice.isVisible()
    assert alice.engine.discard(later)
    alice.logout_action.trigger()
    assert asked == [(1, 1)], "asked to keep a refused message that will never go by itself"
    assert alice.logout_chosen and not alice.isVisible()


def test_logging_out_with_a_delete_for_everyone_not_made_yet_asks_first(
        qtbot, open_window, server, monkeypatch):
    """alice sent bob the wrong thing; the server is away when she chooses "Delete for
    everyone…" (the app says it will be deleted once back online), and she logs out of the
    lab computer. Her deletion stays in that computer's cache and is made only when she
    next logs in *there*, while bob keeps reading the message; File → Log out asked only
    about unsent messages (a hunt). It asks about waiting edits and deletions too."""
    from messenger.client.conversations import peer_key
    from messenger.gui import main_window

    bob = open_window("bob")
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000) as acked:
        alice.engine.send_unicast("bob", "the exam answers: b, d, a")
    seq = acked.args[1]
    qtbot.waitUntil(lambda: bob.engine.store.message(seq) is not None, timeout=10_000)
    with qtbot.waitSignal(alice.engine.reconnect_scheduled, timeout=10_000):
        alice.engine._conn._socket.abort()  # the link is gone (the server is away)
    alice.engine._reconnect_timer.stop()
    monkeypatch.setattr(main_window, "confirm_retract", lambda parent: True)
    assert alice.retract(peer_key("bob"), seq)  # "will be deleted once you are back online"
    asked: list[tuple[int, int, int]] = []
    monkeypatch.setattr(
        main_window, "confirm_logout_unsent",
        lambda parent, count, failed=0, edits=0, deletes=0:
        asked.append((count, edits, deletes)) or False)
    alice.logout_action.trigger()  # File → Log out; Cancel
    assert asked == [(0, 0, 1)] and alice.isVisible() and not alice.logout_chosen
    assert main_window.logout_waiting_text(0, 0, 1) == "1 deletion is not made yet"
    assert main_window.logout_waiting_text(2, 1, 0) == \
        "2 messages are not sent yet; 1 edit is not made yet"


def test_a_new_invitation_does_not_throw_away_the_keyboard_focus(qtbot, open_window):
    """Bob tabbed to "Accept" on an invitation; while he read it, a second invitation came.
    The bar was rebuilt (every row's buttons deleted, the focused one with them) and the
    keyboard focus went nowhere: his next Space, Enter or Tab did nothing and a screen
    reader went silent (a hunt). The rows stay; a row that goes (he declined it) hands the
    focus to the same button of the next invitation."""
    bob = active(qtbot, open_window("bob"))
    alice = open_window("alice")
    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.create_group("first", invite=["bob"])
    qtbot.waitUntil(bob.invitation_bar.isVisible)
    active(qtbot, bob)
    accept, decline = bob.invitation_bar.buttons("first")
    accept.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: bob.focusWidget() is accept)

    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.create_group("second", invite=["bob"])
    qtbot.waitUntil(lambda: bob.invitation_bar.buttons("second") is not None)
    assert bob.invitation_bar.buttons("first") == (accept, decline)
    assert QApplication.focusWidget() is accept

    qtbot.keyClick(accept, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is decline
    qtbot.keyClick(decline, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: bob.invitation_bar.buttons("first") is None, timeout=10_000)
    assert QApplication.focusWidget() is bob.invitation_bar.buttons("second")[1]


def _overflows(label: QLabel) -> bool:
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
    """With a 16 pt desktop font, in a window 700 px wide, an invitation to a group with a
    long name ("Engineering_Department_Meetings", 31 characters: group names have no
    spaces) showed "…invited you to Engineering_Departmen", cut in the middle of a letter:
    the label word-wraps, but a name without spaces could not wrap (a hunt). Bob could not
    read which group invited him."""
    bob = open_window("bob")
    bob.resize(700, 600)
    alice = open_window("alice")
    name = "Engineering_Department_Meetings"
    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.create_group(name, invite=["bob"])
    qtbot.waitUntil(bob.invitation_bar.isVisible)
    label = next(iter(bob.invitation_bar._rows.values()))[3]  # (row, accept, decline, label)
    assert label.isVisible()
    qtbot.waitUntil(lambda: not _overflows(label))


def test_at_its_minimum_size_the_window_does_not_hide_the_message_box(qtbot, open_window):
    """With an invitation waiting, the window could be made as small as without one: its
    minimum counted the invitation bar at one line, while at that width the bar took three
    (a hunt). At the minimum size the message box ran under the status bar (its last line
    hidden) and Attach / Send were squeezed to 14 px, their labels cut."""
    bob = active(qtbot, open_window("bob"))
    tab = bob.open_conversation("alice")
    alice = open_window("alice")
    with qtbot.waitSignal(bob.engine.groups.pending_changed, timeout=10_000):
        alice.engine.create_group("a_really_long_group_name_here_32", invite=["bob"])
    qtbot.waitUntil(bob.invitation_bar.isVisible)
    bob.resize(10, 10)  # (clamped to the window's minimum size)
    central = bob.centralWidget()

    def fits() -> bool:
        bottom = tab.compose.mapTo(central, QPoint(0, tab.compose.height())).y()
        return bottom <= central.height() and all(
            button.height() >= button.minimumSizeHint().height()
            for button in (tab.send_button, tab.attach_button))

    qtbot.waitUntil(fits)


def test_shift_f10_opens_the_menu_of_a_group_in_the_list(qtbot, open_window, monkeypatch):
    """The Groups list's own actions (Leave…, Invite…, and for a group you left "Remove
    from list", which is nowhere else) were in a right-click menu only: the message list
    answered Shift+F10 (for keyboards without a Menu key, as most laptops'), the Groups
    list did not, so a keyboard-only user could not take a left group off the list (a
    hunt)."""
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


def test_an_invitation_made_while_offline_names_who_invited(qtbot, open_window):
    """Invited while the app was closed (or on another computer): the bar read "Someone
    invited you to lab" after the login, as after every restart (the login's group list
    said nothing of the inviter)."""
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.group_joined, timeout=10_000):
        alice.engine.create_group("lab", ["bob"])
    bob = open_window("bob")
    qtbot.waitUntil(lambda: bob.invitation_bar.buttons("lab") is not None, timeout=10_000)
    text = " ".join(label.text() for label in bob.invitation_bar.findChildren(QLabel))
    assert "<b>alice</b> invited you to" in text, text
