"""Which address a server's local stores and per-account settings are kept under.

The app keeps an account's messages (``accounts/<host>_<port>/<user>.db``) and its choices
(``session/<user>@<host>:<port>`` in the settings) under an address. A server reached another
way — its name instead of its IP address, a new DHCP address, another name for it — is still
the same server: it presents a certificate on the same key (the key's fingerprint, pinned per
address; :mod:`.pins`). So the first address a key was met at on this computer is its
*home*, and every later address with that key uses the home's store and settings. A
certificate renewed on the same key keeps the home. (Maps of apps before the key pin are
keyed by the whole certificate's fingerprint: such an entry becomes the key's the first time
that certificate is met again, so its stores stay found.) (Kept under the address as
typed, they were another account's: read receipts back on, mutes, auto-accept and download
folder forgotten, and a message typed offline never sent; a hunt.)

Rules, plain and unit-tested (:class:`ServerHomes`):

- A certificate met for the first time makes the address typed its home. Unless the
  stores of a home name its server's database (``hello.instance``): the same server on a
  new key (its certificate made again) keeps its home, whatever address it is met at (met
  by its other name, it made a new, empty home there, and the messages typed offline
  waited in the old one for good, its choices gone: a hunt).
- One met before goes to its home, whatever the address typed. Its server's database may
  have been reset meanwhile (another ``hello.instance``): the store at the home is then set
  aside as for a reset met at that address (the engine's rule), unsent messages kept.
- An address that becomes the home of another certificate (a new server at an old address,
  accepted after the warning) is no longer the first one's: that one's next home is the
  address it is then reached at, so two servers never share a store. Unless the first one
  is pinned at another address too (it moved, and was met where it went: it lives on
  there, and its stores are its own; the rule above found them not the new one's): then it
  keeps its home, and the new one's is a home of its own, the address typed with its key's
  first digits (``10.0.0.5~ab12cd34``, :func:`own_home`). Taken over, the first server's
  store was set aside as a "reset" of the new one and the messages typed offline for its
  people were sent to the new one's (another alice, bob, …); its choices (drafts, tabs,
  mutes, auto-accepted people) became the new one's, and back on the first server all was
  gone (a hunt).
- Without a certificate fingerprint (never, over TLS) the address typed is the home.

In the rules below "certificate" is the key the certificate is on. The map is a small JSON
object ``{"AB:CD:…": ["host", port]}`` (key fingerprints) in
``<data dir>/accounts/servers.json``, written atomically and durably (the new file is synced
before it replaces the old one, and the folder after). Two servers made from one copy of a
data folder (the same certificate) count as one.

A map that cannot be read (a power loss left it empty before its writes were synced;
damaged) was taken as empty and overwritten at the next login: a server met again at
another address than its home made a new, empty store there, and the messages typed
offline at the home waited in a store never opened again (a storage hunt). Now it is set
aside (``servers.json.damaged-<time>``) and the map rebuilt (:meth:`ServerHomes.recover`):
each certificate's home is the address pinned to it whose store folder was written last
(only a home's stores stay in use: those under other addresses are set aside when met), or
before that a home of its own (:func:`own_home`) that holds stores. One
that cannot be read nor set aside is never overwritten.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ..paths import write_durably
from .pins import normalize_fingerprint

log = logging.getLogger("messenger.client.serverhomes")

HOMES_FILE = "servers.json"
"""The map's file name, in the data dir's ``accounts`` folder."""

Address = tuple[str, int]


def own_home(address: Address, fingerprint: str) -> Address:
    """The home of a new server met at ``address`` while that is the home of another one
    that lives on elsewhere: the host with ``~`` and the first 8 hex digits of its key
    ``fingerprint`` (no host name or address has a ``~``)."""
    digits = "".join(ch for ch in fingerprint if ch.isalnum()).lower()[:8]
    return (f"{address[0]}~{digits}", address[1])


def _pinned_elsewhere(fingerprint: str, address: Address,
                      pins: Iterable[tuple[str, int, str]]) -> bool:
    """Whether ``fingerprint`` is pinned at an address other than ``address``."""
    try:
        wanted = normalize_fingerprint(fingerprint)
    except ValueError:
        return False
    for host, port, pinned in pins:
        try:
            same = normalize_fingerprint(pinned) == wanted
        except ValueError:
            continue  # (a corrupt pin matches nothing)
        if same and (host.strip().lower(), int(port)) != address:
            return True
    return False


class ServerHomes:
    """Key fingerprint → home address (see the module docstring).

    Args:
        homes: the map as loaded (fingerprints as the pins write them).
    """

    def __init__(self, homes: dict[str, Address] | None = None) -> None:
        self._homes: dict[str, Address] = dict(homes or {})
        self.changed = False
        """Whether :meth:`home` changed the map (then it should be saved)."""
        self.set_aside: Path | None = None
        """Where :meth:`load` set an unreadable map aside (then :meth:`recover` it)."""
        self.writable = True
        """False when :meth:`load` met a map it could neither read nor set aside: it must
        not be overwritten (:meth:`save` refuses)."""

    def home(self, host: str, port: int, fingerprint: str | None,
             certificate: str | None = None,
             pins: Iterable[tuple[str, int, str]] = (),
             same_database: Callable[[Address], bool] | None = None) -> Address:
        """The home of the server reached at ``host:port`` presenting a certificate on the
        key ``fingerprint`` (recorded when it is new; the host in lower case, as the store
        and settings keep it). An entry of an older app under that certificate's own
        fingerprint (``certificate``) is moved to the key. ``pins`` (host, port,
        fingerprint: :meth:`PinStore.entries`) say where the server whose home the address
        was is met now: pinned at another address, it keeps its home (see the module
        docstring). A new key whose server's database the stores of a home hold
        (``same_database`` of that home: they name its ``hello.instance``) takes that home
        over, whatever the address typed: the same server on a new key."""
        typed = (host.strip().lower(), int(port))
        if not fingerprint:
            return typed
        known = self._homes.get(fingerprint)
        if known is not None:
            return known
        if certificate and certificate in self._homes:
            known = self._homes[fingerprint] = self._homes.pop(certificate)
            self.changed = True
            log.info("server home %s: kept under its key %s (was its certificate %s)",
                     known, fingerprint, certificate)
            return known
        if same_database is not None:  # (the typed address's home first)
            for other, address in sorted(self._homes.items(), key=lambda e: e[1] != typed):
                if same_database(address):  # (the same server on a new key)
                    del self._homes[other]
                    self._homes[fingerprint] = address
                    self.changed = True
                    log.info("server home %s: its stores are this server's, now on the key "
                             "%s (was %s)", address, fingerprint, other)
                    return address
        home = typed
        for other, address in list(self._homes.items()):
            if address != typed:
                continue
            if _pinned_elsewhere(other, typed, pins):
                # (it moved, and this is another server: its home stays its own)
                home = own_home(typed, fingerprint)
                log.info("server home %s stays the one of %s (pinned elsewhere now): the "
                         "new key %s is kept under %s", typed, other, fingerprint, home)
            else:  # (an old server's home: the new certificate owns it now)
                del self._homes[other]
        self._homes[fingerprint] = home
        self.changed = True
        return home

    def as_dict(self) -> dict[str, Address]:
        """A copy of the map."""
        return dict(self._homes)

    def recover(self, pins: Iterable[tuple[str, int, str]],
                written: Mapping[Address, float]) -> None:
        """Rebuild the homes of a map that was lost (:attr:`set_aside`): for each
        certificate not in the map, of the addresses pinned to it (``pins``: host, port,
        fingerprint) the one whose store folder was written last (``written``: address,
        host in lower case → the newest modification time of its stores). Addresses
        without stores make no home. A home of its own (:func:`own_home` of a pinned
        address; only that certificate's stores are there) with stores comes first."""
        best: dict[str, tuple[float, Address]] = {}
        for host, port, fingerprint in pins:
            address = (host.strip().lower(), int(port))
            own = own_home(address, fingerprint)
            when = float("inf") if own in written else written.get(address)
            if fingerprint in self._homes or when is None:
                continue
            if fingerprint not in best or when > best[fingerprint][0]:
                best[fingerprint] = (when, own if own in written else address)
        taken = set(self._homes.values())
        for fingerprint, (_when, address) in best.items():
            if address not in taken:  # (two servers never share a store)
                self._homes[fingerprint] = address
                taken.add(address)
                self.changed = True

    @classmethod
    def load(cls, path: Path) -> ServerHomes:
        """The map kept at ``path`` (empty when there is none). One that cannot be read is
        set aside (:attr:`set_aside`, to :meth:`recover` the map from); one that cannot be
        read nor set aside is left alone (not :attr:`writable`; the addresses as typed are
        the homes then, as before the map)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("it is not a JSON object")
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            lost = cls()
            why: Exception = exc
            if isinstance(exc, ValueError):  # (damaged, not unreadable: set it aside)
                aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
                try:
                    os.replace(path, aside)
                except OSError as failed:
                    why = failed
                else:
                    log.error("server homes %s cannot be read (%s): set aside as %s, rebuilt "
                              "from the pins and stores", path, exc, aside.name)
                    lost.set_aside = aside
                    return lost
            log.error("server homes %s cannot be read (%s): left as it is, the addresses as "
                      "typed are the homes", path, why)
            lost.writable = False
            return lost
        homes: dict[str, Address] = {}
        for fingerprint, address in data.items():
            if isinstance(address, list) and len(address) == 2 \
                    and isinstance(address[0], str) and isinstance(address[1], int):
                homes[str(fingerprint)] = (address[0], address[1])
        return cls(homes)

    def save(self, path: Path) -> None:
        """Write the map to ``path``, atomically and durably (the new file synced before it
        replaces the old one, the folder after: a power loss leaves the old map or the new
        one, not an empty file).

        Raises:
            OSError: it could not be written, or it must not be (not :attr:`writable`)."""
        path = Path(path)
        if not self.writable:
            raise OSError(f"{path} could not be read: it is left as it is")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {fp: [host, port] for fp, (host, port) in sorted(self._homes.items())}
        write_durably(path, json.dumps(data, indent=2) + "\n", mode=0o600)  # (as the pins)
        self.changed = False
