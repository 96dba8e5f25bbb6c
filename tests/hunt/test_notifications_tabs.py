"""Hunt: notifications, tray, unread counts and the tabs' life cycle (messenger/gui/)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from messenger.client.conversations import EVERYONE, group_key, peer_key
from messenger.gui.main_window import MainWindow


def background(qtbot, window: MainWindow) -> None:
    """``window`` in the background (minimized), as when the user works in another app."""
    window.showMinimized()
    qtbot.waitUntil(lambda: window.isMinimized() and not window._window_active())


def tab_keys(window) -> list[str]:
    return [window.tabs.widget(i).key for i in range(window.tabs.count())]


def test_a_group_invitation_in_the_background_notifies(qtbot, open_window):
    """An invitation to a group while the user works in another app: nothing pops up, the
    task bar does not ask for attention and the window title counts nothing — the yellow
    bar waits unseen in a minimized window (the inviter wonders why nobody joins). Messages
    and file offers do notify; ``invitation_received`` is connected to nothing in the
    window."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    with qtbot.waitSignal(bob.engine.invitation_received, timeout=10_000):
        alice.engine.create_group("lab", ["bob"])
    with qtbot.waitSignal(bob.notified, timeout=3_000) as shown:
        pass
    assert "lab" in shown.args[0].title + shown.args[0].body
