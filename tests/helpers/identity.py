"""An operator's own TLS identity in a server's data dir, for tests."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def operator_identity(data_dir: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *,
                      host: str = "chat.example",
                      key_format: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
                      not_after: datetime.datetime | None = None) -> None:
    """An operator's own self-signed certificate for ``key`` (common name ``host``) and the
    key, PEM in ``key_format``, put in ``data_dir`` (docs/architecture.md: "Your own
    certificate may replace them"), valid from yesterday until ``not_after`` (a year on by
    default)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(min(now, not_after or now) - datetime.timedelta(days=1))
            .not_valid_after(not_after or now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (data_dir / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, key_format, serialization.NoEncryption()))
