"""Server settings, filled from the command line (``messenger --server --help``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from messenger.protocol import DEFAULT_MAX_FRAME


@dataclass
class ServerConfig:
    """Everything a server needs to start.

    Attributes:
        host: IP address to listen on (``0.0.0.0`` for every interface of a LAN server).
        port: TCP port; 0 lets the OS pick a free one.
        data_dir: folder for the database, the TLS certificate and the default log file.
        db: SQLite database file; default ``data_dir/messenger.db``.
        max_frame: largest frame accepted, in bytes.
        max_failed_logins: consecutive failures (1–5) before a lock-out.
        lockout_seconds: length of a lock-out.
        tls: serve TLS (always on for users; off only for protocol debugging).
        login_timeout: seconds a connection may stay without a logged-in account (from the
            TCP connect; checked every ``idle_timeout`` / 6): then it gets ``not_logged_in``
            and is closed, so idle unauthenticated connections cannot pile up.
        idle_timeout: seconds of silence after which a connection is dropped (it is pinged
            after a third of that).
        argon2_time_cost, argon2_memory_kib: argon2id cost (RFC 9106); the defaults are
            argon2-cffi's (3 passes over 64 MiB, ≈150 ms here). Tests lower them for speed.
        max_hashing: ``register``/``login`` requests whose password hashing may be queued or
            running at once; more get ``rate_limited`` (see ``ServerCore``).
        max_hashing_per_host: the share of ``max_hashing`` one IP address may hold.
        max_prelogin_per_host: connections one IP address may hold open without a login;
            beyond it a new one gets ``rate_limited`` and is closed (``--max-prelogin``).
        max_send_rate: messages (``send``, ``edit``) an account may send a second on
            average, in bursts of up to ten seconds' worth; beyond it ``rate_limited`` for
            a second (``--max-send-rate``; 0: no limit).
        max_registrations: accounts one IP address may create an hour (``register``), in
            bursts of as many; beyond it ``rate_limited`` (``--max-registrations``; 0: no
            limit). Accounts made with ``--add-user`` do not count.
        max_waiting_offers: file offers of one user that may wait for an answer (offered and
            not accepted, declined, cancelled or expired); more offers get ``rate_limited``.
            Accepted transfers do not count (see ``transfers.MAX_ACCEPTED_PER_SENDER``).
        sync_thread: make commits durable on a thread of their own (pipelined group commit,
            :mod:`messenger.server.walsync`) instead of an fsync inside each ``COMMIT`` on the
            event loop. Replies wait for the sync either way.
    """

    host: str = "127.0.0.1"
    port: int = 5555
    data_dir: Path = field(default_factory=lambda: Path("."))
    db: Path | None = None
    max_frame: int = DEFAULT_MAX_FRAME
    max_failed_logins: int = 3
    lockout_seconds: float = 10.0
    tls: bool = True
    idle_timeout: float = 45.0
    login_timeout: float = 60.0
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    sync_thread: bool = True
    max_hashing: int = 64
    max_hashing_per_host: int = 16
    max_prelogin_per_host: int = 64
    max_send_rate: float = 100.0
    max_waiting_offers: int = 100
    max_registrations: float = 20.0

    @property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.data_dir / "messenger.db"
