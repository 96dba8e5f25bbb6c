"""The conversation list over a long cached history: what each older page costs to lay out
(row heights kept by the delegate), the "New messages" line far back, and Ctrl+F matches in
gap rows and beyond the cache. A local store filled with the store's own SQL (as
``benchmarks/history.py`` does); no server unless a test asks for one."""

from __future__ import annotations

from helpers.wire import connect_as
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem

from messenger import paths
from messenger.client.conversations import peer_key
from messenger.client.engine import PAGE, ClientEngine
from messenger.client.localstore import LocalStore, store_path
from messenger.gui import delegates
from messenger.gui.main_window import MainWindow
from messenger.protocol import Ok

HOST, PORT, ME, PEER = "127.0.0.1", 5555, "alice", "bob"


def fill_cache(n: int, text=None, unread: int = 0) -> None:
    """``n`` cached messages between alice and bob, a minute apart (every third one
    alice's); the newest ``unread`` of them bob's and unread, the rest read."""
    store = LocalStore(store_path(paths.data_dir(), HOST, PORT, ME))
    rows = []
    for seq in range(1, n + 1):
        new = seq > n - unread
        sender = PEER if new or seq % 3 else ME
        body = text(seq) if text else f"message number {seq}: " + "lorem ipsum " * (seq % 4)
        rows.append((seq, PEER, 1_700_000_000.0 + 60 * seq, sender, "unicast",
                     f'["{PEER if sender == ME else ME}"]', body, f"c{seq}",
                     "sent" if new else "read"))
    store._db.execute("BEGIN")
    store._db.executemany(
        "INSERT INTO messages (seq, conv, ts, sender, scope, recipients, text, client_msg_id,"
        " state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    store._db.execute("COMMIT")
    store.set_meta("read_marks", "1")
    store.close()


def cached_window(qtbot) -> MainWindow:
    engine = ClientEngine()
    engine.open_store(HOST, PORT, ME)
    window = MainWindow(engine)
    qtbot.addWidget(window)
    window.resize(900, 600)
    window.show()
    qtbot.waitExposed(window)
    return window


def count_measures(monkeypatch) -> list[int]:
    """The rows the bubble delegate lays out from now on (a text layout each)."""
    measured: list[int] = []
    real = delegates.BubbleDelegate._measure

    def counting(self, option, index):
        measured.append(index.row())
        return real(self, option, index)

    monkeypatch.setattr(delegates.BubbleDelegate, "_measure", counting)
    return measured


def test_an_older_page_lays_out_its_own_rows_not_every_loaded_one(qtbot, monkeypatch):
    """Scrolling up: each page laid out every loaded row again (``doItemsLayout`` asks the
    delegate for every row's size), so with 10,000 rows loaded a page froze the window
    ~1 s, and 200 pages took 98.6 s. Heights are kept: a page costs its own rows."""
    fill_cache(3_000)
    window = cached_window(qtbot)
    tab = window.open_conversation(PEER)
    while tab.model.rowCount() < 2_000:  # the reader has scrolled up 40 pages already
        tab.model.fetchMore()
    bar = tab.view.verticalScrollBar()
    bar.setValue(0)
    qtbot.waitUntil(lambda: tab.model.rowCount() >= 2_000 + PAGE)
    QApplication.processEvents()  # (painted)
    oldest = tab.model.oldest_seq()
    measured = count_measures(monkeypatch)
    rows = tab.model.rowCount()
    bar.setValue(0)  # the next page, as scrolling to the top does
    assert tab.model.rowCount() == rows + PAGE
    # The new page and the row below it (its sender's name or day line may go), not 2,050.
    assert len(measured) <= PAGE + 1, f"one page of {PAGE} measured {len(measured)} rows"
    # …and the message that was at the top when the page was asked for stays there.
    top = tab.view.indexAt(tab.view.viewport().rect().topLeft())
    assert tab.model.item(top.row()).seq == oldest
    assert tab.view.visualRect(top).top() == 0


def test_kept_heights_follow_edits_new_pages_and_the_window_width(qtbot):
    """A kept height is the one a fresh measurement gives: after an edit (longer text), after
    a page above (the first row's sender name goes once it continues a run), and at
    another width."""
    fill_cache(200, text=lambda seq: f"short {seq}")
    window = cached_window(qtbot)
    tab = window.open_conversation(PEER)
    model, view, delegate = tab.model, tab.view, tab.delegate

    def check() -> None:
        view.doItemsLayout()
        option = QStyleOptionViewItem()
        view.initViewItemOption(option)
        for row in range(model.rowCount()):
            index = tab.proxy.index(row, 0)
            fresh = int(delegate._measure(option, index).height + 0.999)
            assert view.visualRect(index).height() == fresh, (row, model.item(row).text)

    check()
    seq = model.item(model.rowCount() - 2).seq
    model.set_text(seq, "a long edit " * 60, edited=1_700_100_000.0)
    check()
    tab.load_older()
    check()
    window.resize(500, 600)
    qtbot.waitUntil(lambda: view.viewport().width() < 480)
    check()


def test_opening_a_conversation_far_behind_lays_out_each_row_about_once(qtbot, monkeypatch):
    """Back from holiday, 1,990 unread: opening the tab loads up to 40 pages from the cache to
    show the "New messages" line, and each page laid out every row loaded so far (~43,000
    row layouts, 4.1 s with the window frozen). Now the pages come in before one layout."""
    n, unread = 3_000, 1_990
    fill_cache(n, unread=unread)
    window = cached_window(qtbot)
    engine = window.engine
    engine.conversation(PEER)
    assert engine.unread(PEER) == unread
    measured = count_measures(monkeypatch)
    tab = window.open_conversation(PEER)
    row = tab.model.row_of_seq(n - unread + 1)
    assert row is not None  # the line is shown…
    QApplication.processEvents()
    rect = tab.view.visualRect(tab.proxy.index(row, 0))
    assert tab.view.viewport().rect().intersects(rect)  # …on screen
    loaded = tab.model.rowCount()
    assert len(measured) < 1.2 * loaded, f"{len(measured)} layouts for {loaded} rows"


def test_a_match_inside_a_gap_row_stays_on_screen_when_the_list_was_at_its_end(qtbot):
    """A far Ctrl+F match leaves a gap row ("⋯ N messages not loaded"). Back at the newest
    message, a search whose match lies in that gap loads it in the middle of the list,
    whose deferred scroll to the end (the list showed its end) ran after the jump to the
    match: "1 of 1 message", and the newest messages on screen."""
    notable = {100: "kiwi smoothie recipe", 1_000: "invoice 2023 is paid",
               2_000: "invoice 2024 is due"}
    fill_cache(2_000, text=lambda seq: notable.get(seq, f"message number {seq}."))
    window = cached_window(qtbot)
    tab = window.open_conversation(PEER)
    window.find()  # Ctrl+F
    qtbot.keyClicks(tab.find_edit, "kiwi")  # far back: a window and a gap
    assert tab.model.gap_rows()
    tab.jump_to_latest()
    qtbot.waitUntil(lambda: tab.at_latest)
    tab.find_edit.selectAll()
    qtbot.keyClicks(tab.find_edit, "invoice 2023")  # its last key: the match in the gap
    assert tab.find_label.text() == "1 of 1 message"
    row = tab.model.row_of_seq(1_000)
    assert row is not None

    def shown() -> bool:
        rect = tab.view.visualRect(tab.proxy.index(row, 0))
        return tab.view.viewport().rect().intersects(rect)

    QApplication.processEvents()  # (the 0 ms timers run)
    assert shown(), "the list went back to its end"
    assert not tab.at_latest
    tab.jump_to_latest()  # and the end is still reachable
    qtbot.waitUntil(lambda: tab.at_latest)


def test_find_on_a_second_computer_says_it_searched_only_this_computer(
        qtbot, server, open_window, monkeypatch, tmp_path):
    """alice sent bob her passport number, then 80 more messages, from her desktop. On her
    laptop, which has only the newest page, Ctrl+F "passport" said a flat "No matches",
    though scrolling up shows the message: the search covers what this computer has, and
    now says so. Once the older messages are loaded, it finds it."""
    desktop = connect_as(qtbot, server, "alice", "alice123")
    desktop.send_text("unicast", "my passport number is X1234567", ["bob"])
    for i in range(80):
        desktop.send_text("unicast", f"later message {i}", ["bob"])
    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "laptop"))
    laptop = open_window("alice")
    tab = laptop.open_conversation("bob")
    model = laptop.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: any(model.item(r).text == "later message 79"
                                for r in range(model.rowCount())), timeout=10_000)
    qtbot.keyClick(laptop, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(tab.find_edit, "passport")
    assert not tab.matches
    assert tab.find_label.text() == "No matches on this computer"
    assert "server" in tab.find_label.toolTip()
    while model.server_more is not False:  # the reader scrolls up to the first message
        with qtbot.waitSignal(laptop.engine.history_loaded, timeout=10_000):
            tab.load_older()
    qtbot.waitUntil(lambda: tab.find_label.text() == "1 message")
    tab.find_edit.selectAll()
    qtbot.keyClicks(tab.find_edit, "visa")  # everything is here now: plainly none
    assert tab.find_label.text() == "No matches"
    assert tab.find_label.toolTip() == ""


def test_a_new_computer_counts_every_unread_message_not_only_the_newest_page(
        qtbot, server, open_window, monkeypatch, tmp_path):
    """bob wrote alice 120 messages; her desktop got them (delivered) and she read none
    anywhere. Her laptop fetched only the newest page (50) at login: the badge said 50, and
    the tab drew "New messages" above "news 70", "news 0" … "news 69" above it as if seen (a
    hunt). A discovered conversation's older pages come too, down to what was read."""
    bob = open_window("bob")
    desktop = open_window("alice")
    key = peer_key("bob")
    for i in range(120):
        bob.engine.send_unicast("alice", f"news {i}")
    qtbot.waitUntil(lambda: desktop.engine.unread(key) == 120, timeout=20_000)
    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "laptop"))
    laptop = open_window("alice")
    engine = laptop.engine
    qtbot.waitUntil(lambda: engine.unread(key) == 120, timeout=10_000)
    badge = engine.unread(key)
    model = engine.conversation(key)
    tab = laptop.open_conversation("bob")
    qtbot.waitUntil(lambda: tab.delegate.unread_seq is not None, timeout=10_000)

    def scrolled_to_the_start() -> bool:  # what scrolling to the top does, page by page
        if model.rowCount() >= 120:
            return True
        tab.load_older()
        return False

    qtbot.waitUntil(scrolled_to_the_start, timeout=10_000)
    line = model.item(model.row_of_seq(tab.delegate.unread_seq)).text
    assert (badge, line) == (120, "news 0")


