"""The login dialog pointed at a port where no Messenger server is (a web server, an HTTPS
service): it says so, without OpenSSL's words or a frame length read from "HTTP"."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.gui.login_dialog import LoginDialog, split_host_port


@pytest.fixture
def web_server():
    """A plain HTTP server on 127.0.0.1 (say, the school's intranet page on the port a
    student typed)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def log_in_at(qtbot, port: int) -> tuple[ClientEngine, LoginDialog]:
    """The login dialog, as alice, submitted to 127.0.0.1:``port``."""
    engine = ClientEngine(ask_first_use=True)
    dialog = LoginDialog(engine, host="127.0.0.1", port=port, user="alice")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.password_edit.setText("alice123")
    dialog.submit()
    return engine, dialog


def test_a_port_that_does_not_speak_tls_is_explained_without_openssl_jargon(qtbot,
                                                                             web_server):
    """Pointing the app at a web server (or SSH, or any non-TLS service) answers at once
    with "Secure connection to 127.0.0.1:PORT failed: Error during SSL handshake:
    error:0A00010B:SSL routines::wrong version number": nothing a student or teacher can act
    on. A port that closes during the handshake already says "… or it is not a Messenger
    server"; this case should too."""
    engine, dialog = log_in_at(qtbot, web_server)
    qtbot.waitUntil(lambda: bool(dialog.error_text()), timeout=15_000)
    error = dialog.error_text()
    engine.close()
    assert "SSL routines" not in error and "error:0A" not in error, error
    assert "not a Messenger server" in error, error


@pytest.fixture
def https_server(tmp_path):
    """A TLS service that is not Messenger (the school's intranet on 443, say): it answers
    whatever comes with an HTTP error."""
    import socket
    import ssl

    from messenger.protocol.fingerprint import make_identity

    identity = make_identity("intranet", days=1)
    (tmp_path / "c.pem").write_bytes(identity.cert_pem)
    (tmp_path / "k.pem").write_bytes(identity.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(5)
                    tls.recv(100)
                    tls.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=10)
    listener.close()


def test_a_tls_service_that_is_not_messenger_is_named_as_such(qtbot, https_server):
    """A wrong port that happens to be an HTTPS service: the app first asks the user to
    trust that service's certificate (and pins it), then says "The server sent a broken
    frame: frame of 1213486160 bytes exceeds the limit of 67108864 bytes" (1213486160 is
    "HTTP" read as a length)."""
    engine, dialog = log_in_at(qtbot, https_server)
    qtbot.waitUntil(lambda: dialog.trust_box is not None or bool(dialog.error_text()),
                    timeout=15_000)
    if dialog.trust_box is not None:
        trust = next(b for b in dialog.trust_box.buttons() if b.text() == "Trust and connect")
        trust.click()
        qtbot.waitUntil(lambda: bool(dialog.error_text()), timeout=15_000)
    error = dialog.error_text()
    pinned = engine.pins.get("127.0.0.1", https_server)
    engine.close()
    assert "bytes exceeds" not in error and "not a Messenger server" in error, error
    # Its certificate does not stand for the address: a Messenger server there later would
    # meet "the certificate changed".
    assert pinned is None and "certificate was not kept" in error, error


@pytest.mark.parametrize(("typed", "expected"), [
    ("192.168.1.20", ("192.168.1.20", None)),
    ("chat.lab:5657", ("chat.lab", 5657)),
    ("[fe80::1%eth0]:6000", ("fe80::1%eth0", 6000)),
    ("[::1]", ("::1", None)),
    ("::1", ("::1", None)),
    ("host:99999", ("host", 99999)),
    ("host:0", ("host", 0)),
    ("[::1]:123456", ("::1", 123456)),
    ("messenger://chat.lab:5657", ("chat.lab", 5657)),
    ("https://chat.lab", ("chat.lab", None)),
    ("HTTP://[::1]:6000/login?x=1", ("::1", 6000)),
    ("chat.lab:5657/", ("chat.lab", 5657)),
    ("127.0.0.1 : 5657", ("127.0.0.1", 5657)),
    ("chat.lab: 5657", ("chat.lab", 5657)),
    ("chat.lab :5657", ("chat.lab", 5657)),
    ("[::1] : 6000", ("::1", 6000)),
    ("messenger://chat.lab : 5657", ("chat.lab", 5657)),
])
def test_a_server_typed_with_its_port_is_split(typed, expected):
    """The port as typed, also out of range: the dialog says what is wrong with it."""
    assert split_host_port(typed) == expected


