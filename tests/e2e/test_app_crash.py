"""End to end: the app is SIGKILLed at bad moments and started again on the same data
folder. The app engine (with its transfer controller) runs in a process of its own against a
real ``messenger --server --demo``; the peer and the restarted app run in this process. After
the restart every message typed is sent exactly once, none received is missing or doubled,
and a file cut off mid-way resumes from its partial file."""

from __future__ import annotations

import hashlib
import os
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import shiboken6
from helpers.rawclient import ServerProcess

from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.models import MessageKind
from messenger.client.transfers import TransferController, TransferPrefs
from messenger.transfer import Settings

REPO = Path(__file__).resolve().parents[2]
FILE_SIZE = 96 << 20
KILL_AT = 24 << 20

APP = textwrap.dedent(r'''
    import sys
    from pathlib import Path
    from PySide6.QtCore import QCoreApplication, QTimer
    from messenger.client.engine import ClientEngine
    from messenger.client.liveness import Backoff
    from messenger.client.transfers import TransferController, TransferPrefs

    port, user, scenario, data = int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    app = QCoreApplication(sys.argv[:1])
    engine = ClientEngine(backoff=Backoff(0.05, 0.4), data_dir=data, offline_grace_ms=0)
    ctl = TransferController(engine, TransferPrefs(download_dir=data / "downloads"))
    typed = [0]

    def type_one():
        text = f"m {typed[0]:04d}"
        engine.send_unicast("bob", text)  # (in the outbox, on disk, when this returns)
        print(f"TYPED {text} END", flush=True)  # (a line cut by the kill has no END)
        typed[0] += 1

    def logged_in():
        print("LOGGED_IN", flush=True)
        if scenario == "type":
            timer = QTimer(app)
            timer.setInterval(1)
            timer.timeout.connect(type_one)
            timer.start()
        elif scenario == "send-file":
            print("OFFERED", ctl.send_file("bob", Path(sys.argv[5])), flush=True)

    def changed(key):
        t = ctl.get(key)
        print("TRANSFER", t.done, t.state.name, flush=True)

    ctl.transfer_added.connect(lambda key: print("ACCEPTED", ctl.accept(key), flush=True))
    ctl.transfer_changed.connect(changed)
    engine.history_loaded.connect(lambda key, count: print("PAGE", key, count, flush=True))
    engine.login_succeeded.connect(lambda _: logged_in())
    engine.login_failed.connect(lambda code, text: (print("FAILED", text, flush=True),
                                                    app.exit(3)))
    engine.connect_to("127.0.0.1", port)
    engine.login(user, f"{user}123")
    app.exec()
''')


class AppProcess:
    """The app engine of ``user`` in a process of its own (see ``APP``); what it prints is
    read on a thread into :attr:`lines`, so this process's event loop runs meanwhile."""

    def __init__(self, port: int, user: str, scenario: str, data: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP, str(port), user, scenario, str(data), *args],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        self._queue: queue.Queue[str] = queue.Queue()
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.strip())

    def read(self) -> list[str]:
        """Every line printed so far."""
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        assert not any(line.startswith("FAILED") for line in self.lines), self.lines
        return self.lines

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no logout, nothing saved on the way out
        self.proc.wait(timeout=10)


@pytest.fixture
def port(tmp_path):
    server = ServerProcess([sys.executable, "-m", "messenger", "--server", "--host",
                            "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path / "srv"),
                            "--demo"], cwd=REPO)
    _, listening = server.start()
    yield listening
    server.stop()


@pytest.fixture
def apps(qtbot, port):
    """``apps(user, data_dir, settings=None)``: an app engine of this process, logged in,
    with its transfer controller (``apps.controller(engine)``; ``settings`` its transfer
    engine's); ``apps.procs`` (AppProcess) are killed at the end."""
    made: list[ClientEngine] = []
    controllers: dict[ClientEngine, TransferController] = {}
    procs: list[AppProcess] = []

    def factory(user: str, data: Path, settings: Settings | None = None) -> ClientEngine:
        engine = ClientEngine(backoff=Backoff(0.05, 0.4), data_dir=data, offline_grace_ms=0)
        made.append(engine)
        controllers[engine] = TransferController(
            engine, TransferPrefs(download_dir=data / "downloads"), settings=settings)
        with qtbot.waitSignal(engine.login_succeeded, timeout=15_000):
            engine.connect_to("127.0.0.1", port)
            engine.login(user, f"{user}123")
        return engine

    factory.controller = controllers.__getitem__  # type: ignore[attr-defined]
    factory.procs = procs  # type: ignore[attr-defined]
    yield factory
    for proc in procs:
        if proc.proc.poll() is None:
            proc.kill()
    for controller in controllers.values():
        controller.close()
    alive = [e for e in made if shiboken6.isValid(e)]
    for engine in alive:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in alive))


def no_damaged_notice(engine: ClientEngine) -> bool:
    """Whether the app opened its store as it was (Everyone says when it set one aside)."""
    return not any("damaged" in (i.text or "") for i in engine.conversation(EVERYONE).items())


def texts(engine: ClientEngine, key: str, kind: MessageKind) -> list[str]:
    """The texts of ``kind`` in conversation ``key``, all of it (every page fetched)."""
    model = engine.conversation(key)
    while model.canFetchMore(model.index(-1, -1).parent()):
        model.fetchMore(model.index(-1, -1).parent())
    return [i.text for i in model.items() if i.kind is kind]


