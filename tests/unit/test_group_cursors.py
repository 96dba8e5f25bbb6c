"""Group chat messages without per-member rows (schema 6): membership spans say who a message
was due to, per-member cursors say what was confirmed. Driven on the store, no sockets."""

from __future__ import annotations

import sqlite3

from messenger.server.groups import Groups
from messenger.server.store import SCHEMA_VERSION, Store

from .test_server_store import rows


def post(store, groups, sender, text, group="lab"):
    members = groups.get(group).members
    message, _ = store.store_message(
        sender=sender, client_msg_id=text, scope="group", text=text, recipients=[],
        recipient_keys=[m.lower() for m in members if m.lower() != sender.lower()], group=group)
    return message.seq


def open_lab(path, *members):
    store = Store(path)
    store.set_batch(True)
    groups = Groups(store)
    if members:
        groups.create(members[0], "lab", [], True)
        for member in members[1:]:
            groups.join(member, "lab")
    return store, groups


def test_a_group_message_writes_no_row_per_member_and_the_inbox_survives_a_restart(path):
    store, groups = open_lab(path, "alice", "bob", "carol")
    seqs = [post(store, groups, "alice", f"m{i}") for i in range(3)]
    store.mark("bob", seqs, "delivered")
    store.mark("bob", seqs[:1], "read")
    store.close()
    assert rows(path, "SELECT count(*) FROM deliveries") == [(0,)]
    assert rows(path, "SELECT user_key, delivered, read FROM group_cursors ORDER BY 1") == [
        ("bob", seqs[2], seqs[0])]
    store, _ = open_lab(path)
    assert [m.seq for m in store.pending("carol")] == seqs  # never confirmed: still due
    assert store.pending("bob") == [] and store.pending("alice") == []  # own messages
    assert store.receipt_counts(seqs[0]) == (2, 1, 1)  # from spans and cursors
    store.close()


def test_a_cursor_moves_only_over_confirmed_messages(path):
    store, groups = open_lab(path, "alice", "bob")
    seqs = [post(store, groups, "alice", f"m{i}") for i in range(4)]
    store.mark("bob", [seqs[1], seqs[3]], "delivered")  # the first and third are missing
    store.close()
    assert rows(path, "SELECT delivered FROM group_cursors") == [(seqs[0] - 1,)]
    # What was confirmed above the gap is kept apart, so it does not come again.
    assert rows(path, "SELECT seq FROM cursor_acks ORDER BY 1") == [(seqs[1],), (seqs[3],)]
    store, _ = open_lab(path)
    assert [m.seq for m in store.pending("bob")] == [seqs[0], seqs[2]]
    assert store.receipt_counts(seqs[1]) == (1, 1, 0)
    store.mark("bob", seqs, "delivered")
    assert store.pending("bob") == []
    store.close()
    assert rows(path, "SELECT delivered FROM group_cursors") == [(seqs[3],)]
    assert rows(path, "SELECT count(*) FROM cursor_acks") == [(0,)]  # passed: deleted


def test_an_out_of_order_ack_survives_going_offline_before_it_is_written(path):
    store, groups = open_lab(path, "alice", "bob", "carol")
    seqs = [post(store, groups, "alice", f"m{i}") for i in range(3)]
    store.mark("bob", [seqs[2]], "delivered")
    store.cool_cursors("bob")  # bob logs out before the cursors are written
    # Cold, from the parked position: counted, and not due again.
    assert store.receipt_counts(seqs[2]) == (2, 1, 0)
    assert [m.seq for m in store.pending("bob")] == seqs[:2]  # warm again
    store.cool_cursors("bob")
    store.close()
    store, _ = open_lab(path)
    assert [m.seq for m in store.pending("bob")] == seqs[:2]
    assert store.receipt_counts(seqs[2]) == (2, 1, 0)  # cold, from the table
    # In order from here: the gap closes, and the rows go with it.
    store.mark("bob", seqs[:1], "delivered")
    store.close()
    assert rows(path, "SELECT seq FROM cursor_acks") == [(seqs[2],)]  # still above the gap
    store, _ = open_lab(path)
    store.mark("bob", seqs[1:2], "delivered")
    assert store.pending("bob") == []
    store.close()
    assert rows(path, "SELECT delivered FROM group_cursors WHERE user_key = 'bob'") == [
        (seqs[2],)]
    assert rows(path, "SELECT count(*) FROM cursor_acks") == [(0,)]


def test_acks_in_order_write_no_cursor_ack_rows(path):
    store, groups = open_lab(path, "alice", "bob")
    seqs = [post(store, groups, "alice", f"m{i}") for i in range(4)]
    for seq in seqs:
        store.mark("bob", [seq], "delivered")
    store.close()
    assert rows(path, "SELECT count(*) FROM cursor_acks") == [(0,)]


