"""Unicast messages between two users without per-message rows (schema 7): the pair of users
is a group of two (:func:`pair_key`), its cursors say what was confirmed, and they stand for
the receipts the sender missed. Driven on the store, no sockets."""

from __future__ import annotations

import sqlite3

from messenger.server import store as store_module
from messenger.server.store import SCHEMA_VERSION, Store, pair_key

from .test_server_store import rows, stored


def open_store(path, *names):
    store = Store(path)
    store.set_batch(True)
    for name in names:
        store.create_account(name, "hash")
    return store


def dm(store, sender, to, text):
    message, _ = stored(store, sender, text, to=(to,), scope="unicast", text=text)
    return message.seq


def test_the_pair_key_is_one_for_both_directions():
    assert pair_key("alice", "bob") == pair_key("bob", "alice") == "alice|bob"


def test_a_unicast_writes_no_delivery_or_receipt_row_and_stays_due_after_a_restart(path):
    store = open_store(path, "alice", "bob")
    seqs = [dm(store, "alice", "bob", f"m{i}") for i in range(3)]
    first = store.mark("bob", seqs[:2], "delivered")
    assert [(r.rid, r.seq, r.user, r.state, r.sender_key) for r in first] == [
        (0, seqs[0], "bob", "delivered", "alice"), (0, seqs[1], "bob", "delivered", "alice")]
    assert store.mark("bob", seqs[:2], "delivered") == []  # only first transitions
    store.close()
    assert rows(path, "SELECT count(*) FROM deliveries") == [(0,)]
    assert rows(path, "SELECT count(*) FROM receipts") == [(0,)]
    assert rows(path, "SELECT DISTINCT grp_key FROM messages") == [("alice|bob",)]
    assert rows(path, "SELECT user_key, grp_key, delivered FROM group_cursors") == [
        ("bob", "alice|bob", seqs[1])]
    store = open_store(path)
    assert [m.seq for m in store.pending("bob")] == seqs[2:]  # nothing lost, nothing doubled
    assert store.pending("alice") == []  # her own messages are not due to her
    # Cold (from the cursor): a repeat is no transition, a read of a delivered one is.
    assert store.mark("bob", seqs[:1], "delivered") == []
    (read,) = store.mark("bob", seqs[:1], "read")
    assert (read.rid, read.seq, read.state) == (0, seqs[0], "read")
    store.close()


def test_the_cursors_stand_for_the_receipts_the_sender_missed(path):
    store = open_store(path, "alice", "bob", "carol", "dave")
    to_bob = [dm(store, "alice", "bob", f"b{i}") for i in range(3)]
    dm(store, "alice", "carol", "c0")  # carol confirms nothing: no cursor to report
    dm(store, "dave", "alice", "from dave")  # a message *to* alice says nothing of hers
    store.mark("bob", to_bob, "delivered")
    store.mark("bob", to_bob[:1], "read")
    # Every message of alice's to bob up to `delivered` was delivered (the cursor may stand
    # above the last one: seqs of other conversations in between are none of hers to bob).
    ((peer, after, delivered, read),) = store.receipt_cursors("alice")  # warm
    assert (peer, after, read) == ("bob", to_bob[0] - 1, to_bob[0]) and delivered >= to_bob[2]
    unconfirmed = dm(store, "alice", "bob", "b3")
    assert store.receipt_cursors("alice") == [("bob", after, delivered, read)]
    assert delivered < unconfirmed
    assert store.receipt_cursors("bob") == []
    store.close()
    store = open_store(path)
    assert store.receipt_cursors("alice") == [("bob", after, delivered, read)]  # from the rows
    store.close()


def test_history_shows_both_directions_and_what_an_older_server_stored(path):
    store = open_store(path, "alice", "bob", "carol")
    store.close()
    db = sqlite3.connect(path)  # a schema 6 unicast: a deliveries row, no grp_key
    db.executescript("""
INSERT INTO messages (sender, sender_key, client_msg_id, scope, recipients, text, ts)
    VALUES ('bob', 'bob', 'old', 'unicast', '["alice"]', 'old', 1.0);
INSERT INTO deliveries (user_key, seq) VALUES ('alice', 1);
PRAGMA user_version = 6;
""")
    db.close()
    store = open_store(path)
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    out = dm(store, "alice", "bob", "new out")
    back = dm(store, "bob", "alice", "new back")
    dm(store, "alice", "carol", "elsewhere")
    assert [m.text for m in store.history("alice", "user:bob")] == ["old", "new out", "new back"]
    assert [m.text for m in store.history("bob", "user:Alice")] == ["old", "new out", "new back"]
    assert [m.seq for m in store.history("bob", "user:alice", before=back)] == [1, out]
    assert [m.seq for m in store.pending("alice")] == [1, back]  # the old row, the new cursor
    store.mark("alice", [back], "delivered")
    # The cursor says "all up to here" but starts above the old message, still undelivered.
    ((peer, after, delivered, _),) = store.receipt_cursors("bob")
    assert peer == "alice" and 1 <= after < back <= delivered
    (receipt,) = store.mark("alice", [1], "delivered")  # its receipt is logged, as before
    assert receipt.rid == 1
    assert store.pending("alice") == []
    store.close()
    assert rows(path, "SELECT delivered IS NOT NULL FROM deliveries") == [(1,)]


