"""Helpers of the storage hunt (tests/hunt/test_storage*.py): copies of databases made by
OLD versions of this code, and a small file system that can be filled.

The files under ``data/`` were made by the old code itself: ``data/generate_old.py`` copied
into a ``git worktree`` of the commit named in each folder's ``commit`` file and run there
(``GEN_OUT=<folder> [GEN_FORMER=1|GEN_QUEUED=1|GEN_OUTBOX=1] pytest tests/integration/
test_zz_gen.py``). Each holds the old server's database (``srv/``) and alice's and bob's old
app stores (``app/accounts/PORT/``, renamed to the test's port): unicasts alice<->bob (read
by bob), one to charlie (never logged in: queued), a multicast to bob+charlie, a broadcast, a
message in group "team", and one message alice typed while the server was down (her outbox).
Folder names: ``s<server schema>-l<app store schema>``; ``former-``: bob also joined and left
group "club" (message c1); ``queued-``: charlie is a member of "team", offline when g1 came;
``outbox-``: alice's outbox also holds a group message, a broadcast, a multicast and one to an
unknown user.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from messenger.client.models import MessageKind

DATA = Path(__file__).parent / "data"


def names(prefix: str) -> list[str]:
    return sorted(p.name for p in DATA.iterdir() if p.is_dir() and p.name.startswith(prefix))


OLD = [n for n in names("s")]
FORMER = names("former-")
QUEUED = names("queued-")
OUTBOX = names("outbox-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login(qtbot, engine, port, user, host="127.0.0.1"):
    with qtbot.waitSignal(engine.login_succeeded, timeout=15_000):
        engine.connect_to(host, port)
        engine.login(user, f"{user}123")


def old_copy(tmp_path: Path, name: str, port: int) -> Path:
    """A copy of ``data/<name>`` whose app stores are under 127.0.0.1:``port``."""
    dst = tmp_path / name
    shutil.copytree(DATA / name, dst)
    (dst / "app" / "accounts" / "PORT").rename(dst / "app" / "accounts" / f"127.0.0.1_{port}")
    return dst


def texts(engine, key):
    """What the conversation ``key`` shows (messages only)."""
    return [i.text for i in engine.conversation(key).items()
            if i.kind in (MessageKind.OWN, MessageKind.OTHER)]


def cached(engine, key):
    """The texts of conversation ``key`` in the engine's local store, oldest first."""
    return [m.text for m in engine.store.page(key, limit=1000)]


def fill(path: Path, leave: int = 0) -> None:
    """Write ``path`` until its disk is full (less ``leave`` bytes)."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    if leave:
        os.truncate(path, max(0, path.stat().st_size - leave))
