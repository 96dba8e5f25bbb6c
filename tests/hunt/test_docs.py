"""Documentation truth: claims of README.md and docs/*.md checked against the real server,
the real command line and the code's own constants. Each test fails on the current code for
the reason its docstring names."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import msgspec
from helpers.wire import WireClient, connect_as

from messenger.cli import build_parser
from messenger.protocol import Error, Ok

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def section(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[i:text.index(end, i + len(start))]


def raw(client: WireClient, obj: dict) -> None:
    client.send_raw(json.dumps(obj).encode())


def request(client: WireClient, obj: dict) -> Ok | Error:
    rid = client.next_id()
    raw(client, {**obj, "id": rid})
    return client.reply(rid)


def fields_of(frame: Ok) -> set[str]:
    """The fields a real ``ok`` carried (those left at their default are not on the wire)."""
    return {k for k, v in msgspec.structs.asdict(frame).items() if v is not None and k != "id"}


# ------------------------------------------------------------------ command line (README)


def test_readme_command_line_reference_lists_every_option():
    """README's command-line reference (synopsis and option table) is the operator's list
    of options; `messenger --help` also has `--version`, which the README never names."""
    reference = section(README, "## Command-line reference", "## Where things are")
    missing = []
    for action in build_parser()._actions:
        if "--help" in action.option_strings:
            continue
        if not any(f"`{opt}" in reference or f"[{opt}" in reference
                   for opt in action.option_strings):
            missing.append(action.option_strings)
    assert not missing, f"options missing from README's command-line reference: {missing}"


def test_readme_names_every_make_target_of_make_help():
    """README § The two commands lists the "Other targets" of the Makefile; `make help`
    (the Makefile's header) also documents `make distclean` (which deletes the venv), and
    the README does not mention it."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^#   make ([a-z-]+)", makefile, re.MULTILINE))
    targets |= set(re.findall(r"\(make ([a-z-]+):", makefile))
    missing = sorted(t for t in targets if f"make {t}" not in README)
    assert not missing, f"make targets missing from README: {missing}"


def test_readme_lists_every_main_window_shortcut():
    """README § Using the app documents the window's keyboard shortcuts one by one, but not
    Ctrl+Shift+N (Conversation → Message several people…) nor Ctrl+, (File →
    Preferences), both set in gui/main_window.py."""
    source = (ROOT / "messenger" / "gui" / "main_window.py").read_text(encoding="utf-8")
    shortcuts = set(re.findall(r'QKeySequence\("([^"]+)"\)', source))
    shortcuts = {s for s in shortcuts if "{" not in s}  # (Alt+{n}: "Alt+1…9")
    missing = sorted(s for s in shortcuts if s not in README)
    assert not missing, f"shortcuts missing from README: {missing}"


# ------------------------------------------------------------------ protocol.md vs the server


def test_protocol_request_list_names_conversations(qtbot, server):
    """protocol.md § 5 enumerates the requests ("The requests are `register`, `login`, …
    `transfer_cancel`. The server answers exactly one frame for each"), and § 4's state
    table lists "every other request"; both leave out `conversations`, which the real
    server answers like any request (an `ok` with its `id`)."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    reply = request(alice, {"type": "conversations"})
    assert isinstance(reply, Ok)
    listing = PROTOCOL[PROTOCOL.index("The requests are"):]
    listing = listing[:listing.index("The server")]
    assert "`conversations`" in listing, listing
    state_row = next(line for line in PROTOCOL.splitlines()
                     if line.startswith("| every other request"))
    assert "`conversations`" in state_row, state_row


def test_protocol_ok_table_covers_every_reply(qtbot, server):
    """protocol.md § 6 `ok`: "The fields that are present depend on the request", then a
    table of requests and fields. The real server's `ok`s to `retract`, `edit` (`seq`,
    `ts`) and `conversations` (`conversations`) have no row at all, and the `seq_high` of
    a `login` is not in the `register`, `login` row."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    login_ok = WireClient(qtbot, server.host, server.port)
    login_ok.hello()
    replies: dict[str, Ok] = {"login": login_ok.login("alice", "alice123")}
    sent = request(alice, {"type": "send", "scope": "unicast", "to": ["bob"], "text": "hi",
                           "client_msg_id": str(uuid.uuid4())})
    replies["edit"] = request(alice, {"type": "edit", "seq": sent.seq, "text": "hi!",
                                      "client_msg_id": str(uuid.uuid4())})
    replies["retract"] = request(alice, {"type": "retract", "seq": sent.seq})
    replies["conversations"] = request(alice, {"type": "conversations"})
    table = section(PROTOCOL, "### ok", "### error")
    rows = {}
    for line in table.splitlines():
        cells = line.split("|")
        if len(cells) >= 3 and "`" in cells[1]:
            for name in re.findall(r"`([a-z_]+)`", cells[1]):
                rows[name] = cells[2]
    problems = []
    for name, reply in replies.items():
        assert isinstance(reply, Ok), (name, reply)
        if name not in rows:
            problems.append(f"no row for `{name}` (its ok has {sorted(fields_of(reply))})")
            continue
        for field in fields_of(reply):
            if f"`{field}`" not in rows[name]:
                problems.append(f"`{name}` row lacks `{field}`")
    assert not problems, problems


