"""The conversation header: whom a tab is with and their status, kept up to date from the
roster (presence, last seen) and the group list, over a real server."""

from __future__ import annotations

import time

from helpers.counting import count_calls
from helpers.wire import connect_as

from messenger.client import models
from messenger.client.conversations import EVERYONE
from messenger.client.models import Contact, presence_text
from messenger.gui import main_window
from messenger.protocol import GroupJoin, Presence


def test_presence_text():
    assert presence_text(None) == "not a user on this server"
    assert presence_text(Contact("bob", online=True)) == "online"
    assert presence_text(Contact("bob")) == "offline"
    assert presence_text(Contact("bob", last_seen=1000.0), now=1000.0 + 300) == \
        "last seen 5 min ago"


def test_private_tab_header_follows_presence_and_last_seen(qtbot, server, open_window):
    bob = connect_as(qtbot, server, "bob", "bob123")
    window = open_window("alice")
    tab = window.open_conversation("bob")
    assert tab.title_label.text() == "bob"
    qtbot.waitUntil(lambda: tab.status() == "online")
    everyone = window.conversation_widget(EVERYONE)
    assert everyone is not None and everyone.status() == "3 people, 2 online"
    bob.close()
    qtbot.waitUntil(lambda: tab.status() == "last seen just now")
    assert everyone.status() == "3 people, 1 online"
    ghost = window.open_conversation("nobody")
    assert ghost.status() == "not a user on this server"
    window.engine.close()  # offline ourselves: presence would be stale, so none is shown
    qtbot.waitUntil(lambda: tab.status() == "" and everyone.status() == "")


def test_group_tab_header_counts_members_online(qtbot, server, open_window):
    window = open_window("alice")
    with qtbot.waitSignal(window.engine.group_joined, timeout=10_000):
        window.engine.create_group("lab", public=True)
    tab = window.open_group("lab")
    assert tab.title_label.text() == "# lab"
    qtbot.waitUntil(lambda: tab.status() == "1 member, 1 online")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    charlie.request(GroupJoin, group="lab")
    qtbot.waitUntil(lambda: tab.status() == "2 members, 2 online")
    charlie.close()
    qtbot.waitUntil(lambda: tab.status() == "2 members, 1 online")


def test_a_long_group_name_does_not_hold_the_window_wide(qtbot, server, open_window):
    """The header's labels elide (the whole text in their tooltip) and the member panel
    narrows, so a group tab fits a window of half a laptop screen."""
    window = open_window("alice")
    name = "a-rather-long-group-name-here"
    with qtbot.waitSignal(window.engine.group_joined, timeout=10_000):
        window.engine.create_group(name, public=True)
    tab = window.open_group(name)
    window.tabs.setCurrentWidget(tab)
    assert window.minimumSizeHint().width() <= 560
    window.resize(560, 480)
    qtbot.waitUntil(lambda: window.width() == 560)
    title = tab.title_label
    qtbot.waitUntil(lambda: title.shown_text() != title.text())
    assert title.text() == f"# {name}" and title.shown_text().endswith("…")
    assert title.toolTip() == f"# {name}"
    window.resize(1400, 480)
    qtbot.waitUntil(lambda: title.shown_text() == title.text())
    assert title.toolTip() == ""


def test_presence_changes_with_a_thousand_contacts_cost_no_walk_of_the_list(
        qtbot, open_window, monkeypatch):
    """With 1,000 contacts each presence change froze the window ~30 ms (the Everyone
    header counted who is online with a linear look-up per contact: O(n²)); a server
    restart brings them back one by one. The work per change is counted (name look-ups),
    not timed: a handful, not a million; and only the headers that show it are written."""
    alice = open_window("alice")
    engine = alice.engine
    # The roster a login brings (as _on_ok sets it), then presences as the server sends them.
    engine.roster.set_roster([(f"user{i:04d}", False, None) for i in range(1000)])
    tab = alice.open_conversation("user0005")
    everyone = alice.conversation_widget(EVERYONE)
    keys = count_calls(monkeypatch, "name_key", models, main_window)
    for i in range(200):  # 200 of the 1,000 come back after a server restart
        keys.calls = 0
        engine._on_presence(Presence(user=f"user{i:04d}", online=True, ts=time.time()))
        assert keys.calls <= 10, f"{keys.calls} name look-ups for one presence change"
    assert everyone.status() == "1001 people, 201 online"
    assert tab.status() == "online"
