"""Whether Qt can make TLS connections here, for the server and the app.

Qt's TLS backend is a plugin that loads OpenSSL 3 (``libssl.so.3``) at run time on Linux; the
PySide6 wheels do not ship it. When it cannot be loaded, Qt falls back to its "cert-only"
backend, which reads certificates but cannot load a private key nor make a connection: the
server then blamed its own new key ("server.key cannot be loaded for TLS"), and an operator
who replaced it broke every app's pin; the app said only "TLS initialization failed".
"""

from __future__ import annotations

import sys

from PySide6.QtNetwork import QSslSocket


def tls_unavailable() -> str | None:
    """None when Qt has a TLS backend that makes connections; otherwise one sentence saying
    that TLS is unavailable and why ("TLS unavailable: OpenSSL 3 (libssl.so.3) could not be
    loaded …")."""
    if QSslSocket.supportsSsl():
        return None
    backend = QSslSocket.activeBackend() or "none"
    if sys.platform == "win32" or sys.platform == "darwin":
        why = "no TLS library could be loaded"
    else:
        why = "OpenSSL 3 (libssl.so.3) could not be loaded"
    return (f"TLS unavailable: {why} (Qt's TLS backend is {backend!r}, which cannot make "
            "connections); install OpenSSL 3 (on Debian and Ubuntu: libssl3 or libssl3t64)")


class TlsUnavailable(OSError):
    """Raised where TLS is needed and :func:`tls_unavailable` says why it cannot be had."""


def require_tls() -> None:
    """Raise :class:`TlsUnavailable` (with :func:`tls_unavailable`'s words) unless Qt can make
    TLS connections."""
    reason = tls_unavailable()
    if reason is not None:
        raise TlsUnavailable(reason)
