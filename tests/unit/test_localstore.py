"""The app's local store and liveness rules, without Qt or sockets."""

from __future__ import annotations

import sqlite3

import pytest

from messenger.client.liveness import Backoff, Heartbeat, OfflineGrace
from messenger.client.localstore import (
    _UNREAD_SQL,
    SCHEMA_VERSION,
    CachedMessage,
    LocalStore,
    SeqClash,
    TransferRecord,
    remove_store,
    store_path,
)
from messenger.protocol import RETRACTED_TEXT


@pytest.fixture
def store(tmp_path) -> LocalStore:
    return LocalStore(store_path(tmp_path, "127.0.0.1", 5555, "Alice"))


def cached(seq, conv="bob", text=None, sender="bob", scope="unicast", **kw) -> CachedMessage:
    return CachedMessage(seq=seq, conv=conv, ts=float(seq), sender=sender, scope=scope,
                         text=text or f"m{seq}", client_msg_id=f"c{seq}", **kw)


def test_store_path_is_per_server_and_account(tmp_path):
    assert store_path(tmp_path, "10.0.0.1", 5555, "Alice") == \
        tmp_path / "accounts" / "10.0.0.1_5555" / "alice.db"
    assert store_path(tmp_path, "../../etc", 1, "x").parent.name == ".._.._etc_1"


def test_a_server_name_typed_in_another_case_is_the_same_store(tmp_path):
    """"Lab-Server" one day and "lab-server" the next opened two stores: the first one's
    unsent messages were never sent, while settings and pins took them as one server (a
    hunt). The folder an older app made under the typed case is renamed once."""
    older = tmp_path / "accounts" / "Lab-Server_5555"
    older.mkdir(parents=True)
    (older / "alice.db").write_bytes(b"kept")
    path = store_path(tmp_path, "lab-server", 5555, "alice")
    assert path == tmp_path / "accounts" / "lab-server_5555" / "alice.db"
    assert path.read_bytes() == b"kept" and not older.exists()
    assert store_path(tmp_path, "LAB-SERVER", 5555, "Alice") == path


def test_outbox_survives_reopen_and_keeps_order(tmp_path):
    path = tmp_path / "o.db"
    first = LocalStore(path)
    ids = [first.enqueue("bob", "unicast", ["bob"], f"t{i}").client_msg_id for i in range(3)]
    first.close()
    again = LocalStore(path)
    assert [i.client_msg_id for i in again.outbox(state="pending")] == ids
    assert again.acked(ids[0]).text == "t0"
    assert [i.text for i in again.outbox()] == ["t1", "t2"]


def test_failed_message_does_not_block_later_ones_and_can_be_retried(store):
    a = store.enqueue("ghost", "unicast", ["ghost"], "to nobody")
    b = store.enqueue("bob", "unicast", ["bob"], "to bob")
    store.failed(a.client_msg_id, "unknown_user")
    assert [i.client_msg_id for i in store.outbox(state="pending")] == [b.client_msg_id]
    assert store.outbox(state="failed")[0].error == "unknown_user"
    retried = store.retry(a.client_msg_id)
    assert retried.state == "pending" and retried.client_msg_id == a.client_msg_id
    assert [i.text for i in store.outbox(state="pending")] == ["to nobody", "to bob"]
    store.discard(a.client_msg_id)
    assert [i.text for i in store.outbox()] == ["to bob"]


def test_history_cache_dedupes_and_pages(store):
    assert store.add_messages([cached(s) for s in range(1, 11)]) == list(range(1, 11))
    assert store.add_messages([cached(5), cached(11)]) == [11]
    assert [m.seq for m in store.page("bob", limit=3)] == [9, 10, 11]
    assert [m.seq for m in store.page("bob", before=9, limit=3)] == [6, 7, 8]
    assert store.last_seq("bob") == 11 and store.last_seq("nobody") is None
    assert store.count("bob") == 11


