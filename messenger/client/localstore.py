"""The app's local store: outbox, history cache, sync cursors and file transfers, one SQLite
file per account.

Plain Python (stdlib ``sqlite3``), no Qt, no sockets; the engine (and its transfer controller)
drives it.

Tables:
  ``outbox``    own messages not yet acknowledged by the server, in the order typed. A row
                survives an app restart and is sent again with the same ``client_msg_id`` (the
                server stores a repeat once). ``state`` is ``pending`` (to send) or ``failed``
                (refused by the server; kept until Retry or Delete, never blocks later rows).
                A group message keeps the ``created`` time of the group it was typed for
                (``group_created``), sent with it: a group made later under the same name
                does not get it.
  ``messages``  the history cache: every message seen, by conversation key and server ``seq``
                (a multicast is filed once in each conversation it belongs to, so the key is
                ``(conv, seq)``), with own messages' delivery state
                (``sent``/``delivered``/``read``) and who confirmed it.
  ``meta``      key/value cursors: ``receipts_after`` (highest receipt ``rid`` seen), and
                ``offline_password``, the argon2id hash of the last password used here
                that "Open offline" checks (:mod:`.offlinepass`; never the password).
  ``transfers`` peer-to-peer file transfers, one row per card (its app key): direction, peer,
                conversation, file name and path, size, SHA-256, MIME type, state, bytes done,
                error, whether the user accepted it (so that after a restart a re-offer of
                the same file resumes by itself), the server's id of its latest offer
                (``transfer_id``; added to older files when opened) and, for a receive,
                the download folder it was accepted into (``folder``). Only the newest
                :data:`TRANSFERS_KEPT` are kept. No per-transfer secret is stored.

The schema version is in ``PRAGMA user_version`` (:data:`SCHEMA_VERSION`). Every table is
created with ``IF NOT EXISTS``, so opening an older file adds what it lacks (version 1 had no
``transfers`` table), columns added later are added with ``ALTER TABLE`` (version 2 had no
``messages.counts``, version 3 no ``messages.edited``, version 4 no ``outbox.attempted``,
version 6 no ``outbox.group_created`` (NULL: sent without it);
version 5 kept the ``deleted`` notices, which the apps no longer show: dropped), and then the
current version is recorded. A file of a newer version than this app's is not opened
(:class:`StoreTooNew`): an older app reading it would set it aside as damaged.

The file is ``<data dir>/accounts/<host>_<port>/<user>.db`` (see :func:`store_path`).
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from messenger.filelock import UNSUPPORTED_ERRNOS, Held, LockTaken, take_lock
from messenger.paths import private_database, private_dir
from messenger.protocol import RETRACTED_TEXT, name_key, time_ordered_id

from .textsearch import fold

log = logging.getLogger("messenger.client.localstore")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    ord           INTEGER PRIMARY KEY AUTOINCREMENT,
    client_msg_id TEXT NOT NULL UNIQUE,
    conv          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    recipients    TEXT NOT NULL,
    text          TEXT NOT NULL,
    created       REAL NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    error         TEXT,
    attempted     INTEGER NOT NULL DEFAULT 0,
    group_created REAL
);
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER NOT NULL,
    conv          TEXT NOT NULL,
    ts            REAL NOT NULL,
    sender        TEXT NOT NULL,
    scope         TEXT NOT NULL,
    recipients    TEXT NOT NULL,
    grp           TEXT,
    notice        TEXT,
    text          TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'sent',
    delivered_to  TEXT NOT NULL DEFAULT '[]',
    read_by       TEXT NOT NULL DEFAULT '[]',
    counts        TEXT,
    edited        REAL,
    PRIMARY KEY (conv, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_seq ON messages (seq);
CREATE INDEX IF NOT EXISTS messages_unread ON messages (conv, seq)
    WHERE state = 'sent' AND notice IS NULL;
CREATE TABLE IF NOT EXISTS early_receipts (
    ord   INTEGER PRIMARY KEY AUTOINCREMENT,
    seq   INTEGER NOT NULL,
    body  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS early_receipts_seq ON early_receipts (seq);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transfers (
    ord           INTEGER PRIMARY KEY AUTOINCREMENT,
    key           TEXT NOT NULL UNIQUE,
    direction     TEXT NOT NULL,
    peer          TEXT NOT NULL,
    conv          TEXT NOT NULL,
    name          TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL DEFAULT '',
    mime          TEXT NOT NULL DEFAULT '',
    path          TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    done          INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    by_peer       INTEGER NOT NULL DEFAULT 0,
    accepted      INTEGER NOT NULL DEFAULT 0,
    created       REAL NOT NULL,
    updated       REAL NOT NULL,
    transfer_id   TEXT NOT NULL DEFAULT '',
    auto_resume   INTEGER NOT NULL DEFAULT 0,
    batch         TEXT NOT NULL DEFAULT '',
    folder        TEXT NOT NULL DEFAULT ''
);
"""

_UNREAD_SQL = ("SELECT seq, sender FROM messages INDEXED BY messages_unread"
               " WHERE conv = ? AND state = 'sent' AND notice IS NULL")
"""Others' messages not marked read here (without ``INDEXED BY`` SQLite prefers the
primary key, which reads the whole conversation)."""

SCHEMA_VERSION = 7
"""6: ``outbox.group_created`` (the ``created`` time of a group message's group). 5:
``outbox.attempted`` (written to a link that died before the answer came). 4:
``messages.edited`` (when the sender last edited the text). 3: ``messages.counts`` (JSON
``[delivered, read, recipients]`` of an own group message, from ``receipt_count`` events).
2: the ``transfers`` table. 1: outbox, messages, meta. What a file lacks is added when it is
opened."""

EARLY_RECEIPTS_KEPT = 10_000
"""Receipts kept for messages not cached yet (the newest; see ``LocalStore.settle``)."""

TRANSFERS_KEPT = 500
"""Transfer rows kept (the newest); older ones go when the app loads them."""


