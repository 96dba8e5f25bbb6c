"""Opening the app while the server cannot be reached: the login dialog's "Open offline"
shows the account's messages saved on this computer, keeps what is typed in the outbox, and
logs in by itself once the server answers (as Signal or Telegram open without a network)."""

from __future__ import annotations

import pytest
from gui.conftest import type_line
from PySide6.QtCore import QEvent, QModelIndex, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QListView

import messenger.server.core as server_core
from messenger.client.connection import ConnectionState
from messenger.client.conversations import group_key, peer_key
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.localstore import LocalStore
from messenger.client.models import DeliveryState, MessageKind, RosterModel
from messenger.client.offlinepass import OFFLINE_PASSWORD_META
from messenger.client.transfers import TransferController, TransferPrefs
from messenger.gui.login_dialog import LoginDialog
from messenger.gui.main_window import OFFLINE_VERSION_TEXT, MainWindow
from messenger.protocol import PROTOCOL_VERSION


@pytest.fixture
def start_app(qtbot, tmp_path):
    """``start_app(host, port, user, password)`` → the login dialog of an app started anew,
    its password typed and Log in pressed (fast reconnects: a backoff of 50–200 ms). Its
    engine and the window made from it are closed afterwards."""
    made: list[tuple[ClientEngine, TransferController | None]] = []

    def factory(host: str, port: int, user: str, password: str) -> LoginDialog:
        engine = ClientEngine(backoff=Backoff(initial=0.05, maximum=0.2),
                              connect_timeout_ms=3000, offline_grace_ms=0)
        made.append((engine, None))
        dialog = LoginDialog(engine, host=host, port=port, user=user)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.password_edit.setText(password)
        dialog.submit()
        return dialog

    def window_of(dialog: LoginDialog) -> MainWindow:
        transfers = TransferController(
            dialog.engine, TransferPrefs(download_dir=tmp_path / "downloads"))
        made.append((dialog.engine, transfers))
        window = MainWindow(dialog.engine, transfers=transfers)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    factory.window_of = window_of  # type: ignore[attr-defined]
    yield factory
    for engine, transfers in made:
        if transfers is not None:
            transfers.close()
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e, _ in made))


def _history(window: MainWindow, key: str) -> list[tuple[MessageKind, str, DeliveryState]]:
    return [(i.kind, i.text, i.state) for i in window.engine.conversation(key).items()
            if i.kind in (MessageKind.OWN, MessageKind.OTHER)]


