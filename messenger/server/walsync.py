"""Pipelined group commit: the WAL's ``fdatasync`` off the event loop.

With ``PRAGMA synchronous=FULL`` every ``COMMIT`` waits for an ``fsync`` of the WAL on the
thread that commits: 0.4-0.8 ms on this VM's disk, during which the server's event loop neither
reads nor writes a socket, and at moderate load (many small turns) most of the loop's time.
Instead the server runs its store with ``synchronous=NORMAL`` (a ``COMMIT`` appends the
transaction's frames to the WAL with ``pwrite`` and returns) and :class:`WalSync` makes them
durable on a thread of its own: ``fdatasync`` of the WAL file, then a callback with the
highest commit *ticket* that the sync covers. The server holds the replies of a commit until
its ticket is synced, so nothing is acknowledged before it is on disk, as before. Meanwhile the
loop goes on reading and handling requests; what they write and answer joins the next commit,
made when the sync is done and covered by the next ``fdatasync`` (group commit, pipelined).

Checkpoints move to this thread too: after a sync, at most every :data:`CHECKPOINT_INTERVAL`
seconds (50 ms), a ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of the thread copies the WAL's
pages into the database file (SQLite syncs the WAL before and the database after; PASSIVE never
blocks the writer). SQLite restarts the WAL from its beginning only when a write transaction
begins after a checkpoint that copied every frame, which a checkpoint racing the next commits
rarely achieves, so the store keeps its own automatic checkpoint as a backstop
(:data:`~.store.BACKSTOP_CHECKPOINT_PAGES`).

Why this is as durable as ``synchronous=FULL``: SQLite's WAL is an append log whose frames carry
checksums; recovery replays frames up to the last valid commit frame. ``fdatasync`` of the WAL
file makes every frame written before the call durable, whichever descriptor it is called on
(POSIX: it flushes the file, not the descriptor). With ``synchronous=NORMAL`` alone, SQLite
documents that the last commits may roll back after a power loss, never that the database is
corrupted (https://www.sqlite.org/pragma.html#pragma_synchronous); the sync before any reply
closes that window for everything acknowledged.

No Qt here: the server wires :attr:`on_synced` / :attr:`on_failed` to a queued signal.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("messenger.server.walsync")

CHECKPOINT_INTERVAL = 0.05
"""Seconds between checkpoints while commits go on (SQLite's automatic checkpoint runs every
1,000 pages instead, in the committing thread). Short, so that little is left to copy when the
store's backstop checkpoint (:data:`~.store.BACKSTOP_CHECKPOINT_PAGES`) stalls the event loop:
at 1 s, that stall copied most of 16 MiB and took 7-10 ms every 0.3 s at 5,000 msgs/s, which
was the p99 latency (docs/performance.md, *Checkpoints*)."""

_sync = getattr(os, "fdatasync", os.fsync)  # macOS and Windows have no fdatasync


class CheckpointFailed(Exception):
    """A checkpoint (copying the WAL into the database) failed, on a full disk say; the
    syncs before it had made the WAL durable. Reported through ``on_failed`` like a failed
    sync, whose words ("making the WAL durable failed") it had, misleading the operator."""


class WalSync:
    """A thread that makes committed WAL frames durable and reports how far it got.

    Args:
        db_path: the SQLite database (its WAL is ``db_path + "-wal"``), in WAL mode, opened by
            the store with ``synchronous=NORMAL`` and ``wal_autocheckpoint=0``.
        on_synced: called on the sync thread with the highest ticket made durable.
        on_failed: called on the sync thread with the exception when a sync or checkpoint
            fails (the thread then stops; nothing after the failure is reported synced).

    Thread-safety: :meth:`request` and :meth:`stop` are for the event-loop thread.
    """

    def __init__(self, db_path: Path | str, on_synced: Callable[[int], None],
                 on_failed: Callable[[BaseException], None]) -> None:
        self.db_path = str(db_path)
        self.wal_path = self.db_path + "-wal"
        self.on_synced = on_synced
        self.on_failed = on_failed
        self._cond = threading.Condition()
        self._requested = 0
        self._synced = 0
        self._stopping = False
        self.syncs = 0
        """``fdatasync`` calls so far (tickets per sync = group commit factor)."""
        self.checkpoints = 0
        self.failed: BaseException | None = None
        """The error that ended the thread, if one did."""
        self._thread = threading.Thread(target=self._run, name="wal-sync", daemon=True)
        self._thread.start()

    def request(self, ticket: int) -> None:
        """Ask for every commit up to ``ticket`` (increasing) to be made durable."""
        with self._cond:
            if ticket > self._requested:
                self._requested = ticket
                self._cond.notify()

    def stop(self) -> None:
        """Sync what was requested, then end the thread (waits for it; idempotent)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        fd: int | None = None
        checkpointer: sqlite3.Connection | None = None
        last_checkpoint = time.monotonic()
        try:
            while True:
                with self._cond:
                    while self._requested <= self._synced and not self._stopping:
                        self._cond.wait()
                    if self._requested <= self._synced:  # stopping, nothing left
                        break
                    ticket = self._requested
                if fd is None:
                    fd = os.open(self.wal_path, os.O_RDWR | getattr(os, "O_BINARY", 0))
                _sync(fd)
                self.syncs += 1
                with self._cond:
                    self._synced = ticket
                self.on_synced(ticket)
                if time.monotonic() - last_checkpoint >= CHECKPOINT_INTERVAL:
                    try:
                        if checkpointer is None:
                            checkpointer = sqlite3.connect(self.db_path,
                                                           check_same_thread=False)
                        checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error as exc:
                        raise CheckpointFailed(
                            f"copying the WAL into the database failed: {exc}") from exc
                    self.checkpoints += 1
                    last_checkpoint = time.monotonic()
        except BaseException as exc:  # reported; the server decides what to do
            # (a checkpoint is no sync: the WAL was durable; the log said it was not)
            log.critical("%s", exc if isinstance(exc, CheckpointFailed)
                         else f"making the WAL durable failed: {exc}", exc_info=True)
            self.failed = exc
            self.on_failed(exc)
        finally:
            if fd is not None:
                os.close(fd)
            if checkpointer is not None:
                checkpointer.close()
