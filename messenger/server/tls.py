"""The server's TLS identity: a self-signed certificate made on first start.

The certificate (``server.crt``) and its private key (``server.key``, mode 0600) live in the data
dir. Clients pin the SHA-256 fingerprint of its key on first use (TOFU), like SSH host keys: a
certificate renewed on the same key is accepted.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import socket
import time
from collections.abc import Collection
from ipaddress import IPv6Network
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtNetwork import QSsl, QSslConfiguration, QSslKey, QSslSocket, QTcpServer

from messenger.paths import private_file, write_durably
from messenger.protocol.fingerprint import make_identity, pem_fingerprint, pem_key_fingerprint
from messenger.server.ratelimit import LogBudget, address_block

log = logging.getLogger("messenger.server.tls")

CERT_FILE = "server.crt"
KEY_FILE = "server.key"
KEY_STAGED = "server.key.new"
"""The key of a first start until the certificate beside it is written (then renamed to
:data:`KEY_FILE`)."""


def ensure_certificate(data_dir: Path) -> tuple[bytes, bytes]:
    """Return ``(certificate_pem, key_pem)`` from ``data_dir``, creating a self-signed ECDSA
    P-256 certificate valid for 10 years when none exists yet. Warns when an existing one has
    ended or ends soon (:func:`_note_dates`), saying to keep it."""
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    staged = data_dir / KEY_STAGED
    if cert_path.exists() and not key_path.exists() and staged.exists():
        _finish_first_start(cert_path, key_path, staged)
    if cert_path.exists() and key_path.exists():
        # A key restored from a backup, readable by every local user, who could then pose
        # as the server: narrowed as the database and the logs are (an operator hunt).
        private_file(key_path, create=False)
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
        _check_pair(cert_pem, key_pem, cert_path, key_path)
        _note_dates(cert_pem, cert_path)
        return cert_pem, key_pem
    if cert_path.exists() or key_path.exists():
        # One of the two gone: making both anew gave the server another identity, which
        # every app that pinned the old one refuses as a possible attack (an operator hunt).
        there, gone = (cert_path, key_path) if cert_path.exists() else (key_path, cert_path)
        raise CertificateError(
            f"{gone} is missing while {there} is there; restore {gone.name} from a backup, "
            f"or delete {there.name} too to make a new certificate (every client must then "
            "forget the old pin)")
    data_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname() or "localhost"
    dns_host = dns_name(host)
    identity = make_identity(f"Messenger server on {host}", days=3650,
                             dns_names=["localhost", *([dns_host] if dns_host else [])],
                             ip_addresses=["127.0.0.1"])
    cert_pem, key_pem = identity.cert_pem, identity.key_pem
    # Each file synced before it is named, the key first under another name: a power loss
    # during the first start left one file of the two (or an empty one), and every later
    # start refused ("… is missing"). Now a loss leaves nothing (made anew at the next
    # start), or the certificate with the staged key, which the next start puts in place.
    write_durably(staged, key_pem, mode=0o600)
    write_durably(cert_path, cert_pem)
    os.replace(staged, key_path)
    _sync_folder(data_dir)
    log.info("created a self-signed TLS certificate in %s", cert_path)
    return cert_pem, key_pem


END_DATE_NOTICE_DAYS = 30
"""A certificate ending within this many days (or ended) is named at the start, with the
advice to keep it (:func:`_note_dates`)."""


def _note_dates(cert_pem: bytes, cert_path: Path, now: datetime.datetime | None = None) -> None:
    """Warn when ``cert_pem`` is past its end date, ends within :data:`END_DATE_NOTICE_DAYS`,
    or is not valid yet, and say to keep it or renew it on the same key: the apps pin the key
    and do not check the dates, so it goes on working, and one renewed on ``server.key`` is
    accepted, while a new key makes every app refuse the server as a possible attack until
    its pin is forgotten. Before, nothing was said, and an operator whose monitoring reported
    "expired" made a new one (a hunt)."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    now = now or datetime.datetime.now(datetime.UTC)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if end < now:
        when = f"expired on {end:%Y-%m-%d} (UTC)"
    elif end < now + datetime.timedelta(days=END_DATE_NOTICE_DAYS):
        when = f"expires on {end:%Y-%m-%d} (UTC)"
    elif start > now:
        when = f"is valid only from {start:%Y-%m-%d %H:%M} (UTC; is this computer's clock right?)"
    else:
        return
    log.warning("%s %s. Messenger apps pin its key and do not check its dates, so they go on "
                "connecting: keep it, or renew it on the same key (server.key). A new key "
                "makes every app refuse the server (\"certificate changed\") until its pin is "
                "forgotten", cert_path, when)