def test_the_replay_cap_never_lets_a_cursor_skip_what_was_not_sent(path):
    store, groups = open_lab(path, "alice", "bob")
    seqs = [post(store, groups, "alice", f"m{i}") for i in range(5)]
    store.close()
    store, groups = open_lab(path)
    first = [m.seq for m in store.pending("bob", limit=2)]
    assert first == seqs[:2]
    store.mark("bob", first, "delivered")
    later = post(store, groups, "alice", "live")  # sent live while the rest still waits
    store.mark("bob", [later], "delivered")
    store.close()
    assert rows(path, "SELECT delivered FROM group_cursors") == [(seqs[1],)]
    store, _ = open_lab(path)
    # The rest is still due; the live one, confirmed above them, is not sent again.
    assert [m.seq for m in store.pending("bob")] == seqs[2:]
    store.close()


def test_a_late_message_is_not_counted_read_before_it_is_read(path, monkeypatch):
    """A member's app got a group message late (after the replay cap) when he had already
    read newer ones: on a busy server, where the message had left the recent cache, its
    sender saw it "read by 1" as soon as it was delivered, and the member's real read then
    sent no count at all (both taken from the read cursor, which had passed it)."""
    monkeypatch.setattr(Store, "RECENT_LIMIT", 1)
    store, groups = open_lab(path, "alice", "bob")
    first, skipped = (post(store, groups, "alice", f"m{i}") for i in range(2))
    store.mark("bob", [first], "delivered")
    live = post(store, groups, "alice", "live")
    store.mark("bob", [first, live], "read")
    store.take_receipt_counts()
    store.mark("bob", [skipped], "delivered")
    assert [(r.seq, r.counts) for r in store.take_receipt_counts()] == [(skipped, (1, 0, 1))]
    store.mark("bob", [skipped], "read")
    assert [(r.seq, r.counts) for r in store.take_receipt_counts()] == [(skipped, (1, 1, 1))]
    store.close()


def test_history_shows_a_member_what_came_while_a_member(path):
    store, groups = open_lab(path, "alice", "bob")
    before = post(store, groups, "alice", "before carol")
    groups.join("carol", "lab")
    during = post(store, groups, "alice", "while carol is in")
    groups.leave("carol", "lab")
    after = post(store, groups, "alice", "after carol left")
    groups.join("carol", "lab")
    back = post(store, groups, "bob", "carol is back")
    seen = [m.seq for m in store.history("carol", "group:lab")]
    assert seen == [during, back]
    assert [m.seq for m in store.history("bob", "group:lab")] == [before, during, after, back]
    # What carol missed while she was out was never due to her.
    assert [m.seq for m in store.pending("carol")] == [during, back]
    store.close()


def test_leaving_and_joining_again_at_the_same_seq_keeps_the_membership(path):
    store, groups = open_lab(path, "alice", "bob")
    groups.leave("bob", "lab")
    groups.join("bob", "lab")
    seq = post(store, groups, "alice", "still here?")
    assert [m.seq for m in store.pending("bob")] == [seq]
    store.close()


def test_a_version_5_database_keeps_its_group_rows_and_uses_cursors_after(path):
    db = sqlite3.connect(path)
    db.executescript("""
CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, name_key TEXT NOT NULL UNIQUE,
    pw_hash TEXT NOT NULL, created REAL NOT NULL, last_seen REAL);
CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL,
    sender_key TEXT NOT NULL, client_msg_id TEXT NOT NULL, scope TEXT NOT NULL,
    recipients TEXT NOT NULL, grp TEXT, grp_key TEXT, notice TEXT, text TEXT NOT NULL,
    ts REAL NOT NULL, UNIQUE (sender_key, client_msg_id));
CREATE TABLE deliveries (user_key TEXT NOT NULL, seq INTEGER NOT NULL REFERENCES messages(seq),
    delivered REAL, read REAL, PRIMARY KEY (seq, user_key)) WITHOUT ROWID;
CREATE TABLE receipts (rid INTEGER PRIMARY KEY AUTOINCREMENT, sender_key TEXT NOT NULL,
    seq INTEGER NOT NULL, user TEXT NOT NULL, state TEXT NOT NULL, ts REAL NOT NULL,
    delivered INTEGER, read INTEGER, recipients INTEGER);
CREATE TABLE groups (name_key TEXT PRIMARY KEY, name TEXT NOT NULL, leader TEXT NOT NULL,
    public INTEGER NOT NULL, created REAL NOT NULL, members TEXT NOT NULL, invited TEXT NOT NULL);
INSERT INTO groups VALUES ('lab', 'Lab', 'Alice', 1, 1.0, '["Alice", "Bob"]', '{}');
INSERT INTO messages (sender, sender_key, client_msg_id, scope, recipients, grp, grp_key, text,
    ts) VALUES ('Alice', 'alice', 'old', 'group', '[]', 'Lab', 'lab', 'old', 1.0);
INSERT INTO deliveries (user_key, seq) VALUES ('bob', 1);
PRAGMA user_version = 5;
""")
    db.close()
    store, groups = open_lab(path)
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    # Edits and deletions of the old message reach whom it went to, and its sender may edit.
    assert sorted(store.members_since("lab", 1, "alice")) == ["alice", "bob"]
    assert store.members_since("lab", 1) == ["bob"]
    new = post(store, groups, "Alice", "new")
    assert sorted(store.members_since("lab", new, "alice")) == ["alice", "bob"]
    assert [m.seq for m in store.pending("bob")] == [1, new]
    assert [m.seq for m in store.history("bob", "group:lab")] == [1, new]
    store.mark("bob", [1, new], "delivered")
    assert store.pending("bob") == []
    store.close()
    assert rows(path, "SELECT delivered IS NOT NULL FROM deliveries") == [(1,)]
    assert rows(path, "SELECT user_key, delivered FROM group_cursors") == [("bob", new)]


