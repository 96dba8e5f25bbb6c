"""The store's writer process: executes and commits batches of writes on its own SQLite
connection, so the server's event loop never waits for SQLite's work or its fsync, and the
two share no GIL.

    python -m messenger.server.writer DB_PATH
    messenger --store-writer DB_PATH          (the same, in a frozen build)

The server (:class:`WriterProcess`, used by :class:`~.store.Store`) writes each batch to the
writer's stdin as a frame: 4-byte big-endian length + the :class:`Batch`'s fields as a tuple in
``marshal`` format (the same interpreter runs both ends; plain tuples, lists, strings and
numbers, and faster than pickle). The writer executes every complete frame it has (several in
one transaction), commits (one fsync) and then answers on stdout, one line per batch:
``OK <ticket>``, or ``ERR <ticket> <message>`` when the transaction failed and was rolled back.

It ignores SIGINT and SIGTERM: it stops at the end of its input, after committing the last
complete batch, so a server that is stopped (or killed) never leaves it behind, and an
incomplete frame is never executed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import marshal
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger("messenger.server.writer")

_HEADER = struct.Struct(">I")
_PIPE_SIZE = 1 << 20
_READ_SIZE = 1 << 20

CACHE_KIB = 64 * 1024
"""SQLite's page cache per connection (``PRAGMA cache_size``): the default 2 MiB cannot hold the
index pages a busy turn touches (one or two per sender and recipient)."""


def connection_pragmas(db: sqlite3.Connection) -> None:
    """The settings of every connection to the server's database (the file itself is in WAL
    mode)."""
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=10000")
    db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")


_SQL_MESSAGES = (
    "INSERT INTO messages (seq, sender, sender_key, client_msg_id, scope, recipients, grp,"
    " grp_key, notice, text, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_SQL_DELIVERIES = "INSERT OR IGNORE INTO deliveries (seq, user_key) VALUES (?, ?)"
_SQL_MARKS = (
    "UPDATE deliveries SET delivered = coalesce(delivered, ?), read = coalesce(read, ?)"
    " WHERE seq = ? AND user_key = ?")
_SQL_RECEIPTS = (
    "INSERT INTO receipts (rid, sender_key, seq, user, state, ts) VALUES (?, ?, ?, ?, ?, ?)")


@dataclass(slots=True)
class Batch:
    """The writes of one or more event-loop turns, in the order they are executed: rare
    statements (accounts, groups), then rows of ``messages``, ``deliveries``, delivered/read
    marks (``(delivered, read, seq, user_key)``, applied with ``coalesce``, so repeats and
    their order do not matter) and ``receipts``."""

    ticket: int
    sql: list[tuple[str, tuple]]
    messages: list[tuple]
    deliveries: list[tuple]
    marks: list[tuple]
    receipts: list[tuple]


def execute(db: sqlite3.Connection, batches: Sequence[Batch]) -> None:
    """Write ``batches`` in one transaction and commit (one fsync); roll back on an error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for b in batches:
            for sql, params in b.sql:
                db.execute(sql, params)
            if b.messages:
                db.executemany(_SQL_MESSAGES, b.messages)
            if b.deliveries:
                db.executemany(_SQL_DELIVERIES, b.deliveries)
            if b.marks:
                db.executemany(_SQL_MARKS, b.marks)
            if b.receipts:
                db.executemany(_SQL_RECEIPTS, b.receipts)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


# ------------------------------------------------------------------------------ the process


def lock_path(db_path: str) -> str:
    """The lock file a writer holds for its whole life (see :func:`wait_for_writers`)."""
    return db_path + "-writer.lock"


def wait_for_writers(db_path: str, timeout: float = 30.0) -> None:
    """Wait until no writer process of ``db_path`` is running: a server killed a moment ago
    may have left one finishing its last batch, which must be committed before a new server
    reads the last ``seq`` and ``rid``. Gives up (with a warning) after ``timeout`` seconds."""
    with open(lock_path(db_path), "a") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("a store writer of %s is still running; going on", db_path)
                    return
                time.sleep(0.02)
                continue
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return


