"""The server store's write-behind batch: rows are buffered until the commit, seq and rid are
assigned in memory, and nothing a caller can observe differs from writing at once.

The messages here are multicasts (to one recipient by default): they get ``deliveries`` and
``receipts`` rows. Unicasts between two users use pair cursors (tests/unit/test_pair_cursors.py).
"""

from __future__ import annotations

import os
import sqlite3
import uuid

import pytest

from messenger.protocol import time_ordered_id
from messenger.server.store import SCHEMA_VERSION, DatabaseVersionError, Store, ordered_id


def stored(store, sender, cmid, to=("bob",), scope="multicast", text="hi", **kw):
    recipients = list(to) if scope in ("unicast", "multicast") else []
    return store.store_message(sender=sender, client_msg_id=cmid, scope=scope, text=text,
                               recipients=recipients, recipient_keys=[t.lower() for t in to],
                               **kw)


def rows(path, sql):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.fixture
def batch(path):
    store = Store(path)
    store.set_batch(True)
    yield store
    store.close()


def test_nothing_reaches_the_file_before_the_commit(batch, path):
    m, created = stored(batch, "alice", "c1")
    batch.mark("bob", [m.seq], "delivered")
    assert created and rows(path, "SELECT count(*) FROM messages") == [(0,)]
    batch.commit()
    assert rows(path, "SELECT seq, sender_key, client_msg_id FROM messages") == [
        (m.seq, "alice", "c1")]
    assert rows(path, "SELECT user_key, seq, delivered IS NOT NULL FROM deliveries") == [
        ("bob", m.seq, 1)]
    assert rows(path, "SELECT seq, user, state FROM receipts") == [(m.seq, "bob", "delivered")]


def test_idempotent_within_the_batch_and_after_the_commit(batch):
    first, created = stored(batch, "alice", "same", text="one")
    again, created_again = stored(batch, "Alice", "same", text="two")
    assert created and not created_again and again == first
    batch.commit()
    third, created_third = stored(batch, "alice", "same", text="three")
    assert not created_third and (third.seq, third.text) == (first.seq, "one")


def test_seq_and_rid_continue_after_a_restart(path):
    store = Store(path)
    store.set_batch(True)
    a, _ = stored(store, "alice", "a")
    b, _ = stored(store, "alice", "b")
    (r,) = store.mark("bob", [a.seq], "delivered")
    store.close()  # commits
    again = Store(path)
    again.set_batch(True)
    assert stored(again, "alice", "a")[1] is False  # remembered across the restart
    c, _ = stored(again, "alice", "c")
    (r2,) = again.mark("bob", [b.seq], "delivered")
    assert c.seq > b.seq > a.seq and r2.rid > r.rid
    again.close()


def test_reads_see_buffered_rows(batch):
    m, _ = stored(batch, "alice", "c1")
    assert [p.seq for p in batch.pending("bob")] == [m.seq]
    assert [h.seq for h in batch.history("bob", "user:alice")] == [m.seq]
    batch.mark("bob", [m.seq], "read")
    assert batch.pending("bob") == []
    assert [(r.seq, r.state) for r in batch.receipts_after("alice", 0)] == [(m.seq, "read")]
    assert batch.receipt_counts(m.seq) == (1, 1, 1)


