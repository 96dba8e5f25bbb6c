"""``messenger --server``: run the headless server in a ``QCoreApplication``.

Prints exactly one line ``listening on HOST:PORT`` on stdout once it accepts connections (with
the real port when ``--port 0`` was given; an IPv6 host in brackets, ``[::1]:5555``);
everything else goes to the log (stderr and a rotating file, ``DATA_DIR/server.log`` unless
``--log-file`` says otherwise).
"""

from __future__ import annotations

import argparse
import gc
import getpass
import logging
import logging.handlers
import shutil
import signal
import sqlite3
import sys
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtNetwork import QHostAddress

from messenger import paths
from messenger.logsetup import PrivateRotatingFileHandler, setup_logging
from messenger.protocol import (
    DEFAULT_MAX_FRAME,
    is_reserved_name,
    is_valid_name,
    is_valid_password,
    name_key,
)

from .config import ServerConfig
from .lock import DatabaseInUse
from .store import SCHEMA_VERSION, DatabaseVersionError, NameTaken
from .tls import CERT_FILE, KEY_FILE

__all__ = ["ServerConfig", "config_from_args", "run_server", "tune_gc"]

log = logging.getLogger("messenger.server")

T = TypeVar("T")


GC_THRESHOLDS = (50_000, 20, 10)
"""The cyclic garbage collector's thresholds in the server (Python's default is 700, 10, 10).
Every frame allocates objects that die young by reference counting; with the default, the
collector ran hundreds of times a second under load and its full passes over the caches of
recent messages took ~15% of the event loop (measured with ``gc.callbacks``)."""


def tune_gc() -> None:
    """Move what start-up created out of the collector's sight (``gc.freeze``) and collect
    less often (:data:`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


OPEN_FILES_WANTED = 65_536
"""The soft limit of open files the server raises itself to (at most its hard limit)."""


def raise_open_files_limit() -> None:
    """Raise the process's soft limit of open files (``RLIMIT_NOFILE``, often 1,024) towards
    its hard limit: each connection takes one, and the server holds that many less a few
    (:func:`~messenger.server.net.connection_limit`). Left as it is where it cannot be."""
    try:
        import resource
    except ImportError:  # pragma: no cover (Windows)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else \
        min(hard, OPEN_FILES_WANTED)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.info("open files limit stays at %d: %s", soft, exc)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build a :class:`ServerConfig` from parsed command-line arguments (no folder is made:
    :func:`run_server` makes them, where it can say in one line why it cannot)."""
    data_dir = args.data_dir or paths.data_dir(create=False) / "server"
    defaults = ServerConfig()  # (the parser leaves an option not given None: cli.py)

    def given(value: T | None, default: T) -> T:
        return default if value is None else value

    return ServerConfig(
        host=args.host or "127.0.0.1",
        port=5555 if args.port is None else args.port,
        data_dir=data_dir,
        db=args.db,
        max_frame=args.max_frame or DEFAULT_MAX_FRAME,
        max_failed_logins=given(args.max_failed_logins, defaults.max_failed_logins),
        lockout_seconds=given(args.lockout_seconds, defaults.lockout_seconds),
        idle_timeout=given(args.idle_timeout, defaults.idle_timeout),
        max_prelogin_per_host=given(args.max_prelogin, defaults.max_prelogin_per_host),
        max_send_rate=given(args.max_send_rate, defaults.max_send_rate),
        max_registrations=given(args.max_registrations, defaults.max_registrations),
    )


