"""The server's embedded store: SQLite in WAL mode (stdlib ``sqlite3``).

Tables:
  ``accounts``    one row per account; ``name_key`` (case-folded) is unique.
  ``messages``    every chat message and group notice; ``seq`` (INTEGER PRIMARY KEY) is the
                  server-wide sequence number; ``(client_msg_id, sender_key)`` is unique, which
                  makes retries idempotent.
  ``deliveries``  one row per (message, recipient) of multicast messages, notices and
                  messages to oneself: ``delivered`` and ``read`` times, NULL until the
                  recipient's app confirms. Undelivered rows are the recipient's inbox (store
                  and forward); the rows also index history by participant. Group chat
                  messages and broadcasts (since schema 6) and unicast messages between two
                  users (since schema 7, "pairs" of :func:`pair_key`) get no rows: see the
                  next two tables.
  ``group_spans``   membership intervals: ``user_key`` received the group's chat messages with
                  ``after_seq < seq <= upto_seq`` (``upto_seq`` NULL while a member). The
                  group :data:`EVERYONE_KEY` stands for "everyone": every account is a member
                  from its creation on, and broadcasts are its chat messages. A pair
                  (:func:`pair_key`) is a group of two whose chat messages are the unicasts
                  between them; a user's span in it opens with the first message to them.
  ``group_cursors`` per (member, group): every group chat message due to the member with
                  ``seq <= delivered`` has been confirmed (cumulative ack); ``read`` is the
                  highest seq the member read. A read is written with the next commit
                  (before it is answered or told to the sender); deliveries lazily
                  (:data:`CURSOR_FLUSH_SECONDS`): a cursor that lags only makes a message come
                  again after a crash, which apps drop by its seq.
  ``cursor_acks``  per (member, group): the seqs confirmed *out of order*, above the cursor's
                  ``delivered`` (an app confirmed a later message before an earlier one, e.g.
                  after the replay cap). Written with the cursors, deleted once the cursor
                  passes them; without them such a message would come again at every login
                  until the one below it is confirmed. Added without a version change
                  (created when missing; an older server ignores the table, which only makes
                  such messages come again).
  ``read_positions`` per (account, group or pair): the highest seq read *privately* (a
                  ``read`` with ``private``, from an app with read receipts off): for the
                  account's own apps (:meth:`Store.read_upto`), never told to senders. Added
                  without a version change (created when missing; older servers ignore it).
  ``private_reads`` the same for messages outside any cursor (multicasts, older unicasts):
                  one row per (account, seq) read privately (:meth:`Store.read_among`).
  ``receipts``    a log of delivered/read receipts, numbered by ``rid``, that senders fetch
                  from a cursor after they log in (none for pair messages: their receipts go
                  out live, unlogged, and the recipient's cursors stand for them at login,
                  :meth:`Store.receipt_cursors`); for group messages and broadcasts, rows
                  of ``state`` "count" carry ``delivered``/``read``/``recipients`` counts
                  instead (one per message per commit in which a count rose) and ``user``
                  is empty.
  ``pair_messages`` the history index of pair messages (schema 8): one ``(pair key, seq)``
                  per unicast between two users, written lazily (:data:`PAIR_FLUSH_SECONDS`),
                  so ``store_marks`` row "pair_messages" says up to which seq it is complete;
                  the messages above it are indexed again when the store opens.
  ``store_marks`` named numbers: seqs (``pair_messages``) and the database's identity
                  (``instance``, random, made with the database: ``hello.instance``).
  ``groups``      one row per group; ``members`` (JSON list, joining order) and ``invited``
                  (JSON object invitee → inviter).

Durability: ``synchronous=FULL``. Writes join one open transaction when :meth:`Store.batch` is
on (the server turns it on and calls :meth:`Store.commit` once per event-loop turn before it
sends any acknowledgement: group commit, one fsync for many messages); otherwise each write
commits by itself. The server also calls :meth:`Store.defer_sync`: its commits then return
before the fsync, which :class:`~.walsync.WalSync` does on a thread of its own, and no reply
leaves before that sync (pipelined group commit).
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import sqlite3
import time
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from messenger.paths import private_database, private_dir
from messenger.protocol import (
    EDITED_AFTER_LEAVING_TEXT,
    RETRACTED_TEXT,
    is_valid_name,
    name_key,
    name_skeleton,
)

if TYPE_CHECKING:
    from .groups import Group

log = logging.getLogger("messenger.server.store")

SCHEMA_VERSION = 8
"""Indexes added without a version step (older servers read the file as before) are created
when any database is opened (``CREATE INDEX IF NOT EXISTS`` in ``_SCHEMA``):
``group_spans_by_group``, the spans of one group (for the receipt counts of older group
messages).
7 → 8: ``messages`` is unique on ``(client_msg_id, sender_key)`` (index
``messages_client_id``) instead of ``(sender_key, client_msg_id)``: with time-ordered ids
(:func:`~messenger.protocol.time_ordered_id`) a commit's new entries share the last leaves of
that index instead of one leaf per sender. Rows without a ``grp_key`` (multicasts, messages to
oneself, unicasts older than schema 7) are indexed by ``(sender_key, seq)``
(``messages_by_sender``), and pair messages by ``pair_messages`` instead of
``messages_in_group``, for the history of a private conversation. The table is rebuilt
(:func:`_migrate_7_to_8`).
6 → 7: a unicast chat message between two different users gets no ``deliveries`` row and no
``receipts`` rows either: its ``grp_key`` is the pair's key (:func:`pair_key`) and it is
delivered like a group message of two members (``group_spans``, ``group_cursors``); senders
learn of receipts they missed from the recipient's cursors (``receipts_upto``). Nothing to
migrate: older messages keep their rows; the version only stops older servers from opening
the file.
5 → 6: group chat messages and broadcasts get no ``deliveries`` rows; the tables
``group_spans`` (who was a member when) and ``group_cursors`` (per-member delivered/read
cursors) replace them. Existing members, and every account for "everyone", get a span from the
current last seq on; older messages keep their rows. ``messages`` gains ``replaces`` (the seq
a ``deleted`` or ``edited`` notice is about) and ``edited`` (when the text was last edited).
4 → 5: ``accounts`` gains ``last_seen`` (Unix seconds of the account's last login or going
offline; NULL until then), added in place.
3 → 4: ``receipts`` gains ``delivered``, ``read`` and ``recipients`` (the counts of group
receipts; NULL in per-user rows), added in place when a version 3 database is opened.
2 → 3: ``deliveries`` is clustered by ``(seq, user_key)`` instead of ``(user_key, seq)``, and
its index on ``seq`` alone is gone (the key serves it); the indexes on ``messages`` by scope
and by group are partial (broadcasts only, group messages only), so a unicast message updates
neither. Version 2 databases are migrated when opened (:func:`_migrate_2_to_3`)."""

CACHE_KIB = 64 * 1024
"""SQLite's page cache per connection (``PRAGMA cache_size``): the default 2 MiB cannot hold the
index pages a busy turn touches (one or two per sender and recipient)."""
BACKSTOP_CHECKPOINT_PAGES = 16000
"""With :meth:`Store.defer_sync`: WAL pages (4 KiB, so 64 MiB) after which a commit also
checkpoints, on the committing thread. The WAL sync thread checkpoints every 50 ms, but SQLite
restarts the WAL from its start only when a write transaction begins after a checkpoint that
copied every frame; with commits going on meanwhile that rarely happens, and the WAL would grow
without bound. A checkpoint run by the writer right after its commit copies everything, so the
next transaction restarts the WAL (and :data:`WAL_SIZE_LIMIT` truncates it). It stalls the
event loop for about 5 ms (what the thread has not copied yet, and two syncs): at 4,000 pages
that was every 0.3 s at 5,000 msgs/s, at 16,000 about every 1.2 s."""
BUSY_TIMEOUT_MS = 50
"""Once the store is open: how long a statement waits for a lock another connection holds
(``PRAGMA busy_timeout``, milliseconds) before SQLite gives up with "database is locked".
This server is its database's only writer, but another program can take the write lock (an
sqlite3 shell left inside ``BEGIN``): with Python's default of 5 s each try blocked the event
loop that long. :func:`is_locked` tells the error apart; the server keeps what it has not
stored and tries again (:meth:`MessengerServer._commit_locked`). Opening and migrating still
wait Python's 5 s."""
WAL_SIZE_LIMIT = 64 << 20
"""With :meth:`Store.defer_sync`: bytes the WAL file is truncated to when it restarts (it grows
while checkpoints lag behind commits)."""

EVERYONE_KEY = "*"
"""The ``grp_key`` of broadcast messages (schema 6) and of every account's membership span of
"everyone" (opened when the account is created): broadcasts are delivered like the messages of
a group whose members are all accounts. No group name can be "*"."""


def pair_key(a_key: str, b_key: str) -> str:
    """The ``grp_key`` of the unicast messages between two users (schema 7), from their keys:
    ``"alice|bob"``, sorted, so both directions share it. No group name contains "|"."""
    return f"{a_key}|{b_key}" if a_key < b_key else f"{b_key}|{a_key}"


def ordered_id(client_msg_id: str) -> bool:
    """Whether ``client_msg_id`` has the shape of the app's time-ordered ids (a UUID version
    7 as 32 lowercase hex digits, :func:`~messenger.protocol.time_ordered_id`) with a time
    before the year 10889 (a leading "0"). The store skips the idempotency look-up for such an
    id when it sorts after every such id its sender stored: it cannot be a retry."""
    return len(client_msg_id) == 32 and client_msg_id[0] == "0" \
        and client_msg_id[12] == "7" and _LOWER_HEX.fullmatch(client_msg_id) is not None


_LOWER_HEX = re.compile(r"[0-9a-f]+")

CURSOR_FLUSH_SECONDS = 0.5
"""In batch mode, group delivery cursors that moved are written with the first commit at least
this long after the last write of them (not with every commit: one row per member and group
instead of one per message and member); the server arms a commit for then
(:attr:`Store.cursors_due`), so an idle server writes them too. Safe to lose: see
``group_cursors``. A cursor whose read position moved is written with the next commit."""
PAIR_FLUSH_SECONDS = 0.5
"""In batch mode, a pair's ``pair_messages`` entries are written with the first commit at
least this long after the oldest of them was buffered: the pair's index page is rewritten
once for all the messages of that time instead of with every commit. Pairs fall due at
different times, so each commit writes a share. Safe to lose: see ``pair_messages``."""

_MESSAGES_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
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
    replaces      INTEGER,
    edited        REAL
);
"""
_MESSAGES_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id ON messages (client_msg_id, sender_key);
CREATE INDEX IF NOT EXISTS messages_by_sender ON messages (sender_key, seq)
    WHERE grp_key IS NULL;
CREATE INDEX IF NOT EXISTS messages_broadcast ON messages (seq) WHERE scope = 'broadcast';
CREATE INDEX IF NOT EXISTS messages_in_group ON messages (grp_key, seq)
    WHERE grp_key IS NOT NULL AND scope != 'unicast';
CREATE INDEX IF NOT EXISTS messages_replaces ON messages (replaces, seq)
    WHERE replaces IS NOT NULL;
"""
_PAIR_TABLES = """
CREATE TABLE IF NOT EXISTS pair_messages (
    grp_key TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (grp_key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_marks (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;
"""