def test_with_the_server_down_the_app_opens_offline_and_sends_once_it_is_back(
        qtbot, server, make_server, open_window, start_app, messenger_home):
    """After a first login here, starting the app with the server down stopped at the login
    dialog ("Cannot reach the server"): alice could not read her history. Now the dialog
    offers "Open offline": her tabs and messages are there, the status bar says "Offline —
    connecting…", what she types waits in the outbox, and once the server is back the app
    logs in by itself and the message goes, once."""
    bob = open_window("bob", backoff=Backoff(initial=0.05, maximum=0.2))
    first = open_window("alice")
    bob.engine.send_unicast("alice", "the minutes are in the wiki")
    qtbot.waitUntil(lambda: first.engine.unread(peer_key("bob")) == 1, timeout=10_000)
    with qtbot.waitSignal(first.engine.group_joined, timeout=10_000):
        first.engine.create_group("lab")
    first.open_group("lab")
    first.engine.send_group("lab", "agenda: budget")
    qtbot.waitUntil(lambda: _history(first, group_key("lab")) == [
        (MessageKind.OWN, "agenda: budget", DeliveryState.SENT)], timeout=10_000)
    first.open_conversation("bob")
    first.close()  # alice quits
    qtbot.waitUntil(lambda: first.engine.state is ConnectionState.DISCONNECTED)
    server.close()  # ... and the server goes down
    qtbot.waitUntil(lambda: not bob.engine.logged_in, timeout=10_000)

    dialog = start_app(server.host, server.port, "alice", "alice123")
    qtbot.waitUntil(lambda: dialog.offline_button.isVisible(), timeout=10_000)
    assert "Cannot reach" in dialog.error_text() and "Open offline" in dialog.error_text()
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.offline_button.click()
    window = start_app.window_of(dialog)

    assert window.state_label.text().startswith("Offline — connecting…")
    # (the password typed is kept in memory for the reconnect's login, never written)
    assert not any(b"alice123" in f.read_bytes() for f in messenger_home.rglob("*")
                   if f.is_file())
    assert window.conversation_widget(group_key("lab")) is not None  # her group's tab too
    assert _history(window, group_key("lab")) == [
        (MessageKind.OWN, "agenda: budget", DeliveryState.SENT)]
    tab = window.conversation_widget(peer_key("bob"))
    assert tab is not None  # her tab with bob, as she left it
    assert _history(window, peer_key("bob")) == [
        (MessageKind.OTHER, "the minutes are in the wiki", DeliveryState.SENT)]
    window.open_conversation("bob")
    type_line(qtbot, window, "thanks, reading them now", peer_key("bob"))
    assert _history(window, peer_key("bob"))[-1] == (
        MessageKind.OWN, "thanks, reading them now", DeliveryState.PENDING)
    assert window.engine.store is not None and len(window.engine.store.outbox()) == 1

    make_server(data_dir=server.data_dir, port=server.port)  # the server is back
    qtbot.waitUntil(lambda: window.engine.logged_in, timeout=15_000)
    assert window.state_label.text().startswith("Online as alice")
    qtbot.waitUntil(lambda: window.engine.store.outbox() == [], timeout=10_000)
    qtbot.waitUntil(lambda: bob.engine.logged_in, timeout=15_000)
    qtbot.waitUntil(lambda: "thanks, reading them now" in
                    [text for _, text, _ in _history(bob, peer_key("alice"))], timeout=10_000)
    assert [text for _, text, _ in _history(bob, peer_key("alice"))].count(
        "thanks, reading them now") == 1
    assert [text for _, text, _ in _history(window, peer_key("bob"))].count(
        "thanks, reading them now") == 1
    assert window.engine.groups.group("lab") is not None
    assert window.conversation_widget(group_key("lab")) is not None
    assert not window.logout_chosen


def test_a_password_changed_elsewhere_opens_offline_then_goes_back_to_the_login_dialog(
        qtbot, server, make_server, open_window, start_app, tmp_path):
    """alice changed her password on another computer after her last login here. Offline,
    this computer can only check the password of that last login (the old one): it opens,
    and when the server answers and refuses it, the window ends as for a refused re-login
    and the login dialog says why."""
    first = open_window("alice")
    first.close()
    qtbot.waitUntil(lambda: first.engine.state is ConnectionState.DISCONNECTED)
    laptop = ClientEngine(data_dir=tmp_path / "other-computer")
    try:
        with qtbot.waitSignal(laptop.login_succeeded, timeout=10_000):
            laptop.connect_to(server.host, server.port)
            laptop.login("alice", "alice123")
        with qtbot.waitSignal(laptop.password_changed, timeout=10_000):
            assert laptop.change_password("alice123", "new-secret")
    finally:
        laptop.close()
        qtbot.waitUntil(lambda: laptop.state is ConnectionState.DISCONNECTED)
    server.close()

    dialog = start_app(server.host, server.port, "alice", "alice123")
    qtbot.waitUntil(lambda: dialog.offline_button.isVisible(), timeout=10_000)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.offline_button.click()
    window = start_app.window_of(dialog)
    assert not window.logout_chosen

    make_server(data_dir=server.data_dir, port=server.port)
    qtbot.waitUntil(lambda: window.logout_chosen, timeout=15_000)
    assert "refused the password" in window.logout_reason
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert not window.engine.logged_in and not window.engine.auto_reconnect


