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


def test_activity_log_and_user_list_give_addresses_an_operator_can_read(tmp_path):
    """`--host ::` (README: "every IPv4 and IPv6 address") logged an IPv4 client as
    "login alice from ::ffff:127.0.0.1:44378", and an IPv6 one as "login alice from
    ::1:60560": an IPv6 address and a port joined by a bare colon cannot be told apart
    ("fd00::2:51234" is also a whole address). The same text is the "from where" of
    /users in every app. Expected: "127.0.0.1:PORT" and "[::1]:PORT"."""
    import re
    import socket

    from helpers.rawclient import RawClient, ServerProcess

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    data = tmp_path / "data"
    command = [sys.executable, "-m", "messenger", "--server", "--host", "::", "--port", "0",
               "--data-dir", str(data), "--demo"]
    addresses = []
    with ServerProcess(command, cwd=REPO) as proc:
        for host in ("127.0.0.1", "::1"):
            with RawClient(host, proc.port) as client:
                client.hello()
                reply = client.login("alice", "alice123", request_id=1)
                assert reply["type"] == "ok", reply
                addresses += [e["address"] for e in reply["roster"] if e.get("address")]
    logins = re.findall(r"login alice from (\S+)", (data / "activity.log").read_text())
    assert len(logins) == 2 and len(addresses) == 2, (logins, addresses)
    for shown in (logins, addresses):
        assert re.fullmatch(r"127\.0\.0\.1:\d+", shown[0]), shown
        assert re.fullmatch(r"\[::1\]:\d+", shown[1]), shown


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
