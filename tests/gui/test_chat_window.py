"""Two app windows in one process chat through a real server; the login dialog."""

from __future__ import annotations

import re
import socket

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QHelpEvent, QInputMethodEvent
from PySide6.QtWidgets import QApplication, QMenu, QStyleOptionViewItem, QToolTip

from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE, peer_key
from messenger.client.engine import ClientEngine
from messenger.client.models import ConversationModel, DeliveryState, MessageKind, RosterModel
from messenger.client.pins import PinStore
from messenger.gui.login_dialog import LoginDialog
from messenger.gui.main_window import MainWindow
from messenger.gui.settings import app_settings
from messenger.protocol import MAX_TEXT_LENGTH

from .conftest import texts


def roster_unread(window: MainWindow, name: str) -> int:
    model = window.engine.roster
    return model.data(model.index(model.row_of(name), 0), RosterModel.UnreadRole)


def test_two_windows_chat_with_unread_badge(qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    bob = open_window("bob", "bob123")
    assert alice.windowTitle().startswith(f"alice@{server.host}:{server.port}")
    assert "Online as alice" in alice.state_label.text()
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)

    # alice double-clicks bob in her contact list.
    view = alice.roster_view
    rect = view.visualRect(alice.contact_index("bob"))
    # QListView only reports a double click on the item that received the press before it.
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    tab = alice.conversation_widget("bob")
    assert tab is not None and alice.tabs.currentWidget() is tab
    assert alice.tabs.tabText(alice.tabs.currentIndex()) == "bob"

    qtbot.keyClicks(tab.compose, "Hello Bob!")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(tab.compose, "Second line")
    assert tab.compose.toPlainText() == "Hello Bob!\nSecond line"
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert tab.compose.toPlainText() == ""
    assert texts(alice, "bob", MessageKind.OWN) == ["Hello Bob!\nSecond line"]

    # bob's window: the message is in his conversation with alice, with a badge on alice.
    assert texts(bob, "alice", MessageKind.OTHER) == ["Hello Bob!\nSecond line"]
    assert bob.current_key() == EVERYONE
    assert roster_unread(bob, "alice") == 1
    assert bob.engine.roster.names()[0] == "alice"

    bob.open_conversation("alice")
    assert roster_unread(bob, "alice") == 0
    bob_tab = bob.conversation_widget("alice")
    assert bob_tab.view.model().rowCount() >= 1
    assert bob.tabs.tabText(bob.tabs.currentIndex()) == "alice"


def test_ctrl_w_closes_a_tab_and_reopening_shows_history(qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    tab = alice.open_conversation("charlie")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000):
        tab.compose.setPlainText("see you later")
        tab.send_button.click()
    count = alice.tabs.count()
    qtbot.keyClick(tab.compose, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert alice.tabs.count() == count - 1
    assert alice.conversation_widget("charlie") is None
    # Everyone cannot be closed.
    alice.close_tab(alice.tabs.indexOf(alice.conversation_widget(EVERYONE)))
    assert alice.conversation_widget(EVERYONE) is not None
    reopened = alice.open_conversation("charlie")
    assert texts(alice, "charlie", MessageKind.OWN) == ["see you later"]
    assert reopened.view.model().rowCount() >= 1


def test_unknown_user_error_shows_in_that_conversation(qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    tab = alice.open_conversation("nobody")
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000):
        tab.compose.setPlainText("hello?")
        tab.compose.submit()
    (failed,) = [i for i in alice.engine.conversation("nobody").items()
                 if i.kind is MessageKind.OWN]
    assert failed.state is DeliveryState.FAILED
    assert failed.error == "the server had no account of that name"  # (not "no such user")
    # Said once: over the closed compose box, not again in other words in the bar.
    assert tab.closed_label.text() == "There is no user named “nobody” on this server."
    assert tab.failed_bar.isVisibleTo(tab) and tab.failed_label.text() == "1 message not sent."
    # Retried and refused again, then deleted: no notice lines are left behind.
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000):
        tab.retry_failed()
    tab.delete_failed()
    assert texts(alice, "nobody", MessageKind.OWN) == []
    assert texts(alice, "nobody", MessageKind.ERROR) == []
    assert texts(alice, EVERYONE, MessageKind.ERROR) == []