def test_find_in_a_long_conversation_waits_for_a_pause_in_the_typing(qtbot):
    """Each key of Ctrl+F searched the whole cache (~150 ms at 100,000 messages): typing
    stuttered. Once a search was slow the next ones wait for a pause; Enter does not."""
    from messenger.gui.conversation import FIND_AT_ONCE_S, find_waits

    assert not find_waits(0.001) and find_waits(FIND_AT_ONCE_S * 2)
    fill_cache(300, text=lambda seq: "lunch at noon" if seq == 120 else f"note {seq}.")
    window = cached_window(qtbot)
    tab = window.open_conversation(PEER)
    window.find()
    qtbot.keyClicks(tab.find_edit, "lun")  # a short conversation: at every key
    assert tab.find_label.text() == "1 of 1 message"
    tab._find_cost = 0.15  # as the last search of 100,000 messages took
    qtbot.keyClicks(tab.find_edit, "ch")
    assert tab.find_label.text() == "Searching…"
    assert tab.delegate.search_text == "lunch"  # (the rows on screen light up at once)
    qtbot.waitUntil(lambda: tab.find_label.text() == "1 of 1 message")
    assert tab.delegate.current_seq == 120
    tab._find_cost = 0.15
    tab.find_edit.selectAll()
    qtbot.keyClicks(tab.find_edit, "note 2")
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Return)  # Enter right away: searched now
    assert tab.find_label.text() == "1 of 111 messages"  # note 2, 20–29, 200–299
    assert tab.delegate.current_seq == 299