def main(path: str) -> int:
    """Run the writer on stdin/stdout until the end of input (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    lock = open(lock_path(path), "a")  # held until the process exits
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    db = sqlite3.connect(path, isolation_level=None)
    connection_pragmas(db)
    rfd, wfd = sys.stdin.fileno(), sys.stdout.fileno()
    buf = bytearray()
    eof = False
    try:
        while True:
            frames = _frames(buf)
            while not frames and not eof:  # wait for a complete batch
                chunk = os.read(rfd, _READ_SIZE)
                if chunk:
                    buf += chunk
                    frames = _frames(buf)
                else:
                    eof = True
            while not eof and select.select([rfd], [], [], 0)[0]:  # and take what else is there
                chunk = os.read(rfd, _READ_SIZE)
                if not chunk:
                    eof = True
                    break
                buf += chunk
                frames += _frames(buf)
            if not frames:
                break  # end of input (an incomplete frame is dropped)
            batches = [Batch(*marshal.loads(f)) for f in frames]
            try:
                execute(db, batches)
                answer = "".join(f"OK {b.ticket}\n" for b in batches)
            except Exception as exc:  # reported; the server decides what to do
                reason = f"{type(exc).__name__}: {exc}".replace("\n", " ")
                answer = "".join(f"ERR {b.ticket} {reason}\n" for b in batches)
            try:
                _write_all(wfd, answer.encode())
            except BrokenPipeError:
                break  # the server is gone; what was committed stays committed
    finally:
        db.close()
    return 0


def _frames(buf: bytearray) -> list[bytes]:
    """Remove and return the complete frames at the start of ``buf``."""
    frames = []
    pos = 0
    while len(buf) - pos >= 4:
        (length,) = _HEADER.unpack_from(buf, pos)
        if len(buf) - pos - 4 < length:
            break
        frames.append(bytes(buf[pos + 4:pos + 4 + length]))
        pos += 4 + length
    del buf[:pos]
    return frames


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ------------------------------------------------------------------------------ the server's side


class WriterGone(Exception):
    """The writer process ended or cannot be reached: the batches it had not answered may or
    may not be committed."""


def command(db_path: str) -> tuple[list[str], dict[str, str]]:
    """How to start the writer for ``db_path``: the command line and its environment (the
    package's folder on ``PYTHONPATH``, so that the writer runs this very code)."""
    env = dict(os.environ)
    if getattr(sys, "frozen", False):
        return [sys.executable, "--store-writer", db_path], env
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return [sys.executable, "-m", "messenger.server.writer", db_path], env


class WriterProcess:
    """The server's handle on a writer process: sends batches, reads the answers.

    Not blocking except where said: :meth:`put` waits only while the pipe is full,
    :meth:`next_answer` waits for an answer. :meth:`fileno` is the descriptor to watch for
    answers (readable)."""

    def __init__(self, db_path: str) -> None:
        argv, env = command(db_path)
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      env=env, bufsize=0)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in = self._proc.stdin.fileno()
        self._out = self._proc.stdout.fileno()
        for fd in (self._in, self._out):
            os.set_blocking(fd, False)
            with contextlib.suppress(OSError, AttributeError):  # a bigger pipe if allowed
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self._answers = bytearray()
        self._eof = False
        self.pid = self._proc.pid

    def fileno(self) -> int:
        return self._out

    def put(self, batch: Batch) -> None:
        """Send ``batch``. Raises :class:`WriterGone`."""
        data = marshal.dumps((batch.ticket, batch.sql, batch.messages, batch.deliveries,
                              batch.marks, batch.receipts))
        view = memoryview(_HEADER.pack(len(data)) + data)
        while view:
            try:
                view = view[os.write(self._in, view):]
            except BlockingIOError:  # the pipe is full: wait, reading answers meanwhile
                readable, _, _ = select.select([self._out], [self._in], [], 1.0)
                if readable:
                    self._read()
                if self._eof:
                    raise WriterGone("the store writer ended") from None
            except (BrokenPipeError, ValueError) as exc:
                raise WriterGone(f"the store writer ended ({exc})") from None

    def answers(self) -> list[tuple[int, str | None]]:
        """The answers available now: ``(ticket, None)`` for a committed batch, ``(ticket,
        reason)`` for a failed one. Raises :class:`WriterGone` once the writer has ended and
        every answer was taken."""
        self._read()
        result = self._parse()
        if not result and self._eof:
            raise WriterGone("the store writer ended")
        return result

    def next_answers(self) -> list[tuple[int, str | None]]:
        """Wait for at least one answer (see :meth:`answers`)."""
        while True:
            result = self.answers()
            if result:
                return result
            select.select([self._out], [], [], 1.0)

    def stop(self, timeout: float = 60.0) -> None:
        """End the input (the writer commits what it has and exits), and wait for it."""
        with contextlib.suppress(OSError):
            self._proc.stdin.close()  # type: ignore[union-attr]
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("the store writer did not stop; killing it")
            self._proc.kill()
            self._proc.wait()
        with contextlib.suppress(OSError):
            self._proc.stdout.close()  # type: ignore[union-attr]

    def _read(self) -> None:
        while not self._eof:
            try:
                chunk = os.read(self._out, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._eof = True
                return
            self._answers += chunk

    def _parse(self) -> list[tuple[int, str | None]]:
        cut = self._answers.rfind(b"\n")
        if cut < 0:
            return []
        lines = bytes(self._answers[:cut]).decode(errors="replace").split("\n")
        del self._answers[:cut + 1]
        result: list[tuple[int, str | None]] = []
        for line in lines:
            word, _, rest = line.partition(" ")
            ticket, _, reason = rest.partition(" ")
            result.append((int(ticket), None if word == "OK" else reason or "failed"))
        return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
