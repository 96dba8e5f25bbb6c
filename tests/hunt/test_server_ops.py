"""Operator hunt: server start-up, the app's command line, logs (see the hunt report)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.rawclient import DEFAULT_TIMEOUT

REPO = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "messenger", *args], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=DEFAULT_TIMEOUT)


@pytest.mark.parametrize("kind", ["folder", "not-sqlite"])
def test_a_database_that_cannot_be_opened_is_named_in_the_error(tmp_path, kind):
    """`--db PATH` with PATH a folder said "error: cannot start the server: unable to open
    database file", and with PATH some other file "…: file is not a database": SQLite's
    words without the file's name (with the default data dir the operator does not even
    know where it is). A newer schema or another program's tables do name it."""
    db = tmp_path / "chat.db"
    if kind == "folder":
        db.mkdir()
    else:
        db.write_bytes(b"this is not an SQLite database, just some text\n" * 100)
    result = run(["--server", "--port", "0", "--data-dir", str(tmp_path / "data"),
                  "--db", str(db)], {"MESSENGER_HOME": str(tmp_path / "home")})
    assert result.returncode == 1, result
    assert str(db) in result.stderr, result.stderr
