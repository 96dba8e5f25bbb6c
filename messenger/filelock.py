"""An exclusive lock on a file, held while a process uses what it guards: ``flock`` on POSIX,
``msvcrt.locking`` of its first byte on Windows. The operating system releases it when the
holder ends, however it ends (``kill -9`` too), so a stale lock file never blocks anyone.
Used for the server's database (:mod:`messenger.server.lock`) and for an account's local
store in the app (:class:`messenger.client.localstore.LocalStore`)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO

_TAKEN_ERRNOS = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES,
                 getattr(errno, "EDEADLOCK", errno.EDEADLK)}
"""``errno`` of taking a lock that another process holds (flock: EWOULDBLOCK; msvcrt:
EACCES or EDEADLOCK); other errors are real failures and propagate."""


class LockTaken(RuntimeError):
    """Another process (or another open file of this one) holds the lock."""


def take_lock(path: Path | str, *, per_process: bool = False) -> IO[bytes]:
    """Take the exclusive lock of file ``path`` (created if missing) without waiting and
    return the open file: keep it open while using what it guards; closing it releases it.

    With ``per_process`` (POSIX): a record lock (``lockf``), which the process holding it may
    take again (another process may not), instead of ``flock``, which each open file takes
    for itself. For what one process may open twice (an app's tests start the "next" app in
    the same process); closing any of its opens of the file releases the lock.

    Raises:
        LockTaken: it is held elsewhere.
        OSError: the file cannot be created or locked for another reason (permissions, a
            read-only folder, a file system without locks).
    """
    lock = open(path, "a+b")  # the caller keeps it open, then closes it
    try:
        if os.name == "nt":
            import msvcrt

            lock.seek(0)
            msvcrt.locking(lock.fileno(), msvcrt.LK_NBLCK, 1)  # OSError when taken
        else:
            import fcntl

            if per_process:
                fcntl.lockf(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.close()
        if exc.errno not in _TAKEN_ERRNOS:
            raise
        raise LockTaken(str(path)) from None
    return lock