def test_a_seq_cached_as_another_message_is_a_clash_and_own_messages_after_a_seq(store):
    """A restored server numbers anew: a seq that comes as another message (another
    client_msg_id, in any conversation) adds nothing and says so; what the account sent
    above a seq comes back as outbox rows, once each, deleted ones left out."""
    both = ["bob", "carol"]
    store.add_messages([cached(1), cached(2, conv="carol", sender="Alice", text="mine"),
                        cached(3, conv="bob", sender="alice", scope="multicast", to=both),
                        cached(3, conv="carol", sender="alice", scope="multicast", to=both),
                        cached(4, conv="group:lab", sender="alice", scope="group", group="Lab"),
                        cached(5, sender="alice", text=RETRACTED_TEXT)])
    clash = CachedMessage(seq=2, conv="dave", ts=9.0, sender="dave", scope="unicast",
                          text="new", client_msg_id="other")
    with pytest.raises(SeqClash) as info:
        store.add_messages([cached(6), clash])
    assert info.value.seq == 2 and store.max_seq() == 5  # (nothing added, 6 neither)
    assert store.add_messages([cached(1)]) == []  # a repeat is no clash
    store.check_seqs([cached(1), cached(7)])
    lost = store.own_after(1, "alice")
    assert [(i.client_msg_id, i.conv, i.scope, i.to) for i in lost] == [
        ("c2", "carol", "unicast", []), ("c3", "bob", "multicast", ["bob", "carol"]),
        ("c4", "group:lab", "group", ["Lab"])]


def test_receipts_only_move_forward(store):
    store.add_messages([cached(1, sender="alice", to=["bob", "carol"])])
    assert store.receipt(1, "bob", "delivered").state == "delivered"
    m = store.receipt(1, "carol", "read")
    assert (m.state, m.delivered_to, m.read_by) == ("read", ["bob", "carol"], ["carol"])
    assert store.receipt(1, "bob", "delivered").state == "read"
    assert store.receipt(99, "bob", "read") is None


def test_receipts_upto_cover_own_messages_to_the_peer_above_after_only(store):
    store.add_messages([cached(3, sender="alice", to=["bob"]),  # before the pair cursors
                        cached(10, sender="alice", to=["bob"]), cached(11, sender="bob"),
                        cached(12, sender="alice", to=["bob"]),
                        cached(14, sender="alice", to=["bob"])])
    changed = store.receipts_upto("Alice", "bob", delivered=13, read=10, after=5)
    assert [(m.seq, m.state) for m in changed] == [(10, "read"), (12, "delivered")]
    assert store.message(3).state != "delivered" and store.message(14).state != "delivered"
    assert store.receipts_upto("Alice", "bob", delivered=13, read=10, after=5) == []  # again
    later = store.receipts_upto("Alice", "bob", delivered=14, read=12, after=5)
    assert [(m.seq, m.state) for m in later] == [(12, "read"), (14, "delivered")]


def test_search_is_case_insensitive_and_literal(store):
    store.add_messages([cached(1, text="Hello World"), cached(2, text="100% sure"),
                        cached(3, text="hello again"), cached(4, conv="carol", text="hello")])
    assert store.search("bob", "HELLO") == [1, 3]
    assert store.search("bob", "%") == [2]
    # Not only ASCII letters (a groups hunt: "école" did not find "École" further back).
    store.add_messages([cached(5, text="École starts at 8"), cached(6, text="ZÜRICH HB"),
                        cached(7, text="Straße")])
    assert store.search("bob", "école") == [5]
    assert store.search("bob", "zürich") == [6]
    assert store.search("bob", "STRASSE") == [7]  # (casefold, as the app's own rows)
    assert store.search("bob", "_") == []
    store.add_messages([cached(8, text="cafe\u0301 au lait")])  # as macOS pastes "é"
    assert store.search("bob", "CAFÉ") == [8]


def test_meta(store):
    assert store.get_meta("receipts_after") is None
    store.set_meta("receipts_after", "7")
    assert store.get_meta("receipts_after") == "7"