_PAIR_MESSAGE_ROWS = "scope = 'unicast' AND grp_key IS NOT NULL AND notice IS NULL"
"""The rows of ``messages`` that are pair messages (:meth:`Store.store_message`)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    name_key  TEXT NOT NULL UNIQUE,
    pw_hash   TEXT NOT NULL,
    created   REAL NOT NULL,
    last_seen REAL
);
CREATE TABLE IF NOT EXISTS deliveries (
    user_key  TEXT NOT NULL,
    seq       INTEGER NOT NULL REFERENCES messages(seq),
    delivered REAL,
    read      REAL,
    PRIMARY KEY (seq, user_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (user_key, seq)
    WHERE delivered IS NULL;
CREATE INDEX IF NOT EXISTS deliveries_by_user ON deliveries (user_key, seq);
CREATE TABLE IF NOT EXISTS receipts (
    rid        INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_key TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    user       TEXT NOT NULL,
    state      TEXT NOT NULL,
    ts         REAL NOT NULL,
    delivered  INTEGER,
    read       INTEGER,
    recipients INTEGER
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

_GROUP_TABLES = """
CREATE TABLE IF NOT EXISTS group_spans (
    user_key  TEXT NOT NULL,
    grp_key   TEXT NOT NULL,
    after_seq INTEGER NOT NULL,
    upto_seq  INTEGER,
    PRIMARY KEY (user_key, grp_key, after_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_spans_by_group ON group_spans (grp_key, after_seq);
CREATE TABLE IF NOT EXISTS group_cursors (
    user_key  TEXT NOT NULL,
    grp_key   TEXT NOT NULL,
    delivered INTEGER NOT NULL,
    read      INTEGER NOT NULL,
    PRIMARY KEY (user_key, grp_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursor_acks (
    user_key  TEXT NOT NULL,
    grp_key   TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (user_key, grp_key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS read_positions (
    user_key  TEXT NOT NULL,
    grp_key   TEXT NOT NULL,
    seen      INTEGER NOT NULL,
    PRIMARY KEY (user_key, grp_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS private_reads (
    user_key  TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (user_key, seq)
) WITHOUT ROWID;
"""
_SCHEMA += _MESSAGES_TABLE.format(name="messages") + _MESSAGES_INDEXES + _GROUP_TABLES \
    + _PAIR_TABLES

_MSG_COLUMNS = "m.seq, m.ts, m.sender, m.client_msg_id, m.scope, m.text, m.recipients, m.grp, " \
    "m.notice, m.replaces, m.edited"


@dataclass(frozen=True)
class Account:
    """An account row: canonical ``name`` (as registered), its ``key`` and password hash."""

    name: str
    key: str
    pw_hash: str
    created: float
    last_seen: float | None = None


class StoredMessage(NamedTuple):
    """A stored chat message. ``recipients`` are canonical user names (empty for broadcast and
    group messages). A named tuple: immutable, and much cheaper to create than a frozen
    dataclass (one per message)."""

    seq: int
    ts: float
    sender: str
    client_msg_id: str
    scope: str
    text: str
    recipients: list[str] = []  # shared default: never mutated (callers pass their own)
    group: str | None = None
    notice: str | None = None
    replaces: int | None = None
    edited: float | None = None


class Receipt(NamedTuple):
    """``user`` has ``state`` ("delivered" or "read") message ``seq`` at ``ts``; ``rid`` is the
    receipt's number in the sender's receipt log. For a group message, ``state`` is "count",
    ``user`` is empty and ``counts`` is ``(delivered, read, recipients)``."""

    rid: int
    seq: int
    user: str
    state: str
    ts: float
    sender_key: str = ""
    counts: tuple[int, int, int] | None = None


class _Cursor:
    """A member's delivery cursor in one group, in memory ("warm"): ``outstanding`` holds the
    seqs of the group's chat messages due to the member and not yet confirmed; every message
    due to the member up to ``complete`` is either confirmed or in ``outstanding``; ``read``
    is the highest seq the member read. The cumulative ack written to ``group_cursors`` is
    :attr:`delivered`; ``fresh`` holds the seqs confirmed since the position was last kept
    for writing (:meth:`Store._park`), of which those above :attr:`delivered` go to
    ``cursor_acks``; ``fresh_max`` is the highest of them (acks in order, the usual case,
    are all below :attr:`delivered` then: nothing to look through). ``unread`` holds the
    seqs confirmed below ``read`` (delivered late: after the member had read newer ones) and
    not read since: a state taken from the cursor counts everything confirmed up to ``read``
    as read, which these were not. (In memory only: a restart or going offline forgets them,
    and they count as read then, as the app marks a conversation read as a whole.)"""

    __slots__ = ("complete", "fresh", "fresh_max", "outstanding", "read", "unread")

    def __init__(self, outstanding: set[int], complete: int, read: int) -> None:
        self.outstanding = outstanding
        self.complete = complete
        self.read = read
        self.fresh: list[int] = []
        self.fresh_max = 0
        self.unread: set[int] = set()

    @property
    def delivered(self) -> int:
        """The highest seq up to which everything due is confirmed."""
        return min(self.outstanding) - 1 if self.outstanding else self.complete


@dataclass(frozen=True)
class GroupRow:
    """A stored group (see :class:`messenger.server.groups.Group`)."""

    name: str
    leader: str
    public: bool
    created: float
    members: list[str]
    invited: dict[str, str]


class TransactionLost(sqlite3.Error):
    """:meth:`Store.commit` found that SQLite had rolled the open transaction back by itself
    (after a disk-full or I/O error): nothing written since the last commit is stored."""


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" or "database table is locked"
    (``SQLITE_BUSY``, ``SQLITE_LOCKED``, extended codes included): another connection holds
    a lock, nothing was changed, and the statement may be tried again later."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and (
        code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class NameTaken(Exception):
    """An account with that name, ignoring case, exists already."""


def _schema_columns() -> dict[str, list[str]]:
    """The tables this server makes, with their columns in order (a database at version 0
    holding anything else is not ours)."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA)
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: [r[1] for r in db.execute(f'PRAGMA table_info("{n}")')] for n in names}
    finally:
        db.close()


class DatabaseVersionError(RuntimeError):
    """The database file is not one this server can use: written by a newer version, of
    another program, or of the unreleased schema 1. The message says what to do."""


class Store:
    """SQLite-backed accounts, messages, deliveries and groups. Not thread-safe.

    Args:
        path: database file, created with its folder if missing; ``":memory:"`` for tests.

    Write-behind: the hot writes (new messages, their ``deliveries`` rows, delivered/read marks
    and receipts) are not executed when they are made. ``seq`` and ``rid`` are assigned in
    memory (this process is the only writer: the counters are loaded at start), the rows are
    kept in lists, and :meth:`commit` writes them with one ``executemany`` per table right
    before its ``COMMIT``. Without batch mode every write method ends with such a commit, so
    nothing is ever left unwritten between calls. Reads see everything: each read first writes
    what is buffered into the open transaction (except the idempotency look-up, which only needs
    rows that are not buffered, see :meth:`store_message`).
    """

    RECENT_LIMIT = 250_000
    """How many (message, recipient) delivery states the in-memory cache of recent messages
    holds; :meth:`mark` answers from it without a query, and asks the database for older
    messages."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            private_dir(Path(path).parent, narrow=False)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # Looked at before anything is written: `--db` given another program's database
        # was switched to WAL, stamped as ours and narrowed (an operator hunt).
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            # (ours alone: a first start stopped between the schema and its version stamp
            # left our own tables at version 0; a review)
            tables = [name for (name,) in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite%'")]
            # (by their columns too: another program's "accounts" passed as ours; a review)
            ours = _schema_columns() if version == 0 and tables else {}
            foreign = [name for name in tables if name not in ours or [
                r[1] for r in self._db.execute(f'PRAGMA table_info("{name}")')] != ours[name]]
        except sqlite3.Error:
            self._db.close()
            raise
        if version > SCHEMA_VERSION or version == 1 or (version == 0 and foreign):
            self._db.close()
            if version > SCHEMA_VERSION:
                raise DatabaseVersionError(
                    f"{path} was written by a newer Messenger server (schema version "
                    f"{version}; this one reads up to {SCHEMA_VERSION}): run that version "
                    "again, or start from a backup made by this one")
            if version == 1:
                raise DatabaseVersionError(
                    f"{path} has schema version 1 (an unreleased version, which cannot be "
                    "migrated): start with a new --data-dir")
            raise DatabaseVersionError(
                f"{path} is not a Messenger database (it holds another program's tables); "
                "give --db a new file, or one a Messenger server made")
        if str(path) != ":memory:":
            private_database(path)  # (and its -wal, -shm files left by an earlier run)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        if version in (2, 3, 4, 5, 6, 7):
            try:
                if version == 2:
                    _migrate_2_to_3(self._db)
                if version <= 3:
                    _migrate_3_to_4(self._db)
                if version <= 4:
                    _migrate_4_to_5(self._db)
                if version <= 5:
                    _migrate_5_to_6(self._db)
                # 6 → 7 changes nothing stored (see SCHEMA_VERSION).
                _migrate_7_to_8(self._db)
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._db.close()
                raise
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self.instance = self._instance()
        self._old_group_upto = self._old_group_rows()
        self._batch = False
        self._closed = False
        self._changes = self._db.total_changes
        self._began = False  # a transaction was begun by us and not yet ended by us
        # The last BEGIN met another program's write lock (is_locked): reads do not try to
        # open the turn's transaction (each try waits BUSY_TIMEOUT_MS) until one succeeds.
        self._lock_seen = False
        self.requests = 0
        self._skeletons: dict[str, str] | None = None  # name_skeleton → account key
        """Requests begun (:meth:`begin_request`): what the memory of other classes changed
        for the one that fails can be told apart from earlier ones' (Groups.undo)."""
        self._accounts: dict[str, Account] = {
            key: Account(name, key, pw, created, seen)
            for name, key, pw, created, seen in self._db.execute(
                "SELECT name, name_key, pw_hash, created, last_seen FROM accounts")}
        # The last seq and rid handed out: AUTOINCREMENT never reuses numbers, and neither do we.
        self._seq = self._last_id("messages", "seq")
        # Spans, cursors and out-of-order acks may name a seq that was handed out but never
        # written (its request failed and was undone): it must not be handed out again after
        # a restart, or a message would fall below a cursor or a span's start that was meant
        # for earlier ones, or count as confirmed before it was sent.
        referenced = self._db.execute(
            "SELECT max(coalesce((SELECT max(max(after_seq, coalesce(upto_seq, 0)))"
            " FROM group_spans), 0), coalesce((SELECT max(max(delivered, read))"
            " FROM group_cursors), 0), coalesce((SELECT max(seq) FROM cursor_acks), 0))"
            ).fetchone()[0]
        self._seq = max(self._seq, int(referenced))
        self._rid = self._last_id("receipts", "rid")
        # Rows not yet written (see the class docstring), in the order they are written.
        self._new_messages: list[tuple] = []
        self._new_deliveries: list[tuple[str, int]] = []
        self._new_marks: list[tuple[float, float | None, str, int]] = []
        self._new_receipts: list[tuple] = []
        self._new_seen: dict[str, float] = {}  # account key → last seen, not yet written
        # (sender_key, client_msg_id) → message, for messages whose row is still buffered.
        self._unwritten: dict[tuple[str, str], StoredMessage] = {}
        # Per sender key, an upper bound of the ordered_id() client_msg_ids it stored (it may
        # stay above an id whose request was undone); for senders not in the map, the
        # greatest one stored by anyone when the store was opened ("" for none). A new ordered
        # id above its sender's bound was never stored: store_message needs no look-up. An
        # app's ids grow, so only its retries (and a second device's messages) are looked up.
        self._id_floor = self._load_newest_ordered_id()
        self._id_marks: dict[str, str] = {}
        # Pair messages written to ``messages`` but not yet to ``pair_messages``: pair key →
        # seqs; the pairs in the order of their first such seq, with the monotonic time at
        # which they are due (PAIR_FLUSH_SECONDS after it); the highest seq written to
        # ``messages``; the seq up to which ``pair_messages`` is complete (store_marks).
        self._pair_backlog: dict[str, list[int]] = {}
        self._pair_queue: deque[tuple[float, str]] = deque()
        self._written_seq = 0
        self._pairs_upto = 0
        self._flush_all = False  # close: every pair is due
        self._load_pair_backlog()
        # seq → [sender_key, or None when the message gets no receipts (a notice);
        #        {recipient key: 0 queued, 1 delivered, 2 read, -1 not a recipient};
        #        partial: True when loaded from the database for some recipients only;
        #        group counts: None (not a group chat message), [delivered, read, recipients],
        #        or False (a group chat message whose counts the database knows);
        #        the grp_key whose cursors hold the delivery state (a group chat message,
        #        broadcast or pair message), or None (the state is in deliveries rows)].
        self._recent: dict[int, list] = {}
        self._recent_order: deque[int] = deque()
        self._recent_size = 0
        # Group messages whose counts rose since take_receipt_counts: seq → sender_key.
        self._counts_dirty: dict[int, str] = {}
        # Sender key → the keys of the peers with a span in their pair (who have been sent a
        # unicast by the sender since schema 7): what receipt_cursors looks at. Filled by
        # _load_spans and _set_members.
        self._pair_peers: dict[str, set[str]] = {}
        # Open membership spans: group key → {member key: after_seq}.
        self._spans: dict[str, dict[str, int]] = self._load_spans()
        # Warm delivery cursors: group key → {member key: _Cursor}; those that moved since
        # they were last written, as (member key, group key); cursor rows to write.
        self._cursors: dict[str, dict[str, _Cursor]] = {}
        self._cursor_dirty: set[tuple[str, str]] = set()
        # (user, group) -> (delivered, read, seqs confirmed above delivered): to write.
        self._cursor_rows: dict[tuple[str, str], tuple[int, int, tuple[int, ...]]] = {}
        # (user, group) that may have cursor_acks rows at or below their cursor (to delete).
        self._ack_keys: set[tuple[str, str]] = set()
        self._cursor_due = 0.0
        # Whether a cursor's read position moved since the cursors were last written: they
        # are written with the next commit then, not CURSOR_FLUSH_SECONDS later (see dirty).
        self._read_moved = False
        # The request being handled (see begin_request): buffer lengths at its start, and
        # whether a savepoint was opened for its direct database work.
        self._request: tuple[int, int, int, int] | None = None
        self._savepoint = False
        self._cur = self._db.cursor()
        log.info("store opened at %s", path)

    def _instance(self) -> str:
        """This database's identity: a random number made when it was created (kept as the
        ``store_marks`` row "instance"), as 16 hex digits. A new database at the same
        address (reset, restored, reinstalled) numbers messages from 1 again, and the apps
        that cached the old ones must know (``hello.instance``)."""
        row = self._db.execute(
            "SELECT seq FROM store_marks WHERE name = 'instance'").fetchone()
        if row is None:
            row = (secrets.randbits(63),)
            self._db.execute("INSERT INTO store_marks (name, seq) VALUES ('instance', ?)", row)
        return f"{row[0]:016x}"

    def _old_group_rows(self) -> int:
        """The highest seq of a group chat message with ``deliveries`` rows: those are from
        before schema 6 (later ones have none), whose memberships have no spans (the 5 → 6
        migration opened spans for the members of then only). Kept as the ``store_marks``
        row "group_deliveries", found once (a scan of the group messages) when it is
        missing; 0 when there are none. It bounds :meth:`was_member`'s look at them."""
        row = self._db.execute(
            "SELECT seq FROM store_marks WHERE name = 'group_deliveries'").fetchone()
        if row is None:
            row = self._db.execute(
                "SELECT coalesce(max(m.seq), 0) FROM messages m WHERE m.grp_key IS NOT NULL"
                " AND m.scope != 'unicast' AND m.scope = 'group' AND m.notice IS NULL AND"
                " EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = m.seq)").fetchone()
            self._db.execute("INSERT INTO store_marks (name, seq) VALUES"
                             " ('group_deliveries', ?)", row)
        return int(row[0])

    def _last_id(self, table: str, column: str) -> int:
        row = self._db.execute(
            f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0),"
            f" coalesce((SELECT max({column}) FROM {table}), 0))").fetchone()
        return int(row[0])

    def _load_pair_backlog(self) -> None:
        """From the database: the pair messages above the ``pair_messages`` mark (those of
        the last moments before a crash or a rollback), due like new ones."""
        row = self._db.execute(
            "SELECT seq FROM store_marks WHERE name = 'pair_messages'").fetchone()
        self._pairs_upto = row[0] if row else 0
        self._pair_backlog = {}
        self._pair_queue.clear()
        self._note_pairs(self._db.execute(
            f"SELECT grp_key, seq FROM messages WHERE seq > ? AND {_PAIR_MESSAGE_ROWS}"
            " ORDER BY seq",
            (self._pairs_upto,)).fetchall(), time.monotonic() + PAIR_FLUSH_SECONDS)
        self._written_seq = self._db.execute(
            "SELECT coalesce(max(seq), 0) FROM messages").fetchone()[0]

    def _note_pairs(self, entries: Iterable[tuple[str, int]], due: float) -> None:
        """Add written pair messages ``(pair key, seq)``, in seq order, to the backlog; a
        pair without a backlog yet is due at ``due``."""
        backlog, queue = self._pair_backlog, self._pair_queue
        for key, seq in entries:
            seqs = backlog.get(key)
            if seqs is None:
                backlog[key] = [seq]
                queue.append((due, key))
            else:
                seqs.append(seq)

    def _write_pairs(self, now: float) -> None:
        """Write the ``pair_messages`` entries of the pairs due by ``now`` (monotonic
        seconds; ``math.inf`` for all) and move the mark, in the open transaction. Pairs fall
        due :data:`PAIR_FLUSH_SECONDS` after their oldest unwritten entry, so each commit
        writes a share of them: each pair's index page is rewritten about once per interval
        instead of with every commit, and no commit writes them all."""
        backlog, queue, cur, encode = self._pair_backlog, self._pair_queue, self._cur, \
            _json_encoder.encode
        while queue and queue[0][0] <= now:
            key = queue.popleft()[1]
            # One statement per pair, its seqs as a JSON array: SQLite makes the rows, half
            # the cost of binding each row from Python (executemany).
            cur.execute("INSERT OR IGNORE INTO pair_messages (grp_key, seq)"
                        " SELECT ?, value FROM json_each(?)", (key, encode(backlog.pop(key))))
        # Complete below the oldest entry still waiting (the queue is in seq order).
        upto = backlog[queue[0][1]][0] - 1 if queue else self._written_seq
        if upto > self._pairs_upto:
            cur.execute(
                "INSERT INTO store_marks (name, seq) VALUES ('pair_messages', ?)"
                " ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)", (upto,))
            self._pairs_upto = upto

    def _pairs_complete(self) -> None:
        """Before a query of ``pair_messages``: the buffered rows and the backlog go in."""
        self._sync()
        if self._pair_queue or self._written_seq > self._pairs_upto:
            if not self._db.in_transaction:
                self._begin()
            self._write_pairs(math.inf)

    def _load_newest_ordered_id(self) -> str:
        # Walk the (client_msg_id, sender_key) index down from "1": random ids (UUID version
        # 4) that start with "0" and sort above today's ordered ids are skipped, about 6% of
        # them.
        for (cid,) in self._db.execute(
                "SELECT client_msg_id FROM messages WHERE client_msg_id < '1'"
                " ORDER BY client_msg_id DESC"):
            if ordered_id(cid):
                return cid
        return ""

    def _load_spans(self) -> dict[str, dict[str, int]]:
        """The open spans, by group and member; also rebuilds ``_pair_peers``."""
        spans: dict[str, dict[str, int]] = {}
        self._pair_peers = {}
        for user_key, grp_key, after in self._db.execute(
                "SELECT user_key, grp_key, after_seq FROM group_spans WHERE upto_seq IS NULL"):
            spans.setdefault(grp_key, {})[user_key] = after
            self._note_pair_span(grp_key, user_key)
        return spans

    def _note_pair_span(self, grp_key: str, user_key: str) -> None:
        """If ``grp_key`` is a pair, record ``user_key`` as a peer of the other one."""
        if "|" in grp_key:
            a, _, b = grp_key.partition("|")
            self._pair_peers.setdefault(b if user_key == a else a, set()).add(user_key)

    def _drop_caches(self) -> None:
        """Forget what memory knows beyond the database (after a rollback): it is rebuilt
        from the database as needed. The positions of the cursors that moved are kept for the
        next write (:meth:`_park_cursors`): a position never passes a message that exists and
        was not confirmed (a message that was undone does not exist, and its seq is not handed
        out again), and without them every member's acks of the last
        :data:`CURSOR_FLUSH_SECONDS` would be forgotten, their cursors held back until their
        apps confirm those messages again at the next login."""
        self._park_cursors()
        self._unwritten.clear()
        self._recent.clear()
        self._recent_order.clear()
        self._recent_size = 0
        self._cursors.clear()
        self._spans = self._load_spans()
        self._load_pair_backlog()

    def close(self) -> None:
        """Commit what is pending and close; closing twice is harmless."""
        if self._closed:
            return
        self._request = None
        self._savepoint = False
        self._cursor_due = 0.0  # write every cursor that moved
        self._flush_all = True  # and every pair index entry
        try:
            self.commit()
        finally:
            self._closed = True
            self._db.close()

    # ---------------------------------------------------------------- transactions

    def set_batch(self, on: bool) -> None:
        """With ``on``, writes accumulate in one transaction until :meth:`commit`."""
        self.commit()
        self._batch = on

    def defer_sync(self) -> str:
        """Let commits return before they are on disk: ``synchronous=NORMAL`` (a ``COMMIT``
        writes the WAL, no fsync) and the automatic checkpoint only as a backstop
        (:data:`BACKSTOP_CHECKPOINT_PAGES`). The caller must make the WAL durable itself
        before it tells anyone about a commit, and checkpoint it
        (:class:`~.walsync.WalSync` does both). Returns the database path."""
        self.commit()
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        return str(self.path)

    @property
    def seq_high(self) -> int:
        """The highest ``seq`` handed out so far (0: none)."""
        return self._seq

    @property
    def dirty(self) -> bool:
        """Whether anything awaits :meth:`commit` (buffered rows, group receipt counts to
        take, a cursor's read position that moved, or an open transaction). A read is
        written with the next commit, like a message: the server answers it and tells the
        sender only once that commit is durable. Cursors that moved by deliveries alone do
        not count: they wait for the first commit :data:`CURSOR_FLUSH_SECONDS` after their
        last write (:attr:`cursors_due` says when; the server arms a commit for then)."""
        return not self._closed and (self._has_buffered() or bool(self._counts_dirty)
                                     or self._read_moved or self._db.in_transaction)

    @property
    def cursors_due(self) -> float | None:
        """When (``time.monotonic()``) the delivery cursors that moved and are not written
        yet fall due for writing (:data:`CURSOR_FLUSH_SECONDS` after their last write: a
        commit from then on writes them); None when none moved."""
        if self._closed or not (self._cursor_dirty or self._cursor_rows):
            return None
        return self._cursor_due

    def sync_on_commit(self) -> None:
        """Undo :meth:`defer_sync`: every ``COMMIT`` fsyncs again, checkpoints are automatic.
        Commits what is pending first (without an fsync: the caller syncs it or knows
        better)."""
        self.commit()
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA wal_autocheckpoint=1000")

    def commit(self) -> bool:
        """Write the buffered rows, then ``COMMIT``: one fsync, or none after
        :meth:`defer_sync`. Returns whether anything was written (False when nothing was
        pending)."""
        if self._closed:
            return False
        if self._savepoint:  # only if a request is still open: keep the savepoint's promise
            self._db.execute("RELEASE request")
            self._savepoint = False
        if self._request is not None:
            self._request = (0, 0, 0, 0)
        self._write_buffered()
        if self._began and not self._db.in_transaction:
            # SQLite rolls a transaction back by itself on some errors (SQLITE_FULL,
            # SQLITE_IOERR, ...) that a request may have met and been answered for with an
            # internal error: what the transaction held, other requests' rows too, is gone.
            self._began = False
            self._changes = self._db.total_changes
            self._drop_caches()
            raise TransactionLost("SQLite rolled back the open transaction (disk full or I/O "
                                  "error): its writes are lost")
        now = time.monotonic()
        if not (self._cursor_dirty or self._cursor_rows):
            self._read_moved = False
        elif not self._batch or now >= self._cursor_due or self._read_moved:
            if not self._db.in_transaction:
                self._begin()
            self._write_cursors()
        if self._pair_queue and (not self._batch or self._flush_all
                                 or self._pair_queue[0][0] <= now):
            if not self._db.in_transaction:
                self._begin()
            self._write_pairs(math.inf if not self._batch or self._flush_all else now)
        if self._db.in_transaction:
            self._db.execute("COMMIT")
        self._began = False
        changes = self._db.total_changes
        wrote, self._changes = changes != self._changes, changes
        return wrote

    def _begin(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if is_locked(exc):
                self._lock_seen = True
            raise
        self._began = True
        self._lock_seen = False

    def _has_buffered(self) -> bool:
        return bool(self._new_messages or self._new_deliveries or self._new_marks
                    or self._new_receipts or self._new_seen)

    def _write_buffered(self, upto: tuple[int, int, int, int] | None = None) -> None:
        """Execute the buffered rows (the first ``upto`` of each list, default all) in the
        open transaction, opening one if needed."""
        if not self._has_buffered():
            return
        db = self._db
        if not db.in_transaction:
            self._begin()
        m, d, k, r = upto if upto is not None else (
            len(self._new_messages), len(self._new_deliveries), len(self._new_marks),
            len(self._new_receipts))
        cur = self._cur
        if m:
            cur.executemany(
                "INSERT INTO messages (seq, sender, sender_key, client_msg_id, scope, recipients,"
                " grp, grp_key, notice, text, ts, replaces)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._new_messages[:m])
            written = self._new_messages[:m]
            if m == len(self._new_messages):
                self._unwritten.clear()  # it holds exactly the buffered messages
            else:
                for row in written:
                    self._unwritten.pop((row[2], row[3]), None)
            # Pair messages (_PAIR_MESSAGE_ROWS): their pair_messages entries come later.
            self._note_pairs([(row[7], row[0]) for row in written if row[4] == "unicast"
                              and row[7] is not None and row[8] is None],
                             time.monotonic() + PAIR_FLUSH_SECONDS)
            self._written_seq = written[-1][0]
            del self._new_messages[:m]
        if d:
            cur.executemany("INSERT OR IGNORE INTO deliveries (user_key, seq) VALUES (?, ?)",
                            self._new_deliveries[:d])
            del self._new_deliveries[:d]
        if k:
            cur.executemany(
                "UPDATE deliveries SET delivered = coalesce(delivered, ?),"
                " read = coalesce(read, ?) WHERE user_key = ? AND seq = ?", self._new_marks[:k])
            del self._new_marks[:k]
        if r:
            cur.executemany(
                "INSERT INTO receipts (rid, sender_key, seq, user, state, ts, delivered, read,"
                " recipients) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self._new_receipts[:r])
            del self._new_receipts[:r]
        if self._new_seen:
            cur.executemany("UPDATE accounts SET last_seen = ? WHERE name_key = ?",
                            [(ts, key) for key, ts in self._new_seen.items()])
            self._new_seen.clear()

    def begin_request(self) -> None:
        """Start one request inside the batch (see :meth:`guard`); without batch mode, where
        every write method commits by itself, it only counts the request (:attr:`requests`)."""
        self.requests += 1
        if not self._batch:
            return
        self._request = (len(self._new_messages), len(self._new_deliveries),
                         len(self._new_marks), len(self._new_receipts))
        self._savepoint = False

    def end_request(self) -> None:
        """The request succeeded: its writes stay for the commit."""
        if self._savepoint:
            self._db.execute("RELEASE request")
            self._savepoint = False
        self._request = None

    def abort_request(self) -> None:
        """The request failed: undo its writes, buffered or executed; earlier requests' writes
        stay for the commit. The in-memory caches are dropped (they are rebuilt from the
        database as needed), so they cannot remember a write that was undone."""
        start = self._request
        self._request = None
        if start is None:
            return
        m, d, k, r = start
        undone = [row[0] for row in self._new_messages[m:]]
        for row in self._new_messages[m:]:
            self._unwritten.pop((row[2], row[3]), None)
        del self._new_messages[m:]
        del self._new_deliveries[d:]
        del self._new_marks[k:]
        del self._new_receipts[r:]
        if self._savepoint:
            self._savepoint = False
            self._db.execute("ROLLBACK TO request")
            self._db.execute("RELEASE request")
        try:
            self._write_buffered()  # the earlier requests' rows: now the database is complete
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                self._drop_caches()
                raise
            # Another program's write lock: the earlier requests' rows stay buffered, and so
            # must the caches that know them (the idempotency index, recent states, cursors:
            # dropped, a retried message was stored twice and the commit failed; a review).
            # This request failed at its first database access, before which it can only
            # have buffered messages of its own: those are forgotten.
            self._forget_seqs(undone)
            raise
        self._drop_caches()

    def _forget_seqs(self, seqs: list[int]) -> None:
        """Take messages ``seqs``, undone before they were written, out of the in-memory
        states (recent messages, cursors' outstanding sets)."""
        for seq in seqs:
            entry = self._recent.pop(seq, None)
            if entry is not None:
                self._recent_size -= len(entry[1]) + 1
        if seqs:
            gone = set(seqs)
            for cursors in self._cursors.values():
                for cursor in cursors.values():
                    cursor.outstanding -= gone

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run one request atomically inside the batch: on an exception its writes are undone
        (buffered rows dropped, executed ones rolled back to a savepoint) while earlier
        requests' writes stay for the commit."""
        if not self._batch:
            yield
            return
        self.begin_request()
        try:
            yield
        except BaseException:
            self.abort_request()
            raise
        self.end_request()

    def _sync(self) -> None:
        """Before a query or a direct write: put the buffered rows into the open transaction,
        so the database is complete. Inside a request (batch mode), the rows of earlier
        requests go in first, then a savepoint is opened for this request's own work."""
        if self._request is not None and not self._savepoint:
            self._write_buffered(self._request)
            self._request = (0, 0, 0, 0)
            if not self._db.in_transaction:
                self._begin()
            self._db.execute("SAVEPOINT request")
            self._savepoint = True
        self._write_buffered()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A direct write: joins the open batch (committed by :meth:`commit`), or, without
        batch mode, commits by itself (with the rows this call buffered)."""
        self._sync()
        db = self._db
        if not db.in_transaction:
            self._begin()
        if self._batch:
            yield db
            return
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            self._began = False
            self._drop_caches()  # the caches may hold what was rolled back
            raise
        db.execute("COMMIT")
        self._began = False

    def _autocommit(self) -> None:
        """Without batch mode, each write method commits its buffered rows at once."""
        if not self._batch:
            self.commit()

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
            self._set_members(db, EVERYONE_KEY, {key}, close=False)  # broadcasts from now on
        account = self._accounts[key] = Account(name, key, pw_hash, now)
        if self._skeletons is not None:
            self._skeletons.setdefault(name_skeleton(name), key)
        log.info("account %s created", name)
        return account

    def account(self, name: str) -> Account | None:
        """The account named ``name`` ignoring case, or None (served from memory)."""
        return self._accounts.get(name_key(name))

    def account_like(self, name: str) -> Account | None:
        """Another account whose name looks like ``name`` (the same :func:`name_skeleton`,
        not the same name ignoring case), or None. Served from memory, built at first use."""
        if self._skeletons is None:
            self._skeletons = {}
            for account in self._accounts.values():
                self._skeletons.setdefault(name_skeleton(account.name), account.key)
        key = self._skeletons.get(name_skeleton(name))
        return self._accounts.get(key) if key is not None and key != name_key(name) else None

    def set_password_hash(self, key: str, pw_hash: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE accounts SET pw_hash = ? WHERE name_key = ?", (pw_hash, key))
        self._accounts[key] = replace(self._accounts[key], pw_hash=pw_hash)

    def set_last_seen(self, key: str, ts: float) -> None:
        """Record that account ``key`` was online at ``ts`` (Unix seconds): at its login and
        when its last session ends. Written with the next commit (not part of any request:
        a request that fails does not undo it); on a closed store, kept in memory only."""
        account = self._accounts.get(key)
        if account is None:
            return
        self._accounts[key] = replace(account, last_seen=ts)
        if self._closed:
            return
        self._new_seen[key] = ts
        self._autocommit()

    def account_names(self) -> list[str]:
        """Canonical names of every account, sorted case-insensitively."""
        return [self._accounts[k].name for k in sorted(self._accounts)]

    def account_keys(self) -> list[str]:
        return list(self._accounts)

    # ---------------------------------------------------------------- groups

    def load_groups(self) -> list[GroupRow]:
        self._sync()
        rows = self._db.execute(
            "SELECT name, leader, public, created, members, invited FROM groups").fetchall()
        return [GroupRow(n, ld, bool(p), c, json.loads(m), json.loads(i))
                for n, ld, p, c, m, i in rows]

    def save_group(self, group: Group) -> None:
        """Insert or replace ``group``; members who joined or left since the last save get
        their membership span opened or closed at the current last seq."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO groups (name_key, name, leader, public, created, members,"
                " invited) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (group.key, group.name, group.leader, int(group.public), group.created,
                 json.dumps(group.members), json.dumps(group.invited)),
            )
            self._set_members(db, group.key, {name_key(m) for m in group.members})

    def delete_group(self, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM groups WHERE name_key = ?", (key,))
            self._set_members(db, key, set())
            self._spans.pop(key, None)

    def was_member(self, user: str, group: str) -> bool:
        """Whether ``user`` has ever been a member of a group named ``group`` (any case;
        also of a dissolved group of that name): a membership span, or (a membership from
        before schema 6, which has none) a group chat message of then that they sent or
        have a ``deliveries`` row for. Never for Everyone's or a pair's key."""
        if not is_valid_name(group):
            return False
        self._sync()
        me, grp_key = name_key(user), name_key(group)
        if self._db.execute(
                "SELECT 1 FROM group_spans WHERE user_key = ? AND grp_key = ? LIMIT 1",
                (me, grp_key)).fetchone() is not None:
            return True
        return self._old_group_upto > 0 and self._db.execute(
            "SELECT 1 FROM messages m WHERE m.grp_key = ? AND m.scope != 'unicast' AND"
            " m.seq <= ? AND m.scope = 'group' AND m.notice IS NULL AND (m.sender_key = ? OR"
            " EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = m.seq AND d.user_key = ?))"
            " LIMIT 1", (grp_key, self._old_group_upto, me, me)).fetchone() is not None

    def members_since(self, group: str, seq: int, sender: str | None = None) -> list[str]:
        """Keys of the members of group ``group`` now whose membership began before message
        ``seq``, so that it was due to them: their open span covers it. Members who left and
        joined again since, and the members of a later group that reuses the name (its
        spans open after every seq of the dissolved one), are not among them.

        A message from before group cursors (schema 6, whose migration opened every span
        at its last seq) is covered by no span; its ``deliveries`` rows say whom it went
        to, and its ``sender`` (key), when a member now, counts as well."""
        spans = self._spans.get(name_key(group))
        if not spans:
            return []
        keys = [key for key, after in spans.items() if after < seq]
        if len(keys) < len(spans):
            self._sync()
            got = {k for (k,) in self._db.execute(
                "SELECT user_key FROM deliveries WHERE seq = ?", (seq,))}
            if got:  # a message from before the cursors
                keys += [key for key, after in spans.items() if after >= seq and
                         (key in got or key == sender)]
        return keys

    def members_who_had(self, group: str, seq: int, sender: str | None = None) -> list[str]:
        """Keys of the members of group ``group`` now who received message ``seq``: those of
        :meth:`members_since`, and those who left (or were removed) and joined again since,
        whose earlier membership span covers it (they may still have its text). Not who
        joined only later, nor a later group that reuses the name, unless its member was in
        the dissolved one when the message came."""
        keys = self.members_since(group, seq, sender)
        grp_key = name_key(group)
        spans = self._spans.get(grp_key)
        if not spans or len(keys) == len(spans):
            return keys
        self._sync()
        had = {k for (k,) in self._db.execute(
            "SELECT user_key FROM group_spans WHERE grp_key = ? AND after_seq < ? AND"
            " upto_seq >= ?", (grp_key, seq, seq))}
        known = set(keys)
        return keys + [key for key in spans if key in had and key not in known]

    def _set_members(self, db: sqlite3.Connection, grp_key: str, keys: set[str],
                     after: int | None = None, *, close: bool = True) -> None:
        """Open a span for each of ``keys`` without one (members from the message after seq
        ``after``, default the last seq) and, with ``close``, close the spans of the others
        at the last seq."""
        seq = self._seq if after is None else after
        spans = self._spans.setdefault(grp_key, {})
        for user_key in keys - spans.keys():
            db.execute(
                "INSERT INTO group_spans (user_key, grp_key, after_seq) VALUES (?, ?, ?)"
                " ON CONFLICT (user_key, grp_key, after_seq) DO UPDATE SET upto_seq = NULL",
                (user_key, grp_key, seq))  # (a span left and joined again at the same seq)
            spans[user_key] = seq
            self._note_pair_span(grp_key, user_key)
        if close:
            for user_key in spans.keys() - keys:
                db.execute("UPDATE group_spans SET upto_seq = ? WHERE user_key = ? AND"
                           " grp_key = ? AND upto_seq IS NULL", (self._seq, user_key, grp_key))
                del spans[user_key]

    # ---------------------------------------------------------------- messages

    def store_message(self, *, sender: str, client_msg_id: str, scope: str, text: str,
                      recipients: list[str], recipient_keys: Iterable[str],
                      group: str | None = None, notice: str | None = None,
                      sender_key: str | None = None,
                      replaces: int | None = None,
                      not_before: float | None = None) -> tuple[StoredMessage, bool]:
        """Store a message and queue it for ``recipient_keys``, in one transaction.

        Returns ``(message, created)``. When the sender already stored ``client_msg_id``,
        nothing is written and the original message comes back with ``created`` False.
        ``sender_key`` saves case-folding ``sender`` when the caller has it. ``not_before``:
        the least ``ts`` the message may get (an ``edited`` notice: just above the message's
        last edit, though the clock stepped back since).

        The rows are buffered until the next commit (class docstring); the caller must not
        send the acknowledgement before that commit. Idempotency: a ``client_msg_id`` is
        looked up among the buffered messages, then in the database, which holds every
        message that is not buffered.
        """
        skey = name_key(sender) if sender_key is None else sender_key
        ident = (skey, client_msg_id)
        existing = self._unwritten.get(ident)
        if existing is None:
            if client_msg_id > self._id_marks.get(skey, self._id_floor) \
                    and ordered_id(client_msg_id):
                self._id_marks[skey] = client_msg_id  # newer than all of its: not a retry
            else:
                existing = self._message_by_client_id(skey, client_msg_id)
        if existing is not None:  # a retry of a stored message: the original wins
            return existing, False
        states = dict.fromkeys(recipient_keys, 0)
        pair = False
        if group:
            grp_key: str | None = name_key(group)
        elif scope == "broadcast":
            grp_key = EVERYONE_KEY
        elif scope == "unicast" and notice is None and len(states) == 1 and skey not in states:
            grp_key = pair_key(skey, next(iter(states)))
            pair = True
        else:
            grp_key = None
        chat = (pair or scope in ("group", "broadcast")) and notice is None \
            and grp_key is not None
        if chat:
            spans = self._spans.get(grp_key)
            if spans is None or not spans.keys() >= states.keys():
                # Recipients the group table does not list (only when the caller stores a
                # group message without saving the group): members from now on.
                with self._tx() as db:
                    self._set_members(db, grp_key, set(states), close=False)
        self._seq = seq = self._seq + 1
        ts = time.time()
        if not_before is not None and ts < not_before:
            ts = not_before
        self._new_messages.append(
            (seq, sender, skey, client_msg_id, scope,
             _encode_names(recipients) if recipients else "[]", group, grp_key, notice, text,
             ts, replaces))
        message = StoredMessage(seq, ts, sender, client_msg_id, scope, text, recipients, group,
                                notice, replaces)
        self._unwritten[ident] = message
        if chat:
            # No delivery rows: the warm cursors of the recipients take the seq.
            cursors = self._cursors.get(grp_key)
            if cursors:
                for key, cursor in cursors.items():
                    if key in states:
                        cursor.outstanding.add(seq)
                    cursor.complete = seq
        else:
            self._new_deliveries += [(k, seq) for k in states]
        self._recent[seq] = [None if notice is not None else skey, states, False,
                             [0, 0, len(states)] if chat and not pair else None,
                             grp_key if chat else None]
        self._recent_order.append(seq)
        self._recent_size += len(states) + 1
        if self._recent_size > self.RECENT_LIMIT:
            self._trim_recent()
        self._autocommit()
        return message, True

    def _trim_recent(self) -> None:
        # Oldest first, from a deque: next(iter(dict)) after many pops from a dict's front
        # scans the deleted slots each time.
        recent, order = self._recent, self._recent_order
        while self._recent_size > self.RECENT_LIMIT * 3 // 4 and order:
            entry = recent.pop(order.popleft(), None)
            if entry is not None:
                self._recent_size -= len(entry[1]) + 1

    def message_by_client_id(self, sender_key: str, client_msg_id: str) -> StoredMessage | None:
        """The message ``sender_key`` stored with ``client_msg_id`` (buffered or written), or
        None."""
        return self._unwritten.get((sender_key, client_msg_id)) or \
            self._message_by_client_id(sender_key, client_msg_id)

    def _message_by_client_id(self, sender_key: str, client_msg_id: str) -> StoredMessage | None:
        # Reads only rows that are not buffered: no _sync() needed (see store_message). In
        # batch mode the turn's write transaction is opened here if need be: a query outside
        # a transaction would set up (and tear down) a WAL read lock of its own, with its
        # fcntl calls, which cost more than the lookup itself.
        if self._batch and not self._db.in_transaction and not self._lock_seen:
            try:
                self._begin()
            except sqlite3.OperationalError as exc:
                if not is_locked(exc):
                    raise  # (locked: another program writes; this read needs no lock)
        row = self._cur.execute(
            f"SELECT {_MSG_COLUMNS} FROM messages m"
            " WHERE m.sender_key = ? AND m.client_msg_id = ?", (sender_key, client_msg_id),
        ).fetchone()
        return _row_to_message(row) if row else None

    def set_text(self, seq: int, text: str, edited: float | None = None) -> None:
        """Replace the text of message ``seq`` (deleted, or edited at ``edited``, by its
        sender)."""
        with self._tx() as db:
            db.execute("UPDATE messages SET text = ?, edited = coalesce(?, edited)"
                       " WHERE seq = ?", (text, edited, seq))

    def delete_text(self, seq: int) -> None:
        """Message ``seq`` was deleted for everyone by its sender: it and each of its
        ``edited`` notices (which a login replays and a ``history`` catch-up gives out) read
        :data:`RETRACTED_TEXT` from now on, so no text it ever had is handed out again. Its
        ``edited`` time goes too: a placeholder was never edited (apps drew "edited" on it)."""
        with self._tx() as db:
            db.execute("UPDATE messages SET text = ?, edited = NULL WHERE seq = ?",
                       (RETRACTED_TEXT, seq))
            db.execute("UPDATE messages SET text = ? WHERE replaces = ? AND notice = 'edited'",
                       (RETRACTED_TEXT, seq))

    def message(self, seq: int) -> StoredMessage | None:
        self._sync()
        row = self._db.execute(f"SELECT {_MSG_COLUMNS} FROM messages m WHERE m.seq = ?",
                               (seq,)).fetchone()
        return _row_to_message(row) if row else None

    def pending(self, user_key: str, limit: int = 10_000) -> list[StoredMessage]:
        """Messages queued for ``user_key`` and not yet confirmed, oldest first, at most
        ``limit``: rows of ``deliveries``, and the group chat messages above the member's
        cursors (which this warms); :meth:`pending_seqs` read with :meth:`messages_at`."""
        seqs = self.pending_seqs(user_key)[:limit]
        return [m for start in range(0, len(seqs), 500)
                for m in self.messages_at(seqs[start:start + 500])]

    def pending_seqs(self, user_key: str, upto: int | None = None) -> array:
        """The seqs of every message queued for ``user_key`` and not yet confirmed, up to
        ``upto`` (None: all), ascending (rows of ``deliveries``, and the group chat messages
        above the member's cursors, which this warms), without reading the messages: what a
        login replays, read once (``array('q')``, 8 bytes a seq)."""
        self._sync()
        top = self._seq if upto is None else upto
        seqs = array("q", (seq for (seq,) in self._db.execute(
            "SELECT seq FROM deliveries WHERE user_key = ? AND delivered IS NULL"
            " AND seq <= ? ORDER BY seq", (user_key, top))))
        due: list[int] = []
        for (grp_key,) in self._db.execute(
                "SELECT DISTINCT grp_key FROM group_spans WHERE user_key = ?",
                (user_key,)).fetchall():
            due += [seq for seq in self._cursor(grp_key, user_key).outstanding if seq <= top]
        if due:
            seqs = array("q", sorted((*seqs, *due)))
        return seqs

    def messages_at(self, seqs: Sequence[int]) -> list[StoredMessage]:
        """The messages with these ``seqs`` (at most 500), ascending; those not stored are
        left out."""
        rows = self._db.execute(
            f"SELECT {_MSG_COLUMNS} FROM messages m WHERE m.seq IN"
            f" ({','.join('?' * len(seqs))}) ORDER BY m.seq", list(seqs)).fetchall()
        return [_row_to_message(r) for r in rows]

    def mark(self, user: str, seqs: Iterable[int], state: str,
             read_now: list[int] | None = None, *, private: bool = False) -> list[Receipt]:
        """Record that ``user`` has ``state`` ("delivered" or "read") the messages ``seqs``.

        Only first transitions count (reading implies delivery). Returns the new receipts for
        their messages' senders (none for group notices or own messages), in ``seq`` order,
        each logged with its ``rid`` increasing in that order; the receipts of pair messages
        are not logged and have ``rid`` 0 (:meth:`receipt_cursors` stands for them). Decided
        in memory from the cache of recent delivery states (one query fills in what it
        lacks); the rows are buffered. With ``read_now`` (a list), the seqs that ``user``
        read for the first time (of messages they received) are appended to it, ascending.

        ``private`` with "read": read for the account only (its apps have read receipts
        off). Recorded as "delivered" for the senders (receipts, counts, cursors); the
        account's private read position (``read_positions``, :meth:`read_upto`) moves, and
        every seq of a message ``user`` received goes to ``read_now``.
        """
        if state not in ("delivered", "read"):
            raise ValueError(state)
        private = private and state == "read"
        if private:
            state = "delivered"
        seen: dict[str, int] = {}
        seen_alone: list[int] = []  # private reads of messages without a cursor
        key = name_key(user)
        order = sorted(set(seqs))
        recent = self._recent
        missing = [seq for seq in order if _unknown(recent.get(seq), key)]
        if missing:
            self._load_states(key, missing)
        now = time.time()
        read = state == "read"
        level = 2 if read else 1
        receipts: list[Receipt] = []
        for seq in order:
            entry = recent.get(seq)
            if entry is None:  # no such message
                continue
            states = entry[1]
            was = states.get(key)
            if was is None or was < 0:  # not a recipient
                continue
            grp_key = entry[4]
            if private:
                if read_now is not None:
                    read_now.append(seq)
                if grp_key is not None:
                    seen[grp_key] = seq
                elif was < 2:  # (not read publicly before)
                    seen_alone.append(seq)
            if grp_key is not None:
                # A group chat message or broadcast: the member's cursor, no row. Always,
                # not only on a first transition: a state inferred from the read cursor
                # ("read" for everything up to the highest seq read) must not keep a
                # message outstanding, or it would be replayed at every login.
                cursor = self._cursor(grp_key, key)
                if seq in cursor.outstanding:
                    cursor.outstanding.discard(seq)
                    cursor.fresh.append(seq)
                    if seq > cursor.fresh_max:
                        cursor.fresh_max = seq
                    self._cursor_dirty.add((key, grp_key))
                    if not read and seq < cursor.read:
                        # Delivered late, below what was read: not read (see _Cursor), even
                        # once this entry has left the recent cache.
                        cursor.unread.add(seq)
                if read and cursor.unread:
                    cursor.unread.discard(seq)
                if read and seq > cursor.read:
                    cursor.read = seq
                    self._cursor_dirty.add((key, grp_key))
                    # Written with the next commit, before anyone is told of the read (the
                    # sender's receipt, the reader's other apps): a crash must not undo it.
                    self._read_moved = True
            if was >= level:  # not a first transition
                continue
            states[key] = level
            if read and read_now is not None:
                read_now.append(seq)
            if grp_key is None:
                self._new_marks.append((now, now if read else None, key, seq))
            sender_key = entry[0]
            if sender_key is not None and sender_key != key:
                counts = entry[3]
                if counts is not None:  # a group message: counted, no receipt per member
                    if counts:
                        if was == 0:
                            counts[0] += 1
                        if read:
                            counts[1] += 1
                    self._counts_dirty[seq] = sender_key
                    continue
                if grp_key is not None:  # a pair message: the receipt is not logged
                    receipts.append(Receipt(0, seq, user, state, now, sender_key))
                    continue
                self._rid = rid = self._rid + 1
                self._new_receipts.append((rid, sender_key, seq, user, state, now, None, None,
                                           None))
                receipts.append(Receipt(rid, seq, user, state, now, sender_key))
        if missing and self._recent_size > self.RECENT_LIMIT:
            self._trim_recent()
        if seen or seen_alone:
            with self._tx() as db:
                db.executemany(
                    "INSERT INTO read_positions (user_key, grp_key, seen) VALUES (?, ?, ?)"
                    " ON CONFLICT (user_key, grp_key) DO UPDATE SET"
                    " seen = max(seen, excluded.seen)",
                    [(key, grp_key, seq) for grp_key, seq in seen.items()])
                db.executemany("INSERT OR IGNORE INTO private_reads (user_key, seq)"
                               " VALUES (?, ?)", [(key, seq) for seq in seen_alone])
        self._autocommit()
        return receipts

    def _load_states(self, key: str, seqs: list[int]) -> None:
        """Put ``key``'s delivery states of messages ``seqs`` into the recent cache (as
        partial entries, which hold only the recipients looked up so far)."""
        self._sync()
        recent = self._recent
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT m.seq, m.sender_key, m.notice IS NOT NULL,"
                " m.scope IN ('group', 'broadcast'), m.scope = 'unicast',"
                " m.grp_key, d.user_key IS NOT NULL, d.delivered IS NOT NULL,"
                " d.read IS NOT NULL, EXISTS (SELECT 1 FROM deliveries x WHERE x.seq = m.seq),"
                " EXISTS (SELECT 1 FROM group_spans s WHERE s.user_key = ?"
                "   AND s.grp_key = m.grp_key AND m.seq > s.after_seq"
                "   AND (s.upto_seq IS NULL OR m.seq <= s.upto_seq)) FROM messages m"
                " LEFT JOIN deliveries d ON d.seq = m.seq AND d.user_key = ?"
                f" WHERE m.seq IN ({marks})", (key, key, *chunk)).fetchall()
            for (seq, sender_key, notice, group, unicast, grp_key, recipient, delivered, read,
                 has_rows, in_span) in rows:
                chat = group and not notice
                # A schema 7 pair message (an older unicast message has no grp_key).
                pair = unicast and not notice and grp_key is not None
                by_cursor = (chat or pair) and not has_rows and grp_key is not None
                entry = recent.get(seq)
                if entry is None:
                    entry = recent[seq] = [None if notice else sender_key, {}, True,
                                           False if chat else None,
                                           grp_key if by_cursor else None]
                    self._recent_order.append(seq)
                    self._recent_size += 1
                if by_cursor:  # schema 6 group or schema 7 pair message: spans and cursor tell
                    recipient = in_span and sender_key != key
                    if recipient:
                        # Read up to the highest seq read, but nothing still unconfirmed:
                        # an app marks a conversation read as a whole, yet a message it does
                        # not have yet (the replay cap, a second device) was not read.
                        cursor = self._cursor(grp_key, key)
                        delivered = seq not in cursor.outstanding
                        read = delivered and seq <= cursor.read and seq not in cursor.unread
                entry[1][key] = 2 if read else 1 if delivered else 0 if recipient else -1
                self._recent_size += 1

    # ---------------------------------------------------------------- group cursors

    def _cursor(self, grp_key: str, user_key: str) -> _Cursor:
        """``user_key``'s warm cursor in the group, loaded from the database if need be."""
        cursors = self._cursors.get(grp_key)
        if cursors is None:
            cursors = self._cursors[grp_key] = {}
        cursor = cursors.get(user_key)
        if cursor is None:
            cursor = cursors[user_key] = self._warm(grp_key, user_key)
        return cursor

    def read_upto(self, grp_key: str, user_key: str) -> int:
        """The highest seq of conversation ``grp_key`` (a group's key, a pair's, or
        :data:`EVERYONE_KEY`) that ``user_key`` marked read from any session, privately or
        not (see :meth:`mark`); 0 if none. For Everyone, at least the seq at which the
        account was created."""
        warm = self._cursors.get(grp_key, {}).get(user_key)
        if warm is not None:
            read = warm.read
        else:
            row = self._cursor_rows.get((user_key, grp_key)) or self._db.execute(
                "SELECT delivered, read FROM group_cursors WHERE user_key = ? AND grp_key = ?",
                (user_key, grp_key)).fetchone()
            read = row[1] if row else 0
        mine = self._db.execute(
            "SELECT seen FROM read_positions WHERE user_key = ? AND grp_key = ?",
            (user_key, grp_key)).fetchone()
        if grp_key == EVERYONE_KEY:
            # Broadcasts from before the account existed are history, not unread news (a
            # new account's first page of Everyone counted them all; a soak hunt).
            read = max(read, self._spans.get(EVERYONE_KEY, {}).get(user_key, 0))
        return max(read, mine[0]) if mine else read

    def read_among(self, user_key: str, seqs: list[int]) -> list[int]:
        """Those of ``seqs`` (messages with ``deliveries`` rows: multicasts, older unicasts)
        that ``user_key`` marked read, publicly or privately (``private_reads``), ascending."""
        if not seqs:
            return []
        self._sync()  # buffered marks are in the rows then
        found: list[int] = []
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found += [seq for (seq,) in self._db.execute(
                f"SELECT seq FROM deliveries WHERE user_key = ? AND read IS NOT NULL AND seq IN"
                f" ({marks}) UNION SELECT seq FROM private_reads WHERE user_key = ? AND seq IN"
                f" ({marks})", (user_key, *chunk, user_key, *chunk))]
        return sorted(set(found))

    def _warm(self, grp_key: str, user_key: str) -> _Cursor:
        """Load a cursor: its written position, then every chat message of the group that is
        due to the member above it (within a membership span, not sent by the member)."""
        self._sync()  # buffered messages are due too
        parked = self._cursor_rows.get((user_key, grp_key))
        row = parked or self._db.execute(
            "SELECT delivered, read FROM group_cursors WHERE user_key = ? AND grp_key = ?",
            (user_key, grp_key)).fetchone() or (0, 0)
        delivered, read = row[0], row[1]
        # Confirmed out of order above the position: written, and parked to write.
        acked = {seq for (seq,) in self._db.execute(
            "SELECT seq FROM cursor_acks WHERE user_key = ? AND grp_key = ?",
            (user_key, grp_key))}
        if acked:
            self._ack_keys.add((user_key, grp_key))
        if parked:
            acked.update(parked[2])
        if "|" in grp_key:  # a pair: its messages are in pair_messages
            self._pairs_complete()
            sql = ("SELECT m.seq FROM group_spans s JOIN pair_messages p ON p.grp_key ="
                   " s.grp_key AND p.seq > s.after_seq AND (s.upto_seq IS NULL OR p.seq <="
                   " s.upto_seq) JOIN messages m ON m.seq = p.seq WHERE s.user_key = ? AND"
                   " s.grp_key = ? AND p.seq > ? AND m.sender_key != ?")
        else:
            sql = ("SELECT m.seq FROM group_spans s JOIN messages m ON m.grp_key = s.grp_key"
                   " AND m.scope != 'unicast' AND m.seq > s.after_seq AND (s.upto_seq IS NULL"
                   " OR m.seq <= s.upto_seq) WHERE s.user_key = ? AND s.grp_key = ?"
                   " AND m.seq > ? AND m.notice IS NULL AND m.sender_key != ?")
        due = {seq for (seq,) in self._db.execute(
            sql, (user_key, grp_key, delivered, user_key))}
        return _Cursor(due - acked, self._seq, read)

    def _park_cursors(self) -> None:
        """Move the positions of the warm cursors that moved to ``_cursor_rows``, the
        positions to write with the next commit (which :meth:`_warm` starts from)."""
        for user_key, grp_key in list(self._cursor_dirty):
            self._park(user_key, grp_key, self._cursors.get(grp_key, {}).get(user_key))
        self._cursor_dirty.clear()

    def _park(self, user_key: str, grp_key: str, cursor: _Cursor | None) -> None:
        """Keep a moved cursor's position for the next write, with the seqs confirmed above
        it since it was last kept (and those kept before and not written yet)."""
        self._cursor_dirty.discard((user_key, grp_key))
        if cursor is not None:
            delivered = cursor.delivered
            above: tuple[int, ...] = ()
            if cursor.outstanding:  # (else nothing due is left unconfirmed below any)
                if cursor.fresh_max > delivered:  # (acks in order: none above)
                    above = tuple(seq for seq in cursor.fresh if seq > delivered)
                before = self._cursor_rows.get((user_key, grp_key))
                if before and before[2]:
                    above += tuple(seq for seq in before[2] if seq > delivered)
            cursor.fresh.clear()
            cursor.fresh_max = 0
            self._cursor_rows[user_key, grp_key] = (delivered, cursor.read, above)

    def _write_cursors(self) -> None:
        """Write the cursors that moved (in the open transaction). A cursor never goes back."""
        self._park_cursors()
        rows = self._cursor_rows
        if rows:
            cur = self._cur
            cur.executemany(
                "INSERT INTO group_cursors (user_key, grp_key, delivered, read)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_key, grp_key) DO UPDATE SET"
                " delivered = max(delivered, excluded.delivered),"
                " read = max(read, excluded.read)",
                [(u, g, d, r) for (u, g), (d, r, _) in rows.items()])
            keys = self._ack_keys
            acks = [(u, g, seq) for (u, g), (_, _, above) in rows.items() for seq in above]
            if acks:
                cur.executemany("INSERT OR IGNORE INTO cursor_acks (user_key, grp_key, seq)"
                                " VALUES (?, ?, ?)", acks)
                keys.update((u, g) for u, g, _ in acks)
            passed = [(u, g, d) for (u, g), (d, _, above) in rows.items() if (u, g) in keys]
            if passed:
                cur.executemany("DELETE FROM cursor_acks WHERE user_key = ? AND grp_key = ?"
                                " AND seq <= ?", passed)
                # Nothing due left unconfirmed: no rows above the position either.
                warm = self._cursors
                keys.difference_update(
                    (u, g) for u, g, _ in passed
                    if (cursor := warm.get(g, {}).get(u)) is not None and not cursor.outstanding)
            rows.clear()
        self._read_moved = False
        self._cursor_due = time.monotonic() + CURSOR_FLUSH_SECONDS

    def cool_cursors(self, user_key: str) -> None:
        """``user_key`` went offline: keep its cursors' positions for the next write and let
        the warm state go (it would grow with every group message until the next login).
        Groups and pairs left without a warm cursor are dropped from the map, so it holds
        only the conversations of users online."""
        emptied = []
        for grp_key, cursors in self._cursors.items():
            cursor = cursors.pop(user_key, None)
            if cursor is not None and (user_key, grp_key) in self._cursor_dirty:
                self._park(user_key, grp_key, cursor)
            if not cursors:
                emptied.append(grp_key)
        for grp_key in emptied:
            del self._cursors[grp_key]

    def receipt_cursors(self, user_key: str) -> list[tuple[str, int, int, int]]:
        """What each peer has of ``user_key``'s unicast messages to them (schema 7 pairs), as
        ``(peer name, after, delivered, read)``: every such message with ``after < seq <=
        delivered`` was delivered; ``read`` is the highest seq the peer read, capped at
        ``delivered`` (the app marks a conversation read as a whole, so the messages before it
        count as read; one it did not have yet was not). ``after`` is where the peer's span
        in the pair starts: messages at or below it are older unicasts with rows and logged
        receipts of their own (from before schema 7), which the cursor does not cover. Only
        peers who confirmed something above ``after``. A cursor lags the acks by up to
        :data:`CURSOR_FLUSH_SECONDS` after a crash, never leads them. The receipts of pair
        messages are not logged; these stand for them after a login."""
        out: list[tuple[str, int, int, int]] = []
        spans, warm = self._spans, self._cursors
        for peer_key in sorted(self._pair_peers.get(user_key, ())):
            key = pair_key(user_key, peer_key)
            members = spans.get(key)
            account = self._accounts.get(peer_key)
            if not members or peer_key not in members or account is None:
                continue
            cursor = warm.get(key, {}).get(peer_key)
            if cursor is not None:
                delivered, read = cursor.delivered, cursor.read
            else:
                delivered, read = (self._cursor_rows.get((peer_key, key)) or self._db.execute(
                    "SELECT delivered, read FROM group_cursors WHERE user_key = ? AND"
                    " grp_key = ?", (peer_key, key)).fetchone() or (0, 0))[:2]
            after = members[peer_key]
            if delivered > after:
                out.append((account.name, after, delivered, min(read, delivered)))
        return out

    def mark_delivered(self, user_key: str, seqs: Iterable[int]) -> list[Receipt]:
        """Shorthand for :meth:`mark` with state "delivered"."""
        return self.mark(user_key, seqs, "delivered")

    def receipts_after(self, sender_key: str, rid: int, limit: int = 10_000) -> list[Receipt]:
        """Receipts for ``sender_key``'s messages numbered above ``rid``, oldest first."""
        self._sync()
        rows = self._db.execute(
            "SELECT rid, seq, user, state, ts, delivered, read, recipients FROM receipts"
            " WHERE sender_key = ? AND rid > ? ORDER BY rid LIMIT ?",
            (sender_key, rid, limit)).fetchall()
        return [Receipt(r, seq, user, state, ts, sender_key,
                        None if n is None else (d, rd, n))
                for r, seq, user, state, ts, d, rd, n in rows]

    def take_receipt_counts(self) -> list[Receipt]:
        """The group messages whose delivered/read counts rose since the last call: one
        "count" receipt each (logged, with a new ``rid``), for the caller to send to the
        senders before the commit. Counts come from memory for recent messages, else from
        the ``deliveries`` rows."""
        dirty = self._counts_dirty
        if not dirty:
            return []
        now = time.time()
        out: list[Receipt] = []
        recent = self._recent
        positions: dict[tuple[str, str], tuple[int, int]] = {}  # (see receipt_counts)
        for seq, sender_key in dirty.items():
            entry = recent.get(seq)
            counts = entry[3] if entry is not None else None
            if counts:
                d, r, n = counts
            else:
                n, d, r = self.receipt_counts(seq, positions)
                if not n:  # no such message any more (its request was undone)
                    continue
            self._rid = rid = self._rid + 1
            self._new_receipts.append((rid, sender_key, seq, "", "count", now, d, r, n))
            out.append(Receipt(rid, seq, "", "count", now, sender_key, (d, r, n)))
        dirty.clear()
        self._autocommit()
        return out

    def recipient_count(self, seq: int) -> int:
        """How many people group or broadcast chat message ``seq`` went to (its sender
        excepted): the ``recipients`` of its ``receipt_count``, without counting who has it.
        0 for any other message."""
        recent = self._recent.get(seq)
        if recent is not None and recent[3]:  # (False: a partial entry, without counts)
            return int(recent[3][2])
        self._sync()
        message = self._db.execute(
            "SELECT grp_key, sender_key FROM messages WHERE seq = ? AND notice IS NULL"
            " AND scope IN ('group', 'broadcast')", (seq,)).fetchone()
        if message is None or message[0] is None:
            return 0
        row = self._db.execute(
            "SELECT count(*) FROM deliveries WHERE seq = ?", (seq,)).fetchone()
        if row[0]:
            return int(row[0])
        grp_key, sender_key = message
        return int(self._db.execute(
            "SELECT count(DISTINCT user_key) FROM group_spans WHERE grp_key = ? AND"
            " after_seq < ? AND (upto_seq IS NULL OR upto_seq >= ?) AND user_key != ?",
            (grp_key, seq, seq, sender_key)).fetchone()[0])

    def receipt_counts(self, seq: int, positions: dict[tuple[str, str], tuple[int, int]]
                       | None = None) -> tuple[int, int, int]:
        """``(recipients, delivered, read)`` counts of message ``seq``: from its
        ``deliveries`` rows, or for a group chat message without any, from the spans and
        cursors of the members it was due to. ``positions`` keeps the written cursor
        positions read from ``group_cursors`` by ``(user_key, grp_key)`` across calls that
        change no cursor (:meth:`take_receipt_counts`: a backlog of broadcasts confirmed at
        a login read each account's row once per message, 200 look-ups a message)."""
        self._sync()
        row = self._db.execute(
            "SELECT count(*), count(delivered), count(read) FROM deliveries WHERE seq = ?",
            (seq,)).fetchone()
        if row[0]:
            return row[0], row[1], row[2]
        message = self._db.execute(
            "SELECT grp_key, sender_key FROM messages WHERE seq = ? AND notice IS NULL"
            " AND scope IN ('group', 'broadcast')", (seq,)).fetchone()
        if message is None or message[0] is None:
            return 0, 0, 0
        grp_key, sender_key = message
        members = [k for (k,) in self._db.execute(
            "SELECT DISTINCT user_key FROM group_spans WHERE grp_key = ? AND after_seq < ?"
            " AND (upto_seq IS NULL OR upto_seq >= ?) AND user_key != ?",
            (grp_key, seq, seq, sender_key)).fetchall()]
        delivered = read = 0
        warm = self._cursors.get(grp_key, {})
        for key in members:
            cursor = warm.get(key)
            # Read up to the highest seq read, but nothing still unconfirmed (as in
            # _load_states): a message the member does not have yet was neither delivered
            # nor read, however far the read cursor is.
            if cursor is not None:
                confirmed = seq not in cursor.outstanding
            else:  # not loaded (nor loaded for this: a broadcast would load every account)
                parked = self._cursor_rows.get((key, grp_key))
                row = parked or (positions or {}).get((key, grp_key))
                if row is None:
                    row = self._db.execute(
                        "SELECT delivered, read FROM group_cursors WHERE user_key = ? AND"
                        " grp_key = ?", (key, grp_key)).fetchone() or (0, 0)
                    if positions is not None:
                        positions[(key, grp_key)] = row
                cursor = _Cursor(set(), row[0], row[1])
                confirmed = seq <= row[0] or (parked is not None and seq in parked[2]) or (
                    self._db.execute("SELECT 1 FROM cursor_acks WHERE user_key = ? AND"
                                     " grp_key = ? AND seq = ?", (key, grp_key, seq))
                    .fetchone() is not None)
            seen = confirmed and seq <= cursor.read and seq not in cursor.unread
            delivered += confirmed
            read += seen
        return len(members), delivered, read

    # ---------------------------------------------------------------- history

    def conversations(self, user: str, after: int = 0) -> list[tuple[str, int]]:
        """The conversations of ``user`` that have a message for them above seq ``after``,
        as ``(name as in history, newest such seq)``, sorted by name: Everyone, the groups of
        their membership spans (up to where each ended) and of the group chat messages from
        before schema 6 they received (``deliveries_by_user``), and the private
        conversations of the pairs (schema 7) they received or sent in, of the multicasts
        they received (``deliveries_by_user``) or sent (``messages_by_sender``; one
        conversation per other recipient), of messages to themselves and of unicasts older
        than schema 7."""
        self._sync()
        self._pairs_complete()
        me = name_key(user)
        db = self._db
        newest: dict[str, int] = {}

        def note(name: str, seq: int | None) -> None:
            if seq is not None and seq > newest.get(name, after):
                newest[name] = seq

        note("everyone", db.execute("SELECT max(seq) FROM messages WHERE scope = 'broadcast'"
                                    " AND seq > ?", (after,)).fetchone()[0])
        pairs = {pair_key(me, peer) for peer in self._pair_peers.get(me, ())}
        found: set[str] = set()  # groups whose newest message was found
        # Spans that reach above ``after``, the newest of each group first: its newest
        # message in the newest span that has one is the group's (spans do not overlap).
        for grp_key, low, high in db.execute(
                "SELECT grp_key, after_seq, upto_seq FROM group_spans WHERE user_key = ? AND"
                " (upto_seq IS NULL OR upto_seq > ?) ORDER BY grp_key, after_seq DESC",
                (me, after)).fetchall():
            if "|" in grp_key:
                pairs.add(grp_key)
                continue
            if grp_key == EVERYONE_KEY or grp_key in found:
                continue
            row = db.execute(
                "SELECT seq, grp FROM messages WHERE grp_key = ? AND scope != 'unicast' AND"
                " seq > ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (grp_key, max(after, low), high if high is not None else (1 << 63) - 1)).fetchone()
            if row is not None:
                found.add(grp_key)
                note(f"group:{row[1]}", row[0])
        for key in pairs:
            a, _, b = key.partition("|")
            account = self._accounts.get(b if a == me else a)
            if account is not None:
                note(f"user:{account.name}", db.execute(
                    "SELECT max(seq) FROM pair_messages WHERE grp_key = ? AND seq > ?",
                    (key, after)).fetchone()[0])

        def note_person(key: str, seq: int) -> None:
            account = self._accounts.get(key)
            if account is not None:
                note(f"user:{account.name}", seq)

        older: dict[str, tuple[int, str]] = {}  # grp_key → (newest seq, name) before spans
        # Messages with delivery rows: multicasts, messages to oneself and unicasts from
        # before schema 7 (no ``grp_key``), and group chat messages from before schema 6
        # (older memberships have no spans: the 5 → 6 migration gave spans to the members
        # of then only, from its last seq on; without this a new computer never found the
        # group history from before it, nor a group left before it: a storage hunt).
        for sender_key, grp_key, grp, seq in db.execute(
                "SELECT m.sender_key, m.grp_key, m.grp, max(m.seq) FROM deliveries d JOIN"
                " messages m ON m.seq = d.seq WHERE d.user_key = ? AND d.seq > ? AND m.notice"
                " IS NULL AND ((m.grp_key IS NULL AND m.scope IN ('unicast', 'multicast')) OR"
                " (m.grp_key IS NOT NULL AND m.scope = 'group'))"
                " GROUP BY m.grp_key, m.sender_key", (me, after)):
            if grp_key is None:
                note_person(sender_key, seq)
            elif grp_key not in found and seq > older.get(grp_key, (0, ""))[0]:
                older[grp_key] = (seq, grp)  # (spans found: newer than any of these)
        for seq, grp in older.values():
            note(f"group:{grp}", seq)
        # Sent: one conversation per other recipient (as the app files them), or one's own.
        for recipients, seq in db.execute(
                "SELECT recipients, max(seq) FROM messages WHERE sender_key = ? AND seq > ?"
                " AND grp_key IS NULL AND notice IS NULL AND scope IN ('unicast', 'multicast')"
                " GROUP BY recipients", (me, after)):
            others = {name_key(n) for n in json.loads(recipients)} - {me}
            for key in others or {me}:
                note_person(key, seq)
        return sorted(newest.items())

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
        # Parts: (rows, their seq column, condition); each an ordered, limited index scan.
        messages = ("messages m", "m.seq")
        where: list[tuple[tuple[str, str], str]]
        params: list[list[str]]
        if kind == "everyone" and not target:
            self._sync()
            where, params = [(messages, "m.scope = 'broadcast'")], [[]]
        elif kind == "user" and target:
            self._pairs_complete()
            peer = name_key(target)
            # Pair messages by their key (pair_messages); multicasts, messages to oneself and
            # unicasts older than schema 7 by their sender (messages_by_sender) and
            # deliveries rows: one index scan per sender, merged.
            by_sender = (messages, "m.grp_key IS NULL AND m.sender_key = ? AND m.scope IN"
                         " ('unicast', 'multicast') AND EXISTS (SELECT 1 FROM deliveries d"
                         " WHERE d.seq = m.seq AND d.user_key = ?)")
            where = [(("pair_messages p JOIN messages m ON m.seq = p.seq", "p.seq"),
                      "p.grp_key = ?"), by_sender]
            params = [[pair_key(me, peer)], [me, peer]]
            if peer != me:
                where.append(by_sender)
                params.append([peer, me])
            else:
                # The sender's own deliveries row of a deleted/edited notice (it goes to the
                # sender's sessions) does not make it a message to itself: only a notice
                # about a message that had the sender among its recipients belongs here.
                where[1] = (messages, by_sender[1] + " AND (m.notice IS NULL OR EXISTS"
                            " (SELECT 1 FROM json_each(m.recipients) r"
                            " WHERE lower(r.value) = ?))")
                params[1] = [me, peer, me]
        elif kind == "group" and target:
            self._sync()
            where = [(messages, "m.grp_key = ? AND m.scope != 'unicast' AND (m.sender_key = ?"
                      " OR EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = m.seq AND"
                      " d.user_key = ?) OR (m.notice IS NULL AND EXISTS (SELECT 1 FROM"
                      " group_spans s WHERE s.user_key = ? AND s.grp_key = m.grp_key AND"
                      " m.seq > s.after_seq AND (s.upto_seq IS NULL OR m.seq <= s.upto_seq))))")]
            params = [[name_key(target), me, me, me]]
        else:
            raise ValueError(f"unknown conversation {conversation!r}")
        if after is not None:
            cond, order, extra = " AND {seq} > ?", "", [after]
        else:
            cond, order = (" AND {seq} < ?", " DESC") if before is not None else ("", " DESC")
            extra = [before] if before is not None else []
        # One ordered, limited scan of an index per part; parts are disjoint. A catch-up
        # (``after``) also carries ``edited`` notices: a device whose queue another device
        # of the account emptied learns of edits to messages it has only from them.
        edits = "" if after is not None else " AND (m.notice IS NULL OR m.notice != 'edited')"
        parts = [f"SELECT {_MSG_COLUMNS} FROM {source} WHERE ({part}){edits}"
                 f"{cond.format(seq=seq)} ORDER BY {seq}{order} LIMIT ?"
                 for (source, seq), part in where]
        if len(parts) == 1:
            sql, args = parts[0], [*params[0], *extra, limit]
        else:
            sql = " UNION ALL ".join(f"SELECT * FROM ({part})" for part in parts) + \
                f" ORDER BY 1{order} LIMIT ?"
            args = [arg for part in params for arg in (*part, *extra, limit)] + [limit]
        rows = self._db.execute(sql, args).fetchall()
        if order:
            rows.reverse()
        messages = [_row_to_message(r) for r in rows]
        if kind == "group":
            messages = self._withhold_later_edits(me, name_key(target), messages)
        return messages

    def _withhold_later_edits(self, me: str, grp_key: str,
                              messages: list[StoredMessage]) -> list[StoredMessage]:
        """A group message edited after the membership span of ``me`` that held it had
        ended (``me`` left, was removed, or the group dissolved) is shown with
        :data:`EDITED_AFTER_LEAVING_TEXT`: the edit notice went only to who was a member
        then, and the stored text is the edited one."""
        edited = [m for m in messages if m.edited is not None and m.notice is None]
        if not edited:
            return messages
        spans = self._db.execute(
            "SELECT after_seq, upto_seq FROM group_spans WHERE user_key = ? AND grp_key = ?"
            " AND upto_seq IS NOT NULL", (me, grp_key)).fetchall()
        if not spans:
            return messages
        hidden: set[int] = set()
        for m in edited:
            end = next((upto for after, upto in spans if after < m.seq <= upto), None)
            if end is None:
                continue  # (in an open span: the member got every edit)
            last = self._db.execute(
                "SELECT max(seq) FROM messages WHERE replaces = ? AND notice = 'edited'",
                (m.seq,)).fetchone()[0]
            if last is not None and last > end:
                hidden.add(m.seq)
        return [m._replace(text=EDITED_AFTER_LEAVING_TEXT, edited=None) if m.seq in hidden
                else m for m in messages]


_json_encoder = msgspec.json.Encoder()


def _encode_names(names: list[str]) -> str:
    """The ``recipients`` column: a JSON list of names."""
    return _json_encoder.encode(names).decode()


def _migrate_2_to_3(db: sqlite3.Connection) -> None:
    """Re-cluster ``deliveries`` by ``(seq, user_key)`` and make the scope and group indexes
    partial, in one transaction: a new message's rows then sit together (one or two pages per
    message instead of one per recipient)."""
    log.info("migrating the database from schema version 2 to 3 (deliveries by seq)")
    db.executescript("""
        BEGIN IMMEDIATE;
        CREATE TABLE deliveries_v3 (
            user_key  TEXT NOT NULL,
            seq       INTEGER NOT NULL REFERENCES messages(seq),
            delivered REAL,
            read      REAL,
            PRIMARY KEY (seq, user_key)
        ) WITHOUT ROWID;
        INSERT INTO deliveries_v3 (user_key, seq, delivered, read)
            SELECT user_key, seq, delivered, read FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_v3 RENAME TO deliveries;
        CREATE INDEX deliveries_pending ON deliveries (user_key, seq) WHERE delivered IS NULL;
        DROP INDEX IF EXISTS messages_scope;
        DROP INDEX IF EXISTS messages_group;
        CREATE INDEX messages_broadcast ON messages (seq) WHERE scope = 'broadcast';
        CREATE INDEX messages_in_group ON messages (grp_key, seq) WHERE grp_key IS NOT NULL;
        PRAGMA user_version = 3;
        COMMIT;
    """)


def _migrate_3_to_4(db: sqlite3.Connection) -> None:
    """Add the count columns of group receipts to ``receipts`` (in place: ``ALTER TABLE …
    ADD COLUMN`` rewrites nothing), in one transaction."""
    log.info("migrating the database from schema version 3 to 4 (group receipt counts)")
    db.executescript("""
        BEGIN IMMEDIATE;
        ALTER TABLE receipts ADD COLUMN delivered INTEGER;
        ALTER TABLE receipts ADD COLUMN read INTEGER;
        ALTER TABLE receipts ADD COLUMN recipients INTEGER;
        PRAGMA user_version = 4;
        COMMIT;
    """)


def _migrate_4_to_5(db: sqlite3.Connection) -> None:
    """Add ``accounts.last_seen`` (in place), in one transaction."""
    log.info("migrating the database from schema version 4 to 5 (last seen)")
    db.executescript("""
        BEGIN IMMEDIATE;
        ALTER TABLE accounts ADD COLUMN last_seen REAL;
        PRAGMA user_version = 5;
        COMMIT;
    """)


def _migrate_5_to_6(db: sqlite3.Connection) -> None:
    """Create ``group_spans`` and ``group_cursors`` and give every current group member a
    span from the last seq on (their older group messages keep their ``deliveries`` rows), in
    one transaction."""
    log.info("migrating the database from schema version 5 to 6 (group delivery cursors)")
    db.execute("BEGIN IMMEDIATE")
    db.execute("ALTER TABLE messages ADD COLUMN replaces INTEGER")
    db.execute("ALTER TABLE messages ADD COLUMN edited REAL")
    for statement in _GROUP_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)
    last = db.execute(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),"
        " coalesce((SELECT max(seq) FROM messages), 0))").fetchone()[0]
    db.executemany(
        "INSERT OR IGNORE INTO group_spans (user_key, grp_key, after_seq) VALUES (?, ?, ?)",
        [(name_key(member), grp_key, last)
         for grp_key, members in db.execute("SELECT name_key, members FROM groups").fetchall()
         for member in json.loads(members)]
        + [(key, EVERYONE_KEY, last)
           for (key,) in db.execute("SELECT name_key FROM accounts").fetchall()])
    db.execute("PRAGMA user_version = 6")
    db.execute("COMMIT")


def _migrate_7_to_8(db: sqlite3.Connection) -> None:
    """Rebuild ``messages`` without its ``UNIQUE (sender_key, client_msg_id)`` constraint and
    index it by ``(client_msg_id, sender_key)`` instead (and by ``(sender_key, seq)`` for the
    rows without a ``grp_key``); move the pair messages from ``messages_in_group`` to
    ``pair_messages``; in one transaction. SQLite cannot drop a constraint's index,
    so the table is copied (the procedure of https://www.sqlite.org/lang_altertable.html,
    "Making Other Kinds Of Table Schema Changes", with foreign keys off meanwhile); the last
    ``seq`` handed out is kept. About half a second per 100,000 messages here, once."""
    db.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: before BEGIN
    try:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index'"
                      " AND name = 'sqlite_autoindex_messages_1'").fetchone() is not None:
            log.info("migrating the database from schema version 7 to 8 (message ids indexed"
                     " by id first); this copies every message once")
            last = db.execute(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'),"
                " 0), coalesce((SELECT max(seq) FROM messages), 0))").fetchone()[0]
            db.execute(_MESSAGES_TABLE.format(name="messages_v8"))
            columns = ("seq, sender, sender_key, client_msg_id, scope, recipients, grp, grp_key,"
                       " notice, text, ts, replaces, edited")
            db.execute(f"INSERT INTO messages_v8 ({columns}) SELECT {columns} FROM messages"
                       " ORDER BY seq")
            db.execute("DROP TABLE messages")
            db.execute("ALTER TABLE messages_v8 RENAME TO messages")
            db.execute("DELETE FROM sqlite_sequence WHERE name IN ('messages', 'messages_v8')")
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)", (last,))
        db.execute("DROP INDEX IF EXISTS messages_in_group")  # now without pair messages
        for statement in (_MESSAGES_INDEXES + _PAIR_TABLES).split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT OR IGNORE INTO pair_messages (grp_key, seq) SELECT grp_key, seq"
                   f" FROM messages WHERE {_PAIR_MESSAGE_ROWS}")
        db.execute("INSERT OR REPLACE INTO store_marks (name, seq) SELECT 'pair_messages',"
                   " coalesce(max(seq), 0) FROM messages")
        if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise sqlite3.IntegrityError("a row refers to a message that is gone")
        db.execute("PRAGMA user_version = 8")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.execute("PRAGMA foreign_keys=ON")


def _unknown(entry: list | None, key: str) -> bool:
    """Whether the recent cache cannot tell ``key``'s state of a message (``entry``)."""
    return entry is None or (entry[2] and key not in entry[1])


def _row_to_message(row: tuple) -> StoredMessage:
    seq, ts, sender, cid, scope, text, recipients, grp, notice, replaces, edited = row
    return StoredMessage(seq, ts, sender, cid, scope, text, json.loads(recipients), grp, notice,
                         replaces, edited)