@pytest.mark.parametrize("typed", ["127.0.0.1:99999", "127.0.0.1:0", "[::1]:123456"])
def test_a_port_out_of_range_in_the_server_box_is_named(qtbot, typed):
    """"127.0.0.1:99999" in the Server box was looked up as a host of that name and the
    dialog said "Cannot reach the server at [127.0.0.1:99999]:5555: host not found — check
    the server address.": the address was right, the port a digit too long. The dialog says
    the port is out of range and connects nowhere."""
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=typed, port=5555, user="alice")
    qtbot.addWidget(dialog)
    dialog.password_edit.setText("alice123")
    dialog.submit()
    error = dialog.error_text()
    assert "out of range" in error and "1 to 65535" in error, error
    assert engine.state is ConnectionState.DISCONNECTED
    assert dialog.submit_button.isEnabled() and dialog.port_spin.value() == 5555


def test_the_login_dialog_takes_host_colon_port_in_the_server_box(qtbot, server):
    """"127.0.0.1:5657" in the Server box was looked up as a host named
    "127.0.0.1:5657:5555" ("host not found"): it fills the port, and the login goes on."""
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=f"127.0.0.1:{server.port}", port=5555, user="alice")
    qtbot.addWidget(dialog)
    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        dialog.submit()
    assert (dialog.host_edit.text(), dialog.port_spin.value()) == ("127.0.0.1", server.port)
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_spaces_around_the_colon_in_the_server_box_log_in(qtbot, server):
    """"127.0.0.1 : 5657" (spaces around the colon, as some write it) was looked up as a
    host of that name: "Cannot reach the server at [127.0.0.1 : 5657]:5555: host not
    found". It fills both fields, and the login goes on."""
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=f"127.0.0.1 : {server.port}", port=5555, user="alice")
    qtbot.addWidget(dialog)
    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        dialog.submit()
    assert (dialog.host_edit.text(), dialog.port_spin.value()) == ("127.0.0.1", server.port)
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


@pytest.mark.parametrize("typed", ["messenger://127.0.0.1:{port}", "https://127.0.0.1:{port}/",
                                   "127.0.0.1:{port}/"])
def test_a_pasted_server_link_logs_in(qtbot, server, typed):
    """The address pasted from the invitation e-mail or the browser's address bar
    ("messenger://127.0.0.1:5657", "https://127.0.0.1:5657/") was looked up as a host of
    that name: "Cannot reach the server at [messenger://127.0.0.1:5657]:5555: host not found
    — check the server address.". The scheme and the path are dropped, and the login goes
    on."""
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=typed.format(port=server.port), port=5555, user="alice")
    qtbot.addWidget(dialog)
    dialog.password_edit.setText("alice123")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        dialog.submit()
    assert (dialog.host_edit.text(), dialog.port_spin.value()) == ("127.0.0.1", server.port)
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


@pytest.mark.parametrize("typed", ["127.0.0.1", "nosuchhost.invalid"])
def test_an_unreachable_server_gives_the_cursor_to_the_server_box(qtbot, typed):
    """"Cannot reach the server at …: connection refused" (or "host not found") left the
    cursor in the Password box: the new address typed went into the password, after it.
    The Server box, at fault, gets the cursor with its text selected."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=typed, port=port, user="alice")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.password_edit.setText("alice123")
    dialog.submit()
    qtbot.waitUntil(lambda: bool(dialog.error_text()), timeout=15_000)
    assert "Cannot reach" in dialog.error_text(), dialog.error_text()
    assert dialog.focusWidget() is dialog.host_edit
    assert dialog.host_edit.selectedText() == typed
    assert dialog.password_edit.text() == "alice123"


@pytest.fixture
def silent_port():
    """A port on 127.0.0.1 that takes the TCP connection and never answers the secure
    handshake (a wrong address that does not refuse): the dialog says "Connecting…" until
    its timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("how", ["click", "escape"])
def test_cancel_while_connecting_stops_the_attempt(qtbot, server, silent_port, how):
    """Cancel (or Escape) while the dialog said "Connecting…" to a wrong address quit the
    whole app: the user waited for the timeout or lost the app. It stops the attempt, says
    "Cancelled." and leaves the fields to correct; the right port then logs in."""
    engine, dialog = log_in_at(qtbot, silent_port)
    assert engine.state is ConnectionState.CONNECTING
    if how == "click":
        cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    else:
        qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible(), "the dialog closed (the app quits)"
    assert engine.state is ConnectionState.DISCONNECTED
    assert dialog.status_label.text() == "Cancelled." and dialog.error_text() == ""
    assert dialog.host_edit.isEnabled() and dialog.submit_button.isEnabled()
    assert dialog.focusWidget() is dialog.host_edit
    dialog.port_spin.setValue(server.port)
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.trust_box is not None, timeout=10_000)
        trust = next(b for b in dialog.trust_box.buttons() if b.text() == "Trust and connect")
        trust.click()
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_a_second_cancel_closes_the_dialog(qtbot, silent_port):
    """The first Cancel stops the login under way; the next one closes the dialog (the app
    quits), as Cancel does when nothing is under way."""
    engine, dialog = log_in_at(qtbot, silent_port)
    cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and engine.state is ConnectionState.DISCONNECTED
    with qtbot.waitSignal(dialog.finished) as finished:
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert finished.args == [QDialog.DialogCode.Rejected.value]
