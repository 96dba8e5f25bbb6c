"""Hunt: sleep, network changes and long absences (a real server process, real sockets, and a
relay that cuts the link between the app and its server, or holds what the server sends)."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.rawclient import RawClient, ServerProcess
from hunt.proxy import Relay
from PySide6.QtCore import QTimer

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.transfers import TransferController, TransferPrefs
from messenger.gui.main_window import MainWindow


def _send_many(host: str, port: int, user: str, plan: list[tuple[str, list[str], str]],
               done: dict) -> None:
    """In a thread: log in as ``user`` and send ``plan`` (scope, to, text), pipelined."""
    try:
        with RawClient(host, port, timeout=120) as c:
            c.hello()
            assert c.login(user, f"{user}123")["type"] == "ok"
            window = 200
            sent = acked = 0
            ids = []
            while acked < len(plan):
                while sent < len(plan) and sent - acked < window:
                    scope, to, text = plan[sent]
                    rid = 1000 + sent
                    c.send({"type": "send", "id": rid, "client_msg_id": str(uuid.uuid4()),
                            "scope": scope, "to": to, "text": text})
                    ids.append(rid)
                    sent += 1
                m = c.recv()
                if m.get("type") in ("ok", "error") and m.get("id", 0) >= 1000:
                    if m["type"] == "error":
                        done["errors"] = done.get("errors", 0) + 1
                    acked += 1
        done["ok"] = True
    except Exception as exc:
        done["exc"] = repr(exc)


REPO = Path(__file__).resolve().parents[2]


@dataclass
class Proc:
    host: str
    port: int
    process: ServerProcess


@pytest.fixture
def proc_server(tmp_path):
    """``messenger --server`` as its own process (its work is not the GUI thread's)."""
    process = ServerProcess([sys.executable, "-m", "messenger", "--server", "--host",
                             "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path / "srv"),
                             "--demo", "--max-send-rate", "0"], cwd=REPO)
    host, port = process.start()
    yield Proc(host, port, process)
    process.stop()


@pytest.fixture
def relay_server(proc_server):
    relay = Relay(proc_server.port)
    yield proc_server, relay
    relay.close()


@pytest.fixture
def window_via(qtbot, tmp_path):
    made: list[tuple[ClientEngine, TransferController]] = []

    def factory(relay: Relay, user: str, **options) -> MainWindow:
        options.setdefault("backoff", Backoff(0.05, 0.3))
        engine = ClientEngine(**options)
        with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to("127.0.0.1", relay.port)
            engine.login(user, f"{user}123")
        transfers = TransferController(engine,
                                       TransferPrefs(download_dir=tmp_path / f"{user}-dl"))
        made.append((engine, transfers))
        window = MainWindow(engine, transfers=transfers)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield factory
    for engine, transfers in made:
        transfers.close()
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e, _ in made))


class GapMeter:
    """The longest gap between ticks of a 10 ms timer on the GUI thread."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = time.monotonic()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.monotonic()
        self.longest = 0.0
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    def stop(self) -> float:
        self.timer.stop()
        return self.longest


def test_a_big_backlog_after_a_long_absence_arrives_once_in_order_without_freezing_the_window(
        qtbot, relay_server, window_via):
    """bob's laptop is away while alice and charlie write 21,000 messages (to him and to
    everyone); when the link comes back every message is there once (the badges count each
    one) and the window never stops answering for a second or more while they come in.

    Fails today: ``ClientConnection._on_ready_read`` handles every frame of one read in one
    turn of the event loop, and ``_on_message`` caches each message in its own SQLite
    transaction (``LocalStore.add_messages``), so a replay that arrives in large reads
    freezes the window (1.3–2.5 s measured here; more the bigger the read)."""
    handle, relay = relay_server
    window = window_via(relay, "bob")
    engine = window.engine
    relay.cut()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED, timeout=5000)
    n = 7000
    plans = {
        "alice": [("unicast", ["bob"], f"a{i}") for i in range(n)],
        "charlie": [("unicast", ["bob"], f"c{i}") for i in range(n // 2)]
        + [("broadcast", [], f"e{i}") for i in range(n // 2)],
    }
    results: dict[str, dict] = {u: {} for u in plans}
    threads = [threading.Thread(target=_send_many,
                                args=(handle.host, handle.port, u, p, results[u]), daemon=True)
               for u, p in plans.items()]
    for t in threads:
        t.start()
    qtbot.waitUntil(lambda: all(not t.is_alive() for t in threads), timeout=120_000)
    assert all(r.get("ok") and not r.get("errors") for r in results.values()), results

    # The link comes back; what the server replays piles up in the network for a moment
    # (a slow Wi-Fi, the app busy) and reaches the app in large reads.
    relay.hold_after = 32 * 1024
    relay.restore()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.LOGGED_IN, timeout=15_000)
    qtbot.waitUntil(lambda: relay.held() > 1_000_000, timeout=30_000)
    qtbot.wait(1000)
    meter = GapMeter()
    meter.start()
    relay.release()

    qtbot.waitUntil(lambda: engine.unread("alice") == n and engine.unread("charlie") == n // 2,
                    timeout=100_000)
    # let whatever follows the catch-up run too
    qtbot.wait(500)
    longest = meter.stop()
    assert engine.unread("alice") == n
    assert engine.unread("charlie") == n // 2
    assert longest < 1.0, f"the GUI thread stalled for {longest:.2f} s during the catch-up"

