"""Reading older messages is not interrupted: a message that arrives meanwhile does not
scroll the list, a "↓ N new" button says so and jumps to it; at the end of the list new
messages scroll into view as before, and one's own always do."""

from __future__ import annotations

from helpers.wire import connect_as
from PySide6.QtCore import Qt

from messenger.client.conversations import peer_key


def test_new_messages_while_reading_older_ones_show_a_jump_button(qtbot, server,
                                                                   open_window):
    bob = connect_as(qtbot, server, "bob", "bob123")
    window = open_window("alice")
    tab = window.open_conversation("bob")
    for i in range(40):
        bob.send_text("unicast", f"line {i}", ["alice"])
    model = window.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.rowCount() >= 40)
    bar = tab.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
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