def test_open_offline_refuses_a_password_other_than_the_last_one_used_here(
        qtbot, server, open_window, start_app):
    """On a shared computer, with the network unplugged, "Open offline" showed alice's
    messages to whoever typed any password (there was no server to check it). It now
    checks the password against the hash kept at her last login here: a wrong one is
    refused, nothing opens, and the button stays for the right one."""
    first = open_window("alice")
    first.close()
    qtbot.waitUntil(lambda: first.engine.state is ConnectionState.DISCONNECTED)
    server.close()

    dialog = start_app(server.host, server.port, "alice", "not her password")
    qtbot.waitUntil(lambda: dialog.offline_button.isVisible(), timeout=10_000)
    dialog.offline_button.click()
    assert dialog.isVisible() and dialog.result() == 0
    assert dialog.error_text() == "The password does not match the one last used here."
    assert dialog.offline_button.isVisible()
    engine = dialog.engine
    assert engine.store is None and not engine.auto_reconnect
    assert engine.conversation(peer_key("bob")).items() == []

    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.offline_button.click()
    assert engine.store is not None and engine.auto_reconnect


def test_after_a_password_change_here_only_the_new_password_opens_offline(
        qtbot, server, open_window, start_app):
    """A password changed in File → Change password… is the one "Open offline" checks
    afterwards; the old one no longer opens the messages."""
    first = open_window("alice")
    with qtbot.waitSignal(first.engine.password_changed, timeout=10_000):
        assert first.engine.change_password("alice123", "new-secret")
    first.close()
    qtbot.waitUntil(lambda: first.engine.state is ConnectionState.DISCONNECTED)
    host, port = server.host, server.port
    server.close()

    dialog = start_app(host, port, "alice", "alice123")
    qtbot.waitUntil(lambda: dialog.offline_button.isVisible(), timeout=10_000)
    assert dialog.engine.open_offline(host, port, "alice", "alice123") == (
        "The password does not match the one last used here.")
    dialog.password_edit.setText("new-secret")
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.offline_button.click()


def test_a_store_from_before_the_password_check_is_not_opened_offline(
        qtbot, server, open_window, start_app):
    """A store last logged in to by an older version keeps no password hash: nothing can
    check the password offline, so it is not opened; the dialog says to log in online
    once."""
    first = open_window("alice")
    path = first.engine.store.path
    first.close()
    qtbot.waitUntil(lambda: first.engine.state is ConnectionState.DISCONNECTED)
    older = LocalStore(path)  # (as an older version left it)
    older.delete_meta(OFFLINE_PASSWORD_META)
    older.close()
    server.close()

    dialog = start_app(server.host, server.port, "alice", "alice123")
    qtbot.waitUntil(lambda: dialog.offline_button.isVisible(), timeout=10_000)
    dialog.offline_button.click()
    assert dialog.isVisible() and dialog.engine.store is None
    assert "log in online once" in dialog.error_text()


def test_no_open_offline_for_an_account_never_logged_in_here(qtbot, server, start_app):
    """Without a local store of that account on this computer there is nothing to open:
    the dialog only says the server cannot be reached."""
    host, port = server.host, server.port
    server.close()
    dialog = start_app(host, port, "alice", "alice123")
    qtbot.waitUntil(lambda: "Cannot reach" in dialog.error_text(), timeout=10_000)
    assert not dialog.offline_button.isVisible()
    assert dialog.engine.open_offline(host, port, "alice", "alice123").startswith(
        "This computer has no messages of alice")


def test_open_offline_shows_only_while_the_fields_name_the_server_and_account(
        qtbot, server, open_window, start_app):
    """alice's server could not be reached and the dialog offered "Open offline"; she then
    typed another server's address (or bob's name) and pressed it: the app opened alice's
    messages of the first server all the same, and reconnected there, whatever the fields
    said. The button now shows only while the fields name that server and account."""
    first = open_window("alice")
    first.close()
    qtbot.waitUntil(lambda: first.engine.state is ConnectionState.DISCONNECTED)
    host, port = server.host, server.port
    server.close()

    dialog = start_app(host, port, "alice", "alice123")
    qtbot.waitUntil(lambda: dialog.offline_button.isVisible(), timeout=10_000)
    dialog.host_edit.setText("192.0.2.7")  # another server, not tried yet
    assert not dialog.offline_button.isVisible()
    dialog.offline_button.click()  # (a click that was on its way: nothing opens)
    assert dialog.isVisible() and dialog.engine.store is None
    dialog.host_edit.setText(host)
    assert dialog.offline_button.isVisible()
    dialog.user_edit.setText("bob")  # another account
    assert not dialog.offline_button.isVisible()
    dialog.user_edit.setText("alice")
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.offline_button.click()
    assert dialog.engine.account == "alice" and (dialog.engine.host, dialog.engine.port) == (
        host, port)


