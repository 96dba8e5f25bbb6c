"""Self-signed certificates and their fingerprints, as shown to people and pinned (TOFU).

Used by the chat server (its TLS identity, pinned by clients on first use) and by the transfer
engine (a receiver's QUIC identity, pinned by the sender through the chat server).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def cert_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER-encoded certificate as colon-separated upper-case hex pairs
    (``"AB:01:…"``, 95 characters), the form ``openssl x509 -fingerprint -sha256`` prints."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def pem_fingerprint(cert_pem: bytes) -> str:
    """The SHA-256 fingerprint (``AB:CD:…``) of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert_fingerprint(cert.public_bytes(serialization.Encoding.DER))


def key_fingerprint(der: bytes) -> str:
    """SHA-256 of the public key of a DER-encoded certificate (its SubjectPublicKeyInfo, as
    HPKP, RFC 7469 §2.4, pins it), in the ``"AB:01:…"`` form of :func:`cert_fingerprint`.
    A certificate renewed on the same key keeps it. ``openssl x509 -pubkey -noout | openssl
    pkey -pubin -outform der | openssl dgst -sha256 -c`` prints it in lower case.

    Raises:
        ValueError: ``der`` is no certificate."""
    cert = x509.load_der_x509_certificate(der)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert_fingerprint(spki)


def pem_key_fingerprint(cert_pem: bytes) -> str:
    """The key fingerprint (:func:`key_fingerprint`) of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return key_fingerprint(cert.public_bytes(serialization.Encoding.DER))


@dataclass(frozen=True)
class Identity:
    """A certificate and key in PEM, and the certificate's SHA-256 ``fingerprint``."""

    cert_pem: bytes
    key_pem: bytes
    fingerprint: str


def make_identity(common_name: str, *, days: int = 30, dns_names: Sequence[str] = (),
                  ip_addresses: Sequence[str] = ()) -> Identity:
    """Generate a self-signed ECDSA P-256 certificate valid from yesterday for ``days`` days,
    with the given subject alternative names."""
    key = ec.generate_private_key(ec.SECP256R1())
    # (At most 64 bytes of UTF-8, not characters: a long non-ASCII host name was refused.)
    common_name = common_name.encode()[:64].decode(errors="ignore")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return Identity(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
        fingerprint=cert_fingerprint(cert.public_bytes(serialization.Encoding.DER)),
    )
