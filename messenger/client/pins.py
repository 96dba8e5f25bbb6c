"""Trust on first use (TOFU) for servers, like SSH's ``known_hosts``.

The first time the app meets a server it records the SHA-256 fingerprint of the public key
in the server's certificate (its SubjectPublicKeyInfo, as HPKP pins it, RFC 7469 §2.4: the
``"AB:CD:…"`` form of :func:`messenger.protocol.fingerprint.key_fingerprint`) under the key
``"host:port"``; later connections must present a certificate on the same key. A certificate
renewed on that key (a CA's certificate every 90 days, a self-signed one made anew from
``server.key``) is accepted: SSH pins the host key, not a certificate. The store is a small
JSON object ``{"host:port": "AB:CD:…"}`` in ``paths.config_dir() / "known_servers.json"``.

Apps before the key pin pinned the fingerprint of the whole certificate
(:func:`~messenger.protocol.fingerprint.cert_fingerprint`). Such a pin still matches the
very certificate it was made from (:attr:`PinCheck.legacy`), and the connection then pins
the key in its place; a renewed certificate is refused until that happened once (the old
pin cannot tell its key).
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..paths import write_durably

log = logging.getLogger("messenger.client.pins")

PIN_FILE_NAME = "known_servers.json"


class PinFileError(ValueError):
    """The pin file exists but cannot be read or parsed. The app then trusts no server (a
    lost pin file must not turn every certificate into a "first use"), and never overwrites
    the file; the message names the file and says what to do."""


class PinVerdict(enum.Enum):
    """What :meth:`PinStore.check` decided about a presented fingerprint."""

    UNKNOWN = "unknown"
    """No pin for this server yet: trust on first use."""
    MATCH = "match"
    """The pinned fingerprint matches (the key's, or an older app's of this certificate)."""
    MISMATCH = "mismatch"
    """Another key than the pinned one: refuse."""


@dataclass(frozen=True)
class PinCheck:
    """Result of a check: the ``verdict``, the ``pinned`` fingerprint (None when unknown),
    the ``presented`` key fingerprint, and whether the pin was the ``legacy`` certificate
    fingerprint of an older app that matched this certificate (then pin the key instead)."""

    verdict: PinVerdict
    pinned: str | None
    presented: str
    legacy: bool = False


def server_address(host: str, port: int) -> str:
    """``host`` and ``port`` as the app writes a server's address to the user and in its
    log: ``chat.example:5555``, and ``[::1]:5555`` for an IPv6 literal, which a bare colon
    would run into its port ("::1:5555" is itself an IPv6 address: a certificates hunt)."""
    host = host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{int(port)}"


def server_key(host: str, port: int) -> str:
    """The pin key of a server: :func:`server_address` with the host lower-cased."""
    return server_address(host.lower(), port)


def normalize_fingerprint(fingerprint: str) -> str:
    """Upper-case colon-separated hex, whatever separators/case were given.

    Raises:
        ValueError: not 32 bytes of hex.
    """
    digits = "".join(ch for ch in fingerprint if ch not in ": \t").upper()
    if len(digits) != 64 or any(ch not in "0123456789ABCDEF" for ch in digits):
        raise ValueError(f"not a SHA-256 fingerprint: {fingerprint!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


class PinStore:
    """The pinned fingerprints, kept in a JSON file.

    Args:
        path: the JSON file; default ``paths.config_dir() / "known_servers.json"``. It is read
            on every call (so several app windows in one process see each other's pins) and
            written atomically. A missing file counts as empty; an unreadable or corrupt
            one raises :class:`PinFileError` from every method (fail closed: it is neither
            taken for "no pins" nor overwritten).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else paths.config_dir() / PIN_FILE_NAME

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("unreadable pin file %s: %s", self.path, exc)
            raise PinFileError(self._unreadable(str(exc))) from exc
        if not isinstance(data, dict):
            log.error("pin file %s is not a JSON object", self.path)
            raise PinFileError(self._unreadable("it is not a JSON object"))
        return {str(k): str(v) for k, v in data.items()}

    def _unreadable(self, why: str) -> str:
        return (f"The file of trusted server certificates ({self.path}) cannot be read: {why}. "
                "To keep you safe no server is trusted until it is fixed; repair it, or move "
                "it away to trust servers afresh on first use.")

    def _save(self, pins: dict[str, str]) -> None:
        # Durably (synced before and after the rename): a power loss right after a pin left
        # an empty file, which trusts no server until it is repaired (a certificates hunt).
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # (0600: which servers this user trusts is nobody else's business on a shared
        # computer; it was the umask's 0644, a hunt)
        write_durably(self.path, json.dumps(pins, indent=2, sort_keys=True) + "\n",
                      mode=0o600)

    def get(self, host: str, port: int) -> str | None:
        """The pinned fingerprint of ``host:port``, or None."""
        return self._load().get(server_key(host, port))

    def entries(self) -> list[tuple[str, int, str]]:
        """Every pin as ``(host, port, fingerprint)`` (hosts as :func:`server_key` keeps
        them, IPv6 literals without brackets; keys that are no address are left out).

        Raises:
            PinFileError: the pin file cannot be read."""
        out = []
        for key, fingerprint in self._load().items():
            host, _, port = key.rpartition(":")
            if host and port.isdigit():
                out.append((host.removeprefix("[").removesuffix("]"), int(port), fingerprint))
        return out

    def addresses_of(self, fingerprint: str, certificate: str | None = None) -> list[str]:
        """The servers (as :func:`server_key` writes them, sorted) whose pin is the key
        ``fingerprint`` (or, pinned by an older app, the ``certificate`` fingerprint): the
        same server met under other names or addresses.

        Raises:
            PinFileError: the pin file cannot be read."""
        wanted = {normalize_fingerprint(fingerprint)}
        if certificate:
            wanted.add(normalize_fingerprint(certificate))
        out = []
        for key, pinned in self._load().items():
            try:
                if normalize_fingerprint(pinned) in wanted:
                    out.append(key)
            except ValueError:
                continue  # (a corrupt pin matches nothing)
        return sorted(out)

    def pin(self, host: str, port: int, fingerprint: str) -> None:
        """Pin (or re-pin) ``fingerprint`` for ``host:port``."""
        pins = self._load()
        pins[server_key(host, port)] = normalize_fingerprint(fingerprint)
        self._save(pins)
        log.info("pinned %s to %s", server_key(host, port), pins[server_key(host, port)])

    def remove(self, host: str, port: int) -> bool:
        """Forget the pin of ``host:port``; True when there was one."""
        pins = self._load()
        if pins.pop(server_key(host, port), None) is None:
            return False
        self._save(pins)
        log.info("removed the pin of %s", server_key(host, port))
        return True

    def check(self, host: str, port: int, fingerprint: str,
              certificate: str | None = None) -> PinCheck:
        """Compare a presented key ``fingerprint`` with the pin; changes nothing (see
        :meth:`verify`). A pin equal to the ``certificate`` fingerprint (an older app's
        pin of this very certificate) matches too, as :attr:`PinCheck.legacy`."""
        presented = normalize_fingerprint(fingerprint)
        pinned = self.get(host, port)
        if pinned is None:
            return PinCheck(PinVerdict.UNKNOWN, None, presented)
        try:
            pinned = normalize_fingerprint(pinned)
        except ValueError:
            log.warning("corrupt pin for %s: %r", server_key(host, port), pinned)
        if pinned == presented:
            return PinCheck(PinVerdict.MATCH, pinned, presented)
        if certificate is not None and pinned == normalize_fingerprint(certificate):
            return PinCheck(PinVerdict.MATCH, pinned, presented, legacy=True)
        return PinCheck(PinVerdict.MISMATCH, pinned, presented)

    def verify(self, host: str, port: int, fingerprint: str,
               certificate: str | None = None) -> PinCheck:
        """TOFU: like :meth:`check`, and pin the key ``fingerprint`` when the server was
        unknown, or in place of an older app's pin of this ``certificate``."""
        result = self.check(host, port, fingerprint, certificate)
        if result.verdict is PinVerdict.UNKNOWN:
            self.pin(host, port, result.presented)
        elif result.legacy:
            self.pin(host, port, result.presented)
            log.info("%s: the pin of its certificate is now the pin of its key",
                     server_key(host, port))
        return result


def two_lines(fingerprint: str) -> str:
    """A 95-character fingerprint split after its 16th byte (``"AB:…:EF:\\n01:…"``), so it
    fits a dialog: it has no space to wrap at."""
    return fingerprint[:48] + "\n" + fingerprint[48:]


def mismatch_message(host: str, port: int, pinned: str, presented: str) -> str:
    """The explanation shown when a server's key differs from its pin (several lines: each
    fingerprint on two of its own; ``presented`` is the key fingerprint)."""
    return (
        f"The server's certificate changed, so the connection was refused: this may be an "
        f"attack (someone between you and {server_key(host, port)} pretending to be the "
        f"server). It is on another key.\nPinned:\n{two_lines(pinned)}\n"
        f"Now:\n{two_lines(presented)}\n"
        "If the server was reinstalled or given a new key, check the new fingerprint "
        "with its administrator, then choose \u201cForget the pinned key\u201d."
    )
