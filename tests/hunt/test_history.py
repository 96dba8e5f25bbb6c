"""Hunt: history, search and export (real server, real engines)."""

from __future__ import annotations

from messenger.client.engine import ClientEngine


def login(qtbot, engine: ClientEngine, host: str, port: int, user: str) -> None:
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(host, port)
        engine.login(user, f"{user}123")


def test_a_korean_match_written_as_conjoining_jamo_is_lit_where_it_is_counted(
        qtbot, server, open_window, make_engine):
    """bob pastes Korean text from a file saved on macOS (NFD: Hangul syllables as
    conjoining jamo, which are not combining marks). alice's Ctrl+F "한국" counts it
    ("1 of 1 message", ``fold`` composes the whole text) but lights nothing in the bubble:
    ``find_spans`` folds cluster by cluster, and a lone jamo does not compose."""
    import unicodedata

    from messenger.client.conversations import peer_key
    from messenger.client.textsearch import find_spans
    bob = make_engine()
    login(qtbot, bob, server.host, server.port, "bob")
    window = open_window("alice")
    text = unicodedata.normalize("NFD", "한국어 회의는 3시에")
    bob.send_unicast("alice", text)
    tab = window.open_conversation("bob")
    model = window.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=10_000)
    tab.open_find()
    tab.find_edit.insert("한국")  # (typed with an IME: keyClicks cannot type it)
    assert tab.find_label.text() == "1 of 1 message"
    shown = model.item(model.row_of_seq(tab.delegate.current_seq)).text
    assert find_spans(shown, tab.delegate.search_text) != []  # what the bubble lights