def test_messages_to_oneself_and_multicasts_keep_their_rows(path):
    store = open_store(path, "alice", "bob", "carol")
    note, _ = stored(store, "alice", "self", to=("alice",), scope="unicast", text="note to self")
    multi, _ = stored(store, "alice", "multi", to=("bob", "carol"), text="to two")
    (receipt,) = store.mark("bob", [multi.seq], "delivered")
    assert receipt.rid == 1  # logged, as before
    store.close()
    assert rows(path, "SELECT seq, user_key FROM deliveries ORDER BY 1, 2") == [
        (note.seq, "alice"), (multi.seq, "bob"), (multi.seq, "carol")]
    assert rows(path, "SELECT grp_key FROM messages ORDER BY seq") == [(None,), (None,)]
    store = open_store(path)
    assert [m.text for m in store.history("alice", "user:alice")] == ["note to self"]
    store.close()


def test_read_is_never_inferred_for_a_message_the_peer_does_not_have(path):
    store = open_store(path, "alice", "bob")
    first, skipped = (dm(store, "alice", "bob", f"m{i}") for i in range(2))
    assert [m.seq for m in store.pending("bob", limit=1)] == [first]  # the replay cap
    store.mark("bob", [first], "delivered")
    live = dm(store, "alice", "bob", "live")
    store.mark("bob", [first, live], "read")  # he read what he has: skipped is not among it
    # The sender's catch-up: read up to the cursor, never above what was delivered.
    assert store.receipt_cursors("alice") == [("bob", first - 1, first, first)]
    store.close()
    store = open_store(path)  # cold: the states come from the cursor
    assert [m.seq for m in store.pending("bob")] == [skipped]  # live was confirmed (read)
    assert store.mark("bob", [live], "read") == []  # and read: no new receipt
    (delivered,) = store.mark("bob", [skipped], "delivered")  # a real transition, not "read"
    (read,) = store.mark("bob", [skipped], "read")
    assert (delivered.seq, delivered.state, read.state) == (skipped, "delivered", "read")
    store.close()


def test_a_late_message_read_after_the_read_cursor_passed_it_out_of_the_cache(path,
                                                                          monkeypatch):
    """Bob's app got a message late (after the replay cap, or from his other computer) when
    he had already read newer ones, and he read it then: Alice's tick stayed "delivered" on
    a busy server, where the message had left the recent cache between the two marks (its
    state was taken again from the read cursor, which had passed it: "read" already)."""
    monkeypatch.setattr(Store, "RECENT_LIMIT", 1)
    store = open_store(path, "alice", "bob")
    first, skipped = (dm(store, "alice", "bob", f"m{i}") for i in range(2))
    store.mark("bob", [first], "delivered")
    live = dm(store, "alice", "bob", "live")
    store.mark("bob", [first, live], "read")  # skipped is not among what he has
    (delivered,) = store.mark("bob", [skipped], "delivered")
    (read,) = store.mark("bob", [skipped], "read")
    assert (delivered.seq, delivered.state, read.seq, read.state) == (
        skipped, "delivered", skipped, "read")
    store.close()


def test_a_failed_request_does_not_forget_the_acks_before_it(path):
    store = open_store(path, "alice", "bob", "carol")
    seqs = [dm(store, "alice", "bob", f"m{i}") for i in range(3)]
    store.commit()
    assert len(store.mark("bob", seqs, "delivered")) == 3  # the cursor is written lazily
    store.begin_request()
    dm(store, "carol", "alice", "undone")  # someone else's request fails
    store.abort_request()
    ((_, _, delivered, _),) = store.receipt_cursors("alice")
    assert delivered >= seqs[-1]
    store.close()
    store = open_store(path)
    assert store.pending("bob") == []  # not replayed: the acks were kept
    assert store.receipt_cursors("alice")[0][2] >= seqs[-1]
    store.close()


def test_a_unicast_confirmed_out_of_order_is_not_replayed_after_a_restart(path):
    store = open_store(path, "alice", "bob", "carol")
    seqs = [dm(store, "alice", "bob", f"m{i}") for i in range(3)]
    store.commit()
    store.mark("bob", [seqs[0], seqs[2]], "delivered")  # the middle one is still on its way
    store.begin_request()
    dm(store, "carol", "alice", "undone")  # a rollback keeps the parked acks too
    store.abort_request()
    store.close()
    store = open_store(path)
    assert [m.seq for m in store.pending("bob")] == [seqs[1]]  # once: no second delivered
    assert store.mark("bob", [seqs[2]], "delivered") == []  # not a first transition
    store.close()


def crash(store):
    """Stop without Store.close (which writes everything): what was committed stays."""
    store._closed = True
    store._db.close()


