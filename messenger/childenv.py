"""The environment other programs get from the frozen app (a link, Open, Show in folder).

PyInstaller's bootloader points ``LD_LIBRARY_PATH`` into the bundle (keeping the user's own
value in ``LD_LIBRARY_PATH_ORIG``), sets ``_PYI_*`` variables for itself, and its Qt run-time
hook points ``QT_PLUGIN_PATH`` and ``QML2_IMPORT_PATH`` into the bundle. A program the app
starts (``xdg-open``, and through it the browser, a PDF viewer, the file manager) inherited
them, loaded the bundle's libglib, libstdc++, libssl … and Qt plugins instead of its own, and
on any machine whose libraries differ from the build machine's failed to start ("symbol
lookup error"): the click did nothing. PyInstaller's documentation ("LD_LIBRARY_PATH /
LIBPATH considerations") asks a frozen app to give such programs the environment as it was.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping

log = logging.getLogger("messenger.childenv")

SAVED_BY_BOOTLOADER = ("LD_LIBRARY_PATH", "LIBPATH")
"""Set by PyInstaller's bootloader, the user's own value kept in ``NAME_ORIG`` (LIBPATH: AIX)."""

PATH_LISTS = ("LD_LIBRARY_PATH", "LIBPATH", "QT_PLUGIN_PATH", "QML2_IMPORT_PATH",
              "OPENSSL_MODULES", "DYLD_LIBRARY_PATH", "PATH")
"""Path lists that PyInstaller or its run-time hooks point into the bundle (or prepend it
to: PATH on Windows, DYLD_LIBRARY_PATH on macOS): the bundle's entries are removed."""

BOOTLOADER_PREFIXES = ("_PYI_", "_MEIPASS")
"""The bootloader's own variables (``_PYI_APPLICATION_HOME_DIR``, ``_PYI_ARCHIVE_FILE``,
``_PYI_PARENT_PROCESS_LEVEL`` …; ``_MEIPASS2`` before PyInstaller 6)."""


def _inside(path: str, bundle: str) -> bool:
    """True when ``path`` is ``bundle`` or below it."""
    if not path:
        return False
    path, bundle = os.path.normpath(os.path.abspath(path)), os.path.normpath(bundle)
    return path == bundle or path.startswith(bundle.rstrip(os.sep) + os.sep)


def user_environment(environ: Mapping[str, str], bundle: str) -> dict[str, str]:
    """``environ`` as it was before the frozen app at ``bundle`` (``sys._MEIPASS``) changed
    it: ``LD_LIBRARY_PATH`` back from ``LD_LIBRARY_PATH_ORIG`` (unset when there was none),
    the bundle's entries taken out of the :data:`PATH_LISTS` (a list left empty is unset),
    and the bootloader's own variables dropped. Everything else is kept as it is."""
    env = {name: value for name, value in environ.items()
           if not name.startswith(BOOTLOADER_PREFIXES)}
    for name in SAVED_BY_BOOTLOADER:
        original = env.pop(f"{name}_ORIG", None)
        if original is not None:
            env[name] = original
    for name in PATH_LISTS:
        if name not in env:
            continue
        kept = [entry for entry in env[name].split(os.pathsep) if not _inside(entry, bundle)]
        if any(kept):
            env[name] = os.pathsep.join(kept)
        else:
            del env[name]
    return env


def use_users_environment(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """In the frozen app, make ``environ`` (``os.environ``) :func:`user_environment`, so that
    the programs the app starts get the user's; return the names changed (none when not
    frozen).

    Call it once Qt has read what it needs (after ``QApplication`` exists and its library
    paths are known: ``QCoreApplication.libraryPaths()``). The dynamic linker read
    ``LD_LIBRARY_PATH`` when the process started, so the app's own libraries are unaffected.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not bundle:
        return []
    if environ is None:
        environ = os.environ
    wanted = user_environment(environ, bundle)
    changed = sorted({name for name in environ if name not in wanted}
                     | {name for name, value in wanted.items() if environ.get(name) != value})
    for name in changed:
        if name in wanted:
            environ[name] = wanted[name]
        else:
            del environ[name]
    if changed:
        log.debug("programs started from here get the user's environment (%s)",
                  ", ".join(changed))
    return changed
