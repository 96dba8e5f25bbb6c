"""What the login dialog says when the server refuses for a while: a locked account, too
many failed logins from one address, the account creation limit (each says once, and how
long, when to try again)."""

from __future__ import annotations

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.gui.login_dialog import LoginDialog


def _login_dialog(qtbot, server, user: str = "alice") -> tuple[ClientEngine, LoginDialog]:
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=server.host, port=server.port, user=user)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return engine, dialog


def _try(qtbot, dialog: LoginDialog, user: str, password: str) -> str:
    """Type ``user`` / ``password``, press Log in, wait for the answer; the error shown."""
    dialog.user_edit.setText(user)
    dialog.password_edit.setText(password)
    dialog.submit()
    qtbot.waitUntil(dialog.submit_button.isEnabled, timeout=10_000)
    return dialog.error_text()


def _close(qtbot, engine: ClientEngine) -> None:
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def test_too_many_failures_from_one_address_says_try_again_once(qtbot, server):
    """Twenty failed logins from one address (across names, as in a lab where several
    people mistype) make the server answer "too many failed logins from your address …;
    try again in 30 s". The engine appends its own ". Try again in 30 s." to every
    rate_limited/locked_out message that does not contain the word "second" (the server
    says "s"), so the login dialog shows the instruction twice:
    "…; try again in 30 s. Try again in 30 s." (a hunt)."""
    engine, dialog = _login_dialog(qtbot, server)
    try:
        for i in range(21):
            text = _try(qtbot, dialog, f"nobody{i}", "wrong-guess")
        assert "from your address" in text, text
        assert text.lower().count("try again") == 1 and text.endswith(" s"), text
    finally:
        _close(qtbot, engine)


def test_the_account_creation_limit_says_when_to_try_again_once(qtbot, make_server):
    """The same doubling when "Create a new account" meets the per-address limit
    (--max-registrations; a classroom behind one address): "127.0.0.1 has created 1
    account within the hour; ask the server's owner, or try again later. Try again in 60
    min." — "later" and a time, one after the other (a hunt)."""
    server = make_server(demo=True, max_registrations=1)
    first = ClientEngine()
    try:
        with qtbot.waitSignal(first.login_succeeded, timeout=10_000):
            first.connect_to(server.host, server.port)
            first.register("first", "secret-one")
    finally:
        _close(qtbot, first)
    engine, dialog = _login_dialog(qtbot, server, user="")
    try:
        dialog.create_check.setChecked(True)
        dialog.repeat_edit.setText("secret-two")
        text = _try(qtbot, dialog, "second", "secret-two")
        assert "has created 1 account within the hour" in text, text  # (not "1 accounts")
        assert text.lower().count("try again") == 1 and "try again in 60 min" in text, text
    finally:
        _close(qtbot, engine)


def test_a_long_lock_out_says_how_long_instead_of_try_again_later(qtbot, make_server):
    """A second lock-out in a row doubles (up to 15 min), and an operator may set
    --lockout-seconds higher: from 120 s on, the engine words the wait as "Try again in 5
    min.", which the dialog's pattern ("Try again in N s") does not match, so the user reads
    only "Try again later." although the server said exactly how long (a hunt); the
    Change password dialog shows the same words."""
    server = make_server(demo=True, lockout_seconds=300)
    engine, dialog = _login_dialog(qtbot, server)
    try:
        for _ in range(3):  # --max-failed-logins is 3 by default
            text = _try(qtbot, dialog, "alice", "wrong-guess")
        assert text.startswith("Too many failed logins"), text
        assert "later" not in text and "5 min" in text, text
    finally:
        _close(qtbot, engine)


def test_the_lock_out_wording_keeps_the_engine_s_wait_in_seconds_or_minutes():
    """The login and Change password dialogs share the wording (friendly_login_error)."""
    from messenger.gui.login_dialog import friendly_login_error
    from messenger.protocol import ErrorCode

    lead = "Too many failed logins: this account is locked for a while."
    assert friendly_login_error(
        ErrorCode.LOCKED_OUT, "too many failed logins: this account is locked for 900 s. "
        "Try again in 15 min.", "") == f"{lead} Try again in 15 min."
    assert friendly_login_error(
        ErrorCode.LOCKED_OUT, "too many failed logins: this account is locked for 10 s. "
        "Try again in 10 s.", "") == f"{lead} Try again in 10 s."
    assert friendly_login_error(ErrorCode.LOCKED_OUT, "locked", "") == \
        f"{lead} Try again later."
