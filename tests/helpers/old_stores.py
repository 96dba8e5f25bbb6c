"""Databases made by OLDER versions of Messenger, for the upgrade tests
(tests/integration/test_upgrade.py).

``tests/data/old_stores/stores.tar.gz`` holds one folder per old version, made by that
version's own code: ``tests/data/old_stores/generate_old.py`` run in a ``git worktree`` of
the commit named in the folder's ``commit`` file (see the README there). Each folder holds
the old server's database (``srv/``) and alice's and bob's app stores
(``app/accounts/PORT/``, renamed to the test's port by :func:`old_copy`): unicasts
alice<->bob (read by bob), one to charlie (never logged in: queued), a multicast to
bob+charlie, a broadcast, a message in group "team", and one message alice typed while the
server was down (her outbox).

Folder names: ``s<server schema>-l<app store schema>``; ``former-``: bob also joined and
left group "club" (message c1); ``queued-``: charlie is a member of "team", offline when g1
came; ``outbox-``: alice's outbox also holds a group message, a broadcast, a multicast and
one to an unknown user.
"""

from __future__ import annotations

import socket
import tarfile
from pathlib import Path

from messenger.client.engine import ClientEngine

ARCHIVE = Path(__file__).parents[1] / "data" / "old_stores" / "stores.tar.gz"


def _names() -> list[str]:
    with tarfile.open(ARCHIVE) as tar:
        return sorted({m.name.split("/")[0] for m in tar.getmembers()})


NAMES = _names()
OLD = [n for n in NAMES if n.startswith("s")]
"""The plain folders, one per (server schema, app store schema) met in the history."""
FORMER = [n for n in NAMES if n.startswith("former-")]
QUEUED = [n for n in NAMES if n.startswith("queued-")]
OUTBOX = [n for n in NAMES if n.startswith("outbox-")]

def old_copy(tmp_path: Path, name: str, port: int) -> Path:
    """A copy of old folder ``name`` (in ``tmp_path``) whose app stores are under
    127.0.0.1:``port``."""
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(tmp_path, members=[m for m in tar.getmembers()
                                          if m.name.split("/")[0] == name], filter="data")
    dst = tmp_path / name
    (dst / "app" / "accounts" / "PORT").rename(dst / "app" / "accounts" / f"127.0.0.1_{port}")
    return dst


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the old stores are kept under an address)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login(qtbot, engine: ClientEngine, port: int, user: str, host: str = "127.0.0.1") -> None:
    """Log ``engine`` in as demo user ``user`` at ``host:port``."""
    with qtbot.waitSignal(engine.login_succeeded, timeout=15_000):
        engine.connect_to(host, port)
        engine.login(user, f"{user}123")


def cached(engine: ClientEngine, key: str) -> list[str]:
    """The texts of conversation ``key`` in the engine's local store, oldest first."""
    return [m.text for m in engine.store.page(key, limit=1000)]