def _read_password(name: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Repeat it: ") != first:
            raise ValueError("the passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:  # end of input: nothing was given (not a password too short)
        raise EOFError(f"no password given: pipe it in, e.g. echo PASSWORD | messenger "
                       f"--server --add-user {name}")
    return line.rstrip("\r\n")


def _set_password(server, name: str, *, create: bool) -> int:
    """``--add-user`` (``create``) and ``--reset-password``: read a password (twice on a
    terminal, else one line of stdin) and create the account or replace its password."""
    account = server.store.account(name)
    if not create and account is None:
        print(f"error: there is no account named {name!r} in {server.config.db_path}",
              file=sys.stderr)
        return 1
    if create and is_reserved_name(name):
        reads = "is" if name_key(name) == "everyone" else "reads like Everyone,"
        print(f"error: {name!r} {reads} the name of the conversation with everyone",
              file=sys.stderr)
        return 2
    # (Before the password is asked for: it was asked, twice on a terminal, and only then
    # was the name found taken: an operator hunt.)
    if create and account is not None:
        print(f"error: the name {name!r} is taken", file=sys.stderr)
        return 1
    # (As the app's registrations are refused: "aIice" beside "alice" is a way to pose as
    # her, and --add-user made it without a word: an operator hunt.)
    if create and (like := server.store.account_like(name)) is not None:
        print(f"error: the name {name!r} looks too much like {like.name!r}, an existing "
              "account's: pick another name", file=sys.stderr)
        return 1
    try:
        password = _read_password(name)
    except (ValueError, EOFError, KeyboardInterrupt) as exc:
        print(f"error: {str(exc) or 'no password given'}", file=sys.stderr)
        return 2
    if not is_valid_password(password):
        print("error: a password has 6 to 1024 characters", file=sys.stderr)
        return 2
    # (In the activity log too, as the same changes made from the app are: an operator
    # hunt found no trace of them anywhere.)
    activity = logging.getLogger("messenger.server.activity")
    if not create:
        server.store.set_password_hash(account.key, server.passwords.hash(password))
        activity.info("password of %s reset by the operator (--reset-password)", account.name)
        print(f"new password set for {account.name}")
        return 0
    try:
        server.store.create_account(name, server.passwords.hash(password))
    except NameTaken:
        print(f"error: the name {name!r} is taken", file=sys.stderr)
        return 1
    activity.info("account %s created by the operator (--add-user)", name)
    print(f"created account {name}")
    return 0


def interrupted_start(db_path: Path) -> str:
    """What a start interrupted (Ctrl+C) left of the database at ``db_path``. Each schema
    migration step is one transaction: the steps that finished are kept, the one interrupted
    is undone. (It said "the database is as it was", also after steps that had committed.)"""
    try:
        db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return ("interrupted while starting; a migration step of the database that was "
                "interrupted is undone, those that finished are kept")
    return (f"interrupted while starting; the database is at schema version {version} (this "
            f"server's is {SCHEMA_VERSION}): a migration step that was interrupted is undone, "
            "those that finished are kept, and the next start goes on from there")


def _disk_full(folder: Path) -> str:
    """", the disk holding FOLDER is full …" when it has (almost) no space left, else "":
    SQLite says "disk I/O error" when it cannot grow a file, which reads as a failing disk
    (an operator hunt)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    if free >= 1 << 20:
        return ""
    return (f" (the disk holding {folder} is full: {free:,} bytes free; free some space and "
            "start the server again)")


def _log_clash(log_file: Path, config: ServerConfig) -> str | None:
    """What ``log_file`` is if it is one of the server's other files (the database or its
    companions, the activity log), else None: ``--log-file`` given the database's path
    appended log lines to it, and the first rotation renamed the database away (an
    operator hunt)."""
    def same(a: Path, b: Path) -> bool:
        try:
            return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
        except OSError:
            return False

    db = config.db_path
    others = {db: "the database", config.data_dir / "activity.log": "the activity log",
              config.data_dir / CERT_FILE: "the TLS certificate",
              config.data_dir / KEY_FILE: "the TLS key"}
    for suffix in ("-wal", "-shm", "-journal", ".lock"):
        others[db.with_name(db.name + suffix)] = "a file of the database"
    return next((what for path, what in others.items() if same(log_file, path)), None)


def _fatal(message: str, *, status: int = 1, exc_info: bool = False) -> int:
    """Say ``message`` once on stderr (``error: …``) and in the log file (there with the
    traceback if ``exc_info``); return ``status``."""
    log.error("%s", message, exc_info=exc_info, extra={"console": False})
    print(f"error: {message}", file=sys.stderr)
    return status


def _activity_log(path: Path) -> None:
    """Logins, logouts and failed logins, with address and time, also go to ``path``
    (apart from the debugging log)."""
    activity = logging.getLogger("messenger.server.activity")
    for handler in list(activity.handlers):
        activity.removeHandler(handler)
        handler.close()
    handler = PrivateRotatingFileHandler(path, maxBytes=1 << 20, backupCount=5,
                                         encoding="utf-8", errors="backslashreplace")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    activity.addHandler(handler)


def run_server(args: argparse.Namespace) -> int:
    """Run the server until SIGINT/SIGTERM; return the exit status."""
    from .net import MessengerServer

    named = args.add_user or args.reset_password
    if named and not is_valid_name(named):  # before any file or folder is made
        print(f"error: {named!r} is not a valid user name (1-32 of A-Z a-z 0-9 _ . -)",
              file=sys.stderr)
        return 2
    config = config_from_args(args)
    if QHostAddress(config.host).isNull():  # (before any file or folder is made)
        print(f"error: --host needs an IP address (127.0.0.1 for this computer only, "
              f"0.0.0.0 or :: for the network), not {config.host!r}", file=sys.stderr)
        return 2
    if args.reset_password and not config.db_path.exists():  # (before any file is made)
        # It made a new server there (database, certificate, logs), then said only that
        # the account did not exist: a typo in --data-dir left a stray server home, and
        # no word of where it had looked (an operator hunt).
        print(f"error: there is no database at {config.db_path}: --reset-password changes "
              "an account of an existing server; give its --data-dir (or --db)",
              file=sys.stderr)
        return 1
    log_file = args.log_file or config.data_dir / "server.log"
    if (clash := _log_clash(log_file, config)) is not None:
        print(f"error: --log-file {log_file} is {clash}: the log would overwrite it, and "
              "its rotation rename it away; give the log a file of its own", file=sys.stderr)
        return 2
    try:
        if args.data_dir is None:  # (the user data folder, private as the app makes it)
            paths.data_dir()
        paths.private_dir(config.data_dir, narrow=False)
        setup_logging(log_file, level=logging.DEBUG if args.verbose else logging.INFO)
        _activity_log(config.data_dir / "activity.log")
    except OSError as exc:  # before any log: say it here, in one line
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: cannot use the data dir or log file{where}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    app.setApplicationName("messenger-server")
    raise_open_files_limit()
    try:
        server = MessengerServer(config)
    except DatabaseInUse as exc:
        if named:  # ("or give this one another --data-dir" made the account where no
            # server serves it: an operator hunt)
            option = "--add-user" if args.add_user else "--reset-password"
            return _fatal(f"a Messenger server is running on {config.db_path}: accounts "
                          f"are changed only while it is stopped; stop it, then run "
                          f"{option} again")
        return _fatal(str(exc))
    except sqlite3.DatabaseError as exc:
        # SQLite's words do not name the file ("unable to open database file"), which with
        # the default data dir the operator may not know (an operator hunt).
        return _fatal(f"cannot open the database {config.db_path}: {exc}"
                      f"{_disk_full(config.db_path.parent)}")
    except (OSError, ValueError, DatabaseVersionError) as exc:
        # What an operator can fix (files, permissions, a corrupt database or certificate):
        # one line, no traceback.
        return _fatal(f"cannot start the server: {exc}{_disk_full(config.data_dir)}")
    except KeyboardInterrupt:
        return _fatal(interrupted_start(config.db_path), status=130)
    except Exception as exc:
        return _fatal(f"cannot start the server: {exc}", exc_info=True)
    if args.demo:
        try:
            created = server.create_demo_accounts()
        except KeyboardInterrupt:
            server.close()
            return _fatal("interrupted while creating the demo accounts", status=130)
        if created:
            log.info("demo accounts created: %s", ", ".join(created))
    if named:
        status = _set_password(server, named, create=bool(args.add_user))
        server.close()
        return status
    try:
        server.listen()
    except OSError as exc:
        status = _fatal(str(exc))  # (logged before the closing line, as it happened)
        server.close()
        return status
    log.info("data dir %s, database %s, log %s", config.data_dir, config.db_path, log_file)

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        # Queued: a signal before app.exec() (while "listening on" is printed) would be lost
        # to a quit() with no event loop running yet.
        QTimer.singleShot(0, app.quit)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # The terminal or SSH session closed: a clean stop too, unless told to ignore it
    # (`nohup messenger --server &` must outlive the session: a review).
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, stop)
    # Python runs signal handlers only between bytecodes: wake the interpreter regularly.
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)

    def storage_failed(reason: str) -> None:
        print(f"error: {reason}", file=sys.stderr, flush=True)
        app.exit(1)

    server.storageFailed.connect(storage_failed)
    print(f"listening on {server.address}", flush=True)
    tune_gc()
    status = app.exec()
    server.close()
    return status
