"""Hunt: peer-to-peer file transfer (client signalling, controller, cards) through a real
server and real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.transfers import (
    TransferController,
    TransferPrefs,
    TransferState,
    status_text,
)

S = TransferState


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Apps:
    def __init__(self, qtbot, server, tmp_path: Path) -> None:
        self.qtbot, self.server, self.tmp_path = qtbot, server, tmp_path
        self.made: list[tuple[ClientEngine, TransferController]] = []

    def login(self, user: str, **kw) -> TransferController:
        engine = ClientEngine()
        with self.qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to(self.server.host, self.server.port)
            engine.login(user, f"{user}123")
        prefs = kw.pop("prefs", {})
        prefs.setdefault("download_dir", self.tmp_path / f"{user}-downloads")
        controller = TransferController(engine, TransferPrefs(**prefs), **kw)
        self.made.append((engine, controller))
        return controller

    def quit(self, controller: TransferController) -> None:
        controller.close()
        controller.client.close()
        self.qtbot.waitUntil(lambda: controller.client.state is ConnectionState.DISCONNECTED)

    def close(self) -> None:
        for engine, controller in self.made:
            controller.close()
            engine.close()
        self.qtbot.waitUntil(
            lambda: all(e.state is ConnectionState.DISCONNECTED for e, _ in self.made))


@pytest.fixture
def apps(qtbot, server, tmp_path):
    made = Apps(qtbot, server, tmp_path)
    yield made
    made.close()


def last_key(controller: TransferController) -> str:
    return controller.model.index(controller.model.rowCount() - 1, 0).data(
        controller.model.IdRole)


def offer(qtbot, alice, bob, path: Path, to: str = "bob") -> tuple[str, str]:
    with qtbot.waitSignal(bob.transfer_changed, timeout=10_000,
                          check_params_cb=lambda k: bob.get(k).state is S.INCOMING) as ch:
        assert alice.send_file(to, path) is None
    return last_key(alice), ch.args[0]


# ------------------------------------------------------------------ GUI

@pytest.fixture
def open_window(qtbot, server, tmp_path):
    from messenger.gui.main_window import MainWindow

    engines: list[ClientEngine] = []
    controllers: list[TransferController] = []

    def factory(user: str) -> MainWindow:
        engine = ClientEngine()
        engines.append(engine)
        with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to(server.host, server.port)
            engine.login(user, f"{user}123")
        transfers = TransferController(
            engine, TransferPrefs(download_dir=tmp_path / f"{user}-downloads"))
        controllers.append(transfers)
        window = MainWindow(engine, transfers=transfers)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield factory
    for controller in controllers:
        controller.close()
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


def test_an_offer_withdrawn_because_its_sender_quit_does_not_say_the_recipient_was_offline(
        qtbot, apps, tmp_path):
    """Alice offers a file to bob, who is online and sees it; alice's app quits before he
    answers. At her next login her app withdraws the offer ("offer lapsed"). Bob, online all
    along, reads on his card "Withdrawn: you were offline when alice offered it." — the
    only way a recipient gets a cancel with that reason is the *sender's* app withdrawing
    its own lapsed offer (status_text, CANCELLED + LAPSED_REASON + by_peer)."""
    bob = apps.login("bob")
    alice = apps.login("alice")
    qtbot.waitUntil(lambda: alice.client.roster.contact("bob").online)
    src = tmp_path / "plan.txt"
    src.write_text("plan")
    send_key, recv_key = offer(qtbot, alice, bob, src)
    qtbot.waitUntil(lambda: alice.get(send_key).state is S.WAITING)
    apps.quit(alice)
    assert bob.client.logged_in and bob.get(recv_key).state is S.INCOMING
    apps.login("alice")
    qtbot.waitUntil(lambda: bob.get(recv_key).state is S.CANCELLED, timeout=10_000)
    text = status_text(bob.get(recv_key))
    assert "you were offline" not in text, text
