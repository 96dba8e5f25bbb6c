"""Storage hunt: databases made by OLDER versions of this code, opened by this one.

Each test FAILS on the current code for the reason in its docstring. The parameters made by
versions where the behaviour is right (server schema 6 and later) pass, as controls. See
storage_old.py for how the old files were made.
"""

from __future__ import annotations

import pytest
from storage_old import FORMER, OLD, cached, free_port, login, old_copy

from messenger.client.connection import ConnectionState


@pytest.mark.parametrize("old", OLD)
def test_an_old_servers_group_history_is_found_by_a_new_computer(
        qtbot, make_server, make_engine, tmp_path, old):
    """Bob, a member of "team" since before the upgrade, logs in on a new computer: the
    login's `conversations` list must name the group, so its messages are fetched (and
    counted unread) like any other conversation's."""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    qtbot.waitUntil(lambda: "from bob" in cached(bob, "alice"), timeout=10_000)
    qtbot.waitUntil(lambda: "g1" in cached(bob, "#group:team"), timeout=5_000)

@pytest.mark.parametrize("old", FORMER)
def test_a_group_left_before_the_upgrade_is_listed_on_a_new_computer(
        qtbot, make_server, make_engine, tmp_path, old):
    """Bob left "club" before the server was upgraded. On a new computer, his former
    groups are listed after the first catch-up with their history (commit 315e9b1):
    not this one, whose message c1 predates the upgrade."""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    qtbot.waitUntil(lambda: "from bob" in cached(bob, "alice"), timeout=10_000)
    qtbot.waitUntil(lambda: "c1" in cached(bob, "#group:club")
                    and "club" in bob.groups.former(), timeout=5_000)

def test_an_old_apps_unsent_message_under_another_address_still_goes(
        qtbot, make_server, make_engine, tmp_path):
    """The old app (before server homes and hello.instance) kept alice's message typed
    offline in its store under 127.0.0.1. After the upgrade she first logs in as
    "localhost" (the same server, the same certificate: its home now), then at 127.0.0.1
    again, the address she typed it at. Her message must go (before the upgrade, logging
    in at 127.0.0.1 sent it); it waits in a store the new app never opens again."""
    port = free_port()
    d = old_copy(tmp_path, "s8-l5", port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    first = make_engine(data_dir=d / "app")
    with qtbot.waitSignal(first.login_succeeded, timeout=15_000):
        first.connect_to("localhost", port)
        first.login("alice", "alice123")
    first.close()
    qtbot.waitUntil(lambda: first.state is ConnectionState.DISCONNECTED)
    first.store.close()
    again = make_engine(data_dir=d / "app")
    login(qtbot, again, port, "alice")  # at 127.0.0.1, where the message waits
    try:
        qtbot.waitUntil(lambda: "typed offline" in cached(bob, "alice"), timeout=5_000)
    finally:
        print(sorted(p.name for p in (d / "app" / "accounts").rglob("*.db")),
              [i.text for i in again.store.outbox()])


def test_a_damaged_server_homes_file_strands_the_outbox(qtbot, make_server, make_engine,
                                                        tmp_path):
    """servers.json (which address a server's stores are kept under) is written by a
    rename without an fsync, so a power loss can leave it empty; any unreadable map is then
    taken as empty and overwritten at the next login. Alice's store under 127.0.0.1 (her
    home, with a message typed offline) is no longer hers when she next logs in as
    "localhost": a new, empty store is made there and her message is never sent."""
    port = free_port()
    server = make_server(demo=True, data_dir=tmp_path / "srv", port=port)
    app = tmp_path / "app"
    alice = make_engine(data_dir=app)
    login(qtbot, alice, port, "alice")
    server.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    alice.send_unicast("bob", "typed offline")
    alice.close()
    alice.store.close()
    (app / "accounts" / "servers.json").write_bytes(b"")  # a power loss after its rename
    make_server(data_dir=tmp_path / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob")
    login(qtbot, bob, port, "bob")
    again = make_engine(data_dir=app)
    login(qtbot, again, port, "alice", host="localhost")
    try:
        qtbot.waitUntil(lambda: "typed offline" in cached(bob, "alice"), timeout=5_000)
    finally:
        print(sorted(str(p.relative_to(app)) for p in app.rglob("*.db")),
              (app / "accounts" / "servers.json").read_text())