def test_a_server_of_another_protocol_version_opens_offline_without_reconnecting(
        qtbot, server, open_window, start_app, monkeypatch):
    """alice's server was upgraded to another protocol version: the login dialog said which
    side is older, and that was all; her saved messages could not be read until the app was
    updated. The dialog now offers "Open offline" then too, but nothing reconnects by itself
    (each try would fail again): the status bar says to update the app, and "Reconnect now"
    stays there; once the versions agree, it logs in and sends what she typed."""
    bob = open_window("bob")
    first = open_window("alice")
    bob.engine.send_unicast("alice", "the minutes are in the wiki")
    qtbot.waitUntil(lambda: first.engine.unread(peer_key("bob")) == 1, timeout=10_000)
    first.close()
    qtbot.waitUntil(lambda: first.engine.state is ConnectionState.DISCONNECTED)
    monkeypatch.setattr(server_core, "PROTOCOL_VERSION", PROTOCOL_VERSION + 1)  # (upgraded)

    dialog = start_app(server.host, server.port, "alice", "alice123")
    qtbot.waitUntil(lambda: dialog.offline_button.isVisible(), timeout=10_000)
    assert "update the app" in dialog.error_text()  # (which side is older)
    assert "Open offline" in dialog.error_text()
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.offline_button.click()
    window = start_app.window_of(dialog)
    engine = window.engine

    assert window.state_label.text() == OFFLINE_VERSION_TEXT
    assert engine.reconnect_in() is None  # (no try comes by itself)
    assert window.reconnect_button.isVisible() and window.reconnect_button.isEnabled()
    assert window.reconnect_action.isEnabled()
    assert _history(window, peer_key("bob")) == [
        (MessageKind.OTHER, "the minutes are in the wiki", DeliveryState.SENT)]
    window.open_conversation("bob")
    type_line(qtbot, window, "reading them now", peer_key("bob"))

    # Reconnect now while the versions still differ: the same answer, and still no
    # reconnect by itself
    with qtbot.waitSignal(engine.connection_failed, timeout=10_000,
                          check_params_cb=lambda code, _: code == "version_mismatch"):
        window.reconnect_button.click()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)
    assert window.state_label.text() == OFFLINE_VERSION_TEXT
    assert engine.auto_reconnect and engine.reconnect_in() is None
    assert window.reconnect_button.isVisible() and window.reconnect_button.isEnabled()

    monkeypatch.setattr(server_core, "PROTOCOL_VERSION", PROTOCOL_VERSION)  # (app updated)
    window.reconnect_button.click()
    qtbot.waitUntil(lambda: engine.logged_in, timeout=15_000)
    assert window.state_label.text().startswith("Online as alice")
    qtbot.waitUntil(lambda: "reading them now" in
                    [text for _, text, _ in _history(bob, peer_key("alice"))], timeout=10_000)
    assert not engine.waits_for_update


def _double_click(window: MainWindow, view: QListView, index: QModelIndex) -> None:
    """Double-click ``index`` of ``view`` through the window, as the window system does
    (Enter, then the clicks), and take the pointer off it again."""
    at = view.viewport().mapTo(window, view.visualRect(index).center())
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mouseMove(window.windowHandle(), at)
    QTest.mouseClick(window.windowHandle(), left, none, at)
    QTest.mouseDClick(window.windowHandle(), left, none, at)
    QApplication.sendEvent(view.viewport(), QEvent(QEvent.Type.Leave))


