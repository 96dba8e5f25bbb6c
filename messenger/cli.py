"""Command line: ``messenger`` opens the app, ``messenger --server`` runs the headless server.

The server side is imported only when ``--server`` is given and the app side only without it,
so the server never loads QtWidgets or QtGui.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import __version__


def _whole(text: str) -> int:
    """``text`` as an int; a clear error otherwise (argparse would name the function)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _lockout_failures(text: str) -> int:
    value = _whole(text)
    if not 1 <= value <= 5:
        raise argparse.ArgumentTypeError("must be between 1 and 5")
    return value


def _positive_float(text: str) -> float:
    value = _number(text)
    if not 0 < value < float("inf"):  # (also refuses nan)
        raise argparse.ArgumentTypeError("must be a number greater than 0")
    return value


def _rate(text: str) -> float:
    """Messages a second: 0 (no limit) or more, finite."""
    value = _number(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be a number, 0 or more")
    return value


def _positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    """A timeout in seconds: more than 0, at most a day (Qt's timers take int milliseconds)."""
    value = _positive_float(text)
    if value > 86_400:
        raise argparse.ArgumentTypeError("must be at most 86400 (a day)")
    return value


MIN_IDLE_TIMEOUT = 5.0
"""The shortest ``--idle-timeout``: below a few seconds live apps were dropped before a
ping could reach them and be answered (the check runs every 250 ms at the least), and
reconnected to be dropped again (an operator hunt)."""


def _idle_seconds(text: str) -> float:
    """``--idle-timeout``: :func:`_seconds`, at least :data:`MIN_IDLE_TIMEOUT`."""
    value = _seconds(text)
    if value < MIN_IDLE_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_IDLE_TIMEOUT:g} (seconds): a silent connection is pinged "
            "after a third of it, and the app needs time to answer")
    return value


def _port(text: str) -> int:
    value = _whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return value


def _max_frame(text: str) -> int:
    value = _whole(text)
    if not 4096 <= value <= 64 << 20:
        raise argparse.ArgumentTypeError("must be between 4096 and 67108864")
    return value


def _path(text: str) -> Path:
    """A file or folder path, not empty: ``Path("")`` is ``"."``, so ``--data-dir
    "$UNSET_VARIABLE"`` made the server's files in whatever folder it was started from (an
    operator hunt)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset variable?); give a file "
                                         "or folder, or leave the option out")
    return Path(text)


SERVER_OPTIONS = "server options (with --server)"
"""The argument group of the options that need ``--server``. Each defaults to None (or
False), whatever the server's own default (:func:`messenger.server.app.config_from_args`
fills those in), so :func:`main` can tell one given on the command line from one left out:
``messenger --idle-timeout 45`` (the default value) opened the app, silently dropping it."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for both modes (see README § Command-line reference)."""
    parser = argparse.ArgumentParser(
        prog="messenger",
        description="Messenger: desktop chat app, or with --server the headless chat server.",
    )
    parser.add_argument("--version", action="version", version=f"messenger {__version__}")
    parser.add_argument("--server", action="store_true",
                        help="run the headless server instead of the app")
    parser.add_argument("--host", default=None,
                        help="server: address to listen on (default 127.0.0.1; 0.0.0.0 for a "
                             "LAN); app: server to pre-fill in the login dialog")
    parser.add_argument("--port", type=_port, default=None,
                        help="server: TCP port to listen on, 0 picks a free one (default 5555); "
                             "app: port to pre-fill")
    parser.add_argument("--log-file", type=_path, default=None,
                        help="log file (server default: DATA_DIR/server.log; app default: "
                             "messenger.log in the user log dir)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")

    server = parser.add_argument_group(SERVER_OPTIONS)
    server.add_argument("--data-dir", type=_path, default=None,
                        help="folder for the database, TLS certificate, server.log and "
                             "activity.log (default: DATA/server, DATA the user data dir)")
    server.add_argument("--db", type=_path, default=None,
                        help="SQLite database file (default: DATA_DIR/messenger.db)")
    server.add_argument("--demo", action="store_true",
                        help="create alice/alice123, bob/bob123, charlie/charlie123 if absent")
    server.add_argument("--add-user", metavar="NAME", default=None,
                        help="create account NAME with a password read from the terminal or "
                             "stdin, then exit")
    server.add_argument("--reset-password", metavar="NAME", default=None,
                        help="give account NAME a new password read from the terminal or "
                             "stdin (for a user who forgot theirs), then exit; the server must "
                             "not be running")
    server.add_argument("--max-failed-logins", type=_lockout_failures, default=None, metavar="N",
                        help="consecutive failed logins (1-5) before an account is locked "
                             "(default 3)")
    server.add_argument("--lockout-seconds", type=_seconds, default=None, metavar="S",
                        help="how long a locked account stays locked (default 10)")
    server.add_argument("--max-frame", type=_max_frame, default=None, metavar="BYTES",
                        help="largest frame accepted, in bytes (4096-67108864, "
                             "default 1048576)")
    server.add_argument("--idle-timeout", type=_idle_seconds, default=None, metavar="S",
                        help="drop a connection silent for S seconds (at least 5, "
                             "default 45)")
    server.add_argument("--max-prelogin", type=_positive_int, default=None, metavar="N",
                        help="connections one IP address may hold without a login; more are "
                             "refused (default 64)")
    server.add_argument("--max-send-rate", type=_rate, default=None, metavar="N",
                        help="messages (and edits) an account may send a second on average, "
                             "in bursts of up to 10 seconds' worth; faster ones are refused "
                             "for a second, and the app sends them again (default 100; 0: "
                             "no limit)")
    server.add_argument("--max-registrations", type=_rate, default=None, metavar="N",
                        help="accounts one IP address may create an hour in the app; more "
                             "are refused until the hour allows (default 20; 0: no limit; "
                             "--add-user is not counted)")

    app = parser.add_argument_group("app options")
    app.add_argument("--user", default=None, help="user name to pre-fill in the login dialog")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``messenger`` console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.add_user and args.reset_password:
        parser.error("--add-user and --reset-password: one at a time")
    if args.server:
        if args.user is not None:  # (the mirror of the check below: an operator hunt)
            parser.error("--user: an app option (the user name pre-filled in the login "
                         "dialog), not for use with --server")
        from .server.app import run_server

        return run_server(args)
    if args.port == 0:  # (the app's login dialog ignored it: an operator hunt)
        parser.error("--port 0: the app needs the server's port (1-65535); 0 (a free port) "
                     "is for --server")
    # A server option without --server opened the app (and aborted on a machine without a
    # display): `messenger --add-user bob` made no account (an operator hunt). Their
    # defaults are None or False (see SERVER_OPTIONS), so one given at the server's default
    # value (`--idle-timeout 45`) is refused too.
    given = [action.option_strings[-1] for group in parser._action_groups
             if group.title == SERVER_OPTIONS for action in group._group_actions
             if getattr(args, action.dest) not in (None, False)]
    if given:
        parser.error(f"{', '.join(given)}: server option{'s' if len(given) > 1 else ''}, "
                     f"for use with --server (messenger --server {' '.join(given)} …)")
    if no_display():
        print("messenger: no display to open the app's window on: neither DISPLAY nor "
              "WAYLAND_DISPLAY is set. On a machine without a screen, run the server "
              "(messenger --server) or the app under a virtual X server (xvfb-run "
              "messenger).", file=sys.stderr)
        return 1
    if (problem := unreachable_display()) is not None:
        print(f"messenger: {problem}", file=sys.stderr)
        return 1
    from .gui.app import run_app

    return run_app(args)


