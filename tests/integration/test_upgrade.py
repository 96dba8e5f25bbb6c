"""Upgrades: databases made by OLDER versions of Messenger (a server's and the app's
stores, tests/helpers/old_stores.py), opened by this one."""

from __future__ import annotations

from helpers.old_stores import cached, free_port, login, old_copy

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