def test_opened_offline_the_contact_and_group_lists_are_there_with_their_badges(
        qtbot, server, make_server, open_window, start_app):
    """Opened offline, the contact list and the Groups list were empty until the login
    brought them: alice could not open her conversation with bob (no tab of it was left
    open), nor see that he had written, nor reach her group. Now the lists of her last
    session are there (bob as not online: his presence is unknown), with the unread badges
    of the messages saved here; a double-click opens the conversation with its history, and
    once the server is back the lists are the server's."""
    bob = open_window("bob", backoff=Backoff(initial=0.05, maximum=0.2))
    charlie = open_window("charlie", backoff=Backoff(initial=0.05, maximum=0.2))
    first = open_window("alice")
    with qtbot.waitSignal(first.engine.group_joined, timeout=10_000):
        first.engine.create_group("lab", public=True)
    with qtbot.waitSignal(bob.engine.group_joined, timeout=10_000):
        bob.engine.join_group("lab")
    with qtbot.waitSignal(first.engine.invitation_received, timeout=10_000):
        charlie.engine.create_group("design", ["alice"])
    qtbot.waitUntil(lambda: len(first.engine.groups.group("lab").members) == 2,
                    timeout=10_000)
    first.tabs.setCurrentIndex(0)  # (Everyone: what comes to lab stays unread)
    bob.engine.send_unicast("alice", "the minutes are in the wiki")
    bob.engine.send_group("lab", "budget first?")
    qtbot.waitUntil(lambda: first.engine.unread(peer_key("bob")) == 1
                    and first.engine.unread(group_key("lab")) == 1, timeout=10_000)
    assert first.conversation_widget(peer_key("bob")) is None  # (no tab of it is open)
    first.close()  # alice quits
    qtbot.waitUntil(lambda: first.engine.state is ConnectionState.DISCONNECTED)
    with qtbot.waitSignal(bob.engine.group_left, timeout=10_000):
        bob.engine.leave_group("lab")  # (while she is away: her lists do not know it)
    server.close()  # ... and the server goes down
    qtbot.waitUntil(lambda: not bob.engine.logged_in and not charlie.engine.logged_in,
                    timeout=10_000)
    charlie.engine.logout()  # (she stays away: the server's list then says so)

    dialog = start_app(server.host, server.port, "alice", "alice123")
    qtbot.waitUntil(lambda: dialog.offline_button.isVisible(), timeout=10_000)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.offline_button.click()
    window = start_app.window_of(dialog)
    assert window.state_label.text().startswith("Offline — connecting…")

    roster = window.engine.roster
    assert roster.names() == ["bob", "charlie"]
    index = window.contact_index("bob")
    assert index.data(RosterModel.UnreadRole) == 1
    assert index.data(RosterModel.OnlineRole) is False
    assert index.data(RosterModel.PresenceKnownRole) is False  # (shown as unknown)
    assert "online" not in index.data(Qt.ItemDataRole.ToolTipRole).replace(
        "presence unknown", "")
    groups = window.engine.groups
    assert [(r.name, r.member, r.pending) for r in groups.rows()] == [
        ("design", False, True), ("lab", True, False)]
    lab = groups.group("lab")
    assert (lab.leader, lab.members, lab.public, lab.unread) == (
        "alice", ("alice", "bob"), True, 1)
    assert "Messenger" in window.windowTitle() and window.windowTitle().startswith("(2)")

    _double_click(window, window.roster_view, window.contact_index("bob"))
    tab = window.conversation_widget(peer_key("bob"))
    assert tab is not None and window.tabs.currentWidget() is tab
    assert _history(window, peer_key("bob")) == [
        (MessageKind.OTHER, "the minutes are in the wiki", DeliveryState.SENT)]
    assert _history(window, group_key("lab")) == [
        (MessageKind.OTHER, "budget first?", DeliveryState.SENT)]

    make_server(data_dir=server.data_dir, port=server.port)  # the server is back
    qtbot.waitUntil(lambda: window.engine.logged_in, timeout=15_000)
    qtbot.waitUntil(lambda: roster.contact("bob").online, timeout=15_000)
    assert not roster.contact("charlie").online
    qtbot.waitUntil(lambda: groups.group("lab").members == ("alice",), timeout=10_000)
    assert [(r.name, r.pending) for r in groups.rows()] == [
        ("design", True), ("lab", False)]
    # (read when opened, not counted again; lab's unread message counted once)
    assert window.engine.unread(peer_key("bob")) == 0
    assert window.engine.unread(group_key("lab")) == 1
    assert groups.group("lab").unread == 1
