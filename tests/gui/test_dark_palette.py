"""With a dark desktop palette the window's own colours turn dark too (bubbles, notices,
errors): no dark-on-dark text, no bright slabs."""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from messenger.client.conversations import peer_key
from messenger.gui.theme import DARK, LIGHT, sample_dark_palette

from .test_delivery_window import colours_in


def test_a_dark_palette_paints_dark_bubbles_and_light_error_text(qtbot, dark_app, open_window):
    alice, bob = open_window("alice"), open_window("bob")
    bob.engine.send_unicast("alice", "hello in the dark")
    key = peer_key("bob")
    qtbot.waitUntil(lambda: alice.engine.conversation(key).rowCount() >= 1, timeout=10_000)
    widget = alice.open_conversation("bob")
    index = widget.proxy.index(widget.proxy.rowCount() - 1, 0)
    widget.view.scrollTo(index)
    rect = widget.view.visualRect(index)
    painted = colours_in(widget.view.viewport().grab().toImage(),
                         QRect(rect.left(), rect.top(), rect.width() // 2, rect.height()))
    assert painted.get(DARK.other_bubble.name(), 0) > 100, painted
    assert LIGHT.other_bubble.name() not in painted

    widget.show_error("That file cannot be sent.")  # the drop-refused bar
    assert DARK.error_text.name() in widget.error_label.styleSheet()
    assert DARK.error_text.name() in widget.failed_label.styleSheet()
    assert DARK.error_bubble.name() in widget.error_bar.styleSheet()


def test_switching_to_a_dark_palette_while_running_recolours_the_bars(qtbot, qapp,
                                                                     open_window):
    before = QPalette(qapp.palette())
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    tab.show_error("That file cannot be sent.")
    assert LIGHT.error_text.name() in tab.error_label.styleSheet()
    try:
        QApplication.setPalette(sample_dark_palette())  # the desktop turned dark
        qtbot.waitUntil(lambda: DARK.error_text.name() in tab.error_label.styleSheet())
        assert DARK.error_bubble.name() in tab.error_bar.styleSheet()
        assert DARK.error_text.name() in tab.failed_label.styleSheet()
    finally:
        QApplication.setPalette(before)
    qtbot.waitUntil(lambda: LIGHT.error_text.name() in tab.error_label.styleSheet())
