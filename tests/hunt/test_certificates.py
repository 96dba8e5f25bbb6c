"""Hunt: certificates, TOFU and login security UX (area p53). Real server, real TLS."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from PySide6.QtWidgets import QMessageBox

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.pins import PinStore
from messenger.gui.login_dialog import LoginDialog


def _operator_identity(data_dir: Path, key) -> None:
    """An operator's own certificate and key put in the data dir (as docs/architecture.md
    allows: "Your own certificate may replace them (an RSA or EC key, PEM, unencrypted)")."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chat.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (data_dir / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def _close(qtbot, engine: ClientEngine) -> None:
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED, timeout=10_000)


def _trust_question(qtbot, engine: ClientEngine, host: str, port: int) -> LoginDialog:
    dialog = LoginDialog(engine, host=host, port=port, user="alice")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.password_edit.setText("alice123")
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.trust_box is not None and dialog.trust_box.isVisible(),
                    timeout=10_000)
    return dialog


def test_the_trust_question_says_when_the_certificate_is_already_trusted_elsewhere(
        qtbot, server):
    """The server is pinned as chat.example (its name on the LAN); typed by its IP address,
    the app asks "This is your first connection to 127.0.0.1:PORT … Compare it with the
    one the server's administrator gives you" although this computer already trusts this
    very certificate (the pins, and servers.json, say so): the user is asked to re-check
    a server they know, which trains them to click "Trust" without looking. SSH says "This
    host key is known by the following other names/addresses"."""
    PinStore().pin("chat.example", server.port, server.fingerprint)
    engine = ClientEngine(ask_first_use=True)
    dialog = None
    try:
        dialog = _trust_question(qtbot, engine, server.host, server.port)
        said = dialog.trust_box.text() + "\n" + dialog.trust_box.informativeText()
        assert "chat.example" in said, said
    finally:
        if dialog is not None and dialog.trust_box is not None:
            dialog.trust_box.button(QMessageBox.StandardButton.Cancel).click()
        _close(qtbot, engine)