def store_path(data_dir: Path, host: str, port: int, user: str) -> Path:
    """Where the local store of ``user`` on server ``host``:``port`` lives. Host names are
    not case-sensitive (RFC 4343), nor is this: "Lab-Server" typed one day and "lab-server"
    the next opened two stores, the first one's unsent messages never sent, while the
    settings and the pinned certificate took them as one server (a hunt). A folder made
    under another case by an older app is renamed to this one's, when it is the only one."""
    safe_host = re.sub(r"[^a-z0-9_.-]", "_", host.lower())[:100] or "server"
    safe_user = re.sub(r"[^a-z0-9_.-]", "_", name_key(user))[:64] or "user"
    folder = data_dir / "accounts" / f"{safe_host}_{port}"
    if not folder.exists() and folder.parent.is_dir():
        try:
            older = [p for p in folder.parent.iterdir()
                     if p.name.lower() == folder.name and p.name != folder.name]
            if len(older) == 1:
                older[0].rename(folder)
        except OSError as exc:  # (it stays where it is: a new store is made)
            log.warning("could not rename %s to %s: %s", folder.parent, folder.name, exc)
    return folder / f"{safe_user}.db"


STORE_ASIDE_KINDS = ("damaged", "moved", "server-reset")
"""The ``<why>`` of a store set aside by the engine as ``<name>.<why>-<YYYYmmdd-HHMMSS>``."""


def store_files(path: Path) -> list[Path]:
    """The files of the local store at ``path`` that exist: the database, its ``-wal``,
    ``-shm``, ``-journal`` and ``.lock`` files, and the copies of it set aside
    (:data:`STORE_ASIDE_KINDS`, with theirs). Another account's files are never among
    them (``alice.db.db``, the store of an account named ``alice.db``, is not
    ``alice.db``'s)."""
    path = Path(path)
    aside = re.compile(re.escape(path.name) + r"\.(?:" +
                       "|".join(re.escape(k) for k in STORE_ASIDE_KINDS) +
                       r")-\d{8}-\d{6}(?:-wal|-shm|-journal)?")
    own = {path.name, *(f"{path.name}{s}" for s in ("-wal", "-shm", "-journal", ".lock"))}
    try:
        names = sorted(p.name for p in path.parent.iterdir())
    except OSError:
        return []
    return [path.parent / n for n in names if n in own or aside.fullmatch(n)]


def remove_store(path: Path) -> list[Path]:
    """Remove the local store at ``path`` from this computer (File → Log out and remove my
    data; it must be closed): every file of :func:`store_files`, then its server's folder
    when nothing else is left in it. Returns the files that could not be removed (each
    logged); ``[]`` when all went or there were none."""
    left: list[Path] = []
    for part in store_files(path):
        try:
            part.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("could not remove %s: %s", part, exc)
            left.append(part)
    try:
        Path(path).parent.rmdir()  # (only when empty: other accounts' stores stay)
    except OSError:
        pass
    return left


_OUTBOX_COLUMNS = ("client_msg_id, conv, scope, recipients, text, created, state, error,"
                   " attempted, group_created")


def _outbox_item(row: tuple) -> OutboxItem:
    """An outbox row (the columns :data:`_OUTBOX_COLUMNS`) as an :class:`OutboxItem`."""
    c, v, s, r, t, cr, st, e, a, g = row
    return OutboxItem(c, v, s, json.loads(r), t, cr, st, e, bool(a), g)


@dataclass(frozen=True)
class OutboxItem:
    """An own message waiting for the server's ack. ``to`` are user names, or the group name
    for scope ``group``; ``conv`` is the conversation key it was typed in."""

    client_msg_id: str
    conv: str
    scope: str
    to: list[str]
    text: str
    created: float
    """When it was typed (Unix seconds), on the server's clock as the app reckoned it then:
    the time its bubble shows until the server's ``ok`` gives the stored one."""
    state: str = "pending"
    error: str | None = None
    attempted: bool = False
    """Written to a link whose answer never came: the server may have stored it."""
    group_created: float | None = None
    """Scope ``group``: the ``created`` time of the group it was typed for (None: not known,
    or a row from before version 7), sent as ``send.group_created``."""


class SeqClash(Exception):
    """:meth:`LocalStore.add_messages` got a message whose ``seq`` is cached as another
    message (another ``client_msg_id``): the server hands out numbers it handed out before,
    restored from an older copy of its database. Nothing was added."""

    def __init__(self, seq: int) -> None:
        super().__init__(f"seq {seq} is cached as another message")
        self.seq = seq


@dataclass(frozen=True)
class CachedMessage:
    """A message from the history cache (fields as in the protocol's ``message``)."""

    seq: int
    conv: str
    ts: float
    sender: str
    scope: str
    text: str
    client_msg_id: str
    to: list[str] = field(default_factory=list)
    group: str | None = None
    notice: str | None = None
    state: str = "sent"
    delivered_to: list[str] = field(default_factory=list)
    read_by: list[str] = field(default_factory=list)
    counts: tuple[int, int, int] | None = None  # own group message: delivered, read, of
    edited: float | None = None  # when the sender last edited the text


@dataclass(frozen=True)
class TransferRecord:
    """A file transfer as stored (see the module docstring); ``state`` and ``direction`` are
    the values of :mod:`messenger.client.transfers`."""

    key: str
    direction: str
    peer: str
    conv: str
    name: str
    size: int
    sha256: str = ""
    mime: str = ""
    path: str = ""
    state: str = "preparing"
    done: int = 0
    error: str = ""
    by_peer: bool = False
    accepted: bool = False
    transfer_id: str = ""
    """The server's id of the transfer's latest offer ("" before the server gave one)."""
    auto_resume: bool = False
    """send: it resumes by itself when its recipient is online (also after a restart)."""
    batch: str = ""
    """send: the card it shows under, with the sends of the same file to a group's other
    members ("": a card of its own)."""
    folder: str = ""
    """receive: the download folder it was accepted into, where its partial file is (""
    before that, or from a file made before the column)."""
    created: float = field(default=0.0, compare=False)
    """Unix seconds when the transfer began, on the server's clock (its first save keeps it;
    0: the time of that save)."""


