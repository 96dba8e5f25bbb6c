"""Reading older messages is not interrupted: a message that arrives meanwhile does not
scroll the list, a "↓ N new" button says so and jumps to it; at the end of the list new
messages scroll into view as before, and one's own always do."""

from __future__ import annotations

from helpers.wire import connect_as
from PySide6.QtCore import Qt

from messenger.client.conversations import peer_key


def forty_lines_from_bob(qtbot, server, open_window):
    """bob (a protocol client), alice's window and her tab with him, showing the end of
    his 40 messages; returns (bob, window, tab, model)."""
    bob = connect_as(qtbot, server, "bob", "bob123")
    window = open_window("alice")
    tab = window.open_conversation("bob")
    for i in range(40):
        bob.send_text("unicast", f"line {i}", ["alice"])
    model = window.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.rowCount() >= 40)
    bar = tab.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    return bob, window, tab, model


def test_new_messages_while_reading_older_ones_show_a_jump_button(qtbot, server,
                                                                   open_window):
    bob, _window, tab, model = forty_lines_from_bob(qtbot, server, open_window)
    bar = tab.view.verticalScrollBar()
    assert not tab.jump_button.isVisible()

    bar.setValue(bar.maximum() // 3)  # reading older messages
    where = bar.value()
    bob.send_text("unicast", "are you there?", ["alice"])
    bob.send_text("unicast", "hello?", ["alice"])
    qtbot.waitUntil(lambda: tab.jump_button.isVisible() and "2 new" in tab.jump_button.text())
    assert bar.value() == where  # not pulled away from what is being read
    qtbot.mouseClick(tab.jump_button, Qt.MouseButton.LeftButton)
    assert bar.value() == bar.maximum() and not tab.jump_button.isVisible()

    bob.send_text("unicast", "at the end now", ["alice"])  # at the end: scrolls along
    qtbot.waitUntil(lambda: model.rowCount() >= 43)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())
    assert not tab.jump_button.isVisible()

    bar.setValue(0)
    qtbot.keyClicks(tab.compose, "mine")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)  # one's own message always shows
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())
    assert not tab.jump_button.isVisible()


def test_older_messages_coming_in_between_keep_the_end_in_view(qtbot, server, open_window):
    """After a reconnect the catch-up page can come after messages the server had queued:
    its messages go in between (in seq order), and a list showing its end still does."""
    from messenger.client.models import ChatItem, MessageKind

    window = open_window("alice")
    tab = window.open_conversation("bob")
    model = window.engine.conversation(peer_key("bob"))
    model.append(ChatItem(MessageKind.OTHER, "bob", "first", seq=10_001, ts=1.0))
    model.append(ChatItem(MessageKind.OTHER, "bob", "queued", seq=10_100, ts=100.0))
    bar = tab.view.verticalScrollBar()
    for seq in range(10_002, 10_040):  # the catch-up, older than "queued"
        model.append(ChatItem(MessageKind.OTHER, "bob", f"caught up {seq}\nline two",
                              seq=seq, ts=float(seq - 10_000)))
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    assert model.items()[-1].text == "queued"
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())
    assert tab.at_latest


def test_the_end_stays_in_view_when_the_list_gets_shorter(qtbot, server, open_window):
    """A list that shows its newest message keeps showing it when its viewport shrinks (the
    window made smaller, the reply bar opened): the newest messages do not slide out below."""
    _bob, window, tab, _model = forty_lines_from_bob(qtbot, server, open_window)
    bar = tab.view.verticalScrollBar()
    top = bar.maximum()
    window.resize(window.width(), window.height() - 150)
    qtbot.waitUntil(lambda: bar.maximum() > top)
    assert bar.value() == bar.maximum()
    top = bar.maximum()
    tab.reply("bob", "line 39")
    assert tab.reply_bar.isVisible()
    qtbot.waitUntil(lambda: bar.maximum() > top)
    assert bar.value() == bar.maximum() and tab.at_latest

    bar.setValue(0)  # reading from the top: a bigger window does not pull the list along
    tab.cancel_reply()
    assert bar.value() == 0 and not tab.at_latest
