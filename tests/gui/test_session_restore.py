"""The next login reopens the window as it was: size, the open conversation tabs in their
order (groups only while a member), the current tab; per account."""

from __future__ import annotations

from messenger.client.conversations import EVERYONE, group_key, peer_key


def tab_keys(window) -> list[str]:
    return [window.tabs.widget(i).key for i in range(window.tabs.count())]


def test_the_next_login_reopens_the_tabs_as_they_were(qtbot, open_window):
    window = open_window("alice")
    with qtbot.waitSignal(window.engine.group_joined, timeout=10_000):
        window.engine.create_group("lab")
    with qtbot.waitSignal(window.engine.group_joined, timeout=10_000):
        window.engine.create_group("gone")
    window.open_conversation("bob")  # (creating a group opened its tab)
    window.open_conversation("charlie")
    window.open_conversation("bob")  # the current tab
    window.resize(760, 540)  # within the offscreen screen (800×600)
    with qtbot.waitSignal(window.engine.group_left, timeout=10_000):
        window.engine.leave_group("gone")
    window.close()

    bob = open_window("bob")
    again = open_window("alice")
    # (the group left and gone comes back too, for reading: it kept its tab when left)
    assert tab_keys(again) == [EVERYONE, group_key("lab"), group_key("gone"), peer_key("bob"),
                               peer_key("charlie")]
    assert not again.conversation_widget(group_key("gone")).writable
    assert again.current_key() == peer_key("bob")
    assert (again.width(), again.height()) == (760, 540)
    assert tab_keys(bob) == [EVERYONE]  # another account: its own tabs


def test_tabs_closed_while_offline_are_still_those_of_the_account(qtbot, server, make_server,
                                                                   open_window):
    """The window is closed while the server is away (reconnecting): its tabs are saved for
    that account all the same, and the next login reopens them."""
    from messenger.client.connection import ConnectionState

    window = open_window("alice")
    window.open_conversation("bob")
    server.close()
    qtbot.waitUntil(lambda: window.engine.state is not ConnectionState.LOGGED_IN,
                    timeout=10_000)
    window.close()
    make_server(data_dir=server.data_dir, port=server.port)
    again = open_window("alice")
    assert tab_keys(again) == [EVERYONE, peer_key("bob")]


def test_the_contacts_and_groups_can_be_hidden_and_stay_so(qtbot, open_window):
    """View → Contacts and groups (Ctrl+Shift+L) hides the sidebar (half of a narrow window)
    and the next window opens the same way."""
    window = open_window("alice")
    assert window.sidebar.isVisibleTo(window) and window.sidebar_action.isChecked()
    chat = window.tabs.width()
    window.sidebar_action.trigger()
    assert not window.sidebar.isVisibleTo(window)
    qtbot.waitUntil(lambda: window.tabs.width() > chat)  # the conversation takes the room
    window.close()
    again = open_window("alice")
    assert not again.sidebar.isVisibleTo(again) and not again.sidebar_action.isChecked()
    again.sidebar_action.trigger()
    assert again.sidebar.isVisibleTo(again)