def test_transfers_survive_reopen_update_in_place_and_are_pruned(tmp_path):
    path = tmp_path / "t.db"
    first = LocalStore(path)
    first.save_transfer(TransferRecord("k1", "send", "bob", "bob", "a.bin", 10, "ab" * 32,
                                       "application/octet-stream", "/tmp/a.bin", "active", 4))
    first.save_transfer(TransferRecord("k2", "receive", "carol", "carol", "b.mp4", 7))
    first.save_transfer(TransferRecord("k1", "send", "bob", "bob", "a.bin", 10, "ab" * 32,
                                       "application/octet-stream", "/tmp/a.bin", "failed", 6,
                                       "connection lost", by_peer=True))
    first.close()
    again = LocalStore(path)
    rows = again.transfers()
    assert [r.key for r in rows] == ["k1", "k2"]  # an update keeps the row's place
    assert (rows[0].state, rows[0].done, rows[0].error, rows[0].by_peer, rows[0].accepted) == \
        ("failed", 6, "connection lost", True, False)
    assert again.transfer("k2") == TransferRecord("k2", "receive", "carol", "carol", "b.mp4", 7)
    assert again.transfer("nope") is None
    for i in range(3, 6):
        again.save_transfer(TransferRecord(f"k{i}", "send", "bob", "bob", "c.txt", 1))
    assert again.prune_transfers(keep=2) == 3
    assert [r.key for r in again.transfers()] == ["k4", "k5"]


