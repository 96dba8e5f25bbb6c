"""Run inside an OLD worktree (see README.md here): makes a server database and app stores
with that version (copied there as tests/integration/test_zz_gen.py)."""
import os
import shutil
import socket
from pathlib import Path

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff

OUT = Path(os.environ["GEN_OUT"])

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def login(qtbot, e, port, user):
    with qtbot.waitSignal(e.login_succeeded, timeout=15_000):
        e.connect_to("127.0.0.1", port)
        e.login(user, f"{user}123")

def test_generate(qtbot, make_server):
    if OUT.exists():
        shutil.rmtree(OUT)
    port = free_port()
    srv = make_server(demo=True, data_dir=OUT / "srv", port=port)
    app = OUT / "app"
    alice = ClientEngine(data_dir=app, backoff=Backoff(0.05, 0.3))
    bob = ClientEngine(data_dir=app, backoff=Backoff(0.05, 0.3))
    login(qtbot, alice, port, "alice")
    login(qtbot, bob, port, "bob")
    with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
        alice.create_group("team", ["bob"])
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.accept_invitation("team")
    if os.environ.get("GEN_QUEUED"):
        charlie = ClientEngine(data_dir=OUT / "charlie-app", backoff=Backoff(0.05, 0.3))
        login(qtbot, charlie, port, "charlie")
        with qtbot.waitSignal(charlie.invitation_received, timeout=10_000):
            alice.invite_to_group("team", ["charlie"])
        with qtbot.waitSignal(charlie.group_joined, timeout=10_000):
            charlie.accept_invitation("team")
        charlie.close()
        qtbot.waitUntil(lambda: charlie.state is ConnectionState.DISCONNECTED, timeout=10_000)
    if os.environ.get("GEN_FORMER"):
        with qtbot.waitSignal(bob.invitation_received, timeout=10_000):
            alice.create_group("club", ["bob"])
        with qtbot.waitSignal(bob.group_joined, timeout=10_000):
            bob.accept_invitation("club")
        alice.send_group("club", "c1")
        qtbot.waitUntil(lambda: bob.store.count("#group:club") >= 1 and
                        "c1" in [m.text for m in bob.store.page("#group:club")], timeout=10_000)
        with qtbot.waitSignal(bob.group_left, timeout=10_000):
            bob.leave_group("club")
    for i in range(3):
        alice.send_unicast("bob", f"u{i}")
    alice.send_unicast("charlie", "to charlie offline")
    alice.send_multicast(["bob", "charlie"], "mc1")
    alice.send_broadcast("bc1")
    alice.send_group("team", "g1")
    bob.send_unicast("alice", "from bob")
    qtbot.waitUntil(lambda: not alice.store.outbox() and not bob.store.outbox()
                    and bob.store.count("alice") >= 4, timeout=15_000)
    bob.mark_read("alice")
    qtbot.waitUntil(lambda: alice.store.count("bob") >= 4, timeout=10_000)
    qtbot.wait(1500)  # let cursors/receipts be written by the old server
    srv.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    alice.send_unicast("bob", "typed offline")
    if os.environ.get("GEN_OUTBOX"):
        alice.send_group("team", "g offline")
        alice.send_broadcast("bc offline")
        alice.send_multicast(["bob", "charlie"], "mc offline")
        alice.send_unicast("nobody", "to nobody")  # refused for good: failed
    assert len(alice.store.outbox()) == (5 if os.environ.get("GEN_OUTBOX") else 1)
    for e in (alice, bob):
        e.close()
    (OUT / "port").write_text(str(port))
