"""Where Messenger keeps its files: per-user data, config and log folders (platformdirs).

Setting ``MESSENGER_HOME`` puts all three under that folder (``data/``, ``config/``, ``logs/``),
which tests and portable installs use.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from . import APP_NAME


def _home() -> Path | None:
    home = os.environ.get("MESSENGER_HOME")
    return Path(home) if home else None


def private_dir(path: Path, *, narrow: bool = True) -> Path:
    """``path`` (with its parents) created if missing; on POSIX the folder itself is made
    readable by this user only (0700), and with ``narrow`` an existing one is narrowed to
    that: messages, drafts, password hashes and logs are nobody else's business on a shared
    machine (a security review found them all 0644 in 0755 folders). Returns ``path``.

    Raises:
        OSError: the folder cannot be made.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if narrow and os.name == "posix" and path.stat().st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass  # (not ours to change: the files in it are still 0600)
    return path


def private_file(path: Path | str, *, create: bool = True) -> None:
    """On POSIX, create ``path`` if missing (unless not ``create``) with mode 0600 and
    narrow an existing regular file to that (a device or FIFO is left alone); call it
    before a log is opened (for a database: :func:`private_database`). Where it cannot (a
    read-only folder, another owner), nothing is changed: opening the file then says why."""
    if os.name != "posix":
        return
    try:
        # (O_NONBLOCK: a FIFO given as a log file must not block the start)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | (os.O_CREAT if create else 0), 0o600)
    except OSError:
        return
    try:
        mode = os.fstat(fd).st_mode
        # Only a regular file: `--log-file /dev/null` as root narrowed the machine's
        # /dev/null, and every other user's writes to it failed (an operator hunt).
        if stat.S_ISREG(mode) and mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError:
        pass
    finally:
        os.close(fd)


def private_database(path: Path | str) -> None:
    """:func:`private_file` for an SQLite database about to be opened, and for the ``-wal``,
    ``-shm`` and ``-journal`` files beside it when they exist: new ones take the database
    file's mode, but SQLite reuses those left by an earlier run (an older version, a crash)
    as they are, and they hold recent rows."""
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        private_file(f"{path}{suffix}", create=False)


def write_durably(path: Path, text: str | bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8 when a ``str``) atomically and durably: written
    to ``path.tmp`` and synced, renamed over ``path``, then the folder synced, so a power
    loss leaves the old file or the new one, never an empty or half-written one (the pins
    and the map of server homes are small files that decide whom the app trusts and where
    its messages are; the server's certificate and key). The folder must exist.

    ``mode`` (POSIX): the file's permissions from its creation on (a leftover ``path.tmp``
    is removed first, so the data is never in a file more open than that — ``0o600`` for
    a private key); None gives a new file's usual mode (the umask's).

    Raises:
        OSError: it could not be written (the old file is then left as it was)."""
    tmp = path.with_suffix(".tmp")
    data = text.encode("utf-8") if isinstance(text, str) else text
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    if mode is not None:
        # (a leftover tmp keeps its mode through O_TRUNC, and another process may hold it
        # open: a file of our own, made with the mode, and narrowed past the umask)
        tmp.unlink(missing_ok=True)
        flags |= os.O_EXCL
    fd = os.open(tmp, flags, 0o666 if mode is None else mode)
    with os.fdopen(fd, "wb") as f:
        if mode is not None and os.name == "posix":
            os.fchmod(f.fileno(), mode)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:  # (Windows cannot open a folder: its rename is durable)
        return
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _ensure(path: Path) -> Path:
    return private_dir(path)


def data_dir(*, create: bool = True) -> Path:
    """Per-user data folder (server database, client caches), created if missing (unless
    not ``create``: then only named)."""
    home = _home()
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME))
    return _ensure(path) if create else path


def pasted_dir() -> Path:
    """Where images pasted into a conversation are saved as PNG files before they are sent
    (they must outlive the app for a transfer to resume), created if missing."""
    return _ensure(data_dir() / "pasted")


def config_dir() -> Path:
    """Per-user config folder (settings, pinned server certificates), created if missing."""
    home = _home()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME)))


def log_dir(*, create: bool = True) -> Path:
    """Per-user log folder, created if missing (unless not ``create``: then only named)."""
    home = _home()
    path = home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME))
    return _ensure(path) if create else path
