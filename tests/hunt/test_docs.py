"""Documentation truth: claims of README.md and docs/*.md checked against the real server,
the real command line and the code's own constants. Each test fails on the current code for
the reason its docstring names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
from helpers.wire import WireClient

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
