"""Upgrades: databases made by OLDER versions of Messenger (a server's and the app's
stores, tests/helpers/old_stores.py), opened by this one."""

from __future__ import annotations

import pytest
from helpers.old_stores import FORMER, cached, free_port, login, old_copy

from messenger.client.connection import ConnectionState


def test_an_old_apps_unsent_message_under_another_address_still_goes(
        qtbot, make_server, make_engine, tmp_path):
    """The old app (before server homes and ``hello.instance``) kept alice's message typed
    offline in its store under 127.0.0.1. After the upgrade she first logged in as
    "localhost" (the same server, the same certificate: its home from then on), then at
    127.0.0.1 again, where she typed it: it was never sent (it waited in a store the new
    app never opens again, for it names no server instance). Now a store that names none,
    kept under an address pinned to this certificate from before, is this server's: its
    unsent messages move home and go."""
    port = free_port()
    d = old_copy(tmp_path, "s8-l5", port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")  # (127.0.0.1 pinned, as the old app had it)
    first = make_engine(data_dir=d / "app")
    login(qtbot, first, port, "alice", host="localhost")
    assert first.store.outbox() == []
    first.close()
    qtbot.waitUntil(lambda: first.state is ConnectionState.DISCONNECTED)
    first.store.close()
    again = make_engine(data_dir=d / "app")
    login(qtbot, again, port, "alice")  # at 127.0.0.1, where the message waited
    assert again.home == ("localhost", port)
    assert again.moved_from == ("127.0.0.1", port)
    qtbot.waitUntil(lambda: "typed offline" in cached(bob, "alice"), timeout=10_000)
    assert cached(bob, "alice").count("typed offline") == 1
    assert again.store.outbox() == []


@pytest.mark.parametrize("old", ["s2-l1", "s5-l3", "s6-l4"])
def test_an_old_servers_group_history_is_found_by_a_new_computer(
        qtbot, make_server, make_engine, tmp_path, old):
    """Bob, a member of "team" since before the server was upgraded, logs in on a new
    computer: its g1 never came, for the login's `conversations` list did not name the
    group (it looked only at membership spans, and the 5 → 6 migration opened those at its
    last seq). Groups of older messages are found by their `deliveries` rows now. (s6-l4:
    a control, made by a server with spans.)"""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    qtbot.waitUntil(lambda: "from bob" in cached(bob, "alice"), timeout=10_000)
    qtbot.waitUntil(lambda: "g1" in cached(bob, "#group:team"), timeout=10_000)


@pytest.mark.parametrize("old", FORMER)
def test_a_group_left_before_the_upgrade_is_listed_on_a_new_computer(
        qtbot, make_server, make_engine, tmp_path, old):
    """Bob left "club" before the server was upgraded. On a new computer his former groups
    are listed after the first catch-up, with their history: this one was not (no span
    said he had been a member, so `conversations` did not name it and `history` refused it
    as not_member)."""
    port = free_port()
    d = old_copy(tmp_path, old, port)
    make_server(data_dir=d / "srv", port=port)
    bob = make_engine(data_dir=tmp_path / "bob-new")
    login(qtbot, bob, port, "bob")
    qtbot.waitUntil(lambda: "from bob" in cached(bob, "alice"), timeout=10_000)
    qtbot.waitUntil(lambda: "c1" in cached(bob, "#group:club")
                    and "club" in bob.groups.former(), timeout=10_000)
    assert "team" in bob.groups.names() and "club" not in bob.groups.names()