_TRANSFER_COLUMNS = ("key, direction, peer, conv, name, size, sha256, mime, path, state, done,"
                     " error, by_peer, accepted, transfer_id, auto_resume, batch, folder")

_STATE_ORDER = {"sent": 0, "delivered": 1, "read": 2}


def _copy_state(m: CachedMessage, delivered: Sequence[str], read: Sequence[str]) -> str:
    """The state of own message copy ``m`` given who has it (``delivered``) and who read it
    (``read``): a multicast's copy in one recipient's conversation follows that recipient
    alone, any other message anyone; states only move forward."""
    if m.scope == "multicast":
        best = "read" if any(name_key(u) == m.conv for u in read) else \
            "delivered" if any(name_key(u) == m.conv for u in delivered) else m.state
    else:
        best = "read" if read else "delivered"
    return best if _STATE_ORDER[best] > _STATE_ORDER.get(m.state, 0) else m.state


def _casefold(text: str | None) -> str | None:
    """SQL ``casefold(text)``: :func:`~messenger.client.textsearch.fold` (NULL stays
    NULL)."""
    return fold(text) if isinstance(text, str) else text


class StoreInUse(RuntimeError):
    """Another app (process) has this account's local store open."""


class StoreTooNew(RuntimeError):
    """The local store was written by a newer Messenger (its ``user_version`` is above
    :data:`SCHEMA_VERSION`): this app may not read or change it. Not damage: the file is
    left as it is, for the newer app to open again."""


