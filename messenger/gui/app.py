"""``messenger`` (no ``--server``): the desktop app's entry point."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QDialog

from .. import __version__, paths
from ..childenv import use_users_environment
from ..client.engine import ClientEngine
from ..logsetup import setup_logging
from ..tlsbackend import tls_unavailable
from . import resources_rc  # noqa: F401  (registers :/icons/…)
from .login_dialog import LoginDialog
from .main_window import MainWindow

log = logging.getLogger("messenger.gui.app")

LOG_FILE_NAME = "messenger.log"
APP_ICON = ":/icons/messenger.svg"
"""The window and task-bar icon (resources/icons/messenger.svg)."""


def close_all_and_quit() -> None:
    """Close every window and quit, as on a quit signal: the main window logs out, keeps its
    tabs and drafts, tells transfer peers. A dialog open at that moment is closed as
    rejected (its ``rejected`` handlers run) even if it refuses to close now — File →
    Change password… waiting for the server's answer, a message box without an Escape
    button: such a refusal stopped ``QApplication.closeAllWindows()`` before the main
    window, and cancelled Qt 6's ``QApplication.quit()`` too, so the signal was lost (a
    lifecycle hunt)."""
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.isVisible():
            widget.done(QDialog.DialogCode.Rejected)  # (not reject(), which may refuse)
    QApplication.closeAllWindows()
    QApplication.quit()


def _quit_on_signals() -> QTimer:
    """Ctrl+C (SIGINT), SIGTERM and SIGHUP (the terminal or SSH session the app was started
    from closed; left alone when it is ignored, as under ``nohup``) close the windows and
    quit (:func:`close_all_and_quit`). Before, the app ignored Ctrl+C, and `make run`
    waited on it with its server already stopped (an operator hunt); SIGHUP killed it with
    no logout and no saved session (a lifecycle hunt). Python runs signal handlers only
    between bytecodes: the returned timer wakes it; keep it while the app runs."""
    def interrupted(signum: int, _frame: object) -> None:
        log.info("signal %d: quitting", signum)
        QTimer.singleShot(0, close_all_and_quit)

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, interrupted)
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    return wake


def default_log_file(*, create: bool = True) -> Path:
    """``paths.log_dir() / "messenger.log"`` (the folder made unless not ``create``)."""
    return paths.log_dir(create=create) / LOG_FILE_NAME


def unusable_log_file(log_file: Path, exc: OSError) -> str:
    """"cannot use the log file PATH: reason", naming the folder or file that failed when it
    is not ``log_file`` itself."""
    if isinstance(exc, FileExistsError):  # (a folder to make on the way is a file)
        return f"cannot use the log file {log_file}: {exc.filename} is a file, not a folder"
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(log_file) else ""
    return f"cannot use the log file {log_file}: {exc.strerror or exc}{where}"


def run_app(args: argparse.Namespace) -> int:
    """Run the app until the user quits; returns the process exit status.

    ``args`` comes from :func:`messenger.cli.build_parser`: ``host``, ``port`` and ``user``
    pre-fill the login dialog, ``log_file`` overrides the log file, ``verbose`` logs debug
    messages. Shows the login dialog, then the main window; File → Log out returns to the
    login dialog.
    """
    given = getattr(args, "log_file", None)
    log_file = given or default_log_file(create=False)
    try:
        if given is None:
            default_log_file()  # (the user's log folder, private as the others)
        setup_logging(log_file, level=logging.DEBUG if getattr(args, "verbose", False)
                      else logging.INFO)
    except OSError as exc:
        # A folder given as --log-file, a path under a file, a read-only HOME: one line, as
        # the server says it, where it was a traceback (an operator hunt).
        print(f"messenger: {unusable_log_file(log_file, exc)}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Messenger")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(QIcon(APP_ICON))
    # Wayland compositors and notification services match the window and its pop-ups to
    # resources/messenger.desktop by this name (its icon, its name in the settings).
    QGuiApplication.setDesktopFileName("messenger")
    # Qt has read its plugin folders (QT_PLUGIN_PATH): from here on, programs the frozen app
    # starts (links, Open, Show in folder) get the user's environment, not the bundle's.
    QCoreApplication.libraryPaths()
    use_users_environment()
    wake = _quit_on_signals()  # noqa: F841  (kept while the app runs)
    log.info("Messenger %s starting; log file %s", __version__, log_file)
    if (no_tls := tls_unavailable()) is not None:  # (the login dialog says so on connecting)
        log.error("%s", no_tls)

    host, port, user = args.host, args.port, args.user
    notice = ""
    while True:
        engine = ClientEngine(ask_first_use=True)  # a new server's certificate: ask first
        dialog = LoginDialog(engine, host=host, port=port, user=user, notice=notice)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            engine.close()
            return 0
        host, port, user = engine.host, engine.port, engine.account
        window = MainWindow(engine, log_file=log_file)
        window.show()
        status = app.exec()
        window.deleteLater()
        if not window.logout_chosen:
            return status
        notice = window.logout_reason
        if window.forgotten:  # (the next person's login dialog does not name them)
            user = None
