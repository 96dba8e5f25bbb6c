"""Hunt: history, search and export (real server, real engines)."""

from __future__ import annotations

from messenger.client import engine as engine_module
from messenger.client.engine import ClientEngine


def login(qtbot, engine: ClientEngine, host: str, port: int, user: str) -> None:
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(host, port)
        engine.login(user, f"{user}123")


def test_closing_the_tab_during_an_export_and_reopening_it_shows_the_export(
        qtbot, server, open_window, make_engine, tmp_path, monkeypatch):
    """alice exports her long conversation with bob, closes the tab (Ctrl+W) while it still
    fetches, and opens it again: the new tab shows no export bar at all (no progress, no
    Cancel, no "Exported …" nor "Could not write …" at the end), and the old tab's
    handlers, left connected to the job, run on a deleted widget (RuntimeError at each
    progress step)."""
    monkeypatch.setattr(engine_module, "EXPORT_PAGE", 10)
    bob = make_engine()
    login(qtbot, bob, server.host, server.port, "bob")
    window = open_window("alice")
    for i in range(120):
        bob.send_unicast("alice", f"news {i}")
    qtbot.waitUntil(lambda: window.engine.store is not None
                    and window.engine.store.count("bob") == 120, timeout=20_000)
    window.open_conversation("bob")
    out = tmp_path / "bob.txt"
    job = window.ask_export(str(out))
    assert job is not None and job.phase == "fetching"
    done: list[int] = []
    job.finished.connect(lambda n, _c: done.append(n))
    window.close_tab(window.tabs.currentIndex())  # Ctrl+W
    qtbot.wait(0)
    tab = window.open_conversation("bob")
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    assert done == [120]
    # The reopened tab says how the export ended, as the tab it was started in would have.
    assert tab.export_bar.isVisible()
    assert tab.export_label.text().startswith("Exported 120 messages")



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