class LocalStore:
    """Outbox, history cache and transfers of one account (see the module docstring).

    One app at a time: the store holds an exclusive lock on ``<path>.lock`` while it is open
    (:func:`messenger.filelock.take_lock`, per process). Two apps on one store each took the
    messages the other had cached first as seen and showed about half of them (a client
    hunt).

    Args:
        path: the SQLite file (created with its folders), or ``":memory:"``.

    Raises:
        StoreInUse: another app has it open.
        StoreTooNew: a newer Messenger wrote it (it is left untouched).
        sqlite3.Error, OSError: it cannot be opened (damaged, a read-only or full disk).
    """

    def __init__(self, path: Path | str) -> None:
        self._lock: Held | None = None
        if str(path) != ":memory:":
            private_dir(Path(path).parent, narrow=False)
            try:
                self._lock = take_lock(f"{path}.lock", per_process=True)
            except LockTaken:
                raise StoreInUse(
                    "This account is already open in another Messenger window on this "
                    "computer: use that one, or quit it first.") from None
            except OSError as exc:
                if exc.errno not in UNSUPPORTED_ERRNOS:
                    raise
                # (A home folder on NFS without its lock service: usable, unguarded.)
                log.warning("no lock on %s (%s): two apps on this account would not be "
                            "stopped", path, exc.strerror)
            private_database(path)  # (and its -wal, -shm files left by an earlier run)
        self.path = path
        try:
            self._open(path)
        except BaseException:
            self.close()
            raise

    def _open(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.create_function("name_key", 1, name_key, deterministic=True)  # (for SQL)
        self._db.create_function("casefold", 1, _casefold, deterministic=True)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            # (Before, an older app read on: a state it did not know raised ValueError and
            # the file was set aside as damaged, with the newer app's unsent messages.)
            raise StoreTooNew(
                f"The messages saved on this computer ({path}) were saved by a newer version "
                f"of Messenger (store version {version}; this one reads up to "
                f"{SCHEMA_VERSION}): update Messenger to log in as this account here. The "
                "file was left as it is.")
        self._db.executescript(_SCHEMA)
        if version < SCHEMA_VERSION:
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(messages)")}
            if "counts" not in columns:
                self._db.execute("ALTER TABLE messages ADD COLUMN counts TEXT")
            if "edited" not in columns:
                self._db.execute("ALTER TABLE messages ADD COLUMN edited REAL")
            outbox = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
            if "attempted" not in outbox:
                self._db.execute("ALTER TABLE outbox ADD COLUMN attempted INTEGER NOT NULL"
                                 " DEFAULT 0")
            if "group_created" not in outbox:
                self._db.execute("ALTER TABLE outbox ADD COLUMN group_created REAL")
            # "alice deleted a message" lines: the original says so where it was.
            self._db.execute("DELETE FROM messages WHERE notice = 'deleted'")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._add_transfer_columns()

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @staticmethod
    def peek_meta(path: Path, key: str) -> str | None:
        """Meta value ``key`` of the store at ``path``, read-only, without creating the
        file (None when there is no such store or value): what a login needs before the
        password is known to be right."""
        if not Path(path).exists():
            return None
        try:
            db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        finally:
            db.close()
        return row[0] if row else None

    def sync(self) -> None:
        """Make every commit so far durable against a power loss, not only against a crash
        of the app: one small commit at ``synchronous=FULL``, whose sync of the WAL file
        covers the ``NORMAL`` commits before it. The app confirms received messages only
        after this."""
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('synced', ?)",
                             (repr(time.time()),))
        finally:
            self._db.execute("PRAGMA synchronous=NORMAL")

    # ---------------------------------------------------------------- outbox

    def enqueue(self, conv: str, scope: str, to: Sequence[str], text: str,
                client_msg_id: str | None = None,
                group_created: float | None = None,
                created: float | None = None) -> OutboxItem:
        """Add a message typed by the user; it is durable when this returns, also against a
        power loss (this one commit is synced: ``synchronous=FULL``; the rest of the store
        runs at ``NORMAL``, durable against a crash of the app). ``group_created``: see
        :attr:`OutboxItem.group_created`; ``created``: when it was typed, on the server's
        clock as messages' times are (the engine's ``ServerClock.now()``; default: this
        computer's clock)."""
        item = OutboxItem(client_msg_id or time_ordered_id(), conv, scope, list(to), text,
                          time.time() if created is None else created,
                          group_created=group_created)
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute(
                "INSERT INTO outbox (client_msg_id, conv, scope, recipients, text, created,"
                " group_created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item.client_msg_id, conv, scope, json.dumps(item.to), text, item.created,
                 group_created))
        finally:
            self._db.execute("PRAGMA synchronous=NORMAL")
        return item

    def outbox(self, *, state: str | None = None) -> list[OutboxItem]:
        """Outbox rows in the order they were typed (all, or those in ``state``)."""
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox"
        args: tuple = ()
        if state is not None:
            sql += " WHERE state = ?"
            args = (state,)
        rows = self._db.execute(sql + " ORDER BY ord", args).fetchall()
        return [_outbox_item(row) for row in rows]

    def check(self) -> None:
        """Read the whole file once (``PRAGMA quick_check``): a damaged page anywhere
        (a bad sector, a torn write) raises here, where the caller can set the store aside,
        instead of in the middle of a login, which then hung on "Logging in…" for good (a
        client hunt).

        Raises:
            sqlite3.DatabaseError: the file is damaged (the check's first complaint)."""
        rows = self._db.execute("PRAGMA quick_check(1)").fetchall()
        if rows != [("ok",)]:
            raise sqlite3.DatabaseError(f"damaged: {rows[0][0] if rows else 'no answer'}")

    @staticmethod
    def salvage_outbox(path: Path | str) -> list[OutboxItem] | None:
        """The outbox rows still readable in the damaged store at ``path`` (opened read-only,
        in their order), to carry into a new store: a damaged history must not cost the
        messages typed offline (a client hunt). None when none could be read."""
        try:
            db = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True)
        except (sqlite3.Error, ValueError):
            return None
        try:
            columns = _OUTBOX_COLUMNS
            if "group_created" not in {r[1] for r in db.execute("PRAGMA table_info(outbox)")}:
                columns = columns.replace("group_created", "NULL")  # (an older file)
            rows = db.execute(f"SELECT {columns} FROM outbox ORDER BY ord").fetchall()
            return [_outbox_item(row) for row in rows]
        except (sqlite3.Error, ValueError, TypeError):
            return None
        finally:
            db.close()

    def adopt_outbox(self, items: Sequence[OutboxItem]) -> None:
        """Add outbox rows kept by another store (in their order, as they were: state,
        error, whether they were attempted), e.g. one set aside because the server's
        database changed; ids already here are skipped."""
        with self._db:
            self._db.executemany(
                f"INSERT OR IGNORE INTO outbox ({_OUTBOX_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(i.client_msg_id, i.conv, i.scope, json.dumps(i.to), i.text, i.created,
                  i.state, i.error, int(i.attempted), i.group_created) for i in items])

    def outbox_item(self, client_msg_id: str) -> OutboxItem | None:
        row = self._db.execute(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE client_msg_id = ?",
                               (client_msg_id,)).fetchone()
        return None if row is None else _outbox_item(row)

    def attempted(self, client_msg_id: str, on_the_wire: bool = True) -> None:
        """The message was written to the link: until an answer comes (an ``ok`` drops the
        row, an error clears the mark: ``on_the_wire`` False) the server may hold it, so it
        must not be discarded."""
        self._db.execute("UPDATE outbox SET attempted = ? WHERE client_msg_id = ?",
                         (int(on_the_wire), client_msg_id))

    def acked(self, client_msg_id: str) -> OutboxItem | None:
        """The server stored the message: drop it from the outbox, return the row."""
        item = self.outbox_item(client_msg_id)
        self._db.execute("DELETE FROM outbox WHERE client_msg_id = ?", (client_msg_id,))
        return item

    def failed(self, client_msg_id: str, reason: str) -> None:
        """The server refused the message for good (e.g. unknown_user): keep it as failed."""
        self._db.execute("UPDATE outbox SET state = 'failed', error = ?, attempted = 0"
                         " WHERE client_msg_id = ?", (reason, client_msg_id))

    def retry(self, client_msg_id: str,
              group_created: float | None = None) -> OutboxItem | None:
        """Make a failed message pending again (it keeps its place and its id); a group
        message's ``group_created`` becomes ``group_created`` when given (the group it goes
        to now)."""
        self._db.execute("UPDATE outbox SET state = 'pending', error = NULL,"
                         " group_created = coalesce(?, group_created)"
                         " WHERE client_msg_id = ?", (group_created, client_msg_id))
        return self.outbox_item(client_msg_id)

    def discard(self, client_msg_id: str) -> None:
        """Delete an unsent message."""
        self._db.execute("DELETE FROM outbox WHERE client_msg_id = ?", (client_msg_id,))

    # ---------------------------------------------------------------- history cache

    def add_messages(self, items: Sequence[CachedMessage]) -> list[int]:
        """Cache messages; return the seqs that were new (repeats are ignored).

        Raises:
            SeqClash: one's ``seq`` is cached as another message (nothing is added): taken
                as a repeat, a restored server's new message was never shown, yet
                confirmed (a client hunt)."""
        return [m.seq for m, new in zip(items, self.add_new(items), strict=True) if new]

    def add_new(self, items: Sequence[CachedMessage]) -> list[bool]:
        """Cache messages in one transaction, as :meth:`add_messages`; return whether each of
        ``items`` was new (the same seq may come for two conversations).

        Raises:
            SeqClash: as :meth:`add_messages` (nothing is added)."""
        new: list[bool] = []
        db = self._db
        db.execute("BEGIN")
        try:
            for m in items:
                self._check_seq(m)
                cur = db.execute(
                    "INSERT OR IGNORE INTO messages (seq, conv, ts, sender, scope, recipients,"
                    " grp, notice, text, client_msg_id, state, edited) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (m.seq, m.conv, m.ts, m.sender, m.scope, json.dumps(m.to), m.group,
                     m.notice, m.text, m.client_msg_id, m.state, m.edited))
                new.append(bool(cur.rowcount))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return new

    def check_seqs(self, items: Sequence[CachedMessage]) -> None:
        """Raise :class:`SeqClash` if one of ``items`` has a seq cached as another message
        (what :meth:`add_messages` checks, for a page that may not be added whole)."""
        for m in items:
            self._check_seq(m)

    def _check_seq(self, m: CachedMessage) -> None:
        cached = self._db.execute("SELECT client_msg_id FROM messages WHERE seq = ? LIMIT 1",
                                  (m.seq,)).fetchone()
        if cached is not None and cached[0] and m.client_msg_id \
                and cached[0] != m.client_msg_id:
            raise SeqClash(m.seq)

    def receipt(self, seq: int, user: str, state: str) -> CachedMessage | None:
        """Record a delivered/read receipt of own message ``seq``; return the updated row
        (None if the message is not cached). See :meth:`receipts` for every copy."""
        rows = self.receipts(seq, user, state)
        return rows[0] if rows else None

    def _keep_early(self, seq: int, body: list) -> None:
        """A receipt for a message not cached yet (its ``ok`` was lost, or it comes with the
        catch-up after the receipt): kept until :meth:`settle`, the newest
        :data:`EARLY_RECEIPTS_KEPT` at most."""
        self._db.execute("INSERT INTO early_receipts (seq, body) VALUES (?, ?)",
                         (seq, json.dumps(body)))
        self._db.execute("DELETE FROM early_receipts WHERE ord <= (SELECT max(ord) FROM"
                         " early_receipts) - ?", (EARLY_RECEIPTS_KEPT,))

    def settle(self, seqs: Sequence[int], me: str) -> list[CachedMessage]:
        """Own messages ``seqs`` are cached now: apply the receipts that came before them
        (kept by :meth:`receipts` and :meth:`receipt_counts`) and, for unicast ones, what
        the peer's ``receipts_upto`` cursors already cover; return the updated rows."""
        out: list[CachedMessage] = []
        mine = name_key(me)
        for seq in seqs:
            early = self._db.execute("SELECT body FROM early_receipts WHERE seq = ?"
                                     " ORDER BY ord", (seq,)).fetchall()
            if early:
                self._db.execute("DELETE FROM early_receipts WHERE seq = ?", (seq,))
            for (body,) in early:
                kind, *args = json.loads(body)
                if kind == "receipt":
                    out += self.receipts(seq, *args)
                else:
                    out += self.receipt_counts(seq, *args)
            out += self._share_receipts(seq, mine)
            for m in self._select("WHERE seq = ? AND scope = 'unicast'", (seq,)):
                if name_key(m.sender) != mine:
                    continue
                done_d, done_r = (int(x) for x in
                                  (self.get_meta(f"upto:{m.conv}") or "0,0").split(","))
                peer = m.to[0] if m.to else m.conv
                if seq <= int(self.get_meta(f"upto_after:{m.conv}") or 0):
                    continue  # the cursors say nothing of it (protocol.md, receipts_upto)
                if seq <= done_r:
                    out += self.receipts(seq, peer, "read")
                elif seq <= done_d:
                    out += self.receipts(seq, peer, "delivered")
        return out

    def receipts(self, seq: int, user: str, state: str) -> list[CachedMessage]:
        """Record a receipt on every cached copy of message ``seq`` (a multicast has one per
        conversation); return the updated rows. States only move forward. For a message not
        cached yet the receipt waits for :meth:`settle`.

        Every copy lists who has the message (``delivered_to``/``read_by``, the tooltip), but
        the ticks of a multicast's copy in one recipient's conversation follow that recipient
        alone: bob reading it does not tick it read in carol's tab.
        """
        out: list[CachedMessage] = []
        rows = self._select("WHERE seq = ?", (seq,))
        if not rows:
            self._keep_early(seq, ["receipt", user, state])
        for m in rows:
            delivered, read = list(m.delivered_to), list(m.read_by)
            if user not in delivered:
                delivered.append(user)
            if state == "read" and user not in read:
                read.append(user)
            out.append(self._set_receipts(m, _copy_state(m, delivered, read), delivered,
                                          read))
        return out

    def _set_receipts(self, m: CachedMessage, state: str, delivered: list[str],
                      read: list[str]) -> CachedMessage:
        """Write copy ``m``'s new state and lists; return the updated row."""
        self._db.execute(
            "UPDATE messages SET state = ?, delivered_to = ?, read_by = ?"
            " WHERE conv = ? AND seq = ?",
            (state, json.dumps(delivered), json.dumps(read), m.conv, m.seq))
        return replace(m, state=state, delivered_to=delivered, read_by=read)

    def _share_receipts(self, seq: int, mine: str) -> list[CachedMessage]:
        """The copies of own multicast ``seq`` (one per recipient's conversation, cached at
        different times: each catch-up page is one conversation's) all learn who has it and
        who read it, and each takes its own recipient's state; return the rows changed."""
        copies = [m for m in self._select("WHERE seq = ? AND scope = 'multicast'", (seq,))
                  if name_key(m.sender) == mine]
        if len(copies) < 2:
            return []
        delivered = list(dict.fromkeys(u for m in copies for u in m.delivered_to))
        read = list(dict.fromkeys(u for m in copies for u in m.read_by))
        out: list[CachedMessage] = []
        for m in copies:
            state = _copy_state(m, delivered, read)
            if (state, delivered, read) != (m.state, m.delivered_to, m.read_by):
                out.append(self._set_receipts(m, state, delivered, read))
        return out

    def receipts_upto(self, me: str, peer: str, delivered: int, read: int,
                      after: int = 0) -> list[CachedMessage]:
        """Apply a ``receipts_upto`` from ``peer``: ``me``'s cached unicast messages to them
        with ``after < seq <= delivered`` become delivered, with ``after < seq <= read`` read;
        return the updated rows. What was applied is kept in ``meta`` (``upto:<peer key>``),
        so each message is looked at once however often the same cursors come."""
        conv, mine = name_key(peer), name_key(me)
        meta_key = f"upto:{conv}"
        done_d, done_r = (int(x) for x in (self.get_meta(meta_key) or "0,0").split(","))
        if delivered <= done_d and read <= done_r:
            return []
        out: list[CachedMessage] = []
        for seq, sender in self._db.execute(
                "SELECT seq, sender FROM messages WHERE conv = ? AND scope = 'unicast'"
                " AND seq > ? AND seq <= ? AND state != 'read' ORDER BY seq",
                (conv, max(after, min(done_d, done_r)), max(delivered, read))).fetchall():
            if name_key(sender) != mine:
                continue
            if done_r < seq <= read:
                out += self.receipts(seq, peer, "read")
            elif done_d < seq <= delivered:
                out += self.receipts(seq, peer, "delivered")
        self.set_meta(meta_key, f"{max(done_d, delivered)},{max(done_r, read)}")
        self.set_meta(f"upto_after:{conv}", str(after))  # (what settle may not cover)
        return out

    def receipt_counts(self, seq: int, delivered: int, read: int,
                       recipients: int) -> list[CachedMessage]:
        """Record the counts of a ``receipt_count`` on every cached copy of group message
        ``seq``; return the updated rows. Counts and states only move forward (a replayed,
        older count changes nothing)."""
        out: list[CachedMessage] = []
        rows = self._select("WHERE seq = ?", (seq,))
        if not rows:
            self._keep_early(seq, ["count", delivered, read, recipients])
        for m in rows:
            old = m.counts or (0, 0, 0)
            counts = (max(old[0], delivered), max(old[1], read), max(old[2], recipients))
            best = "read" if counts[1] else "delivered" if counts[0] else m.state
            new_state = best if _STATE_ORDER.get(best, 0) > _STATE_ORDER.get(m.state, 0) \
                else m.state
            self._db.execute("UPDATE messages SET state = ?, counts = ? WHERE conv = ? AND seq = ?",
                             (new_state, json.dumps(counts), m.conv, seq))
            out.append(replace(m, state=new_state, counts=counts))
        return out

    def message(self, seq: int, conv: str | None = None) -> CachedMessage | None:
        """Message ``seq`` (in conversation ``conv``, or its first copy)."""
        if conv is None:
            rows = self._select("WHERE seq = ? LIMIT 1", (seq,))
        else:
            rows = self._select("WHERE conv = ? AND seq = ?", (conv, seq))
        return rows[0] if rows else None

    def texts(self, conv: str, seqs: Sequence[int]) -> dict[int, tuple[str, float | None]]:
        """``{seq: (text, edited)}`` of the cached messages ``seqs`` of ``conv`` (one query
        a page)."""
        out: dict[int, tuple[str, float | None]] = {}
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for seq, text, edited in self._db.execute(
                    f"SELECT seq, text, edited FROM messages WHERE conv = ? AND seq IN ({marks})",
                    (conv, *chunk)):
                out[seq] = (text, edited)
        return out

    def has_before(self, conv: str, seq: int) -> bool:
        """Whether anything older than ``seq`` is cached for ``conv``."""
        return self._db.execute("SELECT 1 FROM messages WHERE conv = ? AND seq < ? LIMIT 1",
                                (conv, seq)).fetchone() is not None

    def between(self, conv: str, first: int, before: int) -> list[CachedMessage]:
        """Cached messages of ``conv`` with ``first <= seq < before``, oldest first."""
        return self._select("WHERE conv = ? AND seq >= ? AND seq < ? ORDER BY seq",
                            (conv, first, before))

    def iter_conversation(self, conv: str, chunk: int = 2000):
        """Every cached message of ``conv``, oldest first, read ``chunk`` rows at a time."""
        after = None
        while True:
            if after is None:
                rows = self._select("WHERE conv = ? ORDER BY seq LIMIT ?", (conv, chunk))
            else:
                rows = self._select("WHERE conv = ? AND seq > ? ORDER BY seq LIMIT ?",
                                    (conv, after, chunk))
            yield from rows
            if len(rows) < chunk:
                return
            after = rows[-1].seq

    def sent_by(self, conv: str, sender: str, before: int | None = None,
                chunk: int = 500) -> Iterator[tuple[int, str, str, float | None]]:
        """``(seq, sender, text, edited)`` of ``sender``'s cached chat messages in ``conv``
        below seq ``before`` (all with None), newest first, read ``chunk`` rows at a time
        (what a reply's quote may point to: :func:`~messenger.client.quotes.find_quoted`)."""
        below = 2 ** 62 if before is None else before  # (above every seq)
        while True:
            rows = self._db.execute(
                "SELECT seq, sender, text, edited FROM messages WHERE conv = ? AND seq < ?"
                " AND sender = ? COLLATE NOCASE AND notice IS NULL ORDER BY seq DESC LIMIT ?",
                (conv, below, sender, chunk)).fetchall()
            yield from rows
            if len(rows) < chunk:
                return
            below = rows[-1][0]

    def page(self, conv: str, *, before: int | None = None, limit: int = 50) -> list[CachedMessage]:
        """The newest ``limit`` cached messages of ``conv`` below seq ``before``, oldest
        first."""
        if before is None:
            rows = self._select("WHERE conv = ? ORDER BY seq DESC LIMIT ?", (conv, limit))
        else:
            rows = self._select("WHERE conv = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                                (conv, before, limit))
        return rows[::-1]

    def count(self, conv: str) -> int:
        return self._db.execute("SELECT count(*) FROM messages WHERE conv = ?",
                                (conv,)).fetchone()[0]

    def last_seq(self, conv: str) -> int | None:
        """The highest seq cached for ``conv`` (where to resume after a reconnect)."""
        return self._db.execute("SELECT max(seq) FROM messages WHERE conv = ?",
                                (conv,)).fetchone()[0]

    def last_notice_seq(self, conv: str, notice: str) -> int | None:
        """The highest seq of a cached server notice ``notice`` (e.g. ``"ended"``) in
        ``conv``, None when none is cached."""
        return self._db.execute("SELECT max(seq) FROM messages WHERE conv = ? AND notice = ?",
                                (conv, notice)).fetchone()[0]

    def max_seq(self) -> int:
        """The highest seq cached in any conversation (0: none)."""
        return self._db.execute("SELECT max(seq) FROM messages").fetchone()[0] or 0

    def own_after(self, seq: int, me: str, since: float = math.inf) -> list[OutboxItem]:
        """``me``'s cached chat messages above ``seq`` or sent at ``since`` (Unix seconds)
        or later (not deleted), oldest first, as outbox rows with their own
        ``client_msg_id``: what a server restored from an older copy may have lost, to be
        sent again (a copy it still has is answered from it: the id). A multicast cached in
        several conversations comes once."""
        items: dict[str, OutboxItem] = {}
        for c, conv, scope, recipients, grp, text, ts in self._db.execute(
                "SELECT client_msg_id, conv, scope, recipients, grp, text, ts FROM messages"
                " WHERE (seq > ? OR ts >= ?) AND sender = ? COLLATE NOCASE"
                " AND notice IS NULL AND text != ? ORDER BY seq",
                (seq, since, me, RETRACTED_TEXT)):
            if c and c not in items:
                to = [grp] if scope == "group" and grp else json.loads(recipients)
                items[c] = OutboxItem(c, conv, scope, to, text, ts)
        return list(items.values())

    def conversations(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT conv FROM messages")]

    def search(self, conv: str, text: str) -> list[int]:
        """Seqs of ``conv``'s cached chat messages (not notices) containing ``text``,
        ignoring case and how
        accents are encoded (:func:`~messenger.client.textsearch.fold`, as the app matches
        the rows it shows; SQLite's ``LIKE`` ignores the case of ASCII letters only, so
        "école" did not find "École" further back)."""
        rows = self._db.execute(
            "SELECT seq FROM messages WHERE conv = ? AND notice IS NULL"
            " AND instr(casefold(text), ?) > 0 ORDER BY seq", (conv, fold(text))).fetchall()
        return [r[0] for r in rows]

    def notices(self, conv: str) -> list[tuple[int, str, str, str]]:
        """``(seq, notice, text, sender)`` of ``conv``'s cached notices (which the app shows
        in its own words: :meth:`search` leaves them out), by seq."""
        return list(self._db.execute(
            "SELECT seq, notice, text, sender FROM messages WHERE conv = ?"
            " AND notice IS NOT NULL ORDER BY seq", (conv,)))

    def _select(self, where: str, args: tuple) -> list[CachedMessage]:
        rows = self._db.execute(
            "SELECT seq, conv, ts, sender, scope, text, client_msg_id, recipients, grp, notice,"
            f" state, delivered_to, read_by, counts, edited FROM messages {where}",
            args).fetchall()
        return [CachedMessage(s, c, ts, snd, sc, t, cid, json.loads(r), g, n, st,
                              json.loads(d), json.loads(rd),
                              tuple(json.loads(k)) if k else None, e)  # type: ignore[arg-type]
                for s, c, ts, snd, sc, t, cid, r, g, n, st, d, rd, k, e in rows]

    # ---------------------------------------------------------------- cursors

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self._db.execute("DELETE FROM meta WHERE key = ?", (key,))

    def meta_keys(self, prefix: str) -> list[str]:
        """The ``meta`` keys that start with ``prefix``, without it."""
        return [r[0][len(prefix):] for r in self._db.execute(
            "SELECT key FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))]

    # ---------------------------------------------------------------- transfers

    def _add_transfer_columns(self) -> None:
        """Add the ``transfers`` columns a file made before them lacks (``transfer_id``,
        ``auto_resume``, ``batch``); checked at every open, the schema version does not
        say."""
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(transfers)")}
        if "transfer_id" not in columns:
            self._db.execute("ALTER TABLE transfers ADD COLUMN transfer_id TEXT NOT NULL"
                             " DEFAULT ''")
        if "auto_resume" not in columns:
            self._db.execute("ALTER TABLE transfers ADD COLUMN auto_resume INTEGER NOT NULL"
                             " DEFAULT 0")
        if "batch" not in columns:
            self._db.execute("ALTER TABLE transfers ADD COLUMN batch TEXT NOT NULL DEFAULT ''")
        if "folder" not in columns:
            self._db.execute("ALTER TABLE transfers ADD COLUMN folder TEXT NOT NULL DEFAULT ''")

    def save_transfer(self, record: TransferRecord) -> None:
        """Insert or update the transfer ``record.key`` (it keeps its place in the order, and
        the ``created`` it was first saved with: ``record.created``, or now when 0)."""
        now = time.time()
        r = record
        self._db.execute(
            f"INSERT INTO transfers ({_TRANSFER_COLUMNS}, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET direction = excluded.direction,"
            " peer = excluded.peer, conv = excluded.conv, name = excluded.name,"
            " size = excluded.size, sha256 = excluded.sha256, mime = excluded.mime,"
            " path = excluded.path, state = excluded.state, done = excluded.done,"
            " error = excluded.error, by_peer = excluded.by_peer,"
            " accepted = excluded.accepted, transfer_id = excluded.transfer_id,"
            " auto_resume = excluded.auto_resume, batch = excluded.batch,"
            " folder = excluded.folder, updated = excluded.updated",
            (r.key, r.direction, r.peer, r.conv, r.name, r.size, r.sha256, r.mime, r.path,
             r.state, r.done, r.error, int(r.by_peer), int(r.accepted), r.transfer_id,
             int(r.auto_resume), r.batch, r.folder, r.created or now, now))

    def transfers(self) -> list[TransferRecord]:
        """Every stored transfer, oldest first."""
        rows = self._db.execute(
            f"SELECT {_TRANSFER_COLUMNS}, created FROM transfers ORDER BY ord").fetchall()
        return [TransferRecord(k, d, p, c, n, sz, sh, m, pa, st, dn, e, bool(bp), bool(ac),
                               tid, bool(au), b, f, cr or 0.0)
                for k, d, p, c, n, sz, sh, m, pa, st, dn, e, bp, ac, tid, au, b, f, cr in rows]

    def transfer(self, key: str) -> TransferRecord | None:
        row = self._db.execute(
            f"SELECT {_TRANSFER_COLUMNS}, created FROM transfers WHERE key = ?",
            (key,)).fetchone()
        if row is None:
            return None
        k, d, p, c, n, sz, sh, m, pa, st, dn, e, bp, ac, tid, au, b, f, cr = row
        return TransferRecord(k, d, p, c, n, sz, sh, m, pa, st, dn, e, bool(bp), bool(ac),
                              tid, bool(au), b, f, cr or 0.0)

    def prune_transfers(self, keep: int = TRANSFERS_KEPT) -> int:
        """Forget all but the newest ``keep`` transfers; returns how many went."""
        cur = self._db.execute(
            "DELETE FROM transfers WHERE ord NOT IN"
            " (SELECT ord FROM transfers ORDER BY ord DESC LIMIT ?)", (keep,))
        return cur.rowcount

    # ---------------------------------------------------------------- windows, read marks

    def rows_between(self, conv: str, after: int | None, before: int | None, *,
                     limit: int | None = None, newest: bool = False) -> list[CachedMessage]:
        """Cached messages of ``conv`` with ``after < seq < before`` (None: no bound), oldest
        first; with ``limit``, only the oldest ``limit`` of them (the newest with
        ``newest``)."""
        where, args = self._between(conv, after, before)
        order = "DESC" if newest else "ASC"
        sql = f"WHERE {where} ORDER BY seq {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        rows = self._select(sql, args)
        return rows[::-1] if newest else rows

    def count_between(self, conv: str, after: int | None, before: int | None) -> int:
        """How many messages of ``conv`` are cached with ``after < seq < before``."""
        where, args = self._between(conv, after, before)
        return self._db.execute(f"SELECT count(*) FROM messages WHERE {where}",
                                args).fetchone()[0]

    @staticmethod
    def _between(conv: str, after: int | None, before: int | None) -> tuple[str, tuple]:
        where, args = "conv = ?", (conv,)
        if after is not None:
            where, args = where + " AND seq > ?", (*args, after)
        if before is not None:
            where, args = where + " AND seq < ?", (*args, before)
        return where, args

    def set_text(self, seq: int, text: str, edited: float | None = None) -> int:
        """Replace the text of every cached copy of message ``seq`` (deleted, or edited at
        ``edited``, by its sender); returns how many rows changed."""
        if edited is None:  # deleted: no longer "edited" either (its text is gone)
            cur = self._db.execute(
                "UPDATE messages SET text = ?, edited = NULL WHERE seq = ? AND notice IS NULL",
                (text, seq))
        else:  # an edit never revives a deleted message, nor undoes a later edit
            cur = self._db.execute(
                "UPDATE messages SET text = ?, edited = ? WHERE seq = ? AND notice IS NULL"
                " AND text != ? AND (edited IS NULL OR edited <= ?)",
                (text, edited, seq, RETRACTED_TEXT, edited))
        return cur.rowcount

    def mark_read_here(self, conv: str, seqs: Sequence[int]) -> None:
        """This app sent a ``read`` receipt for someone else's messages ``seqs`` of ``conv``:
        their ``state`` becomes ``read`` (for a received message, ``sent`` means "not marked
        read yet" and ``read`` "marked read by this app"), so it is never sent twice."""
        self._update_many("UPDATE messages SET state = 'read'"
                          " WHERE conv = ? AND seq = ? AND state = 'sent'",
                          [(conv, seq) for seq in seqs])

    def _update_many(self, sql: str, rows: list[tuple]) -> None:
        """``executemany`` in one transaction (one commit, not one per row)."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def mark_read_elsewhere(self, user: str, seqs: Sequence[int]) -> None:
        """Another app of account ``user`` read messages ``seqs`` (a server ``read`` event):
        every cached copy of them not sent by ``user`` and not marked read here becomes
        ``read`` (see :meth:`mark_read_here`), whatever conversation it is in."""
        me = name_key(user)
        self._update_many("UPDATE messages SET state = 'read' WHERE seq = ? AND state = 'sent'"
                          " AND notice IS NULL AND name_key(sender) != ?",
                          [(seq, me) for seq in seqs])

    def unread_seqs(self, conv: str, user: str, *, before: int | None = None) -> list[int]:
        """Seqs of others' messages in ``conv`` not marked read here (see
        :meth:`mark_read_here`), below seq ``before`` if given, ascending; ``user`` is the
        account the store belongs to. Served by the partial index ``messages_unread``, so it
        does not read the whole conversation."""
        sql = _UNREAD_SQL
        args: tuple = (conv,)
        if before is not None:
            sql += " AND seq < ?"
            args = (conv, before)
        me = name_key(user)
        return [seq for seq, sender in self._db.execute(sql + " ORDER BY seq", args)
                if name_key(sender) != me]

    def oldest_unread_multicast(self, conv: str, user: str, upto: int) -> int | None:
        """The lowest seq at or below ``upto`` of an unread multicast from another sender in
        ``conv`` (see :meth:`unread_seqs`), or None. Reads the unread rows only (the partial
        index ``messages_unread``), however many there are."""
        me = name_key(user)
        for seq, sender in self._db.execute(
                _UNREAD_SQL + " AND seq <= ? AND scope = 'multicast' ORDER BY seq",
                (conv, upto)):
            if name_key(sender) != me:
                return seq
        return None

    def mark_all_read_here(self, user: str) -> int:
        """Mark every cached message not sent by ``user`` read here (see
        :meth:`mark_read_here`); for a cache written before read marks were kept. Returns
        how many rows changed."""
        cur = self._db.execute(
            "UPDATE messages SET state = 'read' WHERE state = 'sent' AND notice IS NULL"
            " AND name_key(sender) != ?", (name_key(user),))
        return cur.rowcount