def test_a_version_1_file_gets_the_transfers_table_and_keeps_its_rows(tmp_path):
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE outbox (ord INTEGER PRIMARY KEY AUTOINCREMENT,
            client_msg_id TEXT NOT NULL UNIQUE, conv TEXT NOT NULL, scope TEXT NOT NULL,
            recipients TEXT NOT NULL, text TEXT NOT NULL, created REAL NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending', error TEXT);
        INSERT INTO outbox (client_msg_id, conv, scope, recipients, text, created)
            VALUES ('c1', 'bob', 'unicast', '["bob"]', 'old', 1.0);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('receipts_after', '3');
    """)
    db.commit()
    db.close()
    store = LocalStore(path)
    assert [(i.text, i.attempted, i.group_created) for i in store.outbox()] == \
        [("old", False, None)]
    store.attempted("c1")
    assert store.outbox_item("c1").attempted
    store.failed("c1", "refused")  # an answer: the server does not hold it
    assert not store.outbox_item("c1").attempted
    assert store.get_meta("receipts_after") == "3"
    assert store.transfers() == []
    store.save_transfer(TransferRecord("k", "send", "bob", "bob", "a", 1))
    assert [r.key for r in store.transfers()] == ["k"]
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
    db.close()


def test_a_version_5_file_drops_its_deleted_notice_lines(tmp_path):
    """The apps no longer show "alice deleted a message" lines (the original says it where
    it was): a cache written before keeps none of them either."""
    path = tmp_path / "v5.db"
    store = LocalStore(path)
    store.add_messages([cached(1, conv="bob", sender="bob", text="This message was deleted."),
                        cached(2, conv="bob", sender="bob", text="bob deleted a message",
                               notice="deleted"),
                        cached(3, conv="bob", sender="bob", text="still here")])
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 5")
    db.commit()
    db.close()
    store = LocalStore(path)
    assert [m.seq for m in store.page("bob", limit=10)] == [1, 3]
    store.close()


def test_transfers_keep_the_server_transfer_id_also_in_a_file_from_before_it(tmp_path):
    path = tmp_path / "v4.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE transfers (ord INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE, direction TEXT NOT NULL, peer TEXT NOT NULL,
            conv TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
            sha256 TEXT NOT NULL DEFAULT '', mime TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
            by_peer INTEGER NOT NULL DEFAULT 0, accepted INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL, updated REAL NOT NULL);
        INSERT INTO transfers (key, direction, peer, conv, name, size, state, created,
            updated) VALUES ('old', 'receive', 'bob', 'bob', 'a.bin', 5, 'incoming', 1, 1);
        PRAGMA user_version = 4;
    """)
    db.commit()
    db.close()
    store = LocalStore(path)
    assert store.transfer("old").transfer_id == ""
    store.save_transfer(TransferRecord("old", "receive", "bob", "bob", "a.bin", 5,
                                       state="incoming", transfer_id="t-2"))
    store.save_transfer(TransferRecord("new", "send", "bob", "bob", "b.bin", 5,
                                       transfer_id="t-3", auto_resume=True))
    store.close()
    again = LocalStore(path)
    assert [(r.key, r.transfer_id, r.auto_resume) for r in again.transfers()] == \
        [("old", "t-2", False), ("new", "t-3", True)]
    assert again.transfer("old").created == 1
    again.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_version_2_file_gets_the_counts_column_and_group_counts_only_grow(tmp_path):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE messages (seq INTEGER NOT NULL, conv TEXT NOT NULL, ts REAL NOT NULL,
            sender TEXT NOT NULL, scope TEXT NOT NULL, recipients TEXT NOT NULL, grp TEXT,
            notice TEXT, text TEXT NOT NULL, client_msg_id TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'sent', delivered_to TEXT NOT NULL DEFAULT '[]',
            read_by TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (conv, seq)) WITHOUT ROWID;
        INSERT INTO messages (seq, conv, ts, sender, scope, recipients, grp, text,
            client_msg_id) VALUES (7, 'group:lab', 1.0, 'alice', 'group', '[]', 'lab', 'hi',
            'c7');
        PRAGMA user_version = 2;
    """)
    db.commit()
    db.close()
    store = LocalStore(path)
    assert store.message(7).counts is None
    (m,) = store.receipt_counts(7, 2, 0, 3)
    assert (m.counts, m.state) == ((2, 0, 3), "delivered")
    (m,) = store.receipt_counts(7, 3, 1, 3)
    assert (m.counts, m.state) == ((3, 1, 3), "read")
    (m,) = store.receipt_counts(7, 2, 0, 3)  # an older count, replayed: nothing goes back
    assert (m.counts, m.state) == ((3, 1, 3), "read")
    assert store.message(7).counts == (3, 1, 3)
    assert store.receipt_counts(99, 1, 0, 1) == []
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_backoff_grows_with_jitter_up_to_the_cap_and_resets():
    low = Backoff(0.5, 30.0, rng=lambda: 0.0)
    high = Backoff(0.5, 30.0, rng=lambda: 0.999999)
    lows = [low.next_delay() for _ in range(10)]
    highs = [high.next_delay() for _ in range(10)]
    assert lows[:4] == [0.5, 1.0, 2.0, 4.0]  # never below 0.5 s (it was 0.25 first)
    assert highs[0] == pytest.approx(1.0) and max(highs) == pytest.approx(30.0)
    assert lows[-1] == 15.0  # the first already spread over [0.5, 1] (it was 0.5 for all)
    assert all(0.5 <= lo <= hi <= 30.0 for lo, hi in zip(lows, highs, strict=True))
    low.reset()
    assert low.next_delay() == 0.5


def test_heartbeat_pings_then_declares_dead_also_after_sleep():
    hb = Heartbeat(interval=5, timeout=15)
    hb.received(100.0)
    assert hb.check(104.0) == "ok"
    assert hb.check(105.0) == "ping"
    assert hb.check(106.0) == "ok"  # one ping per interval
    assert hb.check(110.0) == "ping"
    hb.received(111.0)
    assert hb.check(112.0) == "ok"
    assert hb.check(111.0 + 3600) == "dead"  # the laptop slept an hour
    with pytest.raises(ValueError):
        Heartbeat(interval=15, timeout=15)


def test_a_contacts_going_offline_is_held_for_a_grace_and_dropped_when_back_within_it():
    """A contact's Wi-Fi blip wrote "alice is offline." and "alice is online." (and moved
    her row twice): an offline waits its grace; back within it, it never shows."""
    grace: OfflineGrace[str] = OfflineGrace(5.0)
    assert grace.next_due() is None
    grace.hold("alice", "alice went", 100.0)
    grace.hold("bob", "bob went", 102.0)
    assert grace.held("alice") and grace.next_due() == 105.0
    assert grace.due(104.9) == []
    assert grace.back("alice") and not grace.back("alice")  # (dropped: nothing to show)
    assert grace.next_due() == 107.0
    grace.hold("bob", "bob went again", 106.0)  # (offline since 102: due then)
    assert grace.due(107.0) == ["bob went again"] and grace.next_due() is None
    grace.hold("charlie", "charlie went", 200.0)
    grace.clear()
    assert grace.due(1000.0) == []


def test_unread_seqs_are_others_unmarked_messages_and_use_the_partial_index(store):
    store.add_messages([cached(s) for s in range(1, 8)]
                       + [cached(8, sender="ALICE"), cached(9, notice="joined")])
    store.mark_read_here("bob", [2, 3])
    assert store.unread_seqs("bob", "alice") == [1, 4, 5, 6, 7]  # not own (any case), no notice
    assert store.unread_seqs("bob", "alice", before=5) == [1, 4]
    assert store.unread_seqs("carol", "alice") == []
    plan = " ".join(str(r) for r in store._db.execute(
        "EXPLAIN QUERY PLAN " + _UNREAD_SQL + " AND seq < ? ORDER BY seq", ("bob", 5)))
    assert "messages_unread" in plan


def test_receipts_for_a_message_not_cached_yet_apply_when_it_is(store):
    """At a login the replay of receipts runs ahead of a resent message's ``ok``: they wait
    in the store and :meth:`settle` applies them, as it does the peer's upto cursors."""
    assert store.receipts(5, "bob", "read") == []
    assert store.receipt_counts(6, 2, 1, 3) == []
    store.receipts_upto("alice", "carol", delivered=9, read=8, after=3)
    store.add_messages([cached(5, sender="alice", to=["bob"]),
                        cached(6, conv="#lab", sender="alice", scope="group", group="lab"),
                        cached(8, conv="carol", sender="alice", to=["carol"]),
                        cached(9, conv="carol", sender="alice", to=["carol"]),
                        cached(3, conv="carol", sender="alice", to=["carol"]),
                        cached(7, sender="bob")])
    settled = {(m.conv, m.seq): m for m in store.settle([5, 6, 8, 9, 3, 7], "Alice")}
    assert settled[("bob", 5)].state == "read" and settled[("bob", 5)].read_by == ["bob"]
    assert settled[("#lab", 6)].counts == (2, 1, 3)
    assert settled[("carol", 8)].state == "read"
    assert settled[("carol", 9)].state == "delivered"
    assert ("carol", 3) not in settled  # at or below the cursors' `after`: they say nothing
    assert ("bob", 7) not in settled  # not ours
    assert store.settle([5, 6], "alice") == []  # once
    assert store._db.execute("SELECT count(*) FROM early_receipts").fetchone()[0] == 0


