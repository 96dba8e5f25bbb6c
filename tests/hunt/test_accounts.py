"""Hunt: accounts and settings in the desktop app (login dialog, lock-out, change password,
logout / another account on the same computer, preferences, mute, window state)."""

from __future__ import annotations

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.gui.login_dialog import LoginDialog


def _login_dialog(qtbot, server, user: str = "alice") -> tuple[ClientEngine, LoginDialog]:
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=server.host, port=server.port, user=user)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return engine, dialog


def _try(qtbot, dialog: LoginDialog, user: str, password: str) -> str:
    """Type ``user`` / ``password``, press Log in, wait for the answer; the error shown."""
    dialog.user_edit.setText(user)
    dialog.password_edit.setText(password)
    dialog.submit()
    qtbot.waitUntil(dialog.submit_button.isEnabled, timeout=10_000)
    return dialog.error_text()


def _close(qtbot, engine: ClientEngine) -> None:
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def _window(qtbot, host: str, port: int, user: str = "alice"):
    """The app as app.py makes it: a MainWindow with its own settings-made transfer
    controller, logged in to ``host:port`` as typed in the login dialog."""
    from messenger.gui.main_window import MainWindow

    engine = ClientEngine()
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(host, port)
        engine.login(user, f"{user}123")
    window = MainWindow(engine)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _quit(qtbot, window) -> None:
    window.close()
    qtbot.waitUntil(lambda: window.engine.state is ConnectionState.DISCONNECTED)


def test_read_receipts_off_stays_off_when_the_same_server_is_typed_another_way(
        qtbot, server):
    """Preferences → Privacy → Send read receipts off is "your account's" choice, but it
    is kept under the address as typed in the login dialog (session/alice@127.0.0.1:port).
    Typing the same server another way — its name instead of its IP ("localhost",
    "chat.lab.local"), or its new IP after a DHCP change — silently turns read receipts
    back on (and forgets the mutes, the auto-accept list, the download folder), although
    the server says it is the same one (same certificate, same `hello.instance`)."""
    window = _window(qtbot, "127.0.0.1", server.port)
    dialog = window.ask_preferences()
    dialog.readReceiptsCheck.setChecked(False)
    dialog.submit()
    assert window.engine.send_read_receipts is False
    _quit(qtbot, window)

    again = _window(qtbot, "localhost", server.port)
    try:
        assert again.engine.fingerprint == server.fingerprint  # (the same server)
        assert again.engine.send_read_receipts is False, \
            "read receipts turned back on for the same account on the same server"
    finally:
        _quit(qtbot, again)


def test_a_message_typed_offline_goes_when_the_same_server_is_typed_another_way(
        qtbot, server, make_server):
    """The outbox is kept per address as typed (accounts/127.0.0.1_<port>/alice.db): a
    message typed while the server was down, then the app quit, stays unsent when alice
    next logs in to the same server by its name ("localhost", "chat.lab.local") or its
    new DHCP address — although the confirm on log-out promised it "goes the next time you
    log in here". Nothing says it waits under another address."""
    from messenger.client.conversations import peer_key

    window = _window(qtbot, "127.0.0.1", server.port)
    server.close()
    qtbot.waitUntil(lambda: window.engine.state is not ConnectionState.LOGGED_IN,
                    timeout=10_000)
    assert window.engine.send_unicast("bob", "typed while the server was away")
    _quit(qtbot, window)
    again_server = make_server(demo=False, data_dir=server.data_dir, port=server.port)

    bob = ClientEngine()
    alice = _window(qtbot, "localhost", again_server.port)
    try:
        with qtbot.waitSignal(bob.login_succeeded, timeout=10_000):
            bob.connect_to(again_server.host, again_server.port)
            bob.login("bob", "bob123")

        def arrived() -> bool:
            model = bob.conversation(peer_key("alice"))
            return any(i.text == "typed while the server was away" for i in model.items())

        qtbot.waitUntil(arrived, timeout=5000)
    finally:
        _close(qtbot, bob)
        _quit(qtbot, alice)