@pytest.mark.parametrize("after", [3, 60])
def test_killed_while_typing_a_burst_every_message_goes_once(qtbot, port, apps, tmp_path,
                                                             after):
    """alice types a message a millisecond; her app is killed after ``after`` of them (some
    acknowledged, some on the wire, some not yet written out). Started again, it sends what
    was left: bob gets each typed message once, in order, and alice's window shows the same."""
    data = tmp_path / "alice"
    app = AppProcess(port, "alice", "type", data)
    apps.procs.append(app)
    qtbot.waitUntil(lambda: sum(x.endswith(" END") for x in app.read()) >= after,
                    timeout=20_000)
    app.kill()
    typed = [x[len("TYPED "):-len(" END")] for x in app.read()
             if x.startswith("TYPED ") and x.endswith(" END")]
    alice = apps("alice", data)
    bob = apps("bob", tmp_path / "bob")
    qtbot.waitUntil(lambda: not alice.store.outbox() and bob.store.count("alice") >= len(typed),
                    timeout=15_000)
    received = texts(bob, "alice", MessageKind.OTHER)
    assert received[:len(typed)] == typed  # (one typed as the kill came may follow)
    assert len(received) == len(set(received))
    assert texts(alice, "bob", MessageKind.OWN) == received
    assert no_damaged_notice(alice)


def test_killed_in_the_middle_of_a_catch_up_misses_and_doubles_nothing(qtbot, port, apps,
                                                                        tmp_path):
    """bob was away while alice sent 300 messages; his app is killed after the first page
    of its catch-up was stored. Started again, it has each message once, and all of them
    unread."""
    bob_data = tmp_path / "bob"
    alice = apps("alice", tmp_path / "alice")
    bob = apps("bob", bob_data)
    alice.send_unicast("bob", "first")
    qtbot.waitUntil(lambda: bob.store.count("alice") == 1, timeout=10_000)
    apps.controller(bob).close()
    bob.close()
    qtbot.waitUntil(lambda: bob.state is ConnectionState.DISCONNECTED)
    bob.close_store()
    sent = [f"t {n:04d}" for n in range(300)]
    for text in sent:
        alice.send_unicast("bob", text)
    qtbot.waitUntil(lambda: not alice.store.outbox(), timeout=20_000)
    app = AppProcess(port, "bob", "catch-up", bob_data)
    apps.procs.append(app)
    qtbot.waitUntil(lambda: any(x.startswith("PAGE") for x in app.read()), timeout=20_000)
    app.kill()
    bob = apps("bob", bob_data)
    qtbot.waitUntil(lambda: bob.store.count("alice") == 1 + len(sent), timeout=15_000)
    assert texts(bob, "alice", MessageKind.OTHER) == ["first", *sent]
    assert bob.unread("alice") == 1 + len(sent)
    assert no_damaged_notice(bob)


@pytest.mark.parametrize("killed", ["receiver", "sender"])
def test_a_file_cut_off_by_a_killed_app_resumes_from_its_partial_file(qtbot, port, apps,
                                                                      tmp_path, killed):
    """alice sends bob a 96 MB file; a quarter of the way, the receiving (or the sending)
    app is killed. Started again, the transfer goes on by itself from where the partial file
    stopped (bob's card is accepted, alice's resumes when bob is online) and bob ends with
    the file, byte for byte."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(FILE_SIZE))
    alice_data, bob_data = tmp_path / "alice", tmp_path / "bob"
    if killed == "receiver":
        app = AppProcess(port, "bob", "receive", bob_data)
        apps.procs.append(app)
        qtbot.waitUntil(lambda: any(x.startswith("LOGGED_IN") for x in app.read()),
                        timeout=15_000)
        # (a peer gone silent is given up after 2 s, not 15: the resume comes sooner)
        alice = apps("alice", alice_data, Settings(idle_timeout=2.0))
        apps.controller(alice).auto_resume_delays = (0.2,) * 5
        assert apps.controller(alice).send_file("bob", src) is None
    else:
        bob = apps("bob", bob_data)
        apps.controller(bob).transfer_added.connect(apps.controller(bob).accept)
        app = AppProcess(port, "alice", "send-file", alice_data, str(src))
        apps.procs.append(app)

    def done_in_app() -> int:
        return max([int(x.split()[1]) for x in app.read() if x.startswith("TRANSFER")],
                   default=0)

    def done_here() -> int:
        return max((t.done for t in apps.controller(bob).model.transfers()), default=0)

    qtbot.waitUntil(lambda: (done_in_app() if killed == "receiver" else done_here())
                    >= KILL_AT, timeout=30_000)
    app.kill()
    if killed == "receiver":
        bob = apps("bob", bob_data)
    else:
        apps("alice", alice_data)
    controller = apps.controller(bob)
    starts: list[int] = []
    controller.transfer_changed.connect(
        lambda key: starts.append(controller.get(key).done)
        if controller.get(key).state.name == "CONNECTING" else None)
    qtbot.waitUntil(lambda: any(t.state.name == "DONE" for t in controller.model.transfers()),
                    timeout=30_000)
    assert starts and starts[0] > 0, "it started again from the beginning"
    assert no_damaged_notice(bob)
    received = [p for p in (bob_data / "downloads").iterdir() if p.is_file()]
    assert len(received) == 1
    assert hashlib.sha256(received[0].read_bytes()).digest() == \
        hashlib.sha256(src.read_bytes()).digest()
