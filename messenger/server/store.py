"""The server's embedded store: SQLite in WAL mode (stdlib ``sqlite3``).

Tables:
  ``accounts``    one row per account; ``name_key`` (case-folded) is unique.
  ``messages``    every chat message and group notice; ``seq`` (INTEGER PRIMARY KEY) is the
                  server-wide sequence number; ``(sender_key, client_msg_id)`` is unique, which
                  makes retries idempotent.
  ``deliveries``  one row per (recipient, message): ``delivered`` and ``read`` times, NULL until
                  the recipient's app confirms. Undelivered rows are the recipient's inbox
                  (store and forward); the rows also index history by participant.
  ``receipts``    a log of delivered/read receipts, numbered by ``rid``, that senders fetch
                  from a cursor after they log in.
  ``groups``      one row per group; ``members`` (JSON list, joining order) and ``invited``
                  (JSON object invitee → inviter).

Durability: ``synchronous=FULL``. Writes join one open transaction when :meth:`Store.batch` is
on (the server turns it on and calls :meth:`Store.commit` once per event-loop turn before it
sends any acknowledgement: group commit, one fsync for many messages); otherwise each write
commits by itself.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from messenger.protocol import name_key

if TYPE_CHECKING:
    from .groups import Group

log = logging.getLogger("messenger.server.store")

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    name_key  TEXT NOT NULL UNIQUE,
    pw_hash   TEXT NOT NULL,
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender        TEXT NOT NULL,
    sender_key    TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    scope         TEXT NOT NULL,
    recipients    TEXT NOT NULL,
    grp           TEXT,
    grp_key       TEXT,
    notice        TEXT,
    text          TEXT NOT NULL,
    ts            REAL NOT NULL,
    UNIQUE (sender_key, client_msg_id)
);
CREATE INDEX IF NOT EXISTS messages_scope ON messages (scope, seq);
CREATE INDEX IF NOT EXISTS messages_group ON messages (grp_key, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    user_key  TEXT NOT NULL,
    seq       INTEGER NOT NULL REFERENCES messages(seq),
    delivered REAL,
    read      REAL,
    PRIMARY KEY (user_key, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (user_key, seq)
    WHERE delivered IS NULL;
CREATE INDEX IF NOT EXISTS deliveries_seq ON deliveries (seq);
CREATE TABLE IF NOT EXISTS receipts (
    rid        INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_key TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    user       TEXT NOT NULL,
    state      TEXT NOT NULL,
    ts         REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_sender ON receipts (sender_key, rid);
CREATE TABLE IF NOT EXISTS groups (
    name_key  TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    leader    TEXT NOT NULL,
    public    INTEGER NOT NULL,
    created   REAL NOT NULL,
    members   TEXT NOT NULL,
    invited   TEXT NOT NULL
);
"""

_MSG_COLUMNS = "m.seq, m.ts, m.sender, m.client_msg_id, m.scope, m.text, m.recipients, m.grp, " \
    "m.notice"


@dataclass(frozen=True)
class Account:
    """An account row: canonical ``name`` (as registered), its ``key`` and password hash."""

    name: str
    key: str
    pw_hash: str
    created: float


@dataclass(frozen=True)
class StoredMessage:
    """A stored chat message. ``recipients`` are canonical user names (empty for broadcast and
    group messages)."""

    seq: int
    ts: float
    sender: str
    client_msg_id: str
    scope: str
    text: str
    recipients: list[str] = field(default_factory=list)
    group: str | None = None
    notice: str | None = None


@dataclass(frozen=True)
class Receipt:
    """``user`` has ``state`` ("delivered" or "read") message ``seq`` at ``ts``; ``rid`` is the
    receipt's number in the sender's receipt log."""

    rid: int
    seq: int
    user: str
    state: str
    ts: float
    sender_key: str = ""


@dataclass(frozen=True)
class GroupRow:
    """A stored group (see :class:`messenger.server.groups.Group`)."""

    name: str
    leader: str
    public: bool
    created: float
    members: list[str]
    invited: dict[str, str]


