"""The server's TLS identity made on first start (``messenger.server.tls``)."""

from __future__ import annotations

import socket

from cryptography import x509

from messenger.server.tls import ensure_certificate


def test_the_first_start_on_a_computer_with_a_non_ascii_name_makes_a_certificate(
        tmp_path, monkeypatch):
    """On a computer called "Zoë-PC" (Windows allows it) the first start failed: "error:
    cannot start the server: DNSName values should be passed as an A-label string…" (the
    certificate names the computer). The name is IDNA-encoded now."""
    monkeypatch.setattr(socket, "gethostname", lambda: "Zoë-PC")
    cert_pem, key_pem = ensure_certificate(tmp_path)
    cert = x509.load_pem_x509_certificate(cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "xn--zo-pc-osa"]
    assert key_pem and (tmp_path / "server.key").read_bytes() == key_pem


def test_a_host_name_idna_cannot_encode_is_left_out(tmp_path, monkeypatch):
    """A label over 63 characters has no IDNA form: the certificate names localhost only."""
    monkeypatch.setattr(socket, "gethostname", lambda: "ë" * 70)
    cert = x509.load_pem_x509_certificate(ensure_certificate(tmp_path)[0])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
