"""The server's and the app's storage under faults: a full disk under the server (what was
acknowledged is what was stored), damaged and read-only app stores. The full-disk and
read-only tests need root (a small tmpfs is mounted); they are skipped elsewhere."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers.disks import tmpfs
from helpers.old_stores import cached, free_port, login, old_copy
from helpers.wire import WireClient, connect_as

from messenger.client.connection import ConnectionState
from messenger.protocol import Error, GetGroups, GetHistory, GroupCreate, Login, Ok, Register, Send


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs (root only; skipped elsewhere), unmounted afterwards."""
    with tmpfs(tmp_path / "disk", "16m") as mount:
        yield mount


def fill(path: Path, leave: int = 0) -> None:
    """Write ``path`` until its disk is full (less ``leave`` bytes)."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    if leave:
        os.truncate(path, max(0, path.stat().st_size - leave))


def test_a_full_disk_acks_only_what_was_stored(qtbot, make_server, small_disk):
    """The disk fills while alice sends: each `ok` she got must name a message that is in
    the database after a restart (docs/protocol.md §10), and nothing may be delivered that
    was not stored."""
    data = small_disk / "srv"
    server = make_server(demo=True, data_dir=data)
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    assert isinstance(alice.send_text("unicast", "before", to=["bob"]), Ok)
    print(sorted((p.name, p.stat().st_size) for p in data.iterdir()))
    fill(small_disk / "filler", leave=64 * 1024)
    acked: dict[str, int] = {}
    failed = []
    server.server.storageFailed.connect(failed.append)
    ids = {}
    for i in range(60):
        rid = alice.next_id()
        ids[rid] = f"full-{i}"
        alice.send(Send(id=rid, client_msg_id=f"full-{i}", scope="unicast",
                        text=f"{i} " + "x" * 8000, to=["bob"]))
    qtbot.waitUntil(lambda: bool(failed) or alice.closed or all(
        any(getattr(f, "id", None) == rid for f in alice.frames) for rid in ids),
        timeout=20_000)
    for f in alice.frames:
        if isinstance(f, Ok) and f.id in ids:
            acked[ids[f.id]] = f.seq
    print("acked", len(acked), "failed", failed, "errors",
          [(f.code, f.message) for f in alice.frames if isinstance(f, Error)])
    delivered = [m.text.split()[0] for m in bob.messages()]
    server.close()
    (small_disk / "filler").unlink()
    again = make_server(data_dir=data)
    check = connect_as(qtbot, again, "bob", "bob123")
    history = check.request(GetHistory,
                            conversation="user:alice", limit=200)
    stored = {m.client_msg_id for m in history.messages} if isinstance(history, Ok) else set()
    print("stored", len(stored))
    assert set(acked) <= stored, sorted(set(acked) - stored)
    assert all(f"full-{d}" in stored for d in delivered if d != "before")



@pytest.mark.parametrize("what", ["register", "group", "login"])
def test_a_full_disk_acks_no_account_or_group_that_was_not_stored(qtbot, make_server,
                                                                  small_disk, what):
    """On a full disk a registration, a new group or a login is answered `ok` only when
    what it stored is there after a restart."""
    data = small_disk / "srv"
    server = make_server(demo=True, data_dir=data)
    alice = connect_as(qtbot, server, "alice", "alice123")
    for i in range(30):  # some WAL in use
        assert isinstance(alice.send_text("unicast", f"{i} " + "y" * 4000, to=["bob"]), Ok)
    fill(small_disk / "filler")
    failed = []
    server.server.storageFailed.connect(failed.append)
    if what == "register":
        c = WireClient(qtbot, server.host, server.port)
        c.hello()
        c.send(Register(id=1, user="dora", password="dora12345"))
        qtbot.waitUntil(lambda: bool(failed) or c.closed or any(
            getattr(f, "id", None) == 1 for f in c.frames), timeout=10_000)
        answers = [f for f in c.frames if getattr(f, "id", None) == 1]
    elif what == "group":
        rid = alice.next_id()
        alice.send(GroupCreate(id=rid, group="fullgroup"))
        qtbot.waitUntil(lambda: bool(failed) or alice.closed or any(
            getattr(f, "id", None) == rid for f in alice.frames), timeout=10_000)
        answers = [f for f in alice.frames if getattr(f, "id", None) == rid]
    else:
        c = WireClient(qtbot, server.host, server.port)
        c.hello()
        c.send(Login(id=1, user="bob", password="bob123"))
        qtbot.waitUntil(lambda: bool(failed) or c.closed or any(
            getattr(f, "id", None) == 1 for f in c.frames), timeout=10_000)
        answers = [f for f in c.frames if getattr(f, "id", None) == 1]
    print(what, answers, failed, server.server._server.isListening())
    server.close()
    (small_disk / "filler").unlink()
    again = make_server(data_dir=data)
    if what == "register" and answers and isinstance(answers[0], Ok):
        connect_as(qtbot, again, "dora", "dora12345")
    if what == "group" and answers and isinstance(answers[0], Ok):
        a2 = connect_as(qtbot, again, "alice", "alice123")
        groups = a2.request(GetGroups)
        assert "fullgroup" in str(groups), groups



def _pending_store(qtbot, make_server, make_engine, tmp_path, history=300):
    """alice's store with ``history`` cached messages from bob and one message typed
    while the server was down; the server running again; returns (server, data dir, path)."""
    port = free_port()
    first = make_server(demo=True, data_dir=tmp_path / "srv", port=port)
    app = tmp_path / "app"
    alice = make_engine(data_dir=app)
    bob = make_engine(data_dir=tmp_path / "bobapp")
    login(qtbot, alice, port, "alice")
    login(qtbot, bob, port, "bob")
    for i in range(history):
        bob.send_unicast("alice", f"h{i} " + "z" * 200)
    qtbot.waitUntil(lambda: alice.store.count("bob") == history, timeout=20_000)
    first.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    alice.send_unicast("bob", "typed offline")
    path = Path(alice.store.path)
    alice.close()
    alice.store.close()
    bob.close()
    server = make_server(data_dir=tmp_path / "srv", port=port)
    return server, app, path, port



@pytest.mark.parametrize("damage", ["garbage-wal", "garbage-shm"])
def test_a_damaged_store_still_logs_in_and_keeps_the_outbox(qtbot, make_server, make_engine,
                                                            tmp_path, damage):
    """Garbage in alice's store's WAL or shared-memory file (a crash, a bad disk): she
    still logs in, and the message she typed offline goes."""
    _server, app, path, port = _pending_store(qtbot, make_server, make_engine, tmp_path)
    if damage == "garbage-wal":
        Path(f"{path}-wal").write_bytes(os.urandom(50_000))
    else:
        Path(f"{path}-shm").write_bytes(os.urandom(32768))
    print(sorted((p.name, p.stat().st_size) for p in path.parent.iterdir()))
    alice = make_engine(data_dir=app)
    bob = make_engine(data_dir=tmp_path / "bobapp")
    failed = []
    alice.login_failed.connect(lambda *a: failed.append(a))
    login(qtbot, bob, port, "bob")
    alice.connect_to("127.0.0.1", port)
    alice.login("alice", "alice123")
    qtbot.waitUntil(lambda: bool(failed) or alice.logged_in, timeout=10_000)
    assert not failed, failed
    qtbot.waitUntil(lambda: "typed offline" in cached(bob, "alice"), timeout=10_000)



def test_a_read_only_data_folder_ends_the_login_with_the_reason(qtbot, make_server,
                                                                make_engine, small_disk):
    """An old app's data folder on a disk mounted read-only: the login ends and says why
    (it does not hang on "Logging in…")."""
    port = free_port()
    d = old_copy(small_disk, "s8-l5", port)
    make_server(data_dir=small_disk.parent / "srv", demo=True, port=port)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        alice = make_engine(data_dir=d / "app")
        failed = []
        alice.login_failed.connect(lambda *a: failed.append(a))
        alice.connect_to("127.0.0.1", port)
        alice.login("alice", "alice123")
        qtbot.waitUntil(lambda: bool(failed) or alice.logged_in, timeout=10_000)
        print(failed)
        assert failed and "read-only" in failed[0][1].lower(), failed
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
