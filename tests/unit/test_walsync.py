"""The WAL sync thread of the pipelined group commit, on a real SQLite file and real fsyncs."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from messenger.server import walsync
from messenger.server.store import BACKSTOP_CHECKPOINT_PAGES, Store, TransactionLost
from messenger.server.walsync import WalSync

WAIT = 10.0  # seconds; Event.wait returns as soon as the thread reports


class Reports:
    def __init__(self) -> None:
        self.synced: list[int] = []
        self.failed: list[BaseException] = []
        self.event = threading.Event()

    def on_synced(self, ticket: int) -> None:
        self.synced.append(ticket)
        self.event.set()

    def on_failed(self, exc: BaseException) -> None:
        self.failed.append(exc)
        self.event.set()


def store_with_deferred_sync(tmp_path) -> Store:
    store = Store(tmp_path / "server.db")
    store.set_batch(True)
    store.defer_sync()
    return store


def write(store: Store, n: int) -> bool:
    store.store_message(sender="alice", client_msg_id=f"m{n}", scope="unicast", text="hi",
                        recipients=["bob"], recipient_keys=["bob"])
    return store.commit()


def test_defer_sync_switches_off_the_fsync_and_keeps_the_checkpoint_as_a_backstop(tmp_path):
    store = store_with_deferred_sync(tmp_path)
    db = store._db
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_CHECKPOINT_PAGES
    store.sync_on_commit()
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    store.close()


def test_commit_says_whether_it_wrote(tmp_path):
    store = store_with_deferred_sync(tmp_path)
    assert write(store, 1) is True
    assert store.commit() is False  # nothing new
    store.message(1)  # a read only
    assert store.commit() is False
    store.close()


def test_tickets_are_reported_once_synced_and_the_last_request_wins(tmp_path):
    store = store_with_deferred_sync(tmp_path)
    reports = Reports()
    assert write(store, 1)
    sync = WalSync(store.path, reports.on_synced, reports.on_failed)
    sync.request(1)
    assert reports.event.wait(WAIT)
    assert reports.synced == [1]
    reports.event.clear()
    for ticket in (2, 3, 4):
        assert write(store, ticket)
        sync.request(ticket)
    sync.request(3)  # an older ticket asks for nothing new
    sync.stop()  # syncs what was requested before it ends
    assert reports.synced[-1] == 4 and reports.synced == sorted(reports.synced)
    assert 2 <= sync.syncs <= 4 and not reports.failed and not sync.alive
    store.close()
    # Committed without a fsync in the commit, synced by the thread: all there.
    db = sqlite3.connect(tmp_path / "server.db")
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 4
    db.close()


def test_checkpoints_run_on_the_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(walsync, "CHECKPOINT_INTERVAL", 0.0)
    store = store_with_deferred_sync(tmp_path)
    reports = Reports()
    sync = WalSync(store.path, reports.on_synced, reports.on_failed)
    for ticket in (1, 2):
        assert write(store, ticket)
        sync.request(ticket)
    sync.stop()
    assert sync.checkpoints >= 1 and not reports.failed
    store.close()


def test_a_wal_that_cannot_be_synced_is_reported_and_ends_the_thread(tmp_path):
    reports = Reports()
    sync = WalSync(tmp_path / "nothing-here.db", reports.on_synced, reports.on_failed)
    sync.request(1)
    assert reports.event.wait(WAIT)
    sync.stop()
    assert reports.synced == [] and isinstance(reports.failed[0], FileNotFoundError)
    assert not sync.alive


def test_a_transaction_that_sqlite_rolled_back_by_itself_fails_the_commit(tmp_path):
    """On disk-full or I/O errors SQLite may roll the whole transaction back. A request that
    met the error was answered with an internal error, but the other requests' rows went
    with it: the commit must fail rather than let their acknowledgements out."""
    store = store_with_deferred_sync(tmp_path)
    write(store, 1)
    store.store_message(sender="alice", client_msg_id="m2", scope="unicast", text="hi",
                        recipients=["bob"], recipient_keys=["bob"])
    store.message(2)  # a read: the buffered rows go into the open transaction
    store._db.execute("ROLLBACK")  # what SQLite does by itself after SQLITE_FULL
    with pytest.raises(TransactionLost):
        store.commit()
    assert store.commit() is False  # the next turn starts clean
    store.close()


def test_a_checkpoint_that_fails_is_reported_as_a_checkpoint(tmp_path, monkeypatch):
    """A checkpoint that failed (a full disk) stopped the server with "making the WAL
    durable failed", though the WAL was synced: the operator looked for the wrong fault.
    (Here the database cannot be opened: a folder of that name, its WAL a file.)"""
    monkeypatch.setattr(walsync, "CHECKPOINT_INTERVAL", 0.0)
    (tmp_path / "server.db").mkdir()
    (tmp_path / "server.db-wal").write_bytes(b"")
    reports = Reports()
    sync = WalSync(tmp_path / "server.db", reports.on_synced, reports.on_failed)
    sync.request(1)
    sync.stop()
    assert reports.synced == [1] and sync.checkpoints == 0
    assert isinstance(reports.failed[0], walsync.CheckpointFailed)
    assert str(reports.failed[0]).startswith("copying the WAL into the database failed: ")
