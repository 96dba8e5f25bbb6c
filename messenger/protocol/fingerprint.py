"""Certificate fingerprints as shown to people and pinned by clients (TOFU)."""

from __future__ import annotations

import hashlib


def cert_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER-encoded certificate as colon-separated upper-case hex pairs
    (``"AB:01:…"``, 95 characters), the form ``openssl x509 -fingerprint -sha256`` prints."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