def test_protocol_error_frame_says_which_codes_carry_retry_after(qtbot, server):
    """protocol.md § 6 `error`: `retry_after` is documented as "with `locked_out`: seconds
    until login is possible again" (messages.py's Error docstring says the same), but the
    real server also sends it with `rate_limited` (here a second `conversations` within
    10 s; also flooding, registrations, the hashing queue) and with `internal`."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    request(alice, {"type": "conversations"})
    refused = request(alice, {"type": "conversations"})
    assert isinstance(refused, Error) and refused.code == "rate_limited"
    assert refused.retry_after is not None
    row = next(line for line in section(PROTOCOL, "### error", "### presence").splitlines()
               if line.startswith("| `retry_after`"))
    assert "rate_limited" in row, row


def test_send_errors_come_in_the_documented_order(qtbot, make_server):
    """protocol.md § send: "Errors, in this order" (and § 6: "the first check that fails
    decides the code") puts `rate_limited` before the `client_msg_id` check. The server
    checks `client_msg_id` first (core.py `_send`: `_text_refused` before `_flooding`), so a
    flooding client's send with a bad id gets `bad_request`, not `rate_limited`."""
    server = make_server(demo=True, max_send_rate=1.0)
    alice = connect_as(qtbot, server, "alice", "alice123")
    codes = []
    for _ in range(12):  # a burst of 10 s' worth at 1 a second, then refused
        reply = request(alice, {"type": "send", "scope": "unicast", "to": ["bob"],
                                "text": "hi", "client_msg_id": str(uuid.uuid4())})
        codes.append(getattr(reply, "code", "ok"))
    assert "rate_limited" in codes
    reply = request(alice, {"type": "send", "scope": "unicast", "to": ["bob"], "text": "hi",
                            "client_msg_id": "notice-mine"})
    assert isinstance(reply, Error) and reply.code == "rate_limited", reply


def test_edit_error_list_names_rate_limited(qtbot, make_server):
    """protocol.md § edit lists its errors "in this order" without `rate_limited`, though
    the real server refuses a flooding account's `edit` with it (§ send mentions in passing
    that edits share the allowance; a client writer reading § edit does not expect it, and
    the app must send such an edit again)."""
    server = make_server(demo=True, max_send_rate=1.0)
    alice = connect_as(qtbot, server, "alice", "alice123")
    sent = request(alice, {"type": "send", "scope": "unicast", "to": ["bob"], "text": "hi",
                           "client_msg_id": str(uuid.uuid4())})
    codes = []
    for i in range(12):
        reply = request(alice, {"type": "edit", "seq": sent.seq, "text": f"hi {i}",
                                "client_msg_id": str(uuid.uuid4())})
        codes.append(getattr(reply, "code", "ok"))
    assert "rate_limited" in codes
    errors = section(PROTOCOL, "### edit", "### delivered")
    errors = errors[errors.index("Errors, in this order"):]
    assert "rate_limited" in errors, errors


def test_any_frame_before_hello_gets_hello_required(qtbot, server):
    """protocol.md § 4: "Any frame other than `hello` before a successful `hello` gets
    `error` `hello_required` and is otherwise ignored", and § 6: "any frame except `hello`
    can get `hello_required`". A well-formed frame of a server-only type (`ok`,
    `receipt`) sent first gets `unknown_type` instead."""
    client = WireClient(qtbot, server.host, server.port)
    raw(client, {"type": "ok", "id": 5})
    reply = client.wait_for(lambda f: isinstance(f, Error))
    assert reply.code == "hello_required", reply


# ------------------------------------------------------------------ architecture.md


def test_architecture_logging_table_is_one_table_with_one_row_per_logger():
    """architecture.md § 5 Logging: the logger table is cut in two by two paragraphs (the
    log budget, "What an account does at its send rate …"), so its later rows render as
    stray text with pipes, and `messenger.server.activity` has two rows that differ (one
    without the budget of its own and the closing at the 10th refused login)."""
    logging_section = section(ARCHITECTURE, "## 5. Logging", "## 6.")
    lines = logging_section.splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("| `messenger.")]
    loggers = [lines[i].split("|")[1].strip() for i in rows]
    assert len(loggers) == len(set(loggers)), loggers
    assert rows == list(range(rows[0], rows[0] + len(rows))), \
        "the table's rows are not contiguous: " + repr([lines[i][:40] for i in range(
            rows[0], rows[-1] + 1)])


def test_server_certificate_files_have_the_documented_mode(server):
    """architecture.md § 4: "`DIR/server.crt`, `DIR/server.key` (mode 0600)". tls.py makes
    the key 0600 but writes the certificate with `Path.write_bytes`, so it gets the umask's
    mode (0644 with the usual 022). (The certificate is public: the fix may as well be in
    the doc.)"""
    modes = {name: (server.data_dir / name).stat().st_mode & 0o777
             for name in ("server.crt", "server.key")}
    assert modes == {"server.crt": 0o600, "server.key": 0o600}, {k: oct(v) for k, v in
                                                                  modes.items()}