def test_a_typed_message_is_committed_synced_and_the_store_goes_back_to_normal(store):
    """The outbox row of a typed message must survive a power loss, so its commit runs at
    ``synchronous=FULL``; everything else stays at ``NORMAL`` (cheaper, crash-safe)."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.enqueue("bob", "unicast", ["bob"], "hello")
    store._db.set_trace_callback(None)
    insert = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO outbox"))
    assert "PRAGMA synchronous=FULL" in statements[:insert]
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_an_old_edit_neither_revives_a_deleted_message_nor_undoes_a_later_edit(store):
    from messenger.protocol import RETRACTED_TEXT

    store.add_messages([cached(1), cached(2)])
    assert store.set_text(1, "second edit", edited=20.0) == 1
    assert store.set_text(1, "first edit", edited=10.0) == 0  # came late (a catch-up page)
    assert store.message(1).text == "second edit" and store.message(1).edited == 20.0
    store.set_text(2, RETRACTED_TEXT)
    assert store.set_text(2, "an edit from before", edited=30.0) == 0
    assert store.message(2).text == RETRACTED_TEXT


def test_a_dead_link_is_noticed_within_15_s_with_one_check_a_second():
    """The engine checks once a second: the default timeout leaves room for that tick. The
    worst case is a last frame just after a check."""
    hb = Heartbeat()
    hb.received(0.001)
    dead_at = next(t for t in range(1, 30) if hb.check(float(t)) == "dead")
    assert dead_at - 0.001 <= 15.0
    assert dead_at == 15  # and not sooner: a slow server's link is not given up early


def test_a_multicast_copy_ticks_for_its_own_recipient_and_lists_everyone(store):
    """alice's multicast to Bob and carol has a copy in each one's tab: Bob's read ticks
    his copy read and leaves carol's unticked; both copies list who has it."""
    store.add_messages([cached(5, conv=c, sender="alice", scope="multicast",
                               to=["Bob", "carol"]) for c in ("bob", "carol")])
    rows = {m.conv: m for m in store.receipts(5, "Bob", "read")}
    assert (rows["bob"].state, rows["carol"].state) == ("read", "sent")
    assert rows["carol"].read_by == ["Bob"] and rows["carol"].delivered_to == ["Bob"]
    rows = {m.conv: m for m in store.receipts(5, "carol", "delivered")}
    assert (rows["bob"].state, rows["carol"].state) == ("read", "delivered")
    assert rows["bob"].delivered_to == ["Bob", "carol"]
    assert store.message(5, conv="carol").state == "delivered"