def test_first_transitions_only_with_and_without_the_recent_cache(batch):
    ms = [stored(batch, "alice", f"c{i}")[0] for i in range(3)]
    seqs = [m.seq for m in ms]
    batch.commit()
    batch._recent.clear()  # as if evicted: the database decides
    batch._recent_order.clear()
    got = batch.mark("bob", [seqs[0], seqs[0]], "delivered")
    assert [(r.seq, r.state) for r in got] == [(seqs[0], "delivered")]
    assert batch.mark("bob", [seqs[0]], "delivered") == []
    assert batch.mark("carol", [seqs[1]], "read") == []  # not a recipient
    m4, _ = stored(batch, "alice", "c4")  # in the cache
    got = batch.mark("bob", [m4.seq, seqs[1], m4.seq, 999_999], "delivered")
    assert sorted(r.seq for r in got) == sorted([m4.seq, seqs[1]])
    assert batch.mark("bob", [m4.seq, seqs[1]], "delivered") == []
    assert [r.state for r in batch.mark("bob", [m4.seq, seqs[2]], "read")] == ["read", "read"]
    assert batch.mark("bob", [m4.seq, seqs[2]], "read") == []
    assert batch.mark("carol", [m4.seq], "delivered") == []  # not a recipient
    batch.commit()
    assert batch.receipt_counts(m4.seq) == (1, 1, 1)
    assert batch.receipt_counts(seqs[2]) == (1, 1, 1)
    rids = [r.rid for r in batch.receipts_after("alice", 0)]
    assert rids == sorted(set(rids)) and len(rids) == 5  # 3 delivered, 2 read


def test_no_receipts_for_notices_or_own_messages(batch):
    notice, _ = stored(batch, "alice", "notice-1", to=("alice", "bob"), scope="group",
                       group="Lab", notice="created")
    own, _ = stored(batch, "alice", "self", to=("alice",))
    assert batch.mark("bob", [notice.seq], "delivered") == []
    assert batch.mark("alice", [notice.seq, own.seq], "read") == []
    assert batch.receipt_counts(notice.seq) == (2, 2, 1)  # read implies delivered


def test_group_receipts_are_counts_coalesced_until_taken(batch, path):
    m, _ = stored(batch, "alice", "g1", to=("bob", "carol", "dave"), scope="group", group="Lab")
    assert batch.take_receipt_counts() == []
    assert batch.mark("bob", [m.seq], "delivered") == []  # no receipt per member
    assert batch.mark("carol", [m.seq], "read") == []
    assert batch.mark("carol", [m.seq], "read") == []  # not a first transition
    (count,) = batch.take_receipt_counts()
    assert (count.seq, count.state, count.sender_key, count.counts) == (
        m.seq, "count", "alice", (2, 1, 3))
    assert batch.take_receipt_counts() == []  # nothing rose since
    batch.commit()
    batch._recent.clear()  # evicted: the counts come from the database
    batch._recent_order.clear()
    batch.mark("bob", [m.seq], "read")
    (later,) = batch.take_receipt_counts()
    assert later.counts == (2, 2, 3) and later.rid > count.rid
    # Both are in the sender's log, for the replay at login.
    assert [(r.rid, r.counts) for r in batch.receipts_after("alice", 0)] == [
        (count.rid, (2, 1, 3)), (later.rid, (2, 2, 3))]
    batch.commit()
    assert rows(path, "SELECT user, state, delivered, read, recipients FROM receipts") == [
        ("", "count", 2, 1, 3), ("", "count", 2, 2, 3)]


