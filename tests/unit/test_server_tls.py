"""The server's TLS identity made on first start (``messenger.server.tls``)."""

from __future__ import annotations

import datetime
import logging
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


def test_the_first_start_syncs_the_key_and_the_certificate_before_naming_them(
        tmp_path, monkeypatch):
    """The first start wrote server.key and server.crt with no sync: a power loss soon
    after could leave one without the other (or an empty one), and every later start
    refused ("server.crt is missing while server.key is there"). Each is synced before it
    is named now (``paths.write_durably``), the folder after, and the key is 0600 from its
    creation on, also under a permissive umask and over a leftover world-readable tmp."""
    import os

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name the synced files")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    leftover = tmp_path / "server.key.tmp"
    leftover.write_bytes(b"")
    leftover.chmod(0o644)
    old_umask = os.umask(0)
    try:
        cert_pem, key_pem = ensure_certificate(tmp_path)
    finally:
        os.umask(old_umask)
    assert (tmp_path / "server.crt").read_bytes() == cert_pem
    assert (tmp_path / "server.key").read_bytes() == key_pem
    assert (tmp_path / "server.key").stat().st_mode & 0o777 == 0o600
    assert str(tmp_path / "server.key.tmp") in synced
    assert str(tmp_path / "server.tmp") in synced  # (the certificate)
    assert synced[-1] == str(tmp_path)  # (the last rename made durable)
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "server.key.new").exists()


def test_a_first_start_cut_short_after_the_certificate_is_finished_by_the_next(tmp_path):
    """A power loss after the certificate was written but before the key was named left
    the key staged (server.key.new): the next start puts it in place and serves the same
    certificate (clients that pinned it, if any, still recognise the server)."""
    cert_pem, key_pem = ensure_certificate(tmp_path)
    (tmp_path / "server.key").rename(tmp_path / "server.key.new")
    assert ensure_certificate(tmp_path) == (cert_pem, key_pem)
    assert not (tmp_path / "server.key.new").exists()
    assert (tmp_path / "server.key").stat().st_mode & 0o777 == 0o600


def test_a_staged_key_of_another_certificate_is_not_put_in_place(tmp_path):
    """A staged key that is not the certificate's key is left alone: the start refuses as
    before, naming the missing server.key."""
    ensure_certificate(tmp_path / "a")
    ensure_certificate(tmp_path / "b")
    (tmp_path / "a" / "server.key").unlink()
    (tmp_path / "b" / "server.key").rename(tmp_path / "a" / "server.key.new")
    with pytest.raises(CertificateError, match=r"server\.key is missing"):
        ensure_certificate(tmp_path / "a")
    assert (tmp_path / "a" / "server.key.new").exists()


@pytest.mark.parametrize("days, said", [(-20, "expired on"), (10, "expires on")],
                         ids=["expired", "expiring"])
def test_a_certificate_past_or_near_its_end_date_is_told_to_keep(tmp_path, caplog, days,
                                                                   said):
    """A certificate past its end date (or near it) started without a word, so an operator
    whose monitoring said "expired" made a new one, and every app then refused the server
    as a possible attack ("certificate changed"), though the apps pin the certificate and
    never check its dates. The start now says when it ends, and to keep it."""
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
    operator_identity(tmp_path, ec.generate_private_key(ec.SECP256R1()), not_after=end)
    with caplog.at_level(logging.INFO, logger="messenger.server.tls"):
        ensure_certificate(tmp_path)
    (line,) = [r for r in caplog.records if "server.crt" in r.getMessage()]
    text = line.getMessage()
    assert line.levelno == logging.WARNING and said in text and end.strftime("%Y-%m-%d") in text
    assert "keep it" in text and "refuse" in text


def test_a_certificate_far_from_its_end_date_starts_without_a_warning(tmp_path, caplog):
    operator_identity(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    with caplog.at_level(logging.INFO, logger="messenger.server.tls"):
        ensure_certificate(tmp_path)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