def test_the_pair_index_is_written_lazily_and_rebuilt_after_a_crash(path, monkeypatch):
    monkeypatch.setattr(store_module, "PAIR_FLUSH_SECONDS", 3600.0)  # not due by the clock
    store = open_store(path, "alice", "bob", "carol")
    first = dm(store, "alice", "bob", "one")
    store.commit()
    assert rows(path, "SELECT count(*) FROM messages") == [(1,)]
    assert rows(path, "SELECT count(*) FROM pair_messages") == [(0,)]
    dm(store, "alice", "carol", "elsewhere")
    second = dm(store, "bob", "alice", "two")
    store.commit()
    crash(store)
    store = open_store(path)  # the index entries come back from the messages above the mark
    assert [m.seq for m in store.history("alice", "user:bob")] == [first, second]
    assert [m.seq for m in store.pending("bob")] == [first]
    assert [m.seq for m in store.pending("alice")] == [second]
    store.close()
    assert rows(path, "SELECT grp_key, seq FROM pair_messages ORDER BY seq") == [
        ("alice|bob", first), ("alice|carol", first + 1), ("alice|bob", second)]
    assert rows(path, "SELECT seq FROM store_marks WHERE name = 'pair_messages'") == [(second,)]


def test_pairs_fall_due_one_after_another_and_the_mark_stays_below_the_rest(path):
    store = open_store(path, "alice", "bob", "carol")
    early = dm(store, "alice", "bob", "early")
    store.commit()
    later = dm(store, "alice", "carol", "later")
    again = dm(store, "alice", "bob", "again")
    store.commit()
    (due_bob, pair_bob), (due_carol, pair_carol) = store._pair_queue
    assert (pair_bob, pair_carol) == ("alice|bob", "alice|carol") and due_bob <= due_carol
    store._begin()
    store._write_pairs(due_bob)  # what a commit at that time writes: the pair due then
    store._db.execute("COMMIT")
    store._began = False
    assert rows(path, "SELECT grp_key, seq FROM pair_messages ORDER BY seq") == [
        ("alice|bob", early), ("alice|bob", again)]
    # Complete below the oldest entry still waiting, not up to the newest written.
    assert rows(path, "SELECT seq FROM store_marks WHERE name = 'pair_messages'") == [
        (later - 1,)]
    crash(store)
    store = open_store(path)
    assert [m.text for m in store.history("alice", "user:carol")] == ["later"]
    store.close()


def test_an_undone_request_takes_its_pair_index_entry_with_it(path):
    store = open_store(path, "alice", "bob")
    kept = dm(store, "alice", "bob", "kept")
    store.begin_request()
    undone = dm(store, "alice", "bob", "undone")
    # A query inside the request writes the buffered rows and the index entries.
    assert [m.seq for m in store.history("bob", "user:alice")] == [kept, undone]
    store.abort_request()
    assert [m.seq for m in store.history("bob", "user:alice")] == [kept]
    after = dm(store, "bob", "alice", "after")
    assert after > undone
    store.close()
    assert rows(path, "SELECT seq FROM pair_messages ORDER BY seq") == [(kept,), (after,)]
    store = open_store(path)
    assert [m.text for m in store.history("alice", "user:bob")] == ["kept", "after"]
    store.close()


def test_a_private_read_moves_the_accounts_read_position_and_tells_no_sender(path):
    store = open_store(path, "alice", "bob")
    seqs = [dm(store, "alice", "bob", f"m{i}") for i in range(3)]
    synced: list[int] = []
    receipts = store.mark("bob", [*seqs[:2], seqs[0] + 10_000], "read", synced, private=True)
    # For alice: delivered (the first transition), never read.
    assert [(r.seq, r.state) for r in receipts] == [(seqs[0], "delivered"),
                                                    (seqs[1], "delivered")]
    assert synced == seqs[:2]  # for bob's other apps: his messages only
    assert store.read_upto(pair_key("alice", "bob"), "bob") == seqs[1]
    assert store.mark("bob", seqs[:2], "read", private=True) == []
    store.close()
    store = open_store(path)
    assert store.read_upto(pair_key("alice", "bob"), "bob") == seqs[1]  # on disk
    assert store.receipt_cursors("alice") == [("bob", 0, seqs[1], 0)]  # read: 0
    # A later ordinary read tells her, and only then.
    (read,) = store.mark("bob", seqs[:1], "read")
    assert (read.seq, read.state) == (seqs[0], "read")
    store.close()


def test_a_private_read_of_a_multicast_is_kept_for_the_account_only(path):
    store = open_store(path, "alice", "bob", "carol")
    message, _ = stored(store, "alice", "both", to=("bob", "carol"), scope="multicast",
                        text="to both")
    synced: list[int] = []
    (receipt,) = store.mark("bob", [message.seq], "read", synced, private=True)
    assert (receipt.seq, receipt.state) == (message.seq, "delivered")  # alice: no read
    assert synced == [message.seq]
    assert store.read_among("bob", [message.seq]) == [message.seq]
    assert store.read_among("carol", [message.seq]) == []
    store.close()
    store = open_store(path)
    assert store.read_among("bob", [message.seq]) == [message.seq]  # on disk
    (read,) = store.mark("bob", [message.seq], "read")  # an ordinary read still tells her
    assert (read.seq, read.state) == (message.seq, "read")
    store.close()