def test_counts_of_older_group_messages_look_up_the_groups_spans_by_index(path):
    """A member back after a few days confirmed a backlog of group messages older than the
    recent cache: each one's counts scanned every membership span on the server (every
    pair has two), about 3 ms a message with 200 accounts and 40,000 spans, and read every
    other member's cursor row again for each message, so the login of one member stopped
    the server for everyone for 9 s (``benchmarks/server_store.py``). The spans of a group
    are now found by ``group_spans_by_group`` (a database made before the index gets it when
    opened), and a member's cursor row is read once per batch of counts."""
    store = Store(path)
    m, _ = stored(store, "alice", "g1", to=("bob", "carol"), scope="group", group="Lab")
    m2, _ = stored(store, "alice", "g2", to=("bob", "carol"), scope="group", group="Lab")
    store.close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX IF EXISTS group_spans_by_group")  # as a server before the index left it
    db.close()
    store = Store(path)  # (cold: the message is not in the recent cache)
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    assert store.recipient_count(m.seq) == 2
    assert store.mark("bob", [m.seq, m2.seq], "delivered") == []
    del seen[:]
    assert [c.counts for c in store.take_receipt_counts()] == [(1, 0, 2), (1, 0, 2)]
    store._db.set_trace_callback(None)
    # carol's cursor (not loaded) is read once for both messages, not once a message.
    assert sum("FROM group_cursors" in q for q in seen) == 1
    by_group = [q for q in seen if "FROM group_spans WHERE grp_key" in q]
    assert by_group
    for sql in by_group:
        plan = " | ".join(r[3] for r in store._db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "group_spans_by_group" in plan and "SCAN group_spans" not in plan, plan
    store.close()


def test_the_recipient_count_of_a_retry_after_a_member_confirmed_an_older_message(path):
    """A group message's sender lost the link before its ``ok`` and the app sent it again:
    when the message had left the recent cache and a member confirmed it since (its state
    loaded back as a partial entry), ``recipient_count`` indexed that entry's ``False`` and
    the retry failed with an internal error, again at every try (the message stayed
    "sending" on the sender's screen). The count now comes from the database then."""
    store = Store(path)
    m, _ = stored(store, "alice", "g1", to=("bob", "carol"), scope="group", group="Lab")
    store.close()
    store = Store(path)  # (the message is not in the recent cache)
    store.mark("bob", [m.seq], "delivered")
    assert store.recipient_count(m.seq) == 2
    again, created = stored(store, "alice", "g1", to=("bob", "carol"), scope="group",
                            group="Lab")
    assert (again.seq, created) == (m.seq, False)
    assert store.recipient_count(again.seq) == 2
    store.close()


def test_a_failed_request_leaves_no_trace(batch, path):
    kept, _ = stored(batch, "alice", "kept")
    batch.begin_request()
    gone, _ = stored(batch, "alice", "gone")
    batch.mark("bob", [kept.seq], "delivered")
    batch.pending("bob")  # a query: the buffered rows go into the transaction
    late, _ = stored(batch, "alice", "late")
    batch.abort_request()
    batch.begin_request()
    retry, created = stored(batch, "alice", "gone")  # not remembered: it was undone
    batch.end_request()
    assert created and retry.seq not in (gone.seq, late.seq)
    assert [r.seq for r in batch.mark("bob", [kept.seq], "delivered")] == [kept.seq]
    batch.commit()
    assert rows(path, "SELECT client_msg_id FROM messages ORDER BY seq") == [
        ("kept",), ("gone",)]
    assert rows(path, "SELECT count(*) FROM receipts") == [(1,)]


def test_a_failed_request_without_queries_is_undone_too(batch, path):
    kept, _ = stored(batch, "alice", "kept")
    batch.begin_request()
    stored(batch, "alice", "gone")
    batch.abort_request()
    batch.commit()
    assert rows(path, "SELECT client_msg_id FROM messages") == [("kept",)]
    assert rows(path, "SELECT user_key, seq FROM deliveries") == [("bob", kept.seq)]


def test_without_batch_mode_every_write_is_committed_at_once(path):
    store = Store(path)
    m, _ = stored(store, "alice", "c1")
    assert rows(path, "SELECT count(*) FROM messages") == [(1,)]
    store.mark("bob", [m.seq], "delivered")
    assert rows(path, "SELECT count(*) FROM receipts") == [(1,)]
    store.close()


def test_the_recent_cache_is_bounded(path, monkeypatch):
    monkeypatch.setattr(Store, "RECENT_LIMIT", 8)
    store = Store(path)
    store.set_batch(True)
    ms = [stored(store, "alice", f"c{i}")[0] for i in range(20)]
    assert len(store._recent) <= 8
    got = store.mark("bob", [m.seq for m in ms], "delivered")  # old ones from the database
    assert [r.seq for r in got] == [m.seq for m in ms]
    assert store.mark("bob", [m.seq for m in ms], "delivered") == []
    store.close()


V2_SCHEMA = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, name_key TEXT NOT NULL UNIQUE,
    pw_hash TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL,
    sender_key TEXT NOT NULL, client_msg_id TEXT NOT NULL, scope TEXT NOT NULL,
    recipients TEXT NOT NULL, grp TEXT, grp_key TEXT, notice TEXT, text TEXT NOT NULL,
    ts REAL NOT NULL, UNIQUE (sender_key, client_msg_id));
