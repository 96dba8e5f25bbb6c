"""The server's TLS identity: a self-signed certificate made on first start.

The certificate (``server.crt``) and its private key (``server.key``, mode 0600) live in the data
dir. Clients pin the certificate's SHA-256 fingerprint on first use (TOFU), like SSH host keys.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messenger.protocol.fingerprint import cert_fingerprint

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
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname() or "localhost"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Messenger server on {host}"[:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.DNSName(host),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert_pem)
    log.info("created a self-signed TLS certificate in %s", cert_path)
    return cert_pem, key_pem


def pem_fingerprint(cert_pem: bytes) -> str:
    """The SHA-256 fingerprint (``AB:CD:…``) of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert_fingerprint(cert.public_bytes(serialization.Encoding.DER))