def test_messages_coming_with_the_find_bar_open_are_checked_alone_in_a_long_conversation(
        qtbot, server, open_window, monkeypatch):
    """With the find bar open, every message that came searched the whole cache again
    (~150 ms at 100,000 messages): a busy group stuttered. Once searches are slow, only
    what came or changed is looked at; the count still follows (a new match, an edit that
    takes one away)."""
    from messenger.protocol import Edit

    alice = connect_as(qtbot, server, "alice", "alice123")
    assert isinstance(alice.send_text("unicast", "lunch at noon?", ["bob"]), Ok)
    bob = open_window("bob")
    tab = bob.open_conversation("alice")
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1, timeout=10_000)
    bob.find()
    qtbot.keyClicks(tab.find_edit, "lunch")
    assert tab.find_label.text() == "1 of 1 message"
    tab._find_cost = 0.15  # as a search of 100,000 messages took
    searches: list[str] = []
    real = ClientEngine.search
    monkeypatch.setattr(ClientEngine, "search",
                        lambda self, model, text: searches.append(text) or real(self, model, text))
    second = alice.send_text("unicast", "LUNCH is late", ["bob"])
    alice.send_text("unicast", "never mind", ["bob"])
    qtbot.waitUntil(lambda: tab.find_label.text() == "2 of 2 messages", timeout=10_000)
    assert tab.delegate.current_seq == tab.matches[0]  # the current match stays current
    alice.request(Edit, seq=second.seq, text="dinner is late", client_msg_id="e1", base=0.0)
    qtbot.waitUntil(lambda: tab.find_label.text() == "1 of 1 message", timeout=10_000)
    assert searches == []


def test_the_find_bars_count_is_not_cut_off(qtbot):
    """"1 of 2 messag": in a narrow window the count's label was squeezed to the width of
    "No matches" while the edit kept its own."""
    from messenger.gui.conversation import NO_MATCHES_HERE

    fill_cache(30, text=lambda seq: "thanks a lot" if seq in (10, 20) else f"note {seq}.")
    window = cached_window(qtbot)
    window.resize(560, 600)
    tab = window.open_conversation(PEER)
    window.find()
    metrics = tab.find_label.fontMetrics()
    for typed, said in (("thanks", "1 of 2 messages"), ("visa", NO_MATCHES_HERE)):
        tab.find_edit.selectAll()
        qtbot.keyClicks(tab.find_edit, typed)
        assert tab.find_label.text() == said
        qtbot.waitUntil(lambda said=said: tab.find_label.width() >= metrics.horizontalAdvance(said))