def test_broadcast_reaches_everyone_tab_and_long_text_wraps(qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    bob = open_window("bob", "bob123")
    long_text = "word " * 200
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        everyone = alice.conversation_widget(EVERYONE)
        everyone.compose.setPlainText(long_text)
        everyone.compose.submit()
    assert texts(bob, EVERYONE, MessageKind.OTHER) == [long_text.strip()]
    view = bob.conversation_widget(EVERYONE).view
    model = view.model()
    row = model.rowCount() - 1
    option = QStyleOptionViewItem()
    option.initFrom(view)
    hint = view.itemDelegate().sizeHint(option, model.index(row, 0))
    assert hint.width() <= view.viewport().width()
    assert hint.height() > 4 * view.fontMetrics().height()  # wrapped over several lines


def test_about_shows_the_log_file(qtbot, server, tmp_path):
    engine = ClientEngine()
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login("alice", "alice123")
    window = MainWindow(engine, log_file=tmp_path / "messenger.log")
    qtbot.addWidget(window)
    box = window.show_about()
    assert str(tmp_path / "messenger.log") in box.text()
    assert server.fingerprint in box.text()
    box.close()
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


# ------------------------------------------------------------------------------ login dialog


@pytest.fixture
def dialog(login_dialog):
    """The shown login dialog (tests/gui/conftest.py)."""
    return login_dialog


def test_login_dialog_shows_wrong_password(qtbot, dialog):
    qtbot.keyClicks(dialog.user_edit, "alice")
    qtbot.keyClicks(dialog.password_edit, "not-her-password")
    with qtbot.waitSignal(dialog.engine.login_failed, timeout=10_000):
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    assert dialog.error_text() == "Wrong user name or password."
    assert dialog.isVisible() and dialog.result() == 0
    assert dialog.submit_button.isEnabled()
    assert "SHA-256" in dialog.fingerprint_label.text()


def test_login_dialog_says_once_how_long_a_locked_account_waits(qtbot, dialog):
    """After the failed logins that lock the account, one sentence with the wait (it read
    "too many failed logins: this account is locked for 10 s. Try again in 10 s.")."""
    dialog.user_edit.setText("alice")
    dialog.password_edit.setText("not-her-password")
    for _ in range(4):  # --max-failed-logins is 3 by default
        with qtbot.waitSignal(dialog.engine.login_failed, timeout=10_000):
            dialog.submit()
    text = dialog.error_text()
    assert text.startswith("Too many failed logins: this account is locked"), text
    assert text.count(" s") == 1 and text.endswith(" s."), text


def test_login_dialog_registers_and_remembers_server_and_user(qtbot, dialog, server):
    dialog.create_check.setChecked(True)
    assert dialog.submit_button.text() == "Create account"
    dialog.user_edit.setText("dora")
    dialog.password_edit.setText("dora-secret")
    dialog.repeat_edit.setText("dora-secret")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        dialog.submit()
    assert dialog.engine.user == "dora" and dialog.engine.logged_in
    settings = app_settings()
    assert settings.value("login/user") == "dora"
    assert int(settings.value("login/port")) == server.port
    assert "dora-secret" not in open(settings.fileName(), encoding="utf-8").read()
    again = LoginDialog(ClientEngine())
    qtbot.addWidget(again)
    assert (again.host_edit.text(), again.port_spin.value(), again.user_edit.text()) == \
        (server.host, server.port, "dora")


def test_login_dialog_name_taken_and_short_password(qtbot, dialog):
    dialog.create_check.setChecked(True)
    dialog.user_edit.setText("a-name-pasted-that-is-longer-than-32")  # (not cut short)
    dialog.password_edit.setText("long-enough")
    dialog.submit()
    assert dialog.error_text().startswith("Enter your user name: 1–32 letters")
    dialog.user_edit.setText("Alice")
    dialog.password_edit.setText("short")
    dialog.submit()
    assert dialog.error_text() == "A password has 6 to 1024 characters."  # (one wording)
    dialog.password_edit.setText("long-enough")
    dialog.repeat_edit.setText("long-enough")
    with qtbot.waitSignal(dialog.engine.login_failed, timeout=10_000):
        dialog.submit()
    assert "is taken" in dialog.error_text()


def test_login_dialog_certificate_changed(qtbot, dialog, server):
    PinStore().pin(server.host, server.port, ":".join(["11"] * 32))
    dialog.user_edit.setText("alice")
    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(dialog.engine.connection_failed, timeout=10_000):
        dialog.submit()
    assert "certificate changed" in dialog.error_text()
    assert dialog.forget_button.isVisible()
    # Each fingerprint on lines of its own (one line of 95 characters was cut off), and no
    # earlier note about a certificate beside it.
    assert "\nNow:\n" in dialog.error_text() and not dialog.fingerprint_label.isVisible()
    dialog.adjustSize()
    assert dialog.error_label.width() >= dialog.error_label.fontMetrics().horizontalAdvance(
        server.fingerprint[:48])
    qtbot.mouseClick(dialog.forget_button, Qt.MouseButton.LeftButton)
    assert PinStore().get(server.host, server.port) is None
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        dialog.submit()
    assert PinStore().get(server.host, server.port) == server.fingerprint


def test_forget_pin_forgets_the_server_whose_certificate_changed(qtbot, dialog, server):
    """After "The server's certificate changed … 127.0.0.1:PORT", the user typed another
    server of theirs in the Server box and clicked "Forget the pinned key", still
    shown: the pin of the server now typed, which nothing was wrong with, was forgotten
    (its next connection a "first use" an attacker could answer), and the changed one
    stayed pinned."""
    pins = PinStore()
    wrong = ":".join(["11"] * 32)
    pins.pin(server.host, server.port, wrong)
    pins.pin("chat.example", server.port, server.fingerprint)  # another server, good pin
    dialog.user_edit.setText("alice")
    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(dialog.engine.connection_failed, timeout=10_000):
        dialog.submit()
    assert dialog.forget_button.isVisible()
    dialog.host_edit.setText("chat.example")
    assert not dialog.forget_button.isVisible()  # (not that server's to forget)
    dialog.host_edit.setText(server.host)
    dialog.port_spin.setValue(server.port + 1)
    assert not dialog.forget_button.isVisible()
    dialog.port_spin.setValue(server.port)
    assert dialog.forget_button.isVisible()
    dialog.host_edit.setText("chat.example")
    dialog._forget_pin()  # (were it clicked after all: the server that failed)
    assert pins.get("chat.example", server.port) == server.fingerprint
    assert pins.get(server.host, server.port) is None


def test_login_dialog_server_unreachable(qtbot, dialog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog.port_spin.setValue(port)
    dialog.user_edit.setText("alice")
    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(dialog.engine.connection_failed, timeout=10_000):
        dialog.submit()
    assert "Cannot reach the server" in dialog.error_text()
    assert dialog.isVisible() and dialog.submit_button.isEnabled()


def test_pasted_code_keeps_its_indentation_and_blank_lines_around_it_go(
        qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    tab = alice.open_conversation("bob")
    sent: list[str] = []
    tab.compose.submitted.connect(sent.append)
    tab.compose.setPlainText("\n  \n    if x:\n        y()\n\n  ")
    tab.compose.submit()
    tab.compose.setPlainText("   /help  ")
    tab.compose.submit()
    tab.compose.setPlainText(" \n \n")
    tab.compose.submit()  # blank: nothing
    assert sent == ["    if x:\n        y()", "/help"]
    # ... and it reaches the other side so: the command parser stripped it (a hunt).
    bob = open_window("bob", "bob123")  # (the first one came at his login)
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER) == [
        "    if x:\n        y()"], timeout=10_000)


def test_enter_while_an_input_method_is_composing_does_not_send_half_a_word(
        qtbot, server, open_window):
    """alice writes Japanese with an input method: "東京へ" is typed, "いきます" is still
    being composed (underlined, not yet converted). An input method that lets Enter through
    to the box (it confirms the candidate, as in Telegram, Signal or Slack) sent "東京へ" at
    once and threw away what was being composed. While a composition is open, Enter
    confirms it and sends nothing; the next Enter sends the whole text."""
    bob = open_window("bob", "bob123")
    alice = open_window("alice", "alice123")
    tab = alice.open_conversation("bob")
    tab.compose.setFocus()
    QApplication.sendEvent(tab.compose, QInputMethodEvent("", []))  # (the IME starts)
    tab.compose.insertPlainText("東京へ")
    QApplication.sendEvent(tab.compose, QInputMethodEvent("いきます", []))  # being composed
    sent: list[str] = []
    tab.compose.submitted.connect(sent.append)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert sent == [], "Enter sent the text while a word was still being composed"
    assert tab.compose.toPlainText() == "東京へ"  # (and the composition is still there)
    assert tab.compose.textCursor().block().layout().preeditAreaText() == "いきます"
    confirmed = QInputMethodEvent()
    confirmed.setCommitString("行きます")  # what the input method does with that Enter
    QApplication.sendEvent(tab.compose, confirmed)
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert sent == ["東京へ行きます"] and tab.compose.toPlainText() == ""


def test_a_run_of_one_senders_messages_names_them_once_and_private_tabs_not_at_all(
        qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    bob = open_window("bob", "bob123")
    charlie = open_window("charlie", "charlie123")
    for who, text in ((bob, "one"), (bob, "two"), (charlie, "three"), (bob, "four")):
        who.engine.send_broadcast(text)
        qtbot.waitUntil(lambda t=text: t in texts(alice, EVERYONE, MessageKind.OTHER),
                        timeout=5000)
    bob.engine.send_unicast("alice", "private one")
    bob.engine.send_unicast("alice", "private two")
    qtbot.waitUntil(lambda: len(texts(alice, "bob", MessageKind.OTHER)) == 2, timeout=5000)

    def headers(key: str) -> list[str]:
        tab = alice.open_conversation(key) if key != EVERYONE else \
            alice.conversation_widget(EVERYONE)
        view, delegate = tab.view, tab.delegate
        option = QStyleOptionViewItem()
        option.initFrom(view)
        model = view.model()
        return [delegate._measure_item(option, model.index(r, 0)).header
                for r in range(model.rowCount())
                if model.index(r, 0).data(ConversationModel.KindRole) == MessageKind.OTHER]

    assert headers(EVERYONE) == ["bob", "", "charlie", "bob"]
    assert headers("bob") == ["", ""]


def test_the_contact_search_filters_the_list_and_enter_opens_the_first(
        qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    roster = alice.engine.roster
    qtbot.waitUntil(lambda: roster.contact("charlie") is not None)

    def shown() -> list[str]:
        proxy = alice.contacts_proxy
        return [proxy.index(r, 0).data(RosterModel.NameRole) for r in range(proxy.rowCount())]

    everyone = shown()
    assert {"bob", "charlie"} <= set(everyone)
    qtbot.keyClicks(alice.contacts_filter, "CHA")
    assert shown() == ["charlie"] and not alice.contact_index("bob").isValid()
    qtbot.keyClick(alice.contacts_filter, Qt.Key.Key_Return)
    assert alice.current_key() == "charlie"
    assert alice.contacts_filter.text() == "" and shown() == everyone
    assert roster.rowCount() == len(everyone)  # the model itself is never filtered
    # Down goes from the filter into the list (it did nothing), Enter there opens the row.
    qtbot.keyClicks(alice.contacts_filter, "bo")
    qtbot.keyClick(alice.contacts_filter, Qt.Key.Key_Down)
    assert alice.roster_view.hasFocus() or alice.focusWidget() is alice.roster_view
    assert alice.roster_view.currentIndex().data(RosterModel.NameRole) == "bob"


def test_enter_in_the_contact_search_opens_the_name_typed_before_a_longer_one(
        qtbot, server, open_window):
    """The search matches anywhere in a name and online people come first: "bob" + Enter
    opened bobby (online), not bob (offline). The name typed wins, then a name that starts
    with it, then the first row."""
    alice = open_window("alice")
    others = [ClientEngine() for _ in range(2)]
    try:
        for engine, name in zip(others, ("bobby", "abob"), strict=True):
            with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
                engine.connect_to(server.host, server.port)
                engine.register(name, f"{name}123")
        roster = alice.engine.roster
        qtbot.waitUntil(lambda: all(roster.contact(n) is not None and roster.contact(n).online
                                    for n in ("bobby", "abob")))
        assert not roster.contact("bob").online

        def enter(typed: str) -> str | None:
            qtbot.keyClicks(alice.contacts_filter, typed)
            qtbot.keyClick(alice.contacts_filter, Qt.Key.Key_Return)
            return alice.current_key()

        assert enter("BOB") == "bob"  # not bobby, shown first
        assert enter("bo") == "bobby"  # not abob, shown first
        assert enter("ob") == "abob"  # (no name starts with it: the first shown)
    finally:
        for engine in others:
            engine.close()


def test_a_name_pasted_with_a_trailing_space_into_the_contact_filter_finds_the_contact(
        qtbot, open_window):
    """A name copied from a message ("bob ") and pasted into the filter box: the list said
    "Nobody matches “bob ”." and Enter opened nobody, though Enter already ignored the
    spaces - the filter itself did not."""
    alice = open_window("alice")
    qtbot.keyClicks(alice.contacts_filter, "bob ")
    proxy = alice.contacts_proxy
    assert [proxy.index(r, 0).data(RosterModel.NameRole)
            for r in range(proxy.rowCount())] == ["bob"]
    qtbot.keyClick(alice.contacts_filter, Qt.Key.Key_Return)
    assert alice.current_key() == peer_key("bob")


def test_picking_people_through_the_contact_search_keeps_each_pick(qtbot, open_window):
    """Type a name, Ctrl+click, type the next, Ctrl+click: only the last was kept (the
    filter dropped the selection of every row it hid). Picks are kept by name now."""
    open_window("bob")
    open_window("charlie")
    alice = open_window("alice")
    roster = alice.engine.roster
    qtbot.waitUntil(lambda: roster.contact("bob").online and roster.contact("charlie").online)
    view = alice.roster_view

    def pick_through_filter(typed: str, name: str) -> None:
        alice.contacts_filter.setText(typed)
        rect = view.visualRect(alice.contact_index(name))
        assert rect.isValid(), f"{name} is not shown"
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.ControlModifier, rect.center())
        alice.contacts_filter.clear()

    pick_through_filter("bob", "bob")
    pick_through_filter("char", "charlie")
    assert alice.selected_contacts() == ["bob", "charlie"]
    assert alice.multicast_button.isVisible()
    assert alice.multicast_button.text() == "Message 2 selected…"
    shown = [i.data(RosterModel.NameRole) for i in view.selectionModel().selectedRows()]
    assert sorted(shown) == ["bob", "charlie"]  # and the list shows both picked
    pick_through_filter("bo", "bob")  # Ctrl+click again: unpicked
    assert alice.selected_contacts() == ["charlie"]
    assert not alice.multicast_button.isVisible()


def test_the_window_title_keeps_the_account_while_reconnecting(qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    with qtbot.waitSignal(alice.engine.reconnecting, timeout=10_000):
        alice.engine._conn._socket.abort()  # the link breaks: the app reconnects by itself
    assert not alice.engine.logged_in  # (connecting again, as nobody yet)
    assert alice.windowTitle().startswith(f"alice@{server.host}:{server.port}")
    qtbot.waitUntil(lambda: alice.engine.logged_in, timeout=10_000)


def test_an_empty_conversation_says_so_until_the_first_message(qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    tab = alice.open_conversation("charlie")
    assert tab.empty_label.isVisibleTo(tab) and "Say hello to charlie" in tab.empty_label.text()
    qtbot.keyClicks(tab.compose, "hi")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert not tab.empty_label.isVisibleTo(tab)


def test_login_dialog_asks_before_trusting_a_new_server(qtbot, server):
    from PySide6.QtWidgets import QMessageBox

    from messenger.client.pins import PinStore

    engine = ClientEngine(ask_first_use=True)
    dlg = LoginDialog(engine, host=server.host, port=server.port)
    qtbot.addWidget(dlg)
    dlg.show()
    try:
        qtbot.keyClicks(dlg.user_edit, "alice")
        qtbot.keyClicks(dlg.password_edit, "alice123")
        dlg.submit()
        qtbot.waitUntil(lambda: dlg.trust_box is not None and dlg.trust_box.isVisible(),
                        timeout=10_000)
        assert server.fingerprint[:48] in dlg.trust_box.informativeText()
        dlg.trust_box.button(QMessageBox.StandardButton.Cancel).click()  # not sure: cancel
        qtbot.waitUntil(lambda: "did not trust" in dlg.error_text(), timeout=5000)
        assert PinStore().get(server.host, server.port) is None and not engine.logged_in
        dlg.submit()  # asked again; trusted this time
        qtbot.waitUntil(lambda: dlg.trust_box is not None and dlg.trust_box.isVisible(),
                        timeout=10_000)
        with qtbot.waitSignal(dlg.accepted, timeout=10_000):
            next(b for b in dlg.trust_box.buttons()
                 if b.text() == "Trust and connect").click()
        assert engine.logged_in and PinStore().get(server.host, server.port)
    finally:
        engine.close()
        qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_the_trust_question_says_when_the_certificate_is_already_trusted_elsewhere(
        qtbot, server):
    """The server is pinned as chat.example (its name on the LAN); typed by its IP address,
    the app asked "This is your first connection to 127.0.0.1:PORT … Compare it with the
    one the server's administrator gives you" although this computer already trusts this
    very certificate: users asked to re-check a server they know learn to click Trust
    without looking. It now says whose certificate it is, and Trust is the default."""
    from PySide6.QtWidgets import QMessageBox

    PinStore().pin("chat.example", server.port, server.fingerprint)
    engine = ClientEngine(ask_first_use=True)
    dlg = LoginDialog(engine, host=server.host, port=server.port, user="alice")
    qtbot.addWidget(dlg)
    dlg.show()
    try:
        dlg.password_edit.setText("alice123")
        dlg.submit()
        qtbot.waitUntil(lambda: dlg.trust_box is not None and dlg.trust_box.isVisible(),
                        timeout=10_000)
        assert dlg.trust_box.text() == ("This is the key you trusted for "
                                        f"chat.example:{server.port}.")
        assert f"{server.host}:{server.port}" in dlg.trust_box.informativeText()
        trust = dlg.trust_box.defaultButton()
        assert trust is not dlg.trust_box.button(QMessageBox.StandardButton.Cancel)
        with qtbot.waitSignal(dlg.accepted, timeout=10_000):
            trust.click()
        assert PinStore().get(server.host, server.port) == server.fingerprint
    finally:
        engine.close()
        qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 on this machine")
def test_the_trust_question_for_an_ipv6_server_writes_the_address_unambiguously(
        qtbot, make_server):
    """Connecting to a server on ::1, the trust question read "This is your first
    connection to ::1:41279." and Cancel "You did not trust the key of ::1:41279"
    ("::1:41279" is itself an IPv6 address; the pin is kept as "[::1]:41279", and the
    certificate-changed warning wrote it so). Now every message writes "[::1]:41279"."""
    from PySide6.QtWidgets import QMessageBox

    server = make_server(demo=True, host="::1")
    engine = ClientEngine(ask_first_use=True)
    dlg = LoginDialog(engine, host="::1", port=server.port, user="alice")
    qtbot.addWidget(dlg)
    dlg.show()
    try:
        dlg.password_edit.setText("alice123")
        dlg.submit()
        qtbot.waitUntil(lambda: dlg.trust_box is not None and dlg.trust_box.isVisible(),
                        timeout=10_000)
        assert f"[::1]:{server.port}" in dlg.trust_box.text(), dlg.trust_box.text()
        dlg.trust_box.button(QMessageBox.StandardButton.Cancel).click()
        qtbot.waitUntil(lambda: bool(dlg.error_text()), timeout=5000)
        assert f"[::1]:{server.port}" in dlg.error_text(), dlg.error_text()
    finally:
        engine.close()
        qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_trusting_after_the_server_gave_up_waiting_pins_and_logs_in(qtbot, server):
    """The user compares fingerprints for long; the server closes the connection meanwhile
    (its idle timeout): no error pops up, and Trust then pins and logs in anew."""
    from messenger.client.pins import PinStore

    engine = ClientEngine(ask_first_use=True)
    dlg = LoginDialog(engine, host=server.host, port=server.port)
    qtbot.addWidget(dlg)
    dlg.show()
    try:
        dlg.user_edit.setText("alice")
        dlg.password_edit.setText("alice123")
        dlg.submit()
        qtbot.waitUntil(lambda: dlg.trust_box is not None, timeout=10_000)
        engine._conn._socket.abort()  # the server gave up on the silent connection
        qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)
        assert dlg.error_text() == "" and dlg.trust_box is not None
        with qtbot.waitSignal(dlg.accepted, timeout=10_000):
            next(b for b in dlg.trust_box.buttons()
                 if b.text() == "Trust and connect").click()
        assert engine.logged_in and PinStore().get(server.host, server.port)
    finally:
        engine.close()
        qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_enter_in_the_login_dialog_logs_in_and_never_forgets_a_pin(qtbot, dialog, server):
    PinStore().pin(server.host, server.port, ":".join(["11"] * 32))
    qtbot.keyClicks(dialog.user_edit, "alice")
    qtbot.keyClicks(dialog.password_edit, "alice123")
    with qtbot.waitSignal(dialog.engine.connection_failed, timeout=10_000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)  # Enter submits
    assert dialog.forget_button.isVisible()
    with qtbot.waitSignal(dialog.engine.connection_failed, timeout=10_000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)  # again: refused again
    assert PinStore().get(server.host, server.port) == ":".join(["11"] * 32)
    PinStore().remove(server.host, server.port)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)


def test_labels_are_read_out_by_what_they_say(qtbot, server, open_window):
    """A screen reader reads a QLabel's accessible name instead of its text: labels with
    text ("online", "1 of 3", an error) carry a description, never a name."""
    from PySide6.QtWidgets import QLabel

    alice = open_window("alice", "alice123")
    alice.open_conversation("bob")
    dialog = LoginDialog(ClientEngine(), host=server.host, port=server.port)
    qtbot.addWidget(dialog)
    named = [(type(w.window()).__name__, w.objectName() or w.text()[:20])
             for window in (alice, dialog) for w in window.findChildren(QLabel)
             if w.accessibleName()]
    assert named == []


def test_secondary_text_stays_readable_with_a_dark_palette(qtbot, qapp, server,
                                                           open_window):
    """Grey text (a header's "online", hints) takes the palette's placeholder colour, which
    a dark theme makes light: before, palette(dark) made it dark grey on dark grey."""
    from PySide6.QtGui import QColor

    from messenger.gui.theme import sample_dark_palette

    dark = sample_dark_palette()
    light = qapp.palette()
    qapp.setPalette(dark)
    try:
        alice = open_window("alice", "alice123")
        tab = alice.open_conversation("bob")
        qtbot.waitUntil(lambda: tab.status_label.text() != "")
        image = tab.status_label.grab().toImage()
        lightest = max(QColor(image.pixel(x, y)).lightness()
                       for x in range(image.width()) for y in range(image.height()))
        assert lightest > 120  # the text is light on the dark background
    finally:
        qapp.setPalette(light)


def test_the_compose_box_grows_with_a_long_message_and_shrinks_when_it_is_sent(
        qtbot, server, open_window):
    alice = open_window("alice", "alice123")
    tab = alice.open_conversation("bob")
    box = tab.compose
    empty = box.height()
    for i in range(6):
        qtbot.keyClicks(box, f"line {i}")
        qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    grown = box.height()
    assert grown > empty
    for _ in range(20):  # past the most it shows: it scrolls instead
        qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    line = box.fontMetrics().lineSpacing()
    assert grown < box.height() <= empty + (box.MAX_LINES - box.MIN_LINES) * line + 1
    qtbot.keyClicks(box, "end")
    qtbot.keyClick(box, Qt.Key.Key_Return)  # sent
    assert box.toPlainText() == "" and box.height() == empty


def test_a_conversation_not_cached_here_shows_its_history_when_opened(
        qtbot, open_window, monkeypatch, tmp_path):
    """On a second computer (an empty cache) the tab fetches the server's history by itself,
    though a short list has no scroll bar to pull it with."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", "remember the meeting")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER)
                    == ["remember the meeting"], timeout=10_000)
    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "second-computer"))
    laptop = open_window("alice")
    assert laptop.engine.store.count(peer_key("bob")) == 0
    laptop.open_conversation("bob")
    qtbot.waitUntil(lambda: texts(laptop, peer_key("bob"), MessageKind.OTHER)
                    == ["remember the meeting"], timeout=10_000)


def test_history_on_a_new_computer_counts_only_what_this_account_has_not_read(
        qtbot, open_window, monkeypatch, tmp_path):
    """alice read bob's first three messages on her desktop; her laptop (an empty cache)
    fetches the history with the account's read position (``read_upto``): only the fourth
    counts as unread there."""
    bob = open_window("bob")
    alice = open_window("alice")
    key = peer_key("bob")
    for n in range(3):
        bob.engine.send_unicast("alice", f"read on the desktop {n}")
    qtbot.waitUntil(lambda: alice.engine.unread(key) == 3, timeout=10_000)
    alice.engine.mark_read(key)
    qtbot.waitUntil(lambda: [i.state for i in bob.engine.conversation("alice").items()
                             if i.kind is MessageKind.OWN] == [DeliveryState.READ] * 3,
                    timeout=10_000)
    bob.engine.send_unicast("alice", "not read anywhere")
    qtbot.waitUntil(lambda: alice.engine.unread(key) == 1, timeout=10_000)
    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "laptop"))
    laptop = open_window("alice")
    with qtbot.waitSignal(laptop.engine.history_loaded, timeout=10_000):
        laptop.engine.conversation(key).fetchMore()  # (no tab looks at it)
    assert len(texts(laptop, key, MessageKind.OTHER)) == 4
    assert laptop.engine.unread(key) == 1


def test_a_message_too_long_to_send_stays_in_the_box_and_says_why(qtbot, open_window):
    """A text the server would refuse (over 16,000 characters) is not sent, so it does not
    become a failed message whose Retry could only fail again: it stays in the box, and the
    bar above it says how long it is and what to do."""
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    text = "x" * (MAX_TEXT_LENGTH + 1)
    tab.compose.setPlainText(text)
    tab.compose.submit()
    assert tab.compose.toPlainText() == text
    assert tab.error_bar.isVisibleTo(tab)
    assert tab.error_label.text().startswith("Too long to send: 16,001 characters")
    assert alice.engine.store.outbox() == []
    assert alice.engine.send_unicast("bob", text) is None  # (a /msg: said in the tab)
    assert alice.engine.store.outbox() == []
    errors = [i.text for i in alice.engine.conversation("bob").items()
              if i.kind is MessageKind.ERROR]
    assert errors and errors[-1].startswith("Not sent: 16,001 characters")
    # Shortened, the bar goes (it stayed up through later sends and reconnects).
    tab.compose.setPlainText(text[:MAX_TEXT_LENGTH])
    assert not tab.error_bar.isVisibleTo(tab)


def test_tab_goes_from_the_message_box_to_attach_then_send(qtbot, open_window):
    """Attach… sits above Send, but Tab went to Send first."""
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(tab.compose.hasFocus)  # (the window is active)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Tab)
    assert tab.attach_button.hasFocus()
    qtbot.keyClick(tab.attach_button, Qt.Key.Key_Tab)
    assert tab.send_button.hasFocus()


def test_a_message_that_looks_like_html_shows_as_text_in_its_tooltip(qtbot, open_window):
    """A peer's message was shown as HTML in its bubble's tooltip (a security review): a fake
    "session expired" page, and an ``<img width=20000 height=20000>`` that took seconds and
    gigabytes to show when hovered."""
    alice = open_window("alice")
    bob = open_window("bob")
    page = "<h1>Your session expired</h1><img width=20000 height=20000>"
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        alice.engine.send_unicast("bob", page)
    bob.open_conversation("alice")
    view = bob.conversation_widget("alice").view
    model = view.model()
    row = next(r for r in range(model.rowCount())
               if model.index(r, 0).data(ConversationModel.TextRole) == page)
    at = view.visualRect(model.index(row, 0)).center()
    QApplication.sendEvent(view.viewport(), QHelpEvent(
        QEvent.Type.ToolTip, at, view.viewport().mapToGlobal(at)))
    qtbot.waitUntil(QToolTip.isVisible)
    shown = QToolTip.text()
    assert "&lt;h1&gt;Your session expired&lt;/h1&gt;" in shown and "<img" not in shown
    QToolTip.hideText()


def test_each_menu_gives_every_entry_its_own_access_key(qtbot, open_window):
    """Conversation menu: "&Find…" and "Send a &file…" shared F: Alt+C, F only moved
    between them (Qt cycles ambiguous mnemonics) and neither ran."""
    window = open_window("alice")
    clashes = {}
    for menu in window.menuBar().findChildren(QMenu):
        keys: dict[str, list[str]] = {}
        for action in menu.actions():
            m = re.search(r"&([^&])", action.text())
            if m and action.isVisible():
                keys.setdefault(m.group(1).lower(), []).append(action.text())
        clashes.update({f"{menu.title()} {k}": v for k, v in keys.items() if len(v) > 1})
    assert clashes == {}


def test_a_text_taken_for_an_unknown_command_stays_in_the_box(qtbot, open_window):
    """A message that happens to start with "/" (a path pasted with the error under it) is
    taken for a command: the tab says "Unknown command /var/log/syslog:" — and the text is
    gone, box cleared, nothing sent, to be typed or pasted again with "//" in front. The box
    is cleared before the command is parsed (ComposeEdit.submit), and an unknown command or
    wrong usage does not put it back, as a text too long to send does (Slack keeps it too:
    "/var is not a valid command")."""
    window = open_window("alice")
    tab = window.open_conversation("bob")
    text = "/var/log/syslog: No space left on device\nsince 3 am, can you look?"
    tab.compose.setPlainText(text)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    model = window.engine.conversation(peer_key("bob"))
    assert model.items()[-1].kind is MessageKind.ERROR
    assert "Unknown command" in model.items()[-1].text
    assert tab.compose.toPlainText() == text


def test_a_private_message_command_is_measured_by_its_text_not_the_command(
        qtbot, open_window):
    """``/msg bob <text>`` with a text just under the 16,000-character limit is refused in
    the compose box ("Too long to send: 16,004 characters") although what goes out is only
    the text after "/msg bob ": ComposeEdit.submit measures the whole line, command and
    name included, so the longest messages can only be sent from the person's own tab."""
    window = open_window("alice")
    tab = window.open_conversation("charlie")
    body = "y" * (MAX_TEXT_LENGTH - 5)
    tab.compose.setPlainText("/msg bob " + body)
    tab.compose.submit()
    assert not tab.error_bar.isVisibleTo(tab), tab.error_label.text()
    assert tab.compose.toPlainText() == ""
    assert [i.text for i in window.engine.store.outbox()] in ([body], [])
    bob = window.engine.conversation(peer_key("bob"))
    assert any(i.text == body and i.kind is MessageKind.OWN for i in bob.items())
