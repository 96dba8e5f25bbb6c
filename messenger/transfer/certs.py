"""The transfer engine's TLS identity: an ephemeral self-signed ECDSA P-256 certificate.

The receiving side is the QUIC server and presents this certificate; its SHA-256 fingerprint
(of the DER encoding, ``"AB:01:…"`` form) travels to the sender through the chat server, and the
sender pins it with ``QuicConfiguration.assert_fingerprint``. Nothing about it is secret except
the private key, which never leaves memory; a new one is made each time the engine starts.
"""

from __future__ import annotations

from messenger.protocol import fingerprint
from messenger.protocol.fingerprint import Identity

__all__ = ["Identity", "make_identity"]


def make_identity(common_name: str = "Messenger transfer", days: int = 30) -> Identity:
    """Generate a self-signed P-256 certificate valid from yesterday for ``days`` days."""
    return fingerprint.make_identity(common_name, days=days)
