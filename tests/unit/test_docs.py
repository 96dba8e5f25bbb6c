"""The documents' lists against the code they list: every command-line option, `make`
target and main-window shortcut in README.md, every request and `ok` field in
docs/protocol.md, every logger in docs/architecture.md. Prose is not checked here, only
enumerations that drift when the code grows a new item."""

from __future__ import annotations

import re
from pathlib import Path

from messenger.cli import build_parser
from messenger.protocol import Ok
from messenger.protocol.messages import ClientFrame

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def section(text: str, start: str, end: str) -> str:
    """The part of ``text`` from ``start`` up to the next ``end``."""
    i = text.index(start)
    return text[i:text.index(end, i + len(start))]


def test_readme_command_line_reference_lists_every_option():
    """README's command-line reference (synopsis and option table) is the operator's list
    of options; `messenger --help` also had `--version`, which the README never named."""
    reference = section(README, "## Command-line reference", "## Where things are")
    missing = [action.option_strings for action in build_parser()._actions
               if "--help" not in action.option_strings
               and not any(f"`{opt}" in reference or f"[{opt}" in reference
                           for opt in action.option_strings)]
    assert not missing, f"options missing from README's command-line reference: {missing}"


def test_readme_names_every_make_target_of_the_makefiles_header():
    """README § The two commands lists the "Other targets"; the Makefile's header (`make
    help`) also documents `make distclean` (which deletes the venv), and the README did not
    mention it."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^#   make ([a-z-]+)", makefile, re.MULTILINE))
    targets |= set(re.findall(r"\(make ([a-z-]+):", makefile))
    missing = sorted(t for t in targets if f"`make {t}" not in README)
    assert not missing, f"make targets missing from README: {missing}"


def test_readme_lists_every_main_window_shortcut():
    """README § Using the app documents the window's keyboard shortcuts one by one, but not
    Ctrl+Shift+N (Conversation → Message several people…) nor Ctrl+, (File →
    Preferences), both set in gui/main_window.py."""
    source = (ROOT / "messenger" / "gui" / "main_window.py").read_text(encoding="utf-8")
    shortcuts = {s for s in re.findall(r'QKeySequence\("([^"]+)"\)', source)
                 if "{" not in s}  # (Alt+{n}: "Alt+1…9")
    missing = sorted(s for s in shortcuts if s not in README)
    assert not missing, f"shortcuts missing from README: {missing}"


def requests() -> list[str]:
    """The client frame types that carry an ``id``: the requests."""
    return sorted(t.__struct_config__.tag for t in ClientFrame.__args__  # type: ignore[attr-defined]
                  if "id" in t.__struct_fields__)


def named(name: str, text: str) -> bool:
    """``name`` appears in ``text`` as `name`, or under a wildcard such as `group_*`."""
    prefix = name.split("_", 1)[0]
    return f"`{name}`" in text or f"`{prefix}_*`" in text


def test_protocol_lists_every_request():
    """protocol.md § 5 ("The requests are …"), § 4's table of what each state allows and
    § 6's `ok` table named neither `conversations` nor (the `ok` table) `retract` and
    `edit`, though the server answers them like any request: a client written from the
    document did not know what their answers carry."""
    listing = section(PROTOCOL, "The requests are", "The server")
    states = section(PROTOCOL, "What is allowed in each state:", "An account may be")
    ok_rows = {name for line in section(PROTOCOL, "### ok", "### error").splitlines()
               if line.startswith("| `")
               for name in re.findall(r"`([a-z_]+)`", line.split("|")[1])}
    missing = {
        "§ 5 list": [r for r in requests() if not named(r, listing)],
        "§ 4 state table": [r for r in requests() if not named(r, states)],
        "§ 6 ok table": [r for r in requests() if r not in ok_rows],
    }
    assert missing == {"§ 5 list": [], "§ 4 state table": [], "§ 6 ok table": []}


def test_protocol_ok_table_names_every_ok_field():
    """protocol.md § 6 `ok` lists the fields each request's `ok` has; `seq_high` (a
    login's) was in none of its rows."""
    table = section(PROTOCOL, "### ok", "### error")
    fields_column = " ".join(line.split("|")[2] for line in table.splitlines()
                             if line.startswith("| `"))
    missing = [f for f in Ok.__struct_fields__ if f != "id" and f"`{f}`" not in fields_column]
    assert not missing, f"ok fields missing from the ok table: {missing}"


def test_architecture_logging_table_is_one_table_with_a_row_for_each_logger():
    """architecture.md § 5 Logging: the logger table was cut in two by two paragraphs (its
    later rows rendered as stray text with pipes), `messenger.server.activity` had two
    rows that differed, and the loggers of the WAL sync, the transfer engine, the local
    store and the app's transfers had none."""
    lines = section(ARCHITECTURE, "## 5. Logging", "## 6.").splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("| `messenger")]
    assert rows == list(range(rows[0], rows[0] + len(rows))), "the table is cut in two"
    firsts = [lines[i].split("|")[1] for i in rows]
    assert len(firsts) == len(set(firsts)), "a logger has two rows"
    documented: set[str] = set()
    for cell in firsts:
        names = re.findall(r"`([a-z.…]+)`", cell)
        parent = names[0].rsplit(".", 1)[0]
        documented |= {parent + n if n.startswith(".") else n for n in names}
    used = {name for path in (ROOT / "messenger").rglob("*.py")
            for name in re.findall(r'getLogger\("(messenger\.[a-z_.]+)"\)',
                                   path.read_text(encoding="utf-8"))}
    missing = sorted(n for n in used if n not in documented
                     and not any(d.endswith("…") and n.startswith(d[:-1]) for d in documented))
    assert not missing, f"loggers without a row: {missing}"
