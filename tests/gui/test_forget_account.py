"""File → Log out and remove my data from this computer: on a shared computer (a lab, a
classroom) a student's messages, drafts and settings stayed behind for the next person on the
same OS account after File → Log out."""

from __future__ import annotations

import json

from helpers.wire import connect_as

from messenger import paths
from messenger.client.connection import ConnectionState
from messenger.client.conversations import peer_key
from messenger.client.models import MessageKind
from messenger.gui import main_window
from messenger.gui.settings import SETTINGS_FILE, app_settings

from .conftest import texts


def test_log_out_and_remove_my_data_leaves_nothing_of_the_account_and_the_next_login_works(
        qtbot, server, open_window, monkeypatch):
    """alice, in a lab, received a message from bob, wrote a draft, typed a message while the
    server was away, and leaves: File → Log out and remove my data asks first (naming the
    unsent message that will be lost), then her local store (with its -wal/-shm), drafts,
    settings and the window's layout are gone, while bob's store on the same computer
    stays. Her next login here starts clean and her history comes back from the server."""
    wire = connect_as(qtbot, server, "charlie", "charlie123")
    bob = open_window("bob")
    bob.close()  # another student's data on this computer: it stays
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.message_received, timeout=10_000):
        wire.send_text("unicast", "room 2.14 at ten", to=["alice"])
    tab = alice.open_conversation("bob")
    qtbot.keyClicks(tab.compose, "my half-written answer")
    alice.save_session()  # (what a quit would have kept: tabs, drafts, window)
    store = alice.engine.local_store_path()
    assert store is not None and store.exists() and store.with_name(f"{store.name}-wal").exists()
    bob_store = store.with_name("bob.db")
    assert bob_store.exists()
    with qtbot.waitSignal(alice.engine.reconnect_scheduled, timeout=10_000):
        alice.engine._conn._socket.abort()  # the server is away
    alice.engine._reconnect_timer.stop()
    assert alice.engine.send_unicast("charlie", "sent from the lab")  # (a clock: not sent)

    asked: list[str] = []
    monkeypatch.setattr(main_window, "confirm_forget",
                        lambda parent, question: asked.append(question) or False)
    alice.forget_action.trigger()  # File → Log out and remove my data…; Cancel
    assert alice.isVisible() and not alice.logout_chosen and store.exists()
    assert "1 message is not sent yet: it will be lost" in asked[0]
    assert "Not removed: files you received, exported or pasted" in asked[0]
    monkeypatch.setattr(main_window, "confirm_forget", lambda parent, question: True)
    alice.forget_action.trigger()
    assert alice.logout_chosen and not alice.isVisible()
    assert "removed from this computer" in alice.logout_reason

    left = sorted(p.name for p in store.parent.iterdir())
    assert not any(n.startswith("alice.db") for n in left), left  # (-wal, -shm, .lock too)
    assert bob_store.exists()
    ini = (paths.config_dir() / SETTINGS_FILE).read_text(encoding="utf-8")
    assert "my half-written answer" not in ini and "alice@" not in ini
    s = app_settings()
    assert not s.contains("window/geometry") and not s.contains("window/state")
    assert any(key.startswith("session/bob@") for key in s.allKeys())

    again = open_window("alice")  # the next login here: a fresh store, history from the server
    assert again.engine.store.outbox() == []
    assert again.drafts() == {}
    tab = again.open_conversation("charlie")
    qtbot.waitUntil(lambda: "room 2.14 at ten" in texts(again, peer_key("charlie"),
                                                          MessageKind.OTHER), timeout=10_000)


def test_remove_my_data_also_removes_the_copy_set_aside_under_another_address(
        qtbot, server, open_window, monkeypatch, messenger_home):
    """alice's store was kept under the address she typed (as an older app kept it) while
    the server's home on this computer is another of its addresses: her next login set that
    store aside (``alice.db.moved-…``) and took its unsent messages home. File → Log out
    and remove my data removed the home's store only: the moved copy, with her whole
    history, stayed under the other address for the next person."""
    alice = open_window("alice")
    typed = alice.engine.local_store_path()
    assert typed is not None and typed.exists()
    alice.close()
    qtbot.waitUntil(lambda: alice.engine.state is ConnectionState.DISCONNECTED)
    homes = typed.parent.parent / "servers.json"  # the server's home is another address
    (key,) = json.loads(homes.read_text(encoding="utf-8"))
    homes.write_text(json.dumps({key: ["localhost", server.port]}), encoding="utf-8")

    again = open_window("alice")
    assert again.engine.home == ("localhost", server.port)
    assert any(p.name.startswith("alice.db.moved-") for p in typed.parent.iterdir())
    monkeypatch.setattr(main_window, "confirm_forget", lambda parent, question: True)
    again.forget_action.trigger()
    assert again.logout_chosen and not again.isVisible()
    assert "removed from this computer" in again.logout_reason
    assert [str(p) for p in messenger_home.rglob("alice.db*")] == []
