"""The transfer engine's TLS identity: an ephemeral self-signed ECDSA P-256 certificate.

The receiving side is the QUIC server and presents this certificate; its SHA-256 fingerprint
(of the DER encoding, ``"AB:01:…"`` form) travels to the sender through the chat server, and the
sender pins it with ``QuicConfiguration.assert_fingerprint``. Nothing about it is secret except
the private key, which never leaves memory; a new one is made each time the engine starts.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messenger.protocol.fingerprint import cert_fingerprint


@dataclass(frozen=True)
class Identity:
    """A certificate and key in PEM, and the certificate's SHA-256 ``fingerprint``."""

    cert_pem: bytes
    key_pem: bytes
    fingerprint: str


def make_identity(common_name: str = "Messenger transfer", days: int = 30) -> Identity:
    """Generate a self-signed P-256 certificate valid from yesterday for ``days`` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Identity(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
        fingerprint=cert_fingerprint(cert.public_bytes(serialization.Encoding.DER)),
    )
