"""While the app is not logged in, contacts' presence shows as unknown (an empty grey ring,
not a stale green dot); the next login brings the server's presence back."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from messenger.client.connection import ConnectionState
from messenger.client.conversations import peer_key
from messenger.client.liveness import Backoff
from messenger.client.models import MessageKind, RosterModel
from messenger.gui.delegates import ONLINE

from .conftest import texts


def dot_colour(window, name: str) -> QColor:
    """The colour at the centre of ``name``'s presence dot in the contact list."""
    view = window.roster_view
    rect = view.visualRect(window.contact_index(name))
    image = view.viewport().grab().toImage()
    ratio = image.devicePixelRatio()
    return image.pixelColor(int((rect.left() + 17) * ratio), int(rect.center().y() * ratio))


def test_presence_is_unknown_while_disconnected_and_back_after_login(qtbot, open_window):
    bob = open_window("bob")
    charlie = open_window("charlie")
    alice = open_window("alice")
    roster = alice.engine.roster
    qtbot.waitUntil(lambda: roster.contact("bob").online and roster.contact("charlie").online)
    assert dot_colour(alice, "bob") == ONLINE

    engine = alice.engine
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()  # the link breaks
    assert engine.state is not ConnectionState.LOGGED_IN
    bob_index = roster.index(roster.row_of("bob"), 0)
    assert bob_index.data(RosterModel.PresenceKnownRole) is False
    assert bob_index.data(RosterModel.OnlineRole) is True  # kept, but not shown as such
    assert bob_index.data(Qt.ItemDataRole.ToolTipRole) == "bob, presence unknown (not connected)"
    assert dot_colour(alice, "bob") != ONLINE and dot_colour(alice, "charlie") != ONLINE

    bob.close()  # bob goes offline meanwhile
    qtbot.waitUntil(lambda: charlie.engine.roster.contact("bob") is not None
                    and not charlie.engine.roster.contact("bob").online, timeout=10_000)
    engine.reconnect_now()
    qtbot.waitUntil(lambda: engine.logged_in, timeout=10_000)
    assert roster.index(0, 0).data(RosterModel.PresenceKnownRole) is True
    assert not roster.contact("bob").online and roster.contact("charlie").online
    assert dot_colour(alice, "charlie") == ONLINE
    assert dot_colour(alice, "bob") != ONLINE


def test_a_server_restart_adds_no_presence_lines_and_a_real_change_is_said_later(
        qtbot, server, make_server, open_window):
    """Each server restart added "bob is online." to every open private tab (he was online
    before and after; the apps come back one by one): no line when the presence is as the
    conversation last said it. One who went away meanwhile and stays away is said so once
    the presences have had time to settle."""
    alice = open_window("alice")
    bob = open_window("bob")
    charlie = open_window("charlie")
    for name in ("bob", "charlie"):
        alice.open_conversation(name)
    roster = alice.engine.roster
    qtbot.waitUntil(lambda: roster.contact("bob").online and roster.contact("charlie").online)
    before = {name: texts(alice, peer_key(name), MessageKind.SYSTEM)
              for name in ("bob", "charlie")}
    alice.engine.presence_settle_ms = 1_500

    server.close()  # the server restarts; charlie's app is quit meanwhile
    qtbot.waitUntil(lambda: not alice.engine.logged_in and not bob.engine.logged_in,
                    timeout=20_000)
    charlie.engine.close()
    make_server(data_dir=server.data_dir, port=server.port)
    alice.reconnect_now()
    qtbot.waitUntil(lambda: alice.engine.logged_in, timeout=20_000)
    bob.reconnect_now()
    qtbot.waitUntil(lambda: bob.engine.logged_in and roster.contact("bob").online,
                    timeout=20_000)
    assert texts(alice, peer_key("bob"), MessageKind.SYSTEM) == before["bob"]
    qtbot.waitUntil(lambda: texts(alice, peer_key("charlie"), MessageKind.SYSTEM)
                    == [*before["charlie"], "charlie is offline."], timeout=10_000)
    assert texts(alice, peer_key("bob"), MessageKind.SYSTEM) == before["bob"]


