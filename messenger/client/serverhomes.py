"""Which address a server's local stores and per-account settings are kept under.

The app keeps an account's messages (``accounts/<host>_<port>/<user>.db``) and its choices
(``session/<user>@<host>:<port>`` in the settings) under an address. A server reached another
way — its name instead of its IP address, a new DHCP address, another name for it — is still
the same server: it presents the same certificate (its fingerprint, pinned per address). So
the first address a certificate was met at on this computer is its *home*, and every later
address with that certificate uses the home's store and settings. (Kept under the address as
typed, they were another account's: read receipts back on, mutes, auto-accept and download
folder forgotten, and a message typed offline never sent; a hunt.)

Rules, plain and unit-tested (:class:`ServerHomes`):

- A certificate met for the first time makes the address typed its home.
- One met before goes to its home, whatever the address typed. Its server's database may
  have been reset meanwhile (another ``hello.instance``): the store at the home is then set
  aside as for a reset met at that address (the engine's rule), unsent messages kept.
- An address that becomes the home of another certificate (a new server at an old address,
  accepted after the warning) is no longer the first one's: that one's next home is the
  address it is then reached at, so two servers never share a store.
- Without a certificate fingerprint (never, over TLS) the address typed is the home.

The map is a small JSON object ``{"AB:CD:…": ["host", port]}`` in
``<data dir>/accounts/servers.json``, written atomically. Two servers made from one copy of
a data folder (the same certificate) count as one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("messenger.client.serverhomes")

HOMES_FILE = "servers.json"
"""The map's file name, in the data dir's ``accounts`` folder."""

Address = tuple[str, int]


class ServerHomes:
    """Certificate fingerprint → home address (see the module docstring).

    Args:
        homes: the map as loaded (fingerprints as the pins write them).
    """

    def __init__(self, homes: dict[str, Address] | None = None) -> None:
        self._homes: dict[str, Address] = dict(homes or {})
        self.changed = False
        """Whether :meth:`home` changed the map (then it should be saved)."""

    def home(self, host: str, port: int, fingerprint: str | None) -> Address:
        """The home of the server reached at ``host:port`` presenting ``fingerprint``
        (recorded when it is new; the host in lower case, as the store and settings keep
        it)."""
        typed = (host.strip().lower(), int(port))
        if not fingerprint:
            return typed
        known = self._homes.get(fingerprint)
        if known is not None:
            return known
        for other, address in list(self._homes.items()):
            if address == typed:  # (an old server's home: the new certificate owns it now)
                del self._homes[other]
        self._homes[fingerprint] = typed
        self.changed = True
        return typed

    def as_dict(self) -> dict[str, Address]:
        """A copy of the map."""
        return dict(self._homes)

    @classmethod
    def load(cls, path: Path) -> ServerHomes:
        """The map kept at ``path`` (empty when there is none, or it cannot be read: the
        addresses as typed are the homes then, as before the map)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("server homes %s cannot be read (%s): using the addresses as typed",
                        path, exc)
            return cls()
        homes: dict[str, Address] = {}
        if isinstance(data, dict):
            for fingerprint, address in data.items():
                if isinstance(address, list) and len(address) == 2 \
                        and isinstance(address[0], str) and isinstance(address[1], int):
                    homes[str(fingerprint)] = (address[0], address[1])
        return cls(homes)

    def save(self, path: Path) -> None:
        """Write the map to ``path`` (atomically).

        Raises:
            OSError: it could not be written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        data = {fp: [host, port] for fp, (host, port) in sorted(self._homes.items())}
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        self.changed = False
