"""One server per database: an exclusive lock on ``<database>.lock`` while a server runs.

Two servers on one database would each count ``seq`` from what they loaded at start and hand
out the same numbers (the second one's first insert then fails, and with it the server).
The lock makes the second one refuse to start with a clear message instead. The operating
system releases it when the holder ends, however it ends (``kill -9`` too), so a stale lock
file never blocks a restart (:mod:`messenger.filelock`).
"""

from __future__ import annotations

from pathlib import Path

from messenger.filelock import Held, LockTaken, take_lock


class DatabaseInUse(RuntimeError):
    """Another server holds the database's lock."""


def lock_database(db_path: Path | str) -> Held:
    """Take the lock of ``db_path`` without waiting and return the open lock file (keep it
    open while serving; closing it releases the lock).

    POSIX: ``flock`` (exclusive); Windows: ``msvcrt.locking`` of its first byte.

    Raises:
        DatabaseInUse: another process holds it.
        OSError: the lock file cannot be created or locked for another reason
            (permissions, a read-only folder, a file system without locks).
    """
    try:
        return take_lock(f"{db_path}.lock")
    except LockTaken:
        raise DatabaseInUse(
            f"another Messenger server is using {db_path}: stop it first, or give this one "
            "another --data-dir (or --db)") from None
