"""The server's TLS identity: a self-signed certificate made on first start.

The certificate (``server.crt``) and its private key (``server.key``, mode 0600) live in the data
dir. Clients pin the certificate's SHA-256 fingerprint on first use (TOFU), like SSH host keys.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from messenger.protocol.fingerprint import make_identity, pem_fingerprint

log = logging.getLogger("messenger.server.tls")

CERT_FILE = "server.crt"
KEY_FILE = "server.key"


def ensure_certificate(data_dir: Path) -> tuple[bytes, bytes]:
    """Return ``(certificate_pem, key_pem)`` from ``data_dir``, creating a self-signed ECDSA
    P-256 certificate valid for 10 years when none exists yet."""
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    if cert_path.exists() and key_path.exists():
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
        _check_pair(cert_pem, key_pem, cert_path, key_path)
        return cert_pem, key_pem
    data_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname() or "localhost"
    identity = make_identity(f"Messenger server on {host}", days=3650,
                             dns_names=["localhost", host], ip_addresses=["127.0.0.1"])
    cert_pem, key_pem = identity.cert_pem, identity.key_pem
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert_pem)
    log.info("created a self-signed TLS certificate in %s", cert_path)
    return cert_pem, key_pem


class CertificateError(ValueError):
    """``server.crt`` / ``server.key`` cannot serve TLS: unreadable, or not a pair. The
    message names the files and what to do."""


def _check_pair(cert_pem: bytes, key_pem: bytes, cert_path: Path, key_path: Path) -> None:
    """Raise :class:`CertificateError` unless ``key_pem`` is the private key of
    ``cert_pem``: otherwise the server would listen and fail every handshake."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    fix = (f"delete both {cert_path.name} and {key_path.name} in {cert_path.parent} to make a "
           "new certificate (every client must then forget the old pin)")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertificateError(f"{cert_path} is not a PEM certificate ({exc}); {fix}") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"{key_path} is not a PEM private key ({exc}); {fix}") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise CertificateError(f"{key_path} is not the key of {cert_path}; {fix}")


__all__ = ["CertificateError", "ensure_certificate", "pem_fingerprint"]
