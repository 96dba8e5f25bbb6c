"""Windows of history around far search matches (gap rows), the store's range queries and
read marks — an engine on a local store, no server."""

from __future__ import annotations

import json

import pytest

from messenger.client.engine import ClientEngine
from messenger.client.localstore import CachedMessage, LocalStore
from messenger.client.models import GapItem, MessageKind


def received(seq: int, conv: str = "charlie", text: str | None = None) -> CachedMessage:
    return CachedMessage(seq, conv, 1_700_000_000.0 + seq, conv, "unicast",
                         text or f"message {seq}", f"c{seq}", ["alice"])


@pytest.fixture
def store() -> LocalStore:
    s = LocalStore(":memory:")
    s.add_messages([received(seq) for seq in range(1, 101)])
    yield s
    s.close()


def test_rows_between_and_count_between(store):
    assert [m.seq for m in store.rows_between("charlie", 10, 15)] == [11, 12, 13, 14]
    assert [m.seq for m in store.rows_between("charlie", 10, None, limit=3)] == [11, 12, 13]
    assert [m.seq for m in store.rows_between("charlie", None, 50, limit=3, newest=True)] == \
        [47, 48, 49]
    assert store.count_between("charlie", None, None) == 100
    assert store.count_between("charlie", 10, 15) == 4
    assert store.count_between("nobody", None, None) == 0


def test_read_marks_touch_received_messages_only(store):
    store.add_messages([CachedMessage(101, "charlie", 1.0, "Alice", "unicast", "mine", "o1",
                                      ["charlie"])])
    store.mark_read_here("charlie", [1, 2])
    assert [store.message(s).state for s in (1, 2, 3)] == ["read", "read", "sent"]
    assert store.mark_all_read_here("alice") == 98  # not alice's own (any case)
    assert store.message(101).state == "sent"


@pytest.fixture
def engine(qapp, tmp_path):
    engine = ClientEngine(data_dir=tmp_path)
    engine.open_store("127.0.0.1", 5555, "alice")
    engine.store.add_messages([received(seq, text="needle" if seq in (10, 500) else None)
                               for seq in range(1, 1001)])
    yield engine
    engine.store.close()


def seqs_of(model) -> list[int]:
    return [i.seq for i in model.items() if i.seq is not None]


def test_a_far_match_loads_a_window_and_a_gap_that_fills_page_by_page(qtmodeltester, engine):
    model = engine.conversation("charlie")
    assert seqs_of(model) == list(range(951, 1001))
    assert model.find("NEEDLE") == [10, 500]
    # A match far back: 25 messages each side of it, and a gap row down to the loaded ones.
    row = model.load_until(500)
    assert model.item(row).text == "needle"
    assert seqs_of(model) == list(range(475, 526)) + list(range(951, 1001))
    gap = model.gap_at(51)
    assert isinstance(gap, GapItem) and gap.kind is MessageKind.SYSTEM and gap.seq is None
    assert (gap.after, gap.before, gap.count) == (525, 951, 425)
    # A match older still: another window above, with a gap down to the first one.
    row = model.load_until(10)
    assert model.item(row).seq == 10
    assert model.gap_rows() == [35, 87]
    assert (model.gap_at(35).after, model.gap_at(35).before) == (35, 475)
    # (The testers call fetchMore inside every change signal, so attach once nothing
    # older can be fetched; from here on it checks every change.)
    assert not model.canFetchMore()
    qtmodeltester.check(model, force_py=True)
    # A gap fills a page at a time, from either end, until it is gone.
    model.fill_gap(87, newest=True)
    assert model.gap_at(87).before == 901 and model.row_of_seq(901) == 88
    model.fill_gap(35)
    assert model.gap_at(85).after == 85
    model.load_until(300)  # a match inside a gap splits it
    assert len(model.gap_rows()) == 3
    while model.gap_rows():
        model.fill_gap(model.gap_rows()[0], newest=len(model.gap_rows()) % 2 == 0)
    assert seqs_of(model) == list(range(1, 1001))  # every message once, in order
    qtmodeltester.check(model, force_py=True)


def test_a_match_inside_a_gap_splits_it_and_a_near_one_closes_it(engine):
    model = engine.conversation("charlie")
    model.load_until(10)  # window 1…35, gap 35‥951
    assert model.gap_rows() == [35]
    model.load_until(500)  # inside the gap: split around a window
    assert [(g.after, g.before) for g in map(model.gap_at, model.gap_rows())] == \
        [(35, 475), (525, 951)]
    model.load_until(400)  # inside the upper gap, still far from its ends: a window
    assert len(model.gap_rows()) == 3
    model.load_until(460)  # in the 49 between 425 and 475: near, so that gap closes
    assert [(g.after, g.before) for g in map(model.gap_at, model.gap_rows())] == \
        [(35, 375), (525, 951)]
    assert seqs_of(model) == sorted(set(seqs_of(model)))


def test_unread_messages_wait_for_a_read_receipt_once(engine, tmp_path):
    model = engine.conversation("charlie")  # the last page is shown; all 1,000 are unread
    assert model.rowCount() == 50
    assert engine.unread("charlie") == 1000 and engine.first_unread("charlie") == 1
    model.fetchMore()  # one more page from the cache: counted once, not again
    assert engine.unread("charlie") == 1000
    engine.mark_read("charlie")  # offline: read here at once, the receipts go later
    assert engine.unread("charlie") == 0
    assert len(json.loads(engine.store.get_meta("reads_unconfirmed"))) == 1000
    # The next start of the app counts nothing unread: the marks are in the store.
    engine.store.close()
    again = ClientEngine(data_dir=tmp_path)
    again.open_store("127.0.0.1", 5555, "alice")
    assert again.conversation("charlie").rowCount() == 50
    assert again.unread("charlie") == 0
    again.store.close()


def test_an_old_cache_counts_as_read(qapp, tmp_path):
    from messenger.client.localstore import store_path

    old = LocalStore(store_path(tmp_path, "127.0.0.1", 5555, "alice"))
    old.add_messages([received(seq) for seq in range(1, 11)])  # no read marks yet
    old.close()
    engine = ClientEngine(data_dir=tmp_path)
    engine.open_store("127.0.0.1", 5555, "alice")
    assert engine.conversation("charlie").rowCount() == 10
    assert engine.unread("charlie") == 0
    engine.store.close()
