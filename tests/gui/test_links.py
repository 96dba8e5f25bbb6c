"""Web links in messages: found in the text, drawn as links, opened by a click (with the
desktop's browser), copied from the context menu."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from messenger.client.models import ChatItem, ConversationModel, MessageKind
from messenger.gui import conversation as conversation_module
from messenger.gui.conversation import ConversationWidget
from messenger.gui.delegates import find_links


def test_find_links():
    text = ("see https://example.org/a?b=1, www.qt.io. and "
            "(https://en.wikipedia.org/wiki/Qt_(software)) or http:// alone")
    assert [url for _s, _e, url in find_links(text)] == [
        "https://example.org/a?b=1", "https://www.qt.io",
        "https://en.wikipedia.org/wiki/Qt_(software)"]
    start, end, _ = find_links(text)[0]
    assert text[start:end] == "https://example.org/a?b=1"
    assert find_links("no links here, just a.b") == []


def test_a_click_on_a_link_opens_it_and_elsewhere_does_not(qtbot, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(conversation_module, "open_link",
                        lambda url: opened.append(url.toString()) or True)
    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", "the notes: https://example.org/notes ok",
                          ts=1_700_000_000.0, seq=1))
    tab = ConversationWidget(model)
    qtbot.addWidget(tab)
    tab.resize(600, 300)
    tab.show()
    qtbot.waitExposed(tab)
    rect = tab.view.visualRect(tab.proxy.index(0, 0))
    points = [QPoint(x, y) for y in range(rect.top(), rect.bottom(), 5)
              for x in range(rect.left(), rect.right(), 6)]
    on_link = [p for p in points if tab.link_at(p) == "https://example.org/notes"]
    off_link = [p for p in points if tab.link_at(p) is None]
    assert on_link and off_link
    qtbot.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=off_link[0])
    assert opened == []
    qtbot.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=on_link[0])
    assert opened == ["https://example.org/notes"]
    menu = tab.message_menu(0, tab.link_at(on_link[0]))
    assert [a.text() for a in menu.actions()] == ["Copy text", "Copy link", "Reply"]
