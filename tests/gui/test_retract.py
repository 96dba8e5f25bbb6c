"""Delete for everyone: the sender's context menu on a sent message, a question first, then
the text is gone in both windows and a notice says a message was deleted. Edit, also from
the keyboard (Up in the empty compose box; the message list's focus ring)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent, QInputMethodEvent, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QStyleOptionViewItem

from messenger.client.connection import ConnectionState
from messenger.client.conversations import peer_key
from messenger.client.models import ConversationModel, MessageKind
from messenger.gui import main_window
from messenger.protocol import MAX_TEXT_LENGTH, RETRACTED_TEXT

from .conftest import active, texts, type_line


def test_delete_for_everyone_from_the_context_menu(qtbot, open_window, monkeypatch):
    asked: list[bool] = []
    answer = [False]
    monkeypatch.setattr(main_window, "confirm_retract",
                        lambda parent: asked.append(True) or answer[0])
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "the wrong secret", peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == ["the wrong secret"])
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    row = model.rowCount() - 1

    def delete_action():
        menu = tab.message_menu(row)
        return next(a for a in menu.actions() if a.text() == "Delete for everyone…")

    delete_action().trigger()  # asked, and the answer is Cancel: nothing happens
    assert asked == [True] and texts(alice, peer_key("bob"), MessageKind.OWN) == \
        ["the wrong secret"]
    answer[0] = True
    delete_action().trigger()
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == [RETRACTED_TEXT])
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OWN) == [RETRACTED_TEXT])
    # Said once, where the message was: no "alice deleted a message" line below later ones.
    assert texts(bob, peer_key("alice"), MessageKind.SYSTEM) == []
    assert texts(alice, peer_key("bob"), MessageKind.SYSTEM) == []
    cached = bob.engine.store.message(model.items()[row].seq)
    assert cached.text == RETRACTED_TEXT  # not back after a restart either
    menu = tab.message_menu(row)
    assert "Delete for everyone…" not in [a.text() for a in menu.actions()]
    # The placeholder reads as one: italics, and no delivery ticks (nothing left to read).
    option = QStyleOptionViewItem()
    option.font = tab.view.font()
    index = next(tab.proxy.index(r, 0) for r in range(tab.proxy.rowCount())
                 if tab.proxy.index(r, 0).data(ConversationModel.TextRole) == RETRACTED_TEXT)
    option.rect = tab.view.visualRect(index)
    bubble = tab.delegate._measure(option, index)
    assert bubble.deleted and bubble.ticks == "" and bubble.state is None
    assert bubble.body.font().italic()


def test_edit_a_sent_message(qtbot, open_window, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(main_window, "ask_new_text",
                        lambda parent, old: asked.append(old) or "see you at 4, not 3")
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "see you at 3", peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER) == ["see you at 3"])
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    row = model.rowCount() - 1
    menu = tab.message_menu(row)
    next(a for a in menu.actions() if a.text() == "Edit…").trigger()
    assert asked == ["see you at 3"]
    for window, peer, kind in ((bob, "alice", MessageKind.OTHER), (alice, "bob", MessageKind.OWN)):
        qtbot.waitUntil(lambda w=window, p=peer, k=kind:
                        texts(w, peer_key(p), k) == ["see you at 4, not 3"])
    bob_model = bob.engine.conversation(peer_key("alice"))
    assert bob_model.items()[-1].edited is not None  # "edited" beside the time
    assert texts(bob, peer_key("alice"), MessageKind.SYSTEM) == []  # no line of its own
    cached = bob.engine.store.message(bob_model.items()[-1].seq)
    assert (cached.text, cached.edited is not None) == ("see you at 4, not 3", True)


def test_the_edit_box_moves_on_with_tab_and_ends_with_ctrl_enter(qtbot):
    """The Edit message box (QInputDialog's) typed Tab into the text and had no key for
    OK; its note and the old text stay, the cursor at the end."""
    seen: list[tuple[str, bool]] = []

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        try:
            seen.append((dialog.findChild(QLabel).text(), dialog.text.textCursor().atEnd()))
            qtbot.keyClicks(dialog.text, " and 5")
            qtbot.keyClick(dialog.text, Qt.Key.Key_Tab)
            seen.append((dialog.text.toPlainText(), dialog.text.hasFocus()))
            qtbot.keyClick(dialog.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        finally:
            if dialog.isVisible():  # (not closed by Ctrl+Enter: fail, do not hang)
                dialog.reject()

    QTimer.singleShot(0, answer)
    assert main_window.ask_new_text(None, "at 4", "A note") == "at 4 and 5"
    assert seen == [("A note\n\nNew text:", True), ("at 4 and 5", False)]


def test_an_edit_too_long_to_send_is_asked_again_with_its_text(qtbot, open_window,
                                                                monkeypatch):
    """The server refused it after the dialog closed, and the new text was lost (a hunt)."""
    long_text = "y" * (MAX_TEXT_LENGTH + 1)
    asked: list[tuple[str, str]] = []

    def typed(parent, old, note=""):
        asked.append((old, note))
        return long_text if len(asked) == 1 else "shorter"

    monkeypatch.setattr(main_window, "ask_new_text", typed)
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "draft", peer_key("bob"))
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    next(a for a in tab.message_menu(model.rowCount() - 1).actions()
         if a.text() == "Edit…").trigger()
    assert asked[0] == ("draft", "") and asked[1][0] == long_text
    assert asked[1][1].startswith("Too long to send: 16,001 characters")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OWN) == ["shorter"])


def test_up_in_the_empty_compose_box_edits_the_newest_own_message(qtbot, open_window,
                                                                   monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(main_window, "ask_new_text",
                        lambda parent, old: asked.append(old) or None)  # then Cancel
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    for line in ("first", "second"):
        type_line(qtbot, alice, line, peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == ["first", "second"])
    bob.engine.send_unicast("alice", "bob's answer")  # newer, but not hers
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: [i.text for i in model.items()][-1:] == ["bob's answer"]
                    and all(i.seq is not None for i in model.items()))
    qtbot.keyClicks(tab.compose, "half")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Up)  # the box is not empty: the cursor moves
    assert asked == []
    tab.compose.clear()
    qtbot.keyClick(tab.compose, Qt.Key.Key_Up)
    assert asked == ["second"]


def test_up_and_escape_while_an_input_method_composes_stay_in_the_composition(
        qtbot, open_window, monkeypatch):
    """alice starts a Japanese word with an input method in the empty box ("いきます" still
    underlined, no text yet): an input method that passes Up (choosing a candidate) or
    Escape (dropping the composition) on to the box opened Edit on her last message, or
    cancelled the reply she was writing. While a word is being composed they are the input
    method's, not the box's shortcuts."""
    asked: list[str] = []
    monkeypatch.setattr(main_window, "ask_new_text",
                        lambda parent, old: asked.append(old) or None)
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "first", peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER) == ["first"])
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: all(i.seq is not None for i in model.items()))
    tab.reply("bob", "are you coming?", None)
    assert tab.reply_to is not None
    tab.compose.setFocus()
    QApplication.sendEvent(tab.compose, QInputMethodEvent("", []))  # (the IME starts)
    QApplication.sendEvent(tab.compose, QInputMethodEvent("いきます", []))  # being composed
    assert tab.compose.toPlainText() == "" and tab.compose.composing()
    qtbot.keyClick(tab.compose, Qt.Key.Key_Up)
    assert asked == [], "Up opened Edit while a word was being composed"
    qtbot.keyClick(tab.compose, Qt.Key.Key_Escape)
    assert tab.reply_to is not None, "Escape cancelled the reply while a word was composed"
    QApplication.sendEvent(tab.compose, QInputMethodEvent())  # (the composition ends)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Escape)
    assert tab.reply_to is None  # (without one, Escape still cancels the reply)


def test_the_message_list_takes_keyboard_focus_on_the_newest_message(qtbot, open_window,
                                                                      monkeypatch):
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    for n in range(3):
        bob.engine.send_unicast("alice", f"line {n}")
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.rowCount() == 3)
    tab.view.setFocus(Qt.FocusReason.BacktabFocusReason)
    qtbot.waitUntil(tab.view.hasFocus)
    current = tab.view.currentIndex()
    assert current.row() == tab.proxy.rowCount() - 1
    assert current.data(ConversationModel.TextRole) == "line 2"
    # The focus ring: the palette's highlight colour drawn around that bubble.
    highlight = tab.view.palette().color(QPalette.ColorRole.Highlight).name()
    rect = tab.view.visualRect(current)
    image = tab.view.viewport().grab().toImage()
    assert any(image.pixelColor(x, y).name() == highlight
               for x in range(max(0, rect.left()), min(image.width(), rect.right()))
               for y in range(max(0, rect.top()), min(image.height(), rect.bottom())))
    menus: list = []
    monkeypatch.setattr(QMenu, "popup", lambda menu, pos, at=None: menus.append(
        [a.text() for a in menu.actions()]))
    qtbot.keyClick(tab.view, Qt.Key.Key_Up)  # the arrows move the current message
    qtbot.keyClick(tab.view, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert tab.view.currentIndex().data(ConversationModel.TextRole) == "line 1"
    assert menus == [["Copy text", "Reply"]]  # its menu (bob's message: nothing to edit)
    tab.compose.setFocus()
    qtbot.waitUntil(tab.compose.hasFocus)
    image = tab.view.viewport().grab().toImage()
    assert not any(image.pixelColor(x, y).name() == highlight
                   for x in range(max(0, rect.left()), min(image.width(), rect.right()))
                   for y in range(max(0, rect.top()), min(image.height(), rect.bottom())))


def test_a_right_click_below_the_messages_opens_no_message_menu(qtbot, open_window,
                                                               monkeypatch):
    """A right-click on the empty space below the last message of a short conversation
    opened the menu of the message clicked last (Edit…, Delete for everyone…) where
    nothing was pointed at: the menu fell back to the current message, which only the
    keyboard's Menu key means (a hunt). The mouse's menu is the one of the bubble under it,
    or none."""
    menus: list = []
    monkeypatch.setattr(QMenu, "popup", lambda menu, pos, at=None: menus.append(
        [a.text() for a in menu.actions()]))
    bob = open_window("bob")
    alice = active(qtbot, open_window("alice"))
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "only this one", peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER) == ["only this one"])
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    index = tab.proxy.index(model.rowCount() - 1, 0)
    qtbot.waitUntil(lambda: tab.view.visualRect(index).isValid())
    rect = tab.view.visualRect(index)
    viewport = tab.view.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    assert tab.view.currentIndex().row() == index.row()

    def right_click(pos: QPoint) -> None:
        QApplication.sendEvent(viewport, QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos)))

    right_click(rect.center())  # on the message: its menu
    assert menus == [["Copy text", "Reply", "Edit…", "Delete for everyone…"]]
    below = QPoint(rect.center().x(), rect.bottom() + 40)
    assert below.y() < viewport.height() and not tab.view.indexAt(below).isValid()
    right_click(below)  # below it, on nothing: no menu
    assert menus == [["Copy text", "Reply", "Edit…", "Delete for everyone…"]]


def test_a_message_deleted_before_it_was_read_is_not_unread(qtbot, open_window):
    bob = open_window("bob")
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000) as acked:
        alice.engine.send_unicast("bob", "oops, wrong person")
    seq = acked.args[1]
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 1, timeout=10_000)
    alice.engine.retract(seq, peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == [RETRACTED_TEXT], timeout=10_000)
    assert bob.engine.unread(peer_key("alice")) == 0
    assert bob.engine.store.unread_seqs(peer_key("alice"), "bob") == []  # after a restart too


def test_edit_is_offered_only_where_the_server_allows_it(qtbot, open_window):
    """In a group one left, and for one's messages from before joining again, Edit… was
    offered and always refused (an edit needs membership since the message: a hunt).
    Delete for everyone, which the server allows, stays."""
    from messenger.client.conversations import group_key

    alice, bob = open_window("alice"), open_window("bob")
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("lab", ["bob"], public=True)
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.accept_invitation("lab")
    key = group_key("lab")
    tab = bob.open_group("lab")
    bob.engine.send_group("lab", "mine")
    qtbot.waitUntil(lambda: texts(alice, key, MessageKind.OTHER) == ["mine"])
    model = bob.engine.conversation(key)

    def menu_of(text: str) -> list[str]:
        row = next(r for r in range(model.rowCount()) if model.item(r).text == text)
        return [a.text() for a in tab.message_menu(row).actions()]

    assert {"Edit…", "Delete for everyone…"} <= set(menu_of("mine"))
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        bob.engine.leave_group("lab")
    assert "Edit…" not in menu_of("mine") and "Delete for everyone…" in menu_of("mine")
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.join_group("lab")
    qtbot.waitUntil(lambda: tab.writable)
    assert "Edit…" not in menu_of("mine")  # (from the membership before)
    assert not tab.edit_last_message()  # (nor Up in the empty box)
    bob.engine.send_group("lab", "new one")
    qtbot.waitUntil(lambda: texts(alice, key, MessageKind.OTHER)[-1:] == ["new one"])
    qtbot.waitUntil(lambda: model.item(model.rowCount() - 1).seq is not None)
    assert "Edit…" in menu_of("new one")


def test_an_edit_and_a_delete_made_offline_are_made_when_back_not_thrown_away(
        qtbot, server, make_server, open_window, monkeypatch):
    """Edit… is offered while the link is down: the new text typed there was thrown away
    ("Not connected: … once you are back online"; a client hunt). It is kept and made after
    the next login, as a message typed offline is sent then; so is a delete."""
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "see you at 3", peer_key("bob"))
    type_line(qtbot, alice, "bring the slides", peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == ["see you at 3", "bring the slides"])
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: all(i.seq is not None for i in model.items()
                                if i.kind is MessageKind.OWN))
    seq, other = [i.seq for i in model.items() if i.kind is MessageKind.OWN]
    server.close()  # (the train enters a tunnel)
    qtbot.waitUntil(lambda: alice.engine.state is not ConnectionState.LOGGED_IN,
                    timeout=10_000)
    monkeypatch.setattr(main_window, "ask_new_text",
                        lambda parent, old, note="": "see you at 4, not 3")
    menu = tab.message_menu(model.row_of_seq(seq))
    next(a for a in menu.actions() if a.text() == "Edit…").trigger()  # offered offline
    monkeypatch.setattr(main_window, "confirm_retract", lambda parent: True)
    assert alice.retract(peer_key("bob"), other)
    assert "will be edited once you are back online" in " ".join(
        i.text for i in model.items())
    # Deleted once back: no longer offered for an edit (the server refused it after the
    # deletion, "you have no message 3 to edit"; a hunt), nor to Up in the empty box.
    actions = [a.text() for a in tab.message_menu(model.row_of_seq(other)).actions()]
    assert "Edit…" not in actions and "Edit…" in [
        a.text() for a in tab.message_menu(model.row_of_seq(seq)).actions()]
    make_server(demo=True, data_dir=server.data_dir, port=server.port)
    alice.engine.reconnect_now()
    bob.engine.reconnect_now()
    qtbot.waitUntil(lambda: alice.engine.logged_in and bob.engine.logged_in, timeout=20_000)
    # The edit typed in the tunnel is made, as a message typed there would be sent.
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == ["see you at 4, not 3", RETRACTED_TEXT], timeout=5_000)


def test_editing_an_indented_message_without_changing_it_changes_nothing(
        qtbot, open_window, monkeypatch):
    """Pasted code keeps its first line's indentation when sent (the compose box keeps it
    on purpose). Edit… on such a message, then OK without a change: the window strips the
    dialog's text, finds it differs from the message and sends the edit, so the code loses
    its indentation in every app and is marked "edited" though nothing was changed
    (MainWindow.edit_message compares ``text.strip()`` with the old text)."""
    monkeypatch.setattr(main_window, "ask_new_text", lambda parent, old, note="": old)
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    code = "    if ready:\n        go()"
    tab.compose.setPlainText(code)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER) == [code])
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    assert model.items()[-1].text == code
    menu = tab.message_menu(model.rowCount() - 1)
    assert any(a.text() == "Edit…" for a in menu.actions())
    # (what Edit… runs; True means an edit went to the server)
    sent = alice.edit_message(peer_key("bob"), model.items()[-1].seq)
    assert sent is False, "an edit was sent for a text nobody changed"
    assert model.items()[-1].text == code


def alice_on_two_computers_wrote_to_bob(qtbot, open_window, tmp_path, text: str):
    """bob, alice's desktop window and her laptop window, and the seq of alice's ``text``
    to bob (cached on both of her computers)."""
    bob = open_window("bob")
    desktop = open_window("alice")
    laptop = open_window("alice", data_dir=tmp_path / "laptop")
    desktop.engine.send_unicast("bob", text)
    model = desktop.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.rowCount() and model.items()[-1].seq is not None
                    and laptop.engine.store.message(model.items()[-1].seq) is not None,
                    timeout=10_000)
    return bob, desktop, laptop, model.items()[-1].seq


def test_an_edit_typed_while_another_device_edits_does_not_overwrite_it(
        qtbot, open_window, server, tmp_path, monkeypatch):
    """alice opens "Edit…" on her desktop (the box shows "meet at 2"); while she types, her
    laptop changes the message to "meet at 4 (room B)". The desktop's edit went with the
    ``base`` of the text as it was *after* the dialog closed, so the server saw no conflict
    and the laptop's newer edit was lost everywhere (a hunt). It is made on the text the
    dialog showed: refused, and the desktop says so."""
    bob, desktop, laptop, seq = alice_on_two_computers_wrote_to_bob(
        qtbot, open_window, tmp_path, "meet at 2")
    model = desktop.engine.conversation(peer_key("bob"))

    def user_types_slowly(parent, old, note=""):
        assert old == "meet at 2"
        laptop.engine.edit(seq, peer_key("bob"), "meet at 4 (room B)")  # meanwhile
        qtbot.waitUntil(lambda: model.items()[-1].text == "meet at 4 (room B)",
                        timeout=10_000)
        return "meet at 3"  # what she typed over the text she was shown

    monkeypatch.setattr(main_window, "ask_new_text", user_types_slowly)
    assert desktop.edit_message(peer_key("bob"), seq)
    qtbot.waitUntil(lambda: not desktop.engine._saved_changes(), timeout=10_000)
    assert server.server.store.message(seq).text == "meet at 4 (room B)"
    qtbot.waitUntil(lambda: any("changed on another device" in t for t in
                                texts(desktop, peer_key("bob"), MessageKind.ERROR)))
    assert texts(bob, peer_key("alice"), MessageKind.OTHER) == ["meet at 4 (room B)"]


def test_an_edit_typed_while_another_device_deletes_the_message_says_so(
        qtbot, open_window, tmp_path, monkeypatch):
    """alice's laptop deletes the message while her desktop's Edit… box is open: the edit
    is not sent, and the tab says plainly why (not the server's "you have no message 3 to
    edit")."""
    _bob, desktop, laptop, seq = alice_on_two_computers_wrote_to_bob(
        qtbot, open_window, tmp_path, "meet at 2")
    model = desktop.engine.conversation(peer_key("bob"))

    def deleted_meanwhile(parent, old, note=""):
        laptop.engine.retract(seq, peer_key("bob"))
        qtbot.waitUntil(lambda: model.items()[-1].text == RETRACTED_TEXT, timeout=10_000)
        return "meet at 3"

    monkeypatch.setattr(main_window, "ask_new_text", deleted_meanwhile)
    assert not desktop.edit_message(peer_key("bob"), seq)
    assert texts(desktop, peer_key("bob"), MessageKind.ERROR) == \
        ["Not edited: the message was deleted meanwhile."]
    assert not desktop.engine._saved_changes()