def test_a_reconnect_keeps_the_contact_selection_and_its_button(qtbot, open_window):
    """Each login replaced the contact list with a model reset: the selection went, with no
    word to the window, and "Message 2 selected…" stayed, sending to nobody. The rows change
    in place now: the selection, and its button, stay."""
    open_window("bob")
    open_window("charlie")
    alice = open_window("alice")
    roster = alice.engine.roster
    qtbot.waitUntil(lambda: roster.contact("bob").online and roster.contact("charlie").online)
    selection = alice.roster_view.selectionModel()
    for name in ("bob", "charlie"):
        selection.select(alice.contact_index(name), QItemSelectionModel.SelectionFlag.Select)
    assert alice.multicast_button.text() == "Message 2 selected…"

    engine = alice.engine
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()  # a network blip
    engine.reconnect_now()
    qtbot.waitUntil(lambda: engine.logged_in, timeout=10_000)
    assert alice.selected_contacts() == ["bob", "charlie"]
    assert alice.multicast_button.isVisible()
    assert alice.multicast_button.text() == "Message 2 selected…"
    # A selected account that is gone takes its part of the selection along, and the
    # button says so.
    roster.set_roster([(n, True) for n in roster.names() if n != "charlie"])
    assert alice.selected_contacts() == ["bob"]
    assert not alice.multicast_button.isVisible()


def test_the_contact_list_holds_still_under_the_pointer(qtbot, open_window):
    """Online first, the list reorders whenever someone logs in or out: a double-click
    aimed at a contact landed on whoever moved under the pointer. Rows keep their places
    while the pointer is over the list (the dots change at once) and sort when it leaves."""
    open_window("charlie")
    alice = open_window("alice")
    roster = alice.engine.roster
    qtbot.waitUntil(lambda: roster.contact("charlie").online)
    assert roster.names()[:2] == ["charlie", "bob"]  # online first
    view = alice.roster_view
    pos = view.visualRect(alice.contact_index("charlie")).center()
    at = view.viewport().mapTo(alice, pos)
    # (through the window, as the window system does: Qt sends Enter, then the clicks)
    QTest.mouseMove(alice.windowHandle(), at)  # the pointer comes to charlie
    assert view.viewport().underMouse()
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mouseClick(alice.windowHandle(), left, none, at)  # first click
    open_window("bob")  # bob's app logs in between the two clicks
    qtbot.waitUntil(lambda: roster.contact("bob").online)
    assert roster.names()[:2] == ["charlie", "bob"]  # held: bob would sort first
    assert alice.contact_index("bob").data(RosterModel.OnlineRole) is True  # (shown)
    QTest.mouseDClick(alice.windowHandle(), left, none, at)  # second click
    assert alice.current_key() == peer_key("charlie")
    assert roster.order_held
    # The pointer leaves the list (the Leave Qt sends; a test's pointer moves stop giving
    # Enter and Leave once a double-click has opened a tab).
    QApplication.sendEvent(view.viewport(), QEvent(QEvent.Type.Leave))
    qtbot.waitUntil(lambda: roster.names()[:2] == ["bob", "charlie"])


def test_a_contacts_short_network_blips_do_not_fill_the_conversation_with_presence_lines(
        qtbot, open_window):
    """alice's Wi-Fi dropped for a moment three times (her app back within a second each
    time): bob, who had her tab open, got six lines "alice is offline." / "alice is
    online." in their conversation, and her row went down the list and back each time.
    Going offline is held back for a grace (PRESENCE_OFFLINE_GRACE_MS; 2 s here): back
    within it, nothing shows; one who stays away is said so once it has passed."""
    alice = open_window("alice", backoff=Backoff(0.05, 0.3))
    bob = open_window("bob", offline_grace_ms=2_000)
    bob.open_conversation("alice")
    roster = bob.engine.roster
    qtbot.waitUntil(lambda: roster.contact("alice").online)
    before = texts(bob, peer_key("alice"), MessageKind.SYSTEM)
    changes: list[bool] = []
    bob.engine.presence_changed.connect(lambda _user, online: changes.append(online))
    for _ in range(3):
        with qtbot.waitSignal(bob.engine.presence_changed, timeout=5_000):
            alice.engine._conn._socket.abort()  # the link breaks; her app is back at once
        qtbot.waitUntil(lambda: alice.engine.logged_in, timeout=5_000)
        assert roster.contact("alice").online
    assert changes == [True, True, True]  # (her app is back: a file waiting for her goes)
    assert texts(bob, peer_key("alice"), MessageKind.SYSTEM) == before
    alice.engine.close()  # she goes for real
    qtbot.waitUntil(lambda: not roster.contact("alice").online, timeout=10_000)
    assert changes[-1] is False
    assert texts(bob, peer_key("alice"), MessageKind.SYSTEM) == [*before, "alice is offline."]

