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



def test_a_file_offer_withdrawn_meanwhile_does_not_pop_up(qtbot, open_window, tmp_path):
    """notify.py: "A message read meanwhile ... or deleted by its sender is left out of the
    pop-up". A file offer the sender cancels within the second the pop-ups are collected
    (dropped the wrong file, cancelled at once) still pops up "📎 salaries.xlsx" and flashes
    the task bar, though its card already says Cancelled and nothing is left to answer: the
    offer goes into the batch with no seq, and NotificationPolicy.flush checks only items
    with a seq."""
    from messenger.client.transfers import TransferState

    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    bob._notify_timer.setInterval(3_600_000)  # (the collecting second, held)
    shown = []
    bob.notified.connect(shown.append)
    path = tmp_path / "salaries.xlsx"
    path.write_bytes(b"\0" * 4096)
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000) as added:
        assert alice.send_files(peer_key("bob"), [str(path)])
    card = added.args[0]
    sent = next(t.key for t in alice.transfers.model.transfers() if t.name == "salaries.xlsx")
    assert alice.transfers.cancel(sent)
    qtbot.waitUntil(lambda: bob.transfers.get(card).state is TransferState.CANCELLED,
                    timeout=5_000)
    assert bob.engine.unread(peer_key("alice")) == 0  # nothing left to answer
    bob._show_notice()
    assert shown == [], shown
