"""What the indexes of ``messages`` cost the server's store (prints figures; not a test).

1. Writing messages: 300,000 unicast messages of 200 senders to 100 fixed peers go into a
   ``messages`` table, then 200 commits of 700 more (about what one commit carries at
   20,000 msgs/s), timed per message: the ``executemany`` of the rows and the ``COMMIT``
   (``synchronous=NORMAL`` as in the server, so no fsync). Three schemas: 7 (``UNIQUE
   (sender_key, client_msg_id)``, pair messages in ``messages_in_group``), 7 with schema 8's
   ``UNIQUE INDEX (client_msg_id, sender_key)`` ("7+id"), and 8 (that index, and pair
   messages in ``pair_messages``, written every 0.5 s instead of with every commit); each
   with random ids (UUID version 4, what the app sent before) and time-ordered ones
   (version 7, :func:`messenger.protocol.time_ordered_id`).
2. Reading history: :meth:`Store.history` of a private conversation of 66,000 of 100,000
   messages (newest page, and a page from the middle), and of an empty one.

    .venv/bin/python benchmarks/msgids.py [--dir DIR]

"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from messenger.protocol import time_ordered_id
from messenger.server.store import _SCHEMA, Store, pair_key

INSERT = ("INSERT INTO messages (seq, sender, sender_key, client_msg_id, scope, recipients, grp,"
          " grp_key, notice, text, ts, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
SCHEMA_7_UNIQUE = ",\n    UNIQUE (sender_key, client_msg_id)\n);"


PAIRS_EVERY = 15
"""Schema 8 writes the pair index (``pair_messages``) with the first commit 0.5 s after the last
write of it (``CURSOR_FLUSH_SECONDS``): every 15 commits at 30 commits/s."""


def schema(version: str) -> str:
    """The store's schema (``"8"``), or with its ``messages`` indexes as they were in schema
    7 (``"7"``: unique on ``(sender_key, client_msg_id)``, pair messages in
    ``messages_in_group``), or schema 7 with only the unique index of 8 (``"7+id"``)."""
    if version == "8":
        return _SCHEMA
    ddl = _SCHEMA.replace("\n    WHERE grp_key IS NOT NULL AND scope != 'unicast';",
                          "\n    WHERE grp_key IS NOT NULL;")
    if version == "7+id":
        return ddl
    ddl = ddl.replace("CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id ON messages"
                      " (client_msg_id, sender_key);", "")
    head, _, tail = ddl.partition("    edited        REAL\n);")
    return head + "    edited        REAL" + SCHEMA_7_UNIQUE + tail


def write_cost(folder: Path, version: str, make_id) -> tuple[float, float]:
    """µs per message of executemany and of COMMIT, 700 messages per commit (schema 8: and
    the pair index's ``executemany`` every :data:`PAIRS_EVERY` commits)."""
    path = folder / f"write-{version}-{make_id.__name__}.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-65536")
    db.executescript(schema(version))
    seq = 0

    def rows(count: int) -> list[tuple]:
        nonlocal seq
        out = []
        for _ in range(count):
            seq += 1
            src = seq % 200
            a, b = f"u{src:04d}", f"u{(src + 100) % 200:04d}"
            out.append((seq, a, a, make_id(), "unicast", json.dumps([b]), None, pair_key(a, b),
                        None, "x" * 100, time.time(), None))
        return out

    for _ in range(300):
        db.execute("BEGIN")
        db.executemany(INSERT, rows(1000))
        db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if version == "8":
        db.execute("INSERT INTO pair_messages SELECT grp_key, seq FROM messages")
    insert = commit = 0.0
    pairs: dict[str, list[int]] = {}
    for i in range(200):
        batch = rows(700)
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(INSERT, batch)
        if version == "8":  # as Store._write_pairs: one statement per pair
            for row in batch:
                pairs.setdefault(row[7], []).append(row[0])
            if i % PAIRS_EVERY == PAIRS_EVERY - 1:
                for key, seqs in pairs.items():
                    db.execute("INSERT OR IGNORE INTO pair_messages (grp_key, seq)"
                               " SELECT ?, value FROM json_each(?)", (key, json.dumps(seqs)))
                pairs = {}
        t1 = time.perf_counter()
        db.execute("COMMIT")
        t2 = time.perf_counter()
        insert += t1 - t0
        commit += t2 - t1
        if i % 20 == 19:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    db.close()
    n = 200 * 700
    return insert / n * 1e6, commit / n * 1e6


def random_id() -> str:
    return uuid.uuid4().hex


def history_cost(folder: Path) -> list[tuple[str, float]]:
    """ms per history page on a store of 100,000 private messages."""
    store = Store(folder / "history.db")
    for name in ("alice", "bob", "carol"):
        store.create_account(name, "hash")
    store.set_batch(True)
    for i in range(100_000):
        a, b = (("alice", "bob"), ("bob", "alice"), ("carol", "alice"))[i % 3]
        store.begin_request()
        store.store_message(sender=a, client_msg_id=time_ordered_id(), scope="unicast",
                            text=f"m{i}", recipients=[b], recipient_keys=[b])
        store.end_request()
        if i % 500 == 499:
            store.commit()
    store.commit()

    def best(user: str, conversation: str, **kw) -> float:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            store.history(user, conversation, **kw)
            times.append(time.perf_counter() - t)
        return min(times) * 1e3

    figures = [("newest page of alice-bob (66,667 messages)", best("alice", "user:bob")),
               ("page before seq 50,000 of alice-bob", best("alice", "user:bob", before=50_000)),
               ("newest page of bob-carol (empty)", best("bob", "user:carol"))]
    store.close()
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", help="folder for the databases (default: a temporary one)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        print("writing 700 unicast messages per commit into 300,000 (µs per message):")
        for version in ("7", "7+id", "8"):
            for make_id, label in ((random_id, "random ids (v4)"),
                                   (time_ordered_id, "time-ordered ids (v7)")):
                insert, commit = write_cost(folder, version, make_id)
                print(f"  schema {version:4s} {label:22s} executemany {insert:5.1f}"
                      f"  COMMIT {commit:5.1f}  total {insert + commit:5.1f}")
        print("Store.history, 100 messages per page (best of 5, ms):")
        for label, ms in history_cost(folder):
            print(f"  {label:45s} {ms:7.2f}")


if __name__ == "__main__":
    main()
