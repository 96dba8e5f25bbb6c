"""The login dialog: server, user name, password; log in or create an account."""

from __future__ import annotations

import logging
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..client.connection import ConnectionErrorCode, ConnectionState
from ..client.engine import OFFLINE_PASSWORD_MISMATCH, ClientEngine
from ..client.pins import PinFileError, server_address, two_lines
from ..protocol import PASSWORD_RULE, ErrorCode, is_valid_name, is_valid_password
from . import theme
from .settings import app_settings
from .widgets import tab_in_drawn_order

log = logging.getLogger("messenger.gui.login")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5555
NAME_RULE = "A user name has 1–32 letters, digits, “_”, “.” or “-”."
"""The user name rule as the dialog says it."""


def friendly_login_error(code: str, message: str, user: str) -> str:
    """The text the dialog shows for a refused login/register (by protocol error code)."""
    if code == ErrorCode.BAD_CREDENTIALS:
        return "Wrong user name or password."
    # NAME_TAKEN and INVALID_NAME also refuse a name that looks like an existing one
    # ("aIice") or the reserved "Everyone": only the plain cases get the fixed sentences,
    # the others the server's reason (it names what the name clashes with).
    if code == ErrorCode.NAME_TAKEN and (not message or message.endswith("is taken")):
        return f"The name “{user}” is taken. Choose another one, or log in instead."
    if code == ErrorCode.INVALID_NAME and (not message or message.startswith("a user name")):
        return NAME_RULE
    if code == ErrorCode.INVALID_PASSWORD:
        return PASSWORD_RULE
    if code == ErrorCode.LOCKED_OUT:
        # (the engine words a wait of 2 min or more in minutes: "Try again in 5 min."; it
        # read "Try again later." then, a hunt)
        wait = re.search(r"Try again in (\d+ (?:s|min))\b", message)
        return ("Too many failed logins: this account is locked for a while. "
                f"Try again in {wait.group(1)}." if wait else
                "Too many failed logins: this account is locked for a while. Try again later.")
    return message[:1].upper() + message[1:]


_HOST_PORT = re.compile(r"\A(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\s\[\]]+))"
                        r"(?:\s*:\s*(?P<port>\d+))?\Z")
"""A server typed as ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``, with spaces
around the colon too ("127.0.0.1 : 5555", as some write it)."""


_LINK = re.compile(r"\A[A-Za-z][A-Za-z0-9+.\-]*://(?P<server>[^/?#]*)(?:[/?#].*)?\Z", re.S)
"""A server pasted as a link ("messenger://host:port", "https://host/"): its scheme and
path are not the server's address."""


def split_host_port(text: str) -> tuple[str, int | None]:
    """``(host, port)`` of a server typed as ``host``, ``host:port``, ``[v6]`` or
    ``[v6]:port`` (port None when absent; spaces around the colon are allowed: "host :
    port" was looked up as a host of that name, "host not found"), also pasted as a link (``messenger://host:port``,
    ``https://host/``: the scheme and path are dropped, as is a ``/`` after the port); any
    other text (a bare IPv6 address) is all host. The port is as typed, also outside
    1–65535 (:func:`port_problem` says so: left in the host, it was looked up as a host
    named "host:99999", "host not found")."""
    if link := _LINK.match(text):
        text = link["server"]
    text = text.rstrip("/")
    m = _HOST_PORT.match(text)
    if m is None:
        return text, None
    return m["v6"] or m["host"], int(m["port"]) if m["port"] else None


def port_problem(port: int | None) -> str:
    """What is wrong with a port typed in the Server box ("" when nothing is)."""
    if port is None or 1 <= port <= 65535:
        return ""
    return f"The port {port} is out of range: a port is a number from 1 to 65535."