def _finish_first_start(cert_path: Path, key_path: Path, staged: Path) -> None:
    """Put the staged key of an interrupted first start in place when it is the key of the
    certificate written after it (a power loss between the two); anything else is left
    for the checks of :func:`ensure_certificate` to report."""
    try:
        _check_pair(cert_path.read_bytes(), staged.read_bytes(), cert_path, staged)
    except (OSError, CertificateError) as exc:
        log.warning("not using %s: %s", staged, exc)
        return
    os.replace(staged, key_path)
    _sync_folder(key_path.parent)
    log.info("finished the certificate of an interrupted first start in %s", key_path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (POSIX; Windows cannot open a folder, and
    its renames are durable)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dns_name(host: str) -> str | None:
    """``host`` as a certificate's DNS name: ASCII as it is, else IDNA-encoded ("Zoë-PC" is
    "xn--zo-pc-osa"); None when it cannot be (cryptography refuses non-ASCII DNS names, and
    the first start on a computer with such a name failed: an operator hunt). The name is
    decoration: clients pin the key's fingerprint."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


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
    _key_algorithm(key_pem, key_path)


MIN_RSA_BITS = 2048
"""The smallest RSA key the server starts with: OpenSSL's default security level refuses
smaller ones in every handshake ("ee key too small")."""

TLS_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
"""The EC curves a server key may be on (P-256, P-384, P-521): the ones TLS 1.2 and 1.3 sign
with; a key on another curve (secp256k1, P-192, …) fails every handshake."""


def _key_algorithm(key_pem: bytes, key_path: Path) -> QSsl.KeyAlgorithm:
    """The Qt algorithm of the private key ``key_pem`` (RSA or EC); raise
    :class:`CertificateError` for any other kind, which Qt cannot serve TLS with, and for an
    RSA key under :data:`MIN_RSA_BITS` or an EC key on a curve not in :data:`TLS_CURVES`,
    which OpenSSL refuses in every handshake (the server listened and every app said "closed
    the connection during the handshake": a certificates hunt)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateError(
                f"{key_path} is an RSA key of {key.key_size} bits, which TLS refuses to serve "
                f"(every handshake would fail); give the server an RSA key of at least "
                f"{MIN_RSA_BITS} bits or an EC key on P-256, P-384 or P-521, and its "
                "certificate")
        return QSsl.KeyAlgorithm.Rsa
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in TLS_CURVES:
            raise CertificateError(
                f"{key_path} is an EC key on the curve {key.curve.name}, which TLS does not "
                "serve (every handshake would fail); give the server an EC key on P-256, "
                f"P-384 or P-521, or an RSA key of at least {MIN_RSA_BITS} bits, and its "
                "certificate")
        return QSsl.KeyAlgorithm.Ec
    raise CertificateError(
        f"{key_path} is a {type(key).__name__.removeprefix('_')} key, which the server cannot "
        "serve TLS with; give it an RSA or EC (ECDSA) key and its certificate")


def ssl_key(key_pem: bytes, key_path: Path) -> QSslKey:
    """``key_pem`` (the checked ``server.key``) as a ``QSslKey`` of its own algorithm; raise
    :class:`CertificateError` if Qt cannot load it (a key loaded as the wrong algorithm is a
    null key, and then the server listened and failed every handshake: an operator hunt)."""
    key = QSslKey(key_pem, _key_algorithm(key_pem, key_path), QSsl.EncodingFormat.Pem)
    if key.isNull():
        raise CertificateError(f"{key_path} cannot be loaded for TLS; give the server an RSA "
                               "or EC (ECDSA) key in PEM and its certificate")
    return key


REFUSAL_LOG_SECONDS = 10.0
"""At most one warning per this many seconds about connections closed for the limits."""


class TlsServer(QTcpServer):
    """A ``QTcpServer`` whose connections come out of :meth:`nextPendingConnection` as
    ``QSslSocket`` objects with the TLS handshake done, like ``QSslServer``, but with limits that
    one address cannot defeat.

    ``QSslServer`` (Qt 6.11) counts connections in the handshake as pending and stops
    accepting at ``maxPendingConnections`` (30): 30 TCP connections from one address that
    never start TLS locked everyone out for the handshake timeout, and 30 that closed before
    the handshake did so for good (its close path never resumes accepting). Here a handshake
    has ``timeout_ms`` to finish, one address may have ``max_per_host`` handshakes under way
    and all addresses together ``max_total``; a connection beyond either is closed at once
    (logged), and accepting never pauses.

    Signals: ``pendingConnectionAvailable`` (QTcpServer's) when a handshake is done.
    """

    def __init__(self, tls: QSslConfiguration, *, timeout_ms: int = 10_000,
                 max_per_host: int = 64, max_total: int = 1024,
                 local_networks: Collection[IPv6Network] = (),
                 log_budget: LogBudget | None = None, parent=None) -> None:
        super().__init__(parent)
        self._log_budget = log_budget or LogBudget(log)  # (failed handshakes: per address)
        self._tls = tls
        self.local_networks = frozenset(local_networks)  # (see address_block)
        self.timeout_ms = timeout_ms
        self.max_per_host = max_per_host
        self.max_total = max_total
        self._handshaking: dict[QSslSocket, str] = {}  # socket -> peer address
        self._per_host: dict[str, int] = {}
        self.refused = 0  # connections closed because of the limits (for tests and logs)
        self._refusals_logged = 0  # self.refused when the last warning was logged
        self._warned_at = -math.inf  # (monotonic) at most one warning per REFUSAL_LOG_SECONDS

    @property
    def handshaking(self) -> int:
        """Connections whose TLS handshake is under way."""
        return len(self._handshaking)

    def incomingConnection(self, handle: int) -> None:
        sock = QSslSocket(self)
        if not sock.setSocketDescriptor(handle):
            log.info("cannot take an incoming connection: %s", sock.errorString())
            sock.deleteLater()
            return
        # (A remote IPv6 client counts by its /64: address_block.)
        host = address_block(sock.peerAddress().toString(), self.local_networks)
        waiting = self._per_host.get(host, 0)
        if waiting >= self.max_per_host or len(self._handshaking) >= self.max_total:
            self.refused += 1
            now = time.monotonic()
            if now - self._warned_at >= REFUSAL_LOG_SECONDS:  # (a flood must not flood the log)
                log.warning("closed a connection from %s: %d TLS handshakes under way (%s); "
                            "%d connections closed so since the last such line", host,
                            len(self._handshaking) if waiting < self.max_per_host else waiting,
                            "in all" if waiting < self.max_per_host else "from that address",
                            self.refused - self._refusals_logged)
                self._warned_at, self._refusals_logged = now, self.refused
            sock.abort()
            sock.deleteLater()
            return
        self._handshaking[sock] = host
        self._per_host[host] = waiting + 1
        sock.setSslConfiguration(self._tls)
        sock.encrypted.connect(lambda s=sock: self._done(s, None))
        sock.errorOccurred.connect(lambda _e, s=sock: self._done(s, s.errorString()))
        sock.disconnected.connect(lambda s=sock: self._done(s, "closed by the client"))
        QTimer.singleShot(self.timeout_ms, sock, lambda s=sock: self._done(
            s, f"no TLS handshake within {self.timeout_ms / 1000:g} s"))
        sock.startServerEncryption()

    def drop_handshakes(self) -> None:
        """Close the connections whose handshake is under way (the server stops)."""
        for sock in list(self._handshaking):
            self._done(sock, "the server stopped")

    def _done(self, sock: QSslSocket, failure: str | None) -> None:
        host = self._handshaking.pop(sock, None)
        if host is None:
            return  # (the handshake ended before: these signals now belong to the owner)
        left = self._per_host[host] - 1
        if left:
            self._per_host[host] = left
        else:
            del self._per_host[host]
        sock.encrypted.disconnect()
        sock.errorOccurred.disconnect()
        sock.disconnected.disconnect()
        if failure is None and sock.state() == QSslSocket.SocketState.ConnectedState:
            self.addPendingConnection(sock)  # -> pendingConnectionAvailable
            return
        if self._log_budget.allow(host):  # (300 bare connections were 300 lines)
            log.info("TLS handshake with %s failed: %s", host, failure or "closed")
        sock.abort()
        sock.deleteLater()


__all__ = ["CertificateError", "TlsServer", "ensure_certificate", "pem_fingerprint",
           "pem_key_fingerprint", "ssl_key"]
