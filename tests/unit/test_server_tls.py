"""The server's TLS identity made on first start (``messenger.server.tls``)."""

from __future__ import annotations

import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from helpers.identity import operator_identity

from messenger.server.tls import CertificateError, ensure_certificate


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


@pytest.mark.parametrize("make_key, said", [
    (lambda: rsa.generate_private_key(65537, 1024), "RSA key of 1024 bits"),
    (lambda: ec.generate_private_key(ec.SECP256K1()), "curve secp256k1"),
    (lambda: ec.generate_private_key(ec.SECP192R1()), "curve secp192r1"),
], ids=["rsa1024", "secp256k1", "p192"])
def test_an_operator_key_tls_refuses_to_serve_stops_the_start(tmp_path, make_key, said):
    """An operator's own RSA-1024 key (an old certificate), or an EC key on a curve TLS does
    not serve (secp256k1, P-192), passed the server's checks: it logged "listening on … (TLS
    on, certificate SHA-256 …)", OpenSSL refused the key in every handshake ("ee key too
    small", at INFO only) and every app said "closed the connection during the handshake".
    Now the start stops with a line naming server.key and what key to give instead."""
    operator_identity(tmp_path, make_key())
    with pytest.raises(CertificateError) as refused:
        ensure_certificate(tmp_path)
    assert "server.key" in str(refused.value) and said in str(refused.value)
    assert "P-256" in str(refused.value) and "2048" in str(refused.value)