def no_display() -> bool:
    """True on Linux and the BSDs when the app would have no display (Qt then aborts with
    "could not connect to display", which reads as a broken install): no ``DISPLAY`` nor
    ``WAYLAND_DISPLAY``, and no ``QT_QPA_PLATFORM`` chosen."""
    if sys.platform == "darwin" or os.name != "posix":
        return False
    env = os.environ
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("QT_QPA_PLATFORM"))


X11_SOCKET_DIR = Path("/tmp/.X11-unix")
"""Where a local X server listens: socket ``X<N>`` for display ``:N``."""

DISPLAY_CONNECT_SECONDS = 3.0
"""How long a TCP display (``localhost:10``, ssh's X forwarding) may take to answer."""


def x11_address(display: str) -> tuple[str, int] | None:
    """Where the X display ``display`` (``DISPLAY``) listens: ``("", N)`` for a local one
    (``:N``, ``unix:N``, ``:N.S``), ``(host, 6000 + N)`` for ``host:N`` over TCP; None for
    a form this does not know (Qt is left to judge)."""
    host, sep, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not sep or not number.isdigit() or "/" in host:
        return None
    if host in ("", "unix"):
        return "", int(number)
    return host.strip("[]"), 6000 + int(number)


def _unix_socket_answers(path: str) -> bool:
    """True when something accepts connections on the Unix socket ``path`` (a leading NUL:
    Linux's abstract namespace)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(DISPLAY_CONNECT_SECONDS)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def unreachable_display(env: Mapping[str, str] | None = None, *,
                        x11_dir: Path = X11_SOCKET_DIR) -> str | None:
    """Why the app's window could not be shown on the display ``env`` (``os.environ``)
    names, in one sentence; None when a display answers (or ``QT_QPA_PLATFORM`` chose the
    platform, or it cannot be judged here).

    ``sudo messenger``, an ssh session whose X forwarding has ended, a container given the
    host's ``DISPLAY``: the variable is set but no X server answers, and Qt aborted the
    process (SIGABRT) with "Reinstalling the application may fix this problem"."""
    if sys.platform == "darwin" or os.name != "posix":
        return None
    env = os.environ if env is None else env
    if env.get("QT_QPA_PLATFORM"):
        return None
    problems = []
    wayland = env.get("WAYLAND_DISPLAY")
    if wayland:
        runtime = env.get("XDG_RUNTIME_DIR", "")
        path = wayland if wayland.startswith("/") else os.path.join(runtime, wayland)
        if (wayland.startswith("/") or runtime) and _unix_socket_answers(path):
            return None
        problems.append(f"no Wayland compositor answers at {path} (WAYLAND_DISPLAY="
                        f"{wayland})")
    display = env.get("DISPLAY")
    if display:
        address = x11_address(display)
        if address is None:
            return None
        host, number = address
        if not host:
            path = str(x11_dir / f"X{number}")
            if (sys.platform.startswith("linux") and _unix_socket_answers("\0" + path)) \
                    or _unix_socket_answers(path):
                return None
            problems.append(f"no X server answers at {path} (DISPLAY={display})")
        else:
            import socket

            try:
                socket.create_connection((host, number), DISPLAY_CONNECT_SECONDS).close()
            except OSError as exc:
                reason = "no answer" if isinstance(exc, TimeoutError) else \
                    (exc.strerror or str(exc)).lower()
                problems.append(f"no X server answers at {host} port {number} "
                                f"(DISPLAY={display}: {reason})")
            else:
                return None
    if not problems:
        return None
    return (f"cannot open the app's window: {'; '.join(problems)}. Under sudo or su, or "
            "over ssh whose X forwarding has ended, the display is not yours to reach: "
            "start the app in your own desktop session (or under xvfb-run).")


if __name__ == "__main__":
    sys.exit(main())
