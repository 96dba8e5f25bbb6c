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
        return cert_path.read_bytes(), key_path.read_bytes()
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


__all__ = ["ensure_certificate", "pem_fingerprint"]
