"""Reading older messages is not interrupted: a message that arrives meanwhile does not
scroll the list, a "↓ N new" button says so and jumps to it; at the end of the list new
messages scroll into view as before, and what one sends from the tab (a message, a
command's answer) always does; a message sent from another computer does not."""

from __future__ import annotations

from gui.conftest import type_line
from helpers.wire import connect_as
from PySide6.QtCore import Qt

from messenger.client.conversations import peer_key
from messenger.client.models import MessageKind


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


def test_a_message_sent_from_another_computer_does_not_pull_the_reader_down(
        qtbot, server, open_window, tmp_path):
    """At the desk, alice scrolls up to read older messages with bob; meanwhile she writes
    to bob from her laptop. The desk's list jumps to the bottom under her eyes (and counts
    what came from bob meanwhile as read), as a message from bob does not: the tab scrolls
    for any *own* message (ConversationWidget._on_rows_inserted checks the kind), also one
    typed on another computer, not just one sent from this box."""
    _bob, _window, tab, model = forty_lines_from_bob(qtbot, server, open_window)
    laptop = open_window("alice", data_dir=tmp_path / "laptop")
    bar = tab.view.verticalScrollBar()
    bar.setValue(bar.maximum() // 3)  # reading older messages
    where = bar.value()
    rows = model.rowCount()
    laptop.engine.send_unicast("bob", "sent from my laptop")
    qtbot.waitUntil(lambda: model.rowCount() > rows)
    qtbot.waitUntil(lambda: not tab._to_end.isActive())  # (a scroll to the end, if any, ran)
    assert model.items()[-1].text == "sent from my laptop"
    assert bar.value() == where, f"moved from {where} to {bar.value()} (the end)"


def test_what_a_command_answers_shows_even_while_reading_older_messages(
        qtbot, server, open_window):
    """Scrolled up to read older messages, the user types a command with a mistake (or
    /help, /users): its answer was added at the bottom, out of sight, and all the tab showed
    was a "↓ 1 new" button, as if someone had written. Only an own *message* scrolled into
    view; the answer to what one just typed does too, also one the server gives later."""
    _bob, window, tab, model = forty_lines_from_bob(qtbot, server, open_window)
    bar = tab.view.verticalScrollBar()
    bar.setValue(bar.maximum() // 3)  # reading older messages
    qtbot.keyClicks(tab.compose, "/msg")  # usage: /msg <user> <text>
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert model.items()[-1].kind is MessageKind.ERROR
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() or tab.jump_button.isVisible())
    assert not tab.jump_button.isVisible(), tab.jump_button.text()
    assert bar.value() == bar.maximum()

    tab.compose.clear()
    bar.setValue(bar.maximum() // 3)
    with qtbot.waitSignal(window.engine.users_listed, timeout=10_000):
        type_line(qtbot, window, "/users", peer_key("bob"))  # answered by the server
    assert model.items()[-1].text.startswith("Online now")
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() or tab.jump_button.isVisible())
    assert not tab.jump_button.isVisible(), tab.jump_button.text()
    assert bar.value() == bar.maximum()
