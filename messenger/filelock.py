"""An exclusive lock on a file, held while a process uses what it guards: ``flock`` on POSIX,
``msvcrt.locking`` of its first byte on Windows. The operating system releases it when the
holder ends, however it ends (``kill -9`` too), so a stale lock file never blocks anyone.
Used for the server's database (:mod:`messenger.server.lock`) and for an account's local
store in the app (:class:`messenger.client.localstore.LocalStore`)."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import IO, Protocol

_TAKEN_ERRNOS = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES,
                 getattr(errno, "EDEADLOCK", errno.EDEADLK)}
"""``errno`` of taking a lock that another process holds (flock: EWOULDBLOCK; msvcrt:
EACCES or EDEADLOCK); other errors are real failures and propagate."""

UNSUPPORTED_ERRNOS = frozenset({errno.ENOLCK, errno.ENOTSUP, errno.EOPNOTSUPP})
"""``errno`` of a file system that has no locks (NFS without its lock service, some SMB
mounts): :func:`take_lock` raises ``OSError`` with one of these; a caller may go on
without the lock (and say so)."""


class LockTaken(RuntimeError):
    """Another process (or another open file of this one) holds the lock."""


class Held(Protocol):
    """What :func:`take_lock` returns: keep it while using what the lock guards."""

    def close(self) -> None: ...


class _Share:
    """One of this process's holds on a lock taken ``per_process``: the lock (one open
    file) is released when the last share closes."""

    def __init__(self, key: str) -> None:
        self._key = key
        self.closed = False

    def close(self) -> None:
        with _guard:
            if self.closed:
                return
            self.closed = True
            entry = _shared[self._key]
            entry[1] -= 1
            if entry[1] == 0:
                del _shared[self._key]
                entry[0].close()


_guard = threading.Lock()
_shared: dict[str, list] = {}  # real path → [the open, locked file, shares]


def take_lock(path: Path | str, *, per_process: bool = False) -> Held:
    """Take the exclusive lock of file ``path`` (created if missing) without waiting and
    return a handle: keep it while using what the lock guards; closing it releases it.

    With ``per_process``: this process may take it again (another process may not); each
    take returns a share, and the lock goes with the last share closed (an app's tests start
    the "next" app in the same process). The same on every platform: the process opens and
    locks the file once.

    Raises:
        LockTaken: it is held elsewhere.
        OSError: the file cannot be created or locked for another reason (permissions, a
            read-only folder, a file system without locks: :data:`UNSUPPORTED_ERRNOS`).
    """
    if not per_process:
        return _lock(path)
    key = os.path.realpath(path)
    with _guard:
        entry = _shared.get(key)
        if entry is None:
            entry = _shared[key] = [_lock(path), 0]
        entry[1] += 1
        return _Share(key)


def _lock(path: Path | str) -> IO[bytes]:
    lock = open(path, "a+b")  # the caller keeps it open, then closes it
    try:
        if os.name == "nt":
            import msvcrt

            lock.seek(0)
            msvcrt.locking(lock.fileno(), msvcrt.LK_NBLCK, 1)  # OSError when taken
        else:
            import fcntl

            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.close()
        if exc.errno not in _TAKEN_ERRNOS:
            raise
        raise LockTaken(str(path)) from None
    return lock
