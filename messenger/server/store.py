"""The server's embedded store: SQLite in WAL mode (stdlib ``sqlite3``).

Tables:
  ``accounts``  one row per account; ``name_key`` (case-folded) is unique.
  ``messages``  every chat message; ``seq`` (INTEGER PRIMARY KEY) is the server-wide sequence
                number; ``(sender_key, client_msg_id)`` is unique, which makes retries idempotent.
  ``groups``    one row per group; ``members`` (JSON list, joining order) and ``invited``
                (JSON object invitee → inviter).
  ``inbox``     (user_key, seq) for each recipient that has not yet confirmed the message with
                a ``delivered`` frame (store and forward).

A message and its inbox rows are written in one transaction with ``synchronous=FULL`` before the
server acknowledges it, so an acknowledged message survives a crash of the server process or
the machine.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from messenger.protocol import name_key

if TYPE_CHECKING:
    from .groups import Group

log = logging.getLogger("messenger.server.store")

SCHEMA_VERSION = 1

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
    notice        TEXT,
    text          TEXT NOT NULL,
    ts            REAL NOT NULL,
    UNIQUE (sender_key, client_msg_id)
);
CREATE TABLE IF NOT EXISTS groups (
    name_key  TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    leader    TEXT NOT NULL,
    public    INTEGER NOT NULL,
    created   REAL NOT NULL,
    members   TEXT NOT NULL,
    invited   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox (
    user_key TEXT NOT NULL,
    seq      INTEGER NOT NULL REFERENCES messages(seq),
    PRIMARY KEY (user_key, seq)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Account:
    """An account row: canonical ``name`` (as registered), its ``key`` and password hash."""

    name: str
    key: str
    pw_hash: str
    created: float


@dataclass(frozen=True)
class StoredMessage:
    """A stored chat message. ``recipients`` are canonical user names (empty for broadcast)."""

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
    """SQLite-backed accounts and messages. One instance per server; not thread-safe.

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
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        log.info("store opened at %s", path)

    def close(self) -> None:
        self._db.close()

    # ---------------------------------------------------------------- accounts

    def create_account(self, name: str, pw_hash: str) -> Account:
        """Insert an account. Raises :class:`NameTaken` if the name exists ignoring case."""
        key = name_key(name)
        now = time.time()
        try:
            self._db.execute(
                "INSERT INTO accounts (name, name_key, pw_hash, created) VALUES (?, ?, ?, ?)",
                (name, key, pw_hash, now),
            )
        except sqlite3.IntegrityError:
            raise NameTaken(name) from None
        log.info("account %s created", name)
        return Account(name, key, pw_hash, now)

    def account(self, name: str) -> Account | None:
        """The account named ``name`` ignoring case, or None."""
        row = self._db.execute(
            "SELECT name, name_key, pw_hash, created FROM accounts WHERE name_key = ?",
            (name_key(name),),
        ).fetchone()
        return Account(*row) if row else None

    def set_password_hash(self, key: str, pw_hash: str) -> None:
        self._db.execute("UPDATE accounts SET pw_hash = ? WHERE name_key = ?", (pw_hash, key))

    def account_names(self) -> list[str]:
        """Canonical names of every account, sorted case-insensitively."""
        rows = self._db.execute("SELECT name FROM accounts ORDER BY name_key").fetchall()
        return [r[0] for r in rows]

    def account_keys(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name_key FROM accounts")]

    # ---------------------------------------------------------------- groups

    def load_groups(self) -> list[GroupRow]:
        rows = self._db.execute(
            "SELECT name, leader, public, created, members, invited FROM groups").fetchall()
        return [GroupRow(n, ld, bool(p), c, json.loads(m), json.loads(i))
                for n, ld, p, c, m, i in rows]

    def save_group(self, group: Group) -> None:
        """Insert or replace ``group``."""
        self._db.execute(
            "INSERT OR REPLACE INTO groups (name_key, name, leader, public, created, members,"
            " invited) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (group.key, group.name, group.leader, int(group.public), group.created,
             json.dumps(group.members), json.dumps(group.invited)),
        )

    def delete_group(self, key: str) -> None:
        self._db.execute("DELETE FROM groups WHERE name_key = ?", (key,))

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
        existing = self._message_by_client_id(skey, client_msg_id)
        if existing is not None:
            return existing, False
        ts = time.time()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT INTO messages (sender, sender_key, client_msg_id, scope, recipients, grp,"
                " notice, text, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sender, skey, client_msg_id, scope, json.dumps(recipients), group, notice, text,
                 ts),
            )
            seq = cur.lastrowid
            assert seq is not None
            db.executemany("INSERT OR IGNORE INTO inbox (user_key, seq) VALUES (?, ?)",
                           [(k, seq) for k in recipient_keys])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return StoredMessage(seq, ts, sender, client_msg_id, scope, text, recipients, group,
                             notice), True

    def _message_by_client_id(self, sender_key: str, client_msg_id: str) -> StoredMessage | None:
        row = self._db.execute(
            "SELECT seq, ts, sender, client_msg_id, scope, text, recipients, grp, notice"
            " FROM messages"
            " WHERE sender_key = ? AND client_msg_id = ?", (sender_key, client_msg_id),
        ).fetchone()
        return _row_to_message(row) if row else None

    def pending(self, user_key: str, limit: int = 10_000) -> list[StoredMessage]:
        """Messages queued for ``user_key`` and not yet confirmed, oldest first."""
        rows = self._db.execute(
            "SELECT m.seq, m.ts, m.sender, m.client_msg_id, m.scope, m.text, m.recipients, m.grp,"
            " m.notice"
            " FROM inbox i JOIN messages m ON m.seq = i.seq WHERE i.user_key = ?"
            " ORDER BY i.seq LIMIT ?", (user_key, limit),
        ).fetchall()
        return [_row_to_message(r) for r in rows]

    def mark_delivered(self, user_key: str, seqs: Iterable[int]) -> None:
        """Drop the inbox rows of ``seqs`` for ``user_key`` (the client has stored them)."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("DELETE FROM inbox WHERE user_key = ? AND seq = ?",
                           [(user_key, s) for s in seqs])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _row_to_message(row: tuple) -> StoredMessage:
    seq, ts, sender, cid, scope, text, recipients, grp, notice = row
    return StoredMessage(seq, ts, sender, cid, scope, text, json.loads(recipients), grp, notice)