class LoginDialog(QDialog):
    """Asks for server, user name and password, then logs in (or registers) through ``engine``.

    The dialog stays open until the engine reports ``login_succeeded`` (then it is accepted)
    and shows every failure in its error label: wrong password, name taken, server
    unreachable, certificate changed (with a button to forget the old pin). The last server
    and user name are remembered in the app settings; the password never is.

    Args:
        engine: the session to log in with.
        host, port, user: pre-filled values that win over the remembered ones.
        notice: why the last session ended, if the app did not choose it ("You were logged
            out: the password of alice was changed…"), shown in the error label.
    """

    def __init__(self, engine: ClientEngine, *, host: str | None = None,
                 port: int | None = None, user: str | None = None, notice: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        theme.restyle_on_desktop_changes(self)  # (the desktop turning dark, a bigger font)
        self.engine = engine
        self.setWindowTitle("Messenger — Log in")
        self.setMinimumWidth(440)
        settings = app_settings()

        self.host_edit = QLineEdit(host or str(settings.value("login/host", DEFAULT_HOST)))
        self.host_edit.setAccessibleName("Server address")
        self.host_edit.setPlaceholderText("e.g. 192.168.1.20")
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(int(port if port is not None
                                    else settings.value("login/port", DEFAULT_PORT)))
        self.port_spin.setAccessibleName("Server port")
        self.user_edit = QLineEdit(user or str(settings.value("login/user", "")))
        self.user_edit.setAccessibleName("User name")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName("Password")
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_edit.setAccessibleName("Repeat the password")
        self.password_hint = QLabel(PASSWORD_RULE)
        self.password_hint.setWordWrap(True)
        theme.secondary_text(self.password_hint)
        self.create_check = QCheckBox("Create a new account")
        self.create_check.setAccessibleName("Create a new account")
        self.create_check.toggled.connect(self._on_mode_toggled)

        form = self.form = QFormLayout()
        form.addRow("&Server:", self.host_edit)
        form.addRow("P&ort:", self.port_spin)
        form.addRow("&User name:", self.user_edit)
        form.addRow("&Password:", self.password_edit)
        form.addRow("", self.create_check)
        # (below the box: ticking it does not move it away from the pointer)
        form.addRow("&Repeat it:", self.repeat_edit)
        form.addRow("", self.password_hint)

        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        theme.follow_palette(self.error_label, lambda: self.error_label.setStyleSheet(
            theme.error_style()))
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setAccessibleDescription("Error")
        self.error_label.hide()
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        theme.secondary_text(self.status_label)
        self.status_label.setAccessibleDescription("Status")
        self.fingerprint_label = QLabel()
        self.fingerprint_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.fingerprint_label.setWordWrap(True)
        self.fingerprint_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fingerprint_label.setAccessibleDescription("Server key fingerprint")
        theme.secondary_text(self.fingerprint_label)
        self.fingerprint_label.hide()
        self.forget_button = QPushButton("Forget the pinned key")
        self.forget_button.setAccessibleName("Forget the pinned key")
        self.forget_button.setToolTip("Only if you know the server was reinstalled")
        self.forget_button.setAutoDefault(False)  # Enter must never forget a pin
        self.forget_button.clicked.connect(self._forget_pin)
        self.forget_button.hide()
        self.offline_button = QPushButton("Open offline")
        self.offline_button.setAccessibleName("Open offline")
        self.offline_button.setToolTip("Read your messages saved on this computer and write "
                                       "new ones; they go once the server answers")
        self.offline_button.setAutoDefault(False)
        self.offline_button.clicked.connect(self.open_offline)
        self.offline_button.hide()
        # The server whose certificate changed (host, port): the button forgets its pin, and
        # shows only while the fields name it (it forgot the pin of whatever server was
        # typed after the failure, which nothing was wrong with: an operator hunt).
        self._changed_server: tuple[str, int] | None = None
        self.host_edit.textChanged.connect(self._show_forget_button)
        self.port_spin.valueChanged.connect(self._show_forget_button)
        # The server that could not be reached and the account whose messages saved here it
        # has (host, port, user): "Open offline" shows only while the fields name them (it
        # opened that server's store whatever server or name was typed after: a hunt).
        self._offline_for: tuple[str, int, str] | None = None
        self._offline_version_mismatch = False
        """The server of :attr:`_offline_for` answered with another protocol version (no
        reconnect helps until an update) rather than not at all."""
        self.host_edit.textChanged.connect(self._show_offline_button)
        self.port_spin.valueChanged.connect(self._show_offline_button)
        self.user_edit.textChanged.connect(self._show_offline_button)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.submit_button = self.buttons.addButton("Log in",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit_button.setAccessibleName("Log in")
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        # (named like the dialog's other controls, by its label; what it does now is its
        # description, set by _set_busy: stop the login under way, or quit)
        self.cancel_button.setAccessibleName(self.cancel_button.text().replace("&", ""))
        tab_in_drawn_order(self.buttons)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        heading = QLabel()
        heading.setWordWrap(True)
        theme.follow_palette(heading, lambda: heading.setText(
            "<b>Log in to a Messenger server</b><br>"
            f"<span style='color:{theme.colors().system_text.name()}'>"
            "Ask the server's owner for its address. "
            "New here? Tick “Create a new account”.</span>"))
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.forget_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.offline_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.fingerprint_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        # Default only once in the dialog: set before, Qt picks another default button when
        # the dialog shows (the hidden "Forget" one), and Enter did not log in. No other
        # button becomes the default by taking the focus (Cancel did, when the fields were
        # disabled during a login: Enter then closed the dialog).
        for button in self.buttons.buttons():
            button.setAutoDefault(False)
        self.submit_button.setDefault(True)
        QWidget.setTabOrder(self.create_check, self.repeat_edit)
        self._on_mode_toggled(False)
        self._describe_cancel(busy=False)
        if notice:
            self._show_error(notice, self.password_edit)

        engine.login_succeeded.connect(self._on_login_succeeded)
        engine.login_failed.connect(self._on_login_failed)
        engine.connection_failed.connect(self._on_connection_failed)
        engine.fingerprint_pinned.connect(self._on_fingerprint_pinned)
        engine.fingerprint_verified.connect(self._on_fingerprint_verified)
        engine.fingerprint_unknown.connect(self._on_fingerprint_unknown)
        engine.state_changed.connect(self._on_state_changed)
        self.trust_box: QMessageBox | None = None
        """The "trust this new server?" question while it is open (tests answer it)."""

        (self.password_edit if self.user_edit.text() else self.user_edit).setFocus()

    # ------------------------------------------------------------------ public

    @property
    def create_account(self) -> bool:
        return self.create_check.isChecked()

    def error_text(self) -> str:
        """The error shown, or "" (for tests and accessibility)."""
        return self.error_label.text() if not self.error_label.isHidden() else ""

    def submit(self) -> None:
        """Validate the form, then connect if needed and log in / register. A server typed
        as ``host:port`` (or ``[IPv6]:port``) fills both fields (it was looked up as a host
        named "host:port:5555", which did not exist: an operator hunt), as does a link
        pasted (``messenger://host:port``); a port out of range is named as such
        (:func:`port_problem`), and nothing is connected."""
        host, typed_port = split_host_port(self.host_edit.text().strip())
        if problem := port_problem(typed_port):
            self._show_error(problem, self.host_edit)  # (left as typed, to be corrected)
            return
        if typed_port is not None or host != self.host_edit.text().strip():
            self.host_edit.setText(host)
            if typed_port is not None:
                self.port_spin.setValue(typed_port)
        port = self.port_spin.value()
        user = self.user_edit.text().strip()
        password = self.password_edit.text()
        problem, field = self._check(host, user, password)
        if problem:
            self._show_error(problem, field)
            return
        self._show_error("")
        self._offline_for = None
        self.offline_button.hide()
        self._changed_server = None
        self._show_forget_button()
        self.fingerprint_label.hide()  # (an earlier try's: this one shows its own)
        self._set_busy(True)
        engine = self.engine
        same_server = engine.host == host and engine.port == port
        if not (same_server and engine.state is ConnectionState.CONNECTED):
            engine.connect_to(host, port)
        if self.create_account:
            engine.register(user, password)
        else:
            engine.login(user, password)

    def open_offline(self) -> None:
        """"Open offline" (shown when the server could not be reached, or speaks another
        protocol version, and this computer has the account's local store): open the
        account from it (:meth:`ClientEngine.open_offline`: the password must match the
        hash kept at the last login here; it is kept in memory for the reconnect's login,
        never written) and close the dialog, or say why not (a password that does not
        match: the button stays and the password box gets the cursor)."""
        if self._offline_for is None or self._named() != self._offline_for:
            return  # (the button shows only while the fields name them)
        host, port = self.engine.host, self.engine.port  # (the one tried: fields unchanged)
        user = self._offline_for[2]
        password = self.password_edit.text()
        problem, field = self._check(host, user, password)
        if problem:
            self._show_error(problem, field)
            return
        if reason := self.engine.open_offline(
                host, port, user, password,
                version_mismatch=self._offline_version_mismatch):
            if reason == OFFLINE_PASSWORD_MISMATCH:
                # (the button stays: the right one may be typed next)
                self._show_error(reason, self.password_edit)
                return
            self._offline_for = None
            self.offline_button.hide()
            self._show_error(reason)
            return
        log.info("opened offline as %s", user)
        self.accept()

    def _check(self, host: str, user: str, password: str) -> tuple[str, QLineEdit | None]:
        """Why the form cannot be sent ("" when it can) and the field at fault, which gets
        the cursor (the password box kept it, and a new user name was typed there)."""
        if not host:
            return "Enter the server's address.", self.host_edit
        if not is_valid_name(user):
            return ("Enter your user name: 1–32 letters, digits, “_”, “.” or “-”.",
                    self.user_edit)
        if not password:
            return "Enter your password.", self.password_edit
        if self.create_account and not is_valid_password(password):
            return PASSWORD_RULE, self.password_edit
        if self.create_account and password != self.repeat_edit.text():
            return "The two passwords differ.", self.repeat_edit
        return "", None

    def reject(self) -> None:
        """Cancel, Escape or the window's close button while a login is under way stop it
        (:meth:`ClientEngine.cancel_login`), say "Cancelled." and leave the fields to edit;
        when nothing is under way they close the dialog (the app quits). Before, they quit
        the app in the middle of "Connecting…": a user who typed a wrong address waited
        for the timeout or lost the app (a hunt)."""
        if not self.submit_button.isEnabled() and self.trust_box is None:
            self._cancel_attempt()
            return
        super().reject()

    def _cancel_attempt(self) -> None:
        state = self.engine.state
        self.engine.cancel_login()
        self._set_busy(False)
        if state is ConnectionState.LOGGING_IN and self.create_account:
            # (the server may have made it before the link went)
            self.status_label.setText("Cancelled. The account may have been created: try "
                                      "logging in with it.")
        else:
            self.status_label.setText("Cancelled.")
        if state in (ConnectionState.CONNECTING, ConnectionState.HANDSHAKING):
            self.host_edit.selectAll()  # (most likely the address is wrong)
            self.host_edit.setFocus()

    def done(self, result: int) -> None:
        """Close the dialog and stop listening to the engine."""
        for signal, slot in ((self.engine.login_succeeded, self._on_login_succeeded),
                             (self.engine.login_failed, self._on_login_failed),
                             (self.engine.connection_failed, self._on_connection_failed),
                             (self.engine.fingerprint_pinned, self._on_fingerprint_pinned),
                             (self.engine.fingerprint_verified, self._on_fingerprint_verified),
                             (self.engine.fingerprint_unknown, self._on_fingerprint_unknown),
                             (self.engine.state_changed, self._on_state_changed)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        self.password_edit.clear()
        self.repeat_edit.clear()
        super().done(result)

    # ------------------------------------------------------------------ slots

    def _on_mode_toggled(self, create: bool) -> None:
        """A new account's password is typed twice (unseen, a typo made an account nobody
        could log in to) and its rule is said before it is broken."""
        self.submit_button.setText("Create account" if create else "Log in")
        self.submit_button.setAccessibleName(self.submit_button.text())
        self.form.setRowVisible(self.repeat_edit, create)
        self.form.setRowVisible(self.password_hint, create)
        self.password_edit.setAccessibleDescription(PASSWORD_RULE if create else "")
        # The dialog grows to fit the rule as it wraps (its minimum counts the word-wrapped
        # label at one line: at 16 pt "characters." was cut off, a hunt).
        layout = self.layout()
        if create and layout is not None:
            layout.activate()
            needed = self.heightForWidth(self.width())
            if needed > self.height():
                self.resize(self.width(), needed)

    def _on_login_succeeded(self, user: str) -> None:
        settings = app_settings()
        settings.setValue("login/host", self.host_edit.text().strip())
        settings.setValue("login/port", self.port_spin.value())
        settings.setValue("login/user", user)
        settings.sync()
        log.info("logged in as %s", user)
        self.accept()

    def _on_login_failed(self, code: str, message: str) -> None:
        self._set_busy(False)
        name_refused = code in (ErrorCode.NAME_TAKEN, ErrorCode.INVALID_NAME)
        self._show_error(friendly_login_error(code, message, self.user_edit.text().strip()),
                         self.user_edit if name_refused else self.password_edit)

    def _on_connection_failed(self, code: str, message: str) -> None:
        if self.trust_box is not None:
            # The server gave up while the user compares fingerprints: their answer decides
            # (Trust pins and logs in anew).
            log.info("connection closed during the trust question: %s", message)
            return
        if self.submit_button.isEnabled():
            # Not waiting for anything (e.g. the server closed a connection left without a
            # login): the next Log in reconnects; no error out of the blue.
            log.info("connection closed while idle: %s", message)
            return
        self._set_busy(False)
        # The address did not answer: the Server box gets the cursor, its text selected (the
        # Password box kept it, and the address typed next went into the password, a hunt).
        unreachable = code in (ConnectionErrorCode.UNREACHABLE, ConnectionErrorCode.TIMEOUT)
        self._show_error(message, self.host_edit if unreachable else None)
        # This computer logged in as that account there before: its messages can be read
        # (and new ones written) while the server is away, as in Signal or Telegram; also
        # while it speaks another protocol version (until the app or the server is updated:
        # the saved messages could not be read at all, a hunt).
        user = self.user_edit.text().strip()
        self._offline_for = None
        mismatch = code == ConnectionErrorCode.VERSION_MISMATCH
        if (unreachable or mismatch) and not self.create_account and \
                self.engine.offline_home(self.engine.host, self.engine.port, user) is not None:
            self._offline_for = self._named()
            self._offline_version_mismatch = mismatch
            self._show_offline_button()
            self.error_label.setText(f"{message} You can open your messages saved on this "
                                     "computer meanwhile: Open offline.")
        self._changed_server = ((self.engine.host, self.engine.port)
                                if code == ConnectionErrorCode.CERTIFICATE_CHANGED else None)
        self._show_forget_button()
        self.fingerprint_label.hide()  # (the error names what it has to)

    def _on_fingerprint_pinned(self, fingerprint: str) -> None:
        self._show_fingerprint("New server — its key is now trusted on first use. "
                               f"Key SHA-256:\n{two_lines(fingerprint)}")

    def _on_fingerprint_unknown(self, fingerprint: str) -> None:
        """First connection to this server: ask before anything (the password) is sent, as
        SSH does for a new host key."""
        host, port = self.engine.host, self.engine.port
        where = server_address(host, port)
        try:
            known_as = self.engine.pins.addresses_of(
                fingerprint, self.engine.certificate_fingerprint)
        except PinFileError:
            known_as = []  # (then the connection failed before asking: belt and braces)
        self._show_fingerprint(f"New server — key SHA-256:\n{two_lines(fingerprint)}")
        if known_as:
            # The very certificate pinned under another name or address (the server's LAN
            # name, then its IP address): the full warning for it taught users to click
            # Trust without looking (a certificates hunt). SSH says "This host key is known
            # by the following other names/addresses".
            others = _joined(known_as)
            box = QMessageBox(QMessageBox.Icon.Question, "Trust this server?",
                              f"This is the key you trusted for {others}.",
                              parent=self)
            box.setInformativeText(
                f"You have not connected to {where} before, but it presents the key "
                f"you already trust for {others}: most likely the same server under another "
                f"name or address. Trust it for {where} too? If you did not expect this, "
                "cancel — nothing has been sent yet.\n\n"
                f"Its key's SHA-256 fingerprint is:\n\n{two_lines(fingerprint)}")
        else:
            box = QMessageBox(QMessageBox.Icon.Question, "Trust this server?",
                              f"This is your first connection to {where}.", parent=self)
            box.setInformativeText(
                "The SHA-256 fingerprint of its key is:\n\n"
                f"{two_lines(fingerprint)}\n\n"
                "Compare it with the one the server's administrator gives you (the server "
                "prints it when it starts). If they match, trust it: later connections must "
                "present a certificate on the same key. If you are not sure, cancel — nothing "
                "has been sent yet.")
        trust = box.addButton("Trust and connect", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        if known_as:
            box.setDefaultButton(trust)  # (the same certificate: trusting it is expected)
        else:
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)

        def answered() -> None:
            self.trust_box = None
            if box.clickedButton() is trust:
                if self.engine.trust_server(fingerprint):
                    return  # the login goes on
                self._set_busy(False)
                if self.engine.pins.get(host, port) is not None:
                    self.submit()  # the server closed meanwhile: pinned now, log in anew
                return
            self.engine.refuse_server()
            self._set_busy(False)
            self._show_error(f"You did not trust the key of {where}; nothing was "
                             "sent to it.")

        box.finished.connect(answered)
        self.trust_box = box
        box.open()

    def _on_fingerprint_verified(self, fingerprint: str) -> None:
        self._show_fingerprint("Server certificate is on the pinned key. "
                               f"Key SHA-256:\n{two_lines(fingerprint)}")

    def _on_state_changed(self, state: ConnectionState) -> None:
        self.status_label.setText({
            ConnectionState.CONNECTING: "Connecting…",
            ConnectionState.HANDSHAKING: "Connected, checking the server…",
            ConnectionState.LOGGING_IN: "Logging in…",
        }.get(state, ""))

    def _named(self) -> tuple[str, int, str]:
        """The server and account the fields name (host, port, user)."""
        return (self.host_edit.text().strip(), self.port_spin.value(),
                self.user_edit.text().strip())

    def _show_offline_button(self) -> None:
        """"Open offline" shows while the fields name the server that could not be reached
        and the account whose messages are saved here (:attr:`_offline_for`)."""
        self.offline_button.setVisible(self._offline_for is not None
                                       and self._named() == self._offline_for)

    def _show_forget_button(self) -> None:
        """"Forget the pinned key" shows while the fields name the server whose
        certificate changed."""
        named = (self.host_edit.text().strip(), self.port_spin.value())
        self.forget_button.setVisible(self._changed_server is not None
                                      and named == self._changed_server)

    def _forget_pin(self) -> None:
        if self._changed_server is None:
            return
        host, port = self._changed_server
        self.engine.pins.remove(host, port)
        self._changed_server = None
        self.forget_button.hide()
        self._show_error("")
        self._show_fingerprint(f"The pinned key of {server_address(host, port)} was "
                               "forgotten; the next connection shows the server's current "
                               "key and asks whether to trust it.")

    # ------------------------------------------------------------------ helpers

    def _show_error(self, text: str, field: QLineEdit | None = None) -> None:
        """Show ``text`` (hide the label for ""); ``field``, the one at fault, gets the
        cursor with its text selected, so what is typed next replaces it."""
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))
        if field is not None:
            field.selectAll()
            field.setFocus()

    def _describe_cancel(self, busy: bool) -> None:
        """Cancel's description and tooltip say what it does now (:meth:`reject`)."""
        what = "Stop the login under way" if busy else "Quit Messenger"
        self.cancel_button.setAccessibleDescription(what)
        self.cancel_button.setToolTip(what)

    def _show_fingerprint(self, text: str) -> None:
        self.fingerprint_label.setText(text)
        self.fingerprint_label.show()

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.host_edit, self.port_spin, self.user_edit, self.password_edit,
                       self.repeat_edit, self.create_check, self.submit_button):
            widget.setEnabled(not busy)
        self._describe_cancel(busy)
        if not busy:
            self.status_label.setText("")
            # (disabled, the field lost the focus: give it back, so typing and Enter work)
            (self.password_edit if self.user_edit.text() else self.user_edit).setFocus()


def _joined(addresses: list[str], shown: int = 3) -> str:
    """``addresses`` for a sentence: "a", "a and b", "a, b and c", "a, b, c and 2 more"."""
    if len(addresses) > shown:
        return f"{', '.join(addresses[:shown])} and {len(addresses) - shown} more"
    if len(addresses) == 1:
        return addresses[0]
    return f"{', '.join(addresses[:-1])} and {addresses[-1]}"
