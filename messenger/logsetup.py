"""Logging set-up shared by the app and the server: stderr plus a rotating file.

Subsystems log through named loggers: ``messenger.server.net``, ``messenger.server.core``,
``messenger.server.store``, ``messenger.client.connection``, ``messenger.gui`` and so on.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

from .paths import private_dir, private_file

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c != 0x09}
_ESCAPES |= {0x0A: "\\n", 0x0D: "\\r"}
_ESCAPES |= {c: f"\\x{c:02x}" for c in range(0x80, 0xA0)}  # (C1 controls, NEL among them)
_ESCAPES |= {c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F),
                                          *range(0x2066, 0x206A))}


class _OneLineFormatter(logging.Formatter):
    """Writes each record's message on one line: line breaks, other control characters and
    bidirectional overrides in it (from names, file names and texts that clients sent) are
    escaped, so that no client can forge log lines or disguise them. Tracebacks keep their
    lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        if not message.isprintable():
            record.message = message.translate(_ESCAPES)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        # A traceback keeps its lines, each marked as part of the record above it: an
        # exception's message (which may quote what a client sent) cannot pass for a record.
        return "\n".join("| " + line.translate(_ESCAPES)
                         for line in super().formatException(ei).splitlines())


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A :class:`~logging.handlers.RotatingFileHandler` whose files (also each new one after a
    rollover) are readable by this user only (0600 on POSIX): logs name people, addresses
    and files. Rotated copies that are there already (``server.log.1`` … left by an earlier
    version, made with the umask's mode) are narrowed too when the handler is made."""

    def __init__(self, filename: str | Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(filename, *args, **kwargs)
        # (An upgrade narrowed the log itself, and its older copies stayed 0644 until they
        # rotated away, months later for the activity log: a privacy hunt.)
        for n in range(1, self.backupCount + 1):
            private_file(self.rotation_filename(f"{self.baseFilename}.{n}"), create=False)

    def _open(self) -> Any:
        private_file(self.baseFilename)
        return super()._open()

    _told = False

    def handleError(self, record: logging.LogRecord) -> None:
        """A record that cannot be written (a full disk): one line on stderr, once, instead
        of Python's "--- Logging error ---" traceback for every record (about 40 lines
        before a server's one-line reason for not starting: an operator hunt)."""
        if not self._told:
            self._told = True
            exc = sys.exc_info()[1]
            print(f"messenger: cannot write the log file {self.baseFilename}: "
                  f"{getattr(exc, 'strerror', None) or exc}", file=sys.stderr)


def _not_console_only_elsewhere(record: logging.LogRecord) -> bool:
    """Records logged with ``extra={"console": False}`` (already told on stderr in other
    words, e.g. a one-line start-up error) go to the log file only."""
    return getattr(record, "console", True)


def setup_logging(log_file: Path | None, *, level: int = logging.INFO,
                  stderr: bool = True) -> None:
    """Send the ``messenger`` loggers to stderr and, if given, to a rotating ``log_file``
    (5 files of at most 1 MiB each). Safe to call more than once: old handlers are replaced."""
    root = logging.getLogger("messenger")
    for handler in list(root.handlers):
        if getattr(handler, "_messenger", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    formatter = _OneLineFormatter(FORMAT)
    handlers: list[logging.Handler] = []
    if stderr:
        console = logging.StreamHandler()
        console.addFilter(_not_console_only_elsewhere)
        handlers.append(console)
    if log_file is not None:
        private_dir(log_file.parent, narrow=False)
        handlers.append(PrivateRotatingFileHandler(
            log_file, maxBytes=1 << 20, backupCount=5, encoding="utf-8",
            errors="backslashreplace"))  # (a non-UTF-8 file name dropped its record)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._messenger = True  # type: ignore[attr-defined]
        root.addHandler(handler)