def test_multicast_copies_cached_apart_all_get_the_receipts(store):
    """A catch-up caches one conversation per page: receipts that came before the first
    copy, or between the copies, reach the copy cached later too."""
    def own(seq, conv):
        return cached(seq, conv=conv, sender="alice", scope="multicast", to=["bob", "carol"])

    store.receipts(7, "bob", "read")  # both before any copy is cached
    store.receipts(7, "carol", "read")
    store.add_messages([own(7, "bob")])
    store.settle([7], "alice")
    store.add_messages([own(7, "carol")])
    store.settle([7], "alice")
    assert store.message(7, conv="carol").state == "read"
    assert store.message(7, conv="carol").read_by == ["bob", "carol"]

    store.add_messages([own(8, "bob")])
    store.receipts(8, "carol", "delivered")  # one copy cached: applied there only
    assert store.message(8, conv="bob").state == "sent"
    store.add_messages([own(8, "carol")])
    (row,) = [m for m in store.settle([8], "alice") if m.conv == "carol"]
    assert (row.state, row.delivered_to) == ("delivered", ["carol"])
    assert store.message(8, conv="bob").state == "sent"  # bob's copy: bob has not got it


def test_removing_a_store_takes_its_files_and_set_aside_copies_and_no_other_accounts(tmp_path):
    """File → Log out and remove my data: alice's store, its -wal/-shm/.lock and the copies
    of it set aside (damaged, moved, server reset) go; the store of an account named
    ``alice.db`` (``alice.db.db``) and bob's stay, and so does their folder."""
    path = store_path(tmp_path, "lab", 5000, "alice")
    LocalStore(path).close()
    LocalStore(store_path(tmp_path, "lab", 5000, "alice.db")).close()
    LocalStore(store_path(tmp_path, "lab", 5000, "bob")).close()
    for extra in ("alice.db-wal", "alice.db-shm", "alice.db.damaged-20260101-120000",
                  "alice.db.damaged-20260101-120000-wal", "alice.db.moved-20260102-090000",
                  "alice.db.server-reset-20260103-100000-shm"):
        (path.parent / extra).write_bytes(b"x")
    assert remove_store(path) == []
    assert sorted(p.name for p in path.parent.iterdir()) == \
        ["alice.db.db", "alice.db.db.lock", "bob.db", "bob.db.lock"]
    only = store_path(tmp_path, "other", 5000, "alice")
    LocalStore(only).close()
    assert remove_store(only) == [] and not only.parent.exists()  # (an empty folder goes)


def test_sent_by_gives_a_senders_cached_messages_newest_first_below_a_seq(store):
    """What a reply's quote may point to (a click on it goes there): one sender's messages
    of one conversation, newest first, any case of the name, notices left out, read in
    chunks (a long history is not read at once)."""
    store.add_messages([cached(1), cached(2, sender="alice"), cached(3, sender="BOB"),
                        cached(4), cached(5, conv="carol", sender="bob"), cached(6),
                        cached(7, notice="joined")])
    assert [r[0] for r in store.sent_by("bob", "bob", before=6, chunk=2)] == [4, 3, 1]
    assert [r[0] for r in store.sent_by("bob", "Bob")] == [6, 4, 3, 1]