def test_an_undone_request_leaves_no_phantom_seq_in_a_cursor(path):
    store, groups = open_lab(path, "alice", "bob")
    store.pending("bob")  # bob logs in: his cursor is warm
    store.begin_request()
    post(store, groups, "alice", "undone")
    store.abort_request()
    kept = post(store, groups, "alice", "kept")
    store.mark("bob", [kept], "delivered")
    store.close()
    assert rows(path, "SELECT delivered FROM group_cursors") == [(kept,)]


def test_a_broadcast_is_due_to_every_account_from_its_creation_without_rows(path):
    store = Store(path)
    store.set_batch(True)
    for name in ("alice", "bob", "carol"):
        store.create_account(name, "hash")
    keys = [k for k in store.account_keys() if k != "alice"]
    first, _ = store.store_message(sender="alice", client_msg_id="b1", scope="broadcast",
                                   text="hello all", recipients=[], recipient_keys=keys)
    store.create_account("dave", "hash")  # after the broadcast: it was not due to dave
    store.mark("bob", [first.seq], "read")
    (count,) = store.take_receipt_counts()  # counts, not one receipt per account
    assert (count.seq, count.counts) == (first.seq, (1, 1, 2))
    store.close()
    assert rows(path, "SELECT count(*) FROM deliveries") == [(0,)]
    store = Store(path)
    assert [m.seq for m in store.pending("carol")] == [first.seq]
    assert store.pending("bob") == [] and store.pending("dave") == []
    assert store.receipt_counts(first.seq) == (2, 1, 1)
    assert [m.seq for m in store.history("dave", "everyone")] == [first.seq]  # all see all
    store.close()


def test_a_message_taken_for_read_by_the_read_cursor_is_not_replayed_for_ever(path):
    store, groups = open_lab(path, "alice", "bob")
    first = post(store, groups, "alice", "m1")
    second = post(store, groups, "alice", "m2")
    store.mark("bob", [second], "read")  # the newer one first: the read cursor is at m2
    store.close()
    store, _ = open_lab(path)
    assert [m.seq for m in store.pending("bob")] == [first]  # m2 was confirmed (read)
    # m1 is still queued for bob (replayed): neither delivered nor read, whatever his read
    # cursor says (as for the live counts and the states of mark)
    assert store.receipt_counts(first) == (1, 0, 0)
    store.mark("bob", [first, second], "delivered")  # the app confirms the replay
    assert store.pending("bob") == []
    store.close()


def test_a_seq_named_by_a_cursor_or_span_is_not_handed_out_again_after_a_restart(path):
    store, groups = open_lab(path, "alice", "bob")
    first = post(store, groups, "alice", "m1")
    store.pending("bob")
    store.begin_request()
    undone = post(store, groups, "alice", "undone")  # its seq is never written
    store.abort_request()
    store.mark("bob", [first], "delivered")  # bob's cursor: everything up to `undone`
    groups.join("carol", "lab")  # carol's span starts after `undone`
    store.close()
    store, groups = open_lab(path)
    new = post(store, groups, "alice", "after the restart")
    assert new > undone
    assert [m.seq for m in store.pending("bob")] == [new]
    assert [m.seq for m in store.pending("carol")] == [new]
    store.close()
