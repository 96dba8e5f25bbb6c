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


