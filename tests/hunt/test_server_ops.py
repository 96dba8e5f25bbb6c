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


def test_add_user_refuses_a_look_alike_of_an_existing_account(tmp_path):
    """In the app, "aIice" (capital i) is refused next to "alice": "looks too much like
    'alice', an existing account's" (the impersonation guard). `--add-user aIice` created it
    without a word (Store.create_account checks only the same name ignoring case); and
    `--demo` on a server that has "aIice" adds "alice" beside it."""
    data = tmp_path / "data"
    base = ["--server", "--data-dir", str(data)]
    made = subprocess.run([sys.executable, "-m", "messenger", *base, "--demo", "--add-user",
                           "dora"], input="dora-pass\n", capture_output=True, text=True,
                          timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert made.returncode == 0, made
    twin = subprocess.run([sys.executable, "-m", "messenger", *base, "--add-user", "aIice"],
                          input="whatever1\n", capture_output=True, text=True,
                          timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert twin.returncode != 0 and "alice" in twin.stderr, twin


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
