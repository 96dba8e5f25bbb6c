"""Time to open a 100,000-message conversation in the app, offscreen.

Usage: ``python benchmarks/history.py [--messages N] [--runs R]``

Fills an account's local store (the app's SQLite history cache) with N messages of one private
conversation, then, in a fresh engine and main window each run, measures:

* open: ``MainWindow.open_conversation`` until the tab's list has laid out and painted (the
  last page comes from the cache; nothing else is loaded);
* scroll: one scroll to the top, which loads the next older page (``fetchMore``) and paints;
* find: a search over the whole cached conversation for one message ``--find-back``
  messages back (default 2,000) that jumps to it and paints it. A match more than
  ``JUMP_NEAR`` (200) cached messages beyond the loaded rows brings only a window around it
  (25 messages each side) and a gap row for the rest, so the cost hardly depends on the
  distance; before the gap rows, jumping 100,000 back loaded and laid out all 100,000 rows
  (about 17 s on the 2-core test machine, now about 0.2 s);
* far find: the same for the oldest message (``--messages`` - 1 back);
* gap page: scrolling onto the gap below that window loads its next page (50) and paints;
* deep scroll: with ``--deep`` rows (default 10,000) already loaded by scrolling up, one
  more scroll to the top (the next page of 50) and paint. Each page used to lay out every
  loaded row anew (about 1 s at 10,000); the delegate now keeps each row's height, so only
  the new page is measured;
* unread open: opening the conversation with ``--unread`` (default 1,990) unread messages,
  which loads pages from the cache up to the "New messages" line (up to 40), laid out once.

No server is needed: the window shows the cache. Prints milliseconds (median of the runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from messenger.client.engine import ClientEngine
    from messenger.gui.main_window import MainWindow

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--find-back", type=int, default=2_000)
    parser.add_argument("--deep", type=int, default=10_000)
    parser.add_argument("--unread", type=int, default=1_990)
    args = parser.parse_args(argv)
    home = tempfile.TemporaryDirectory(prefix="messenger-bench-")
    os.environ["MESSENGER_HOME"] = home.name

    from PySide6.QtWidgets import QApplication

    from messenger import paths
    from messenger.client.localstore import LocalStore, store_path

    app = QApplication.instance() or QApplication(sys.argv[:1])
    host, port, me, peer = "127.0.0.1", 5555, "alice", "bob"
    store = LocalStore(store_path(paths.data_dir(), host, port, me))
    t0 = time.perf_counter()
    rows = []
    for seq in range(1, args.messages + 1):
        sender = me if seq % 3 == 0 else peer
        rows.append((seq, peer, 1_700_000_000.0 + seq, sender, "unicast",
                     f'["{peer if sender == me else me}"]', f"message number {seq}: " +
                     "lorem ipsum dolor sit amet " * (1 + seq % 4), f"c{seq}", "sent"))
    store._db.execute("BEGIN")
    store._db.executemany(
        "INSERT INTO messages (seq, conv, ts, sender, scope, recipients, text, client_msg_id,"
        " state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    store._db.execute("COMMIT")
    store.close()
    print(f"filled {args.messages:,} messages in {(time.perf_counter() - t0) * 1000:.0f} ms")

    opens, scrolls, finds, fars, gaps, deeps, unreads = [], [], [], [], [], [], []
    for _ in range(args.runs):
        engine, window = open_window(app, host, port, me)
        t = time.perf_counter()
        tab = window.open_conversation(peer)
        tab.view.doItemsLayout()
        tab.view.viewport().repaint()
        app.processEvents()
        opens.append((time.perf_counter() - t) * 1000)
        assert tab.model.rowCount() <= 100, tab.model.rowCount()

        t = time.perf_counter()
        tab.view.verticalScrollBar().setValue(0)
        tab.view.viewport().repaint()
        app.processEvents()
        scrolls.append((time.perf_counter() - t) * 1000)

        t = time.perf_counter()
        tab.open_find()
        target = max(1, args.messages - args.find_back)
        tab.find_edit.setText(f"message number {target}:")  # one match
        tab.view.viewport().repaint()
        app.processEvents()
        finds.append((time.perf_counter() - t) * 1000)
        loaded = tab.model.rowCount()

        t = time.perf_counter()
        tab.find_edit.setText("message number 1:")  # the oldest message, one match
        tab.view.viewport().repaint()
        app.processEvents()
        fars.append((time.perf_counter() - t) * 1000)
        far_loaded = tab.model.rowCount()
        assert tab.model.row_of_seq(1) is not None

        t = time.perf_counter()
        tab.model.fill_gap(tab.model.gap_rows()[0])
        tab.view.viewport().repaint()
        app.processEvents()
        gaps.append((time.perf_counter() - t) * 1000)
        close(app, window, engine)

        engine, window = open_window(app, host, port, me)
        tab = window.open_conversation(peer)  # then scrolled up to --deep rows
        while tab.model.rowCount() < args.deep and tab.model.canFetchMore():
            tab.model.fetchMore()
        tab.view.doItemsLayout()
        app.processEvents()
        t = time.perf_counter()
        tab.view.verticalScrollBar().setValue(0)
        tab.view.viewport().repaint()
        app.processEvents()
        deeps.append((time.perf_counter() - t) * 1000)
        deep_loaded = tab.model.rowCount()
        close(app, window, engine)

        # The newest --unread messages unread: the tab opens at the "New messages" line.
        store = LocalStore(store_path(paths.data_dir(), host, port, me))
        store._db.execute("UPDATE messages SET state = CASE WHEN seq > ? THEN 'sent' "
                          "ELSE 'read' END WHERE conv = ?", (args.messages - args.unread, peer))
        store.set_meta("read_marks", "1")
        store.close()
        engine, window = open_window(app, host, port, me)
        t = time.perf_counter()
        tab = window.open_conversation(peer)
        tab.view.viewport().repaint()
        app.processEvents()
        unreads.append((time.perf_counter() - t) * 1000)
        unread_loaded = tab.model.rowCount()
        assert tab.model.row_of_seq(args.messages - args.unread + 1) is not None
        close(app, window, engine)
        store = LocalStore(store_path(paths.data_dir(), host, port, me))
        store._db.execute("UPDATE messages SET state = 'read' WHERE conv = ?", (peer,))
        store.close()

    print(f"open a {args.messages:,}-message conversation: "
          f"{statistics.median(opens):.1f} ms (median of {args.runs}; min "
          f"{min(opens):.1f}, max {max(opens):.1f})")
    print(f"scroll to the top (next page from the cache): {statistics.median(scrolls):.1f} ms")
    print(f"find a match {args.find_back:,} messages back and show it ({loaded:,} rows "
          "loaded): "
          f"{statistics.median(finds):.1f} ms")
    print(f"find the oldest message, {args.messages - 1:,} back, and show it ({far_loaded:,} "
          f"rows loaded): {statistics.median(fars):.1f} ms")
    print(f"load a page of the gap below it: {statistics.median(gaps):.1f} ms")
    print(f"scroll to the top with {deep_loaded - 50:,} rows loaded (next page): "
          f"{statistics.median(deeps):.1f} ms")
    print(f"open with {args.unread:,} unread ({unread_loaded:,} rows loaded): "
          f"{statistics.median(unreads):.1f} ms")
    return 0


def open_window(app: QApplication, host: str, port: int,
                me: str) -> tuple[ClientEngine, MainWindow]:
    """A fresh engine on the filled store and its main window, shown."""
    from messenger.client.engine import ClientEngine
    from messenger.gui.main_window import MainWindow

    engine = ClientEngine()
    engine.open_store(host, port, me)
    window = MainWindow(engine)
    window.resize(900, 600)
    window.show()
    app.processEvents()
    return engine, window


def close(app: QApplication, window: MainWindow, engine: ClientEngine) -> None:
    """Close ``window`` as the user does, which closes the engine's store too (closing
    ``engine.store`` again after it crashed the benchmark: it is None by then)."""
    window.close()
    window.deleteLater()
    if engine.store is not None:
        engine.store.close()
    app.processEvents()


if __name__ == "__main__":
    raise SystemExit(main())
