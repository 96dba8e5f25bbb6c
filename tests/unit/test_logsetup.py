"""The log keeps one line per record: what clients send cannot forge or hide log lines."""

from __future__ import annotations

import errno
import logging

import pytest

from messenger.logsetup import PrivateRotatingFileHandler, setup_logging


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "server.log"
    setup_logging(path, stderr=False)
    yield path
    root = logging.getLogger("messenger")
    for handler in list(root.handlers):
        if getattr(handler, "_messenger", False):
            root.removeHandler(handler)
            handler.close()


def test_a_client_string_cannot_forge_a_log_line(log_file):
    # What ServerCore._transfer_offer logs, with a file name a client chose.
    forged = "2026-12-07 09:00:00,000 INFO    messenger.server.activity: login admin"
    logging.getLogger("messenger.server.core").info(
        "transfer %s: %s offers %s (%d bytes) to %s", "t1", "mallory", "x.txt\r\n" + forged,
        1, "bob")
    logging.getLogger("messenger.server.core").info("no such group: %s", "\u202egpj.exe\x00")
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert "x.txt\\r\\n2026-12-07" in lines[0]
    assert "\\u202egpj.exe\\x00" in lines[1]


def test_tracebacks_keep_their_lines(log_file):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("messenger.server.net").exception("internal error on %s", "tab\there")
    text = log_file.read_text(encoding="utf-8")
    assert "internal error on tab\there" in text
    assert "Traceback (most recent call last):" in text.splitlines()[1]


def test_an_exception_message_cannot_pass_for_a_record_either(log_file):
    """A traceback keeps its lines, each marked "| ": an exception message that quotes what
    a client sent (with a line break and a fake time stamp) stays inside its record."""
    forged = "2026-12-07 09:00:00,000 CRITICAL messenger.server: database lost"
    try:
        raise ValueError("no such group: g\n" + forged + "\x9b")
    except ValueError:
        logging.getLogger("messenger.server.core").exception("request failed")
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith("request failed")
    assert all(line.startswith("| ") for line in lines[1:])
    assert not any(line.startswith("2026-12-07 09:00") for line in lines)
    assert "\\x9b" in lines[-1]


def test_a_log_file_that_cannot_be_written_says_so_once(tmp_path, capsys):
    """A full disk gave Python's "--- Logging error ---" traceback for every record (about
    40 lines before the server's one-line reason for not starting): one line, once."""
    handler = PrivateRotatingFileHandler(tmp_path / "server.log")
    logger = logging.getLogger("messenger.test.full")
    logger.addHandler(handler)
    logger.propagate = False

    def full(_text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    handler.stream.write = full  # (the disk is full)
    try:
        logger.warning("one")
        logger.warning("two")
    finally:
        logger.removeHandler(handler)
        handler.close()
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err
    assert err.count("cannot write the log file") == 1 and "No space left" in err, err


def test_a_line_naming_a_file_name_that_is_not_utf8_is_kept(log_file, capsys):
    """A path of undecodable bytes (``os.fsdecode`` makes them surrogates, e.g. a
    Latin-1 folder name given as --data-dir) dropped the whole record: "cannot write the
    log file …: 'utf-8' codec can't encode character '\\udce9'"."""
    import os

    name = os.fsdecode(b"/srv/caf\xe9")
    logging.getLogger("messenger.server").info("data dir %s", name)
    assert log_file.read_text(encoding="utf-8").rstrip().endswith("data dir /srv/caf\\udce9")
    assert "cannot write the log file" not in capsys.readouterr().err