CREATE INDEX messages_scope ON messages (scope, seq);
CREATE INDEX messages_group ON messages (grp_key, seq);
CREATE TABLE deliveries (user_key TEXT NOT NULL, seq INTEGER NOT NULL REFERENCES messages(seq),
    delivered REAL, read REAL, PRIMARY KEY (user_key, seq)) WITHOUT ROWID;
CREATE INDEX deliveries_pending ON deliveries (user_key, seq) WHERE delivered IS NULL;
CREATE INDEX deliveries_seq ON deliveries (seq);
CREATE TABLE receipts (rid INTEGER PRIMARY KEY AUTOINCREMENT, sender_key TEXT NOT NULL,
    seq INTEGER NOT NULL, user TEXT NOT NULL, state TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX receipts_sender ON receipts (sender_key, rid);
CREATE TABLE groups (name_key TEXT PRIMARY KEY, name TEXT NOT NULL, leader TEXT NOT NULL,
    public INTEGER NOT NULL, created REAL NOT NULL, members TEXT NOT NULL, invited TEXT NOT NULL);
PRAGMA user_version = 2;
"""


def test_a_version_2_database_is_migrated(path):
    db = sqlite3.connect(path)
    db.executescript(V2_SCHEMA)
    db.executemany(
        "INSERT INTO messages (seq, sender, sender_key, client_msg_id, scope, recipients, text,"
        " ts) VALUES (?, 'alice', 'alice', ?, 'multicast', '[\"bob\", \"carol\"]', 'hi', 1.0)",
        [(1, "a"), (2, "b")])
    db.executemany("INSERT INTO deliveries (user_key, seq, delivered) VALUES (?, ?, ?)",
                   [("bob", 1, 5.0), ("carol", 1, None), ("bob", 2, None), ("carol", 2, None)])
    db.execute("INSERT INTO receipts (sender_key, seq, user, state, ts)"
               " VALUES ('alice', 1, 'bob', 'delivered', 5.0)")
    db.commit()
    db.close()
    store = Store(path)
    store.set_batch(True)
    assert [m.seq for m in store.pending("carol")] == [1, 2]
    assert [m.seq for m in store.pending("bob")] == [2]
    assert store.receipt_counts(1) == (2, 1, 0)
    assert stored(store, "alice", "a")[1] is False
    (receipt,) = store.mark("carol", [1], "delivered")
    assert receipt.rid == 2
    m3, _ = stored(store, "alice", "c")
    assert m3.seq == 3
    store.close()
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    # 4 → 5: accounts.last_seen, NULL until the account logs in.
    assert rows(path, "SELECT count(*) FROM pragma_table_info('accounts')"
                " WHERE name = 'last_seen'") == [(1,)]
    # 3 → 4: the count columns of group receipts, NULL in the old per-user rows.
    assert rows(path, "SELECT rid, delivered, read, recipients FROM receipts ORDER BY rid") == [
        (1, None, None, None), (2, None, None, None)]
    assert rows(path, "SELECT name FROM sqlite_master WHERE tbl_name = 'deliveries'"
                " ORDER BY name") == [
        ("deliveries",), ("deliveries_by_user",), ("deliveries_pending",)]
    assert rows(path, "SELECT seq, user_key, delivered IS NOT NULL FROM deliveries") == [
        (1, "bob", 1), (1, "carol", 1), (2, "bob", 0), (2, "carol", 0), (3, "bob", 0)]
    # The scope and group indexes became partial: unicast messages are in neither. 7 → 8:
    # unique by (client_msg_id, sender_key), no more index of the table's UNIQUE constraint.
    assert rows(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name ="
                " 'messages' ORDER BY name") == [
        ("messages_broadcast",), ("messages_by_sender",), ("messages_client_id",),
        ("messages_in_group",), ("messages_replaces",)]


V7_MESSAGES = """
DROP TABLE messages;
CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL,
    sender_key TEXT NOT NULL, client_msg_id TEXT NOT NULL, scope TEXT NOT NULL,
    recipients TEXT NOT NULL, grp TEXT, grp_key TEXT, notice TEXT, text TEXT NOT NULL,
    ts REAL NOT NULL, replaces INTEGER, edited REAL, UNIQUE (sender_key, client_msg_id));
