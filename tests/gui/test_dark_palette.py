"""With a dark desktop palette the window's own colours turn dark too (bubbles, notices,
errors): no dark-on-dark text, no bright slabs; and a palette or font the desktop changes
while the app runs reaches every part of the window."""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QApplication

from messenger.client.conversations import peer_key
from messenger.gui.theme import DARK, LIGHT, contrast, sample_dark_palette

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


def test_switching_to_a_dark_palette_while_running_darkens_the_conversation_too(
        qtbot, qapp, open_window):
    """After the desktop turned dark with the app open, the conversation stayed a white
    pane of light bubbles, its title ("bob") dark on the now dark header, the Transfers
    cards white slabs with near-white text, the member panel white: Qt resolves a widget's
    style sheet (``background: palette(base)``, even a bare ``font-weight: bold``) against
    the palette of the moment and keeps that palette, for the widget and its children,
    through later palette changes (a hunt)."""
    before = QPalette(qapp.palette())
    alice, bob = open_window("alice"), open_window("bob")
    bob.engine.send_unicast("alice", "hello before dusk")
    qtbot.waitUntil(lambda: alice.engine.conversation(peer_key("bob")).rowCount() >= 1,
                    timeout=10_000)
    tab = alice.open_conversation("bob")
    dark = sample_dark_palette()
    try:
        QApplication.setPalette(dark)  # the desktop turned dark
        qtbot.waitUntil(lambda: tab.view.viewport().palette().color(QPalette.ColorRole.Base)
                        == dark.color(QPalette.ColorRole.Base))
        index = tab.proxy.index(tab.proxy.rowCount() - 1, 0)
        rect = tab.view.visualRect(index)
        painted = colours_in(tab.view.viewport().grab().toImage(),
                             QRect(rect.left(), rect.top(), rect.width() // 2, rect.height()))
        assert painted.get(DARK.other_bubble.name(), 0) > 100, painted
        assert LIGHT.other_bubble.name() not in painted
        title = tab.title_label.palette().color(QPalette.ColorRole.WindowText)
        assert contrast(title, dark.color(QPalette.ColorRole.Window)) >= 4.5, title.name()
    finally:
        QApplication.setPalette(before)
    qtbot.waitUntil(lambda: tab.title_label.palette().color(QPalette.ColorRole.WindowText)
                    == before.color(QPalette.ColorRole.WindowText))


def test_a_larger_desktop_font_while_running_enlarges_the_messages_and_titles(
        qtbot, qapp, open_window):
    """A larger desktop font chosen with the app open grew the menus and the compose box,
    but the messages, the conversation's title and the "Contacts" heading kept the old
    size until a restart: those widgets have a style sheet, and Qt keeps the font it
    resolved for them (a hunt)."""
    before = QFont(qapp.font())
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    big = QFont(before)
    big.setPointSizeF(16)
    try:
        QApplication.setFont(big)
        qtbot.waitUntil(lambda: tab.view.font().pointSizeF() == 16)
        assert tab.title_label.font().pointSizeF() == 16
        assert tab.title_label.font().bold()  # (what its style sheet says still holds)
    finally:
        QApplication.setFont(before)
