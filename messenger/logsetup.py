"""Logging set-up shared by the app and the server: stderr plus a rotating file.

Subsystems log through named loggers: ``messenger.server.net``, ``messenger.server.core``,
``messenger.server.store``, ``messenger.client.connection``, ``messenger.gui`` and so on.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


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
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = []
    if stderr:
        console = logging.StreamHandler()
        console.addFilter(_not_console_only_elsewhere)
        handlers.append(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            log_file, maxBytes=1 << 20, backupCount=5, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._messenger = True  # type: ignore[attr-defined]
        root.addHandler(handler)