CREATE INDEX messages_broadcast ON messages (seq) WHERE scope = 'broadcast';
CREATE INDEX messages_in_group ON messages (grp_key, seq) WHERE grp_key IS NOT NULL;
INSERT INTO messages (seq, sender, sender_key, client_msg_id, scope, recipients, grp_key, text,
    ts) VALUES (1, 'alice', 'alice', 'old-1', 'unicast', '["bob"]', 'alice|bob', 'one', 1.0),
    (2, 'bob', 'bob', 'old-2', 'multicast', '["alice", "carol"]', NULL, 'two', 2.0),
    (5, 'alice', 'alice', 'old-5', 'unicast', '["bob"]', 'alice|bob', 'five', 5.0);
INSERT INTO deliveries (user_key, seq) VALUES ('alice', 2), ('carol', 2);
UPDATE sqlite_sequence SET seq = 7 WHERE name = 'messages';
PRAGMA user_version = 7;
"""


def test_a_version_7_database_is_rebuilt_unique_by_id_first(path):
    store = Store(path)
    for name in ("alice", "bob", "carol"):
        store.create_account(name, "hash")
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys=OFF")
    db.executescript(V7_MESSAGES)
    db.close()
    store = Store(path)
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(8,)]
    assert rows(path, "SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_messages%'"
                " OR name = 'messages_v8'") == []
    assert rows(path, "PRAGMA foreign_key_check") == []
    # Every row, its seq and the deliveries that refer to it survive; retries stay idempotent.
    assert [m.text for m in store.history("alice", "user:bob")] == ["one", "two", "five"]
    assert [m.text for m in store.history("carol", "user:bob")] == ["two"]
    again, created = stored(store, "alice", "old-5", scope="unicast")
    assert (again.seq, again.text, created) == (5, "five", False)
    # Seq 6 and 7 were handed out once (requests undone): never again.
    new, created = stored(store, "alice", "new", scope="unicast")
    assert created and new.seq == 8
    store.close()
    # Pair messages are indexed in pair_messages, not in messages_in_group.
    assert rows(path, "SELECT grp_key, seq FROM pair_messages") == [
        ("alice|bob", 1), ("alice|bob", 5), ("alice|bob", 8)]
    assert "scope != 'unicast'" in rows(
        path, "SELECT sql FROM sqlite_master WHERE name = 'messages_in_group'")[0][0]
    with pytest.raises(sqlite3.IntegrityError):  # the new index is unique
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO messages (sender, sender_key, client_msg_id, scope,"
                       " recipients, text, ts) VALUES ('alice', 'alice', 'new', 'unicast',"
                       " '[]', 'x', 1.0)")
    store = Store(path)  # opening it again changes nothing
    assert [m.seq for m in store.history("bob", "user:alice")] == [1, 2, 5, 8]
    store.close()


def test_history_of_a_private_conversation_scans_indexes_only(path):
    store = Store(path)
    for name in ("alice", "bob"):
        store.create_account(name, "hash")
    stored(store, "alice", "u1", scope="unicast")
    assert [m.client_msg_id for m in store.history("bob", "user:alice", before=10)] == ["u1"]
    plan = history_plan(store, "bob", "user:alice", before=10)
    assert "SCAN m" not in plan and "SCAN p" not in plan, plan
    assert "SEARCH p USING PRIMARY KEY" in plan and "messages_by_sender" in plan
    store.close()


def test_history_of_everyone_and_of_a_group_use_the_partial_indexes(path):
    store = Store(path)
    stored(store, "alice", "b1", to=("bob", "carol"), scope="broadcast")
    stored(store, "alice", "g1", to=("bob",), scope="group", group="Lab")
    stored(store, "alice", "u1")
    assert [m.client_msg_id for m in store.history("bob", "everyone")] == ["b1"]
    assert [m.client_msg_id for m in store.history("bob", "group:lab")] == ["g1"]
    assert "messages_broadcast" in history_plan(store, "bob", "everyone")
    plan = history_plan(store, "bob", "group:lab", before=10)
    assert "messages_in_group" in plan and "SCAN m" not in plan
    store.close()


def history_plan(store, user, conversation, **kw) -> str:
    """The query plan of the SQL that ``store.history`` runs."""
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    store.history(user, conversation, **kw)
    store._db.set_trace_callback(None)
    (sql,) = [q for q in seen if q.startswith("SELECT m.seq") or q.startswith("SELECT * FROM")]
    return " | ".join(r[3] for r in store._db.execute("EXPLAIN QUERY PLAN " + sql))


def test_last_seen_is_kept_across_a_restart(path):
    store = Store(path)
    store.create_account("alice", "hash")
    assert store.account("alice").last_seen is None
    store.set_last_seen("alice", 1234.5)
    assert store.account("Alice").last_seen == 1234.5
    store.close()
    store = Store(path)
    assert store.account("alice").last_seen == 1234.5
    store.close()


def test_an_unknown_schema_version_is_refused(path):
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Store(path)


def test_a_newer_servers_database_says_to_run_that_version(path):
    """After a downgrade the only advice was "start with a new --data-dir" (every account
    and message thrown away: an operator hunt)."""
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(DatabaseVersionError, match="newer Messenger server") as refused:
        Store(path)
    assert "new --data-dir" not in str(refused.value)


def test_another_programs_database_is_refused_and_left_as_it_was(path):
    """`--db` pointed at another program's SQLite file: it was switched to WAL, given our
    tables, stamped as ours and narrowed to 0600 (an operator hunt)."""
    for table in ("inventory (item TEXT)", "accounts (id INTEGER PRIMARY KEY, email TEXT)"):
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path)
        db.execute(f"CREATE TABLE {table}")  # (a table name of ours, another's columns)
        db.commit()
        db.close()
        os.chmod(path, 0o644)
        with pytest.raises(DatabaseVersionError, match="not a Messenger database"):
            Store(path)
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == \
            [table.split()[0]]
        db.close()
        assert os.stat(path).st_mode & 0o777 == 0o644


def test_a_first_start_stopped_before_the_version_stamp_is_still_ours(path):
    """The schema is made table by table, the version stamped after: a first start killed
    in between left our own tables at version 0, refused then as another program's (a
    review)."""
    from messenger.server.store import _SCHEMA

    db = sqlite3.connect(path)
    db.executescript(_SCHEMA.split(";")[0] + ";")  # (the first table only)
    db.close()
    store = Store(path)
    store.create_account("alice", "hash")
    store.close()


def test_a_new_time_ordered_id_is_not_looked_up_and_retries_still_are(path):
    store = Store(path)
    store.set_batch(True)
    lookups: list[str] = []
    store._db.set_trace_callback(
        lambda sql: lookups.append(sql) if "client_msg_id =" in sql else None)
    first, second, third = (time_ordered_id(t) for t in (1000.0, 1000.5, 1001.0))
    assert ordered_id(first) and not ordered_id(uuid.uuid4().hex)
    assert not ordered_id("notice-" + first[7:]) and not ordered_id(first.upper())
    m2, created = stored(store, "alice", second)
    assert created and lookups == []  # newer than anything alice stored: not a retry
    store.commit()
    assert stored(store, "alice", second) == (m2, False)  # a retry: looked up, found
    assert len(lookups) == 1
    m1, created = stored(store, "alice", first)  # older than her newest: looked up
    assert created and len(lookups) == 2
    m0, created = stored(store, "bob", first)  # bob's own ids are what count for bob
    assert created and len(lookups) == 2
    stored(store, "carol", "c-1")  # not time-ordered: always looked up
    assert len(lookups) == 3
    store.commit()
    store.close()
    store = Store(path)  # the newest ordered id of all comes back from the database
    store._db.set_trace_callback(
        lambda sql: lookups.append(sql) if "client_msg_id =" in sql else None)
    assert store._id_floor == second
    assert stored(store, "alice", second) == (m2, False)
    assert stored(store, "alice", first) == (m1, False)
    assert stored(store, "bob", first) == (m0, False)
    assert len(lookups) == 6
    assert stored(store, "bob", third)[1] is True and len(lookups) == 6
    store.close()


def test_random_ids_do_not_raise_the_newest_ordered_id(path):
    store = Store(path)
    for _ in range(50):  # random ids above today's ordered ones, where the walk starts
        stored(store, "alice", "0f" + uuid.uuid4().hex[2:])
    stored(store, "alice", "0f" * 16)  # hex, but no version 7 nibble
    stored(store, "alice", "1" + time_ordered_id()[1:])  # the year 10889: not ordered_id
    mid = time_ordered_id(1000.0)
    stored(store, "bob", mid)
    store.close()
    store = Store(path)
    assert store._id_floor == mid
    store.close()


def test_memberships_from_before_schema_6_are_found_by_their_deliveries(tmp_path):
    """A schema 5 database (made by that server, tests/data/old_stores): bob was a member
    of "team" and left "club" before group spans existed. Both are his conversations and
    he was a member of both (history of a group he left is his to read); charlie, never a
    member, was neither."""
    from helpers.old_stores import old_copy

    d = old_copy(tmp_path, "former-s5-l3", 5555)
    store = Store(d / "srv" / "messenger.db")
    try:
        assert [c for c, _ in store.conversations("bob")] == [
            "everyone", "group:club", "group:team", "user:alice"]
        assert store.was_member("bob", "club") and store.was_member("Bob", "TEAM")
        assert not store.was_member("charlie", "club")
        assert not store.was_member("charlie", "team")
        assert [c for c, _ in store.conversations("charlie")] == ["everyone", "user:alice"]
        assert store.conversations("bob", after=12) == [("group:team", 13),
                                                        ("user:alice", 14)]
    finally:
        store.close()
    assert rows(d / "srv" / "messenger.db",
                "SELECT seq FROM store_marks WHERE name = 'group_deliveries'") == [(13,)]


def test_a_start_interrupted_during_the_migration_says_how_far_it_got(tmp_path):
    """Ctrl+C while a schema 2 database was migrated said "the database is as it was",
    though the steps that had finished (each one transaction) were committed: it says the
    schema version the database is at now."""
    from helpers.old_stores import old_copy

    from messenger.server import store as store_module
    from messenger.server.app import interrupted_start

    path = old_copy(tmp_path, "s2-l1", 5555) / "srv" / "messenger.db"
    db = sqlite3.connect(path, isolation_level=None)
    store_module._migrate_2_to_3(db)
    store_module._migrate_3_to_4(db)  # (interrupted in the next step: undone)
    db.execute("BEGIN IMMEDIATE")
    db.execute("ALTER TABLE accounts ADD COLUMN last_seen REAL")
    said = interrupted_start(path)
    db.execute("ROLLBACK")
    db.close()
    assert said.startswith("interrupted while starting; the database is at schema version 4 ")
    assert "interrupted is undone, those that finished are kept" in said
    assert "those that finished are kept" in interrupted_start(tmp_path / "none.db")