class NameTaken(Exception):
    """An account with that name, ignoring case, exists already."""


class Store:
    """SQLite-backed accounts, messages, deliveries and groups. Not thread-safe.

    Args:
        path: database file, created with its folder if missing; ``":memory:"`` for tests.
    """

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            self._db.close()
            raise RuntimeError(
                f"{path} has schema version {version}; this server reads version "
                f"{SCHEMA_VERSION} (databases of the unreleased version 1 cannot be migrated: "
                "start with a new --data-dir)")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._batch = False
        self._closed = False
        self._accounts: dict[str, Account] = {
            key: Account(name, key, pw, created) for name, key, pw, created in self._db.execute(
                "SELECT name, name_key, pw_hash, created FROM accounts")}
        log.info("store opened at %s", path)

    def close(self) -> None:
        """Commit what is pending and close; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if self._db.in_transaction:
            self._db.execute("COMMIT")
        self._db.close()

    # ---------------------------------------------------------------- transactions

    def set_batch(self, on: bool) -> None:
        """With ``on``, writes accumulate in one transaction until :meth:`commit`."""
        self.commit()
        self._batch = on

    def commit(self) -> None:
        """Make every write so far durable (one fsync). A no-op when nothing is pending."""
        if not self._closed and self._db.in_transaction:
            self._db.execute("COMMIT")

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run one request atomically inside the batch: on an exception its writes are undone
        (``ROLLBACK TO`` a savepoint) while earlier requests' writes stay for the commit."""
        if not self._batch:
            yield
            return
        db = self._db
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
        db.execute("SAVEPOINT request")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK TO request")
            db.execute("RELEASE request")
            raise
        db.execute("RELEASE request")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        if db.in_transaction:
            yield db  # joins the open batch; committed by commit()
            return
        db.execute("BEGIN IMMEDIATE")
        if self._batch:
            yield db
            return
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ---------------------------------------------------------------- accounts

    def create_account(self, name: str, pw_hash: str) -> Account:
        """Insert an account. Raises :class:`NameTaken` if the name exists ignoring case."""
        key = name_key(name)
        now = time.time()
        if self.account(name) is not None:
            raise NameTaken(name)
        with self._tx() as db:
            db.execute(
                "INSERT INTO accounts (name, name_key, pw_hash, created) VALUES (?, ?, ?, ?)",
                (name, key, pw_hash, now),
            )
        account = self._accounts[key] = Account(name, key, pw_hash, now)
        log.info("account %s created", name)
        return account

    def account(self, name: str) -> Account | None:
        """The account named ``name`` ignoring case, or None (served from memory)."""
        return self._accounts.get(name_key(name))

    def set_password_hash(self, key: str, pw_hash: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE accounts SET pw_hash = ? WHERE name_key = ?", (pw_hash, key))
        old = self._accounts[key]
        self._accounts[key] = Account(old.name, key, pw_hash, old.created)

    def account_names(self) -> list[str]:
        """Canonical names of every account, sorted case-insensitively."""
        return [self._accounts[k].name for k in sorted(self._accounts)]

    def account_keys(self) -> list[str]:
        return list(self._accounts)

    # ---------------------------------------------------------------- groups

    def load_groups(self) -> list[GroupRow]:
        rows = self._db.execute(
            "SELECT name, leader, public, created, members, invited FROM groups").fetchall()
        return [GroupRow(n, ld, bool(p), c, json.loads(m), json.loads(i))
                for n, ld, p, c, m, i in rows]

    def save_group(self, group: Group) -> None:
        """Insert or replace ``group``."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO groups (name_key, name, leader, public, created, members,"
                " invited) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (group.key, group.name, group.leader, int(group.public), group.created,
                 json.dumps(group.members), json.dumps(group.invited)),
            )

    def delete_group(self, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM groups WHERE name_key = ?", (key,))

    # ---------------------------------------------------------------- messages

    def store_message(self, *, sender: str, client_msg_id: str, scope: str, text: str,
                      recipients: list[str], recipient_keys: Iterable[str],
                      group: str | None = None,
                      notice: str | None = None) -> tuple[StoredMessage, bool]:
        """Store a message and queue it for ``recipient_keys``, in one transaction.

        Returns ``(message, created)``. When the sender already stored ``client_msg_id``,
        nothing is written and the original message comes back with ``created`` False.
        """
        skey = name_key(sender)
        ts = time.time()
        with self._tx() as db:
            row = db.execute(
                "INSERT INTO messages (sender, sender_key, client_msg_id, scope, recipients, grp,"
                " grp_key, notice, text, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (sender_key, client_msg_id) DO NOTHING RETURNING seq",
                (sender, skey, client_msg_id, scope,
                 "[]" if not recipients else json.dumps(recipients), group,
                 name_key(group) if group else None, notice, text, ts),
            ).fetchone()
            if row is None:  # a retry of a stored message: the original wins
                existing = self._message_by_client_id(skey, client_msg_id)
                assert existing is not None
                return existing, False
            seq = row[0]
            db.executemany("INSERT OR IGNORE INTO deliveries (user_key, seq) VALUES (?, ?)",
                           [(k, seq) for k in recipient_keys])
        return StoredMessage(seq, ts, sender, client_msg_id, scope, text, recipients, group,
                             notice), True

    def _message_by_client_id(self, sender_key: str, client_msg_id: str) -> StoredMessage | None:
        row = self._db.execute(
            f"SELECT {_MSG_COLUMNS} FROM messages m"
            " WHERE m.sender_key = ? AND m.client_msg_id = ?", (sender_key, client_msg_id),
        ).fetchone()
        return _row_to_message(row) if row else None

    def message(self, seq: int) -> StoredMessage | None:
        row = self._db.execute(f"SELECT {_MSG_COLUMNS} FROM messages m WHERE m.seq = ?",
                               (seq,)).fetchone()
        return _row_to_message(row) if row else None

    def pending(self, user_key: str, limit: int = 10_000) -> list[StoredMessage]:
        """Messages queued for ``user_key`` and not yet confirmed, oldest first."""
        rows = self._db.execute(
            f"SELECT {_MSG_COLUMNS} FROM deliveries d JOIN messages m ON m.seq = d.seq"
            " WHERE d.user_key = ? AND d.delivered IS NULL ORDER BY d.seq LIMIT ?",
            (user_key, limit),
        ).fetchall()
        return [_row_to_message(r) for r in rows]

    def mark(self, user: str, seqs: Iterable[int], state: str) -> list[Receipt]:
        """Record that ``user`` has ``state`` ("delivered" or "read") the messages ``seqs``.

        Only first transitions count (reading implies delivery). Returns the new receipts,
        each logged for its message's sender (none for group notices or own messages).
        A few statements per call, whatever the number of seqs.
        """
        if state not in ("delivered", "read"):
            raise ValueError(state)
        seqs = list(dict.fromkeys(seqs))
        if not seqs:
            return []
        key = name_key(user)
        now = time.time()
        receipts: list[Receipt] = []
        marks = ",".join("?" * len(seqs))
        with self._tx() as db:
            if state == "delivered":
                changed = db.execute(
                    f"UPDATE deliveries SET delivered = ? WHERE user_key = ? AND seq IN ({marks})"
                    " AND delivered IS NULL RETURNING seq", (now, key, *seqs)).fetchall()
            else:
                changed = db.execute(
                    "UPDATE deliveries SET delivered = coalesce(delivered, ?), read = ?"
                    f" WHERE user_key = ? AND seq IN ({marks}) AND read IS NULL RETURNING seq",
                    (now, now, key, *seqs)).fetchall()
            if not changed:
                return []
            done = sorted(r[0] for r in changed)
            marks = ",".join("?" * len(done))
            senders = db.execute(
                f"SELECT seq, sender_key FROM messages WHERE seq IN ({marks})"
                " AND notice IS NULL AND sender_key != ? ORDER BY seq", (*done, key)).fetchall()
            if not senders:
                return []
            db.executemany(
                "INSERT INTO receipts (sender_key, seq, user, state, ts) VALUES (?, ?, ?, ?, ?)",
                [(sender_key, seq, user, state, now) for seq, sender_key in senders])
            last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
            first = last - len(senders) + 1  # one writer: AUTOINCREMENT ids are consecutive
            receipts = [Receipt(first + i, seq, user, state, now, sender_key)
                        for i, (seq, sender_key) in enumerate(senders)]
        return receipts

    def mark_delivered(self, user_key: str, seqs: Iterable[int]) -> list[Receipt]:
        """Shorthand for :meth:`mark` with state "delivered"."""
        return self.mark(user_key, seqs, "delivered")

    def receipts_after(self, sender_key: str, rid: int, limit: int = 10_000) -> list[Receipt]:
        """Receipts for ``sender_key``'s messages numbered above ``rid``, oldest first."""
        rows = self._db.execute(
            "SELECT rid, seq, user, state, ts FROM receipts WHERE sender_key = ? AND rid > ?"
            " ORDER BY rid LIMIT ?", (sender_key, rid, limit)).fetchall()
        return [Receipt(*r, sender_key) for r in rows]

    def receipt_counts(self, seq: int) -> tuple[int, int, int]:
        """``(recipients, delivered, read)`` counts of message ``seq``."""
        row = self._db.execute(
            "SELECT count(*), count(delivered), count(read) FROM deliveries WHERE seq = ?",
            (seq,)).fetchone()
        return row[0], row[1], row[2]

    # ---------------------------------------------------------------- history

    def history(self, user: str, conversation: str, *, before: int | None = None,
                after: int | None = None, limit: int = 100) -> list[StoredMessage]:
        """Messages of ``conversation`` as seen by ``user``, oldest first.

        ``conversation`` is ``"everyone"``, ``"user:<name>"`` (private messages and multicasts
        between ``user`` and that user) or ``"group:<name>"`` (what ``user`` sent or received
        in that group). With ``before`` the newest ``limit`` messages below that seq; with
        ``after`` the oldest ``limit`` above it; with neither, the newest ``limit``.
        """
        me = name_key(user)
        kind, _, target = conversation.partition(":")
        if kind == "everyone" and not target:
            where, params = "m.scope = 'broadcast'", []
        elif kind == "user" and target:
            peer = name_key(target)
            where = ("m.scope IN ('unicast', 'multicast') AND ("
                     "(m.sender_key = ? AND EXISTS (SELECT 1 FROM deliveries d WHERE"
                     " d.seq = m.seq AND d.user_key = ?)) OR"
                     " (m.sender_key = ? AND EXISTS (SELECT 1 FROM deliveries d WHERE"
                     " d.seq = m.seq AND d.user_key = ?)))")
            params = [me, peer, peer, me]
        elif kind == "group" and target:
            where = ("m.grp_key = ? AND (m.sender_key = ? OR EXISTS (SELECT 1 FROM deliveries d"
                     " WHERE d.seq = m.seq AND d.user_key = ?))")
            params = [name_key(target), me, me]
        else:
            raise ValueError(f"unknown conversation {conversation!r}")
        if after is not None:
            sql = (f"SELECT {_MSG_COLUMNS} FROM messages m WHERE {where} AND m.seq > ?"
                   " ORDER BY m.seq LIMIT ?")
            rows = self._db.execute(sql, [*params, after, limit]).fetchall()
        else:
            cond = " AND m.seq < ?" if before is not None else ""
            extra = [before] if before is not None else []
            sql = (f"SELECT {_MSG_COLUMNS} FROM messages m WHERE {where}{cond}"
                   " ORDER BY m.seq DESC LIMIT ?")
            rows = self._db.execute(sql, [*params, *extra, limit]).fetchall()[::-1]
        return [_row_to_message(r) for r in rows]


def _row_to_message(row: tuple) -> StoredMessage:
    seq, ts, sender, cid, scope, text, recipients, grp, notice = row
    return StoredMessage(seq, ts, sender, cid, scope, text, json.loads(recipients), grp, notice)
