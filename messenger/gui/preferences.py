"""The Preferences dialog (layout in ``ui/preferences.ui``): notifications (on or off, with or
without the sender and text), and the transfer settings, which are the download folder, the
size limit and the contacts whose files are accepted without asking.

The decisions (is this folder usable, bytes ↔ MB/GB, which names to list) are plain functions
below, unit-tested without widgets; the dialog only wires them to its controls. The contact
list is a :class:`ContactChoiceModel` with the check marks in a
:class:`~messenger.client.models.CheckableProxyModel` and a filter proxy on top, as in the
group dialog's picker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtWidgets import QAbstractItemView, QDialog, QDialogButtonBox, QFileDialog, QWidget

from ..client.models import CheckableProxyModel
from ..client.notify import NotificationPrefs
from ..client.transfers import TransferPrefs
from ..protocol import name_key
from . import theme
from .ui_preferences import Ui_PreferencesDialog
from .widgets import tab_in_drawn_order

_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

# ------------------------------------------------------------------------- plain decisions

UNITS: dict[str, int] = {"MB": 1024 ** 2, "GB": 1024 ** 3}
"""The size-limit units (of 1024, as :func:`~messenger.client.transfers.format_size` shows)."""

MIN_SIZE_LIMIT = 1024 ** 2  # 1 MB
MAX_SIZE_LIMIT = 1024 ** 4  # 1024 GB


def unit_decimals(unit: str) -> int:
    """Decimals the spin box shows for ``unit``: whole MB, GB to the hundredth."""
    return 0 if unit == "MB" else 2


def size_range(unit: str) -> tuple[float, float]:
    """The smallest and largest limit that can be entered in ``unit``."""
    step = 10.0 ** -unit_decimals(unit)
    return max(MIN_SIZE_LIMIT / UNITS[unit], step), MAX_SIZE_LIMIT / UNITS[unit]


def size_in_unit(size: int, unit: str) -> float:
    """``size`` bytes in ``unit``, rounded as the spin box shows it and kept in its range."""
    low, high = size_range(unit)
    return min(max(round(size / UNITS[unit], unit_decimals(unit)), low), high)


def split_size(size: int) -> tuple[float, str]:
    """How a limit of ``size`` bytes is first shown: ``(4.0, "GB")``, ``(500.0, "MB")``."""
    unit = "GB" if size >= UNITS["GB"] else "MB"
    return size_in_unit(size, unit), unit


def join_size(value: float, unit: str) -> int:
    """``value`` ``unit`` in bytes: ``join_size(1.5, "GB") == 1610612736``."""
    return round(value * UNITS[unit])


def clamp_size_limit(size: int) -> int:
    """``size`` bytes kept within what the dialog can show (1 MB to 1024 GB): a limit out of
    that range (a settings file edited by hand) showed as 1 MB or 1024 GB, yet OK refused it
    as "at least 1 MB" ("at most 1024 GB"), and the app used the hidden value."""
    return min(max(int(size), MIN_SIZE_LIMIT), MAX_SIZE_LIMIT)


def size_limit_problem(size: int) -> str | None:
    """Why ``size`` bytes cannot be the limit (None when it can)."""
    if size < MIN_SIZE_LIMIT:
        return "The size limit must be at least 1 MB."
    if size > MAX_SIZE_LIMIT:
        return "The size limit can be at most 1024 GB."
    return None


def parse_folder(text: str) -> Path:
    """The folder typed in the dialog (``~`` expanded, surrounding blanks dropped)."""
    return Path(os.path.expanduser(text.strip()))


def folder_problem(text: str) -> str | None:
    """Why the folder ``text`` cannot be the download folder (None when it can): it must be
    an absolute path to a folder you can write in, or one that can be created."""
    if not text.strip():
        return "Choose a download folder."
    folder = parse_folder(text)
    if not folder.is_absolute():
        return f"Give the full path of the download folder (such as {Path.home() / 'Downloads'})."
    try:
        if folder.exists():
            if not folder.is_dir():
                return f"“{folder}” is a file, not a folder."
            if not os.access(folder, os.W_OK | os.X_OK):
                return f"You cannot save files in “{folder}” (no permission)."
            return None
        ancestor = folder.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return f"“{folder}” cannot be created: “{ancestor}” is a file."
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return (f"“{folder}” does not exist and cannot be created "
                    f"(no permission in “{ancestor}”).")
    except OSError as exc:
        return f"“{folder}” cannot be used: {exc.strerror or exc}."
    return None


def contact_choices(contacts: Iterable[str], chosen: Iterable[str]) -> list[str]:
    """The names the auto-accept list shows: every contact, and every name already chosen
    (even one no longer among the contacts, so saving does not drop it silently); one row per
    name ignoring case, sorted ignoring case."""
    names: dict[str, str] = {}
    for name in [*contacts, *chosen]:
        if name:
            names.setdefault(name_key(name), name)
    return [names[k] for k in sorted(names)]


def auto_accept_summary(names: list[str]) -> str:
    """The line under the contact list."""
    if not names:
        return "Nobody: every file asks first."
    return "Accepted without asking from: " + ", ".join(names) + "."


# ------------------------------------------------------------------------- model


class ContactChoiceModel(QAbstractListModel):
    """The names offered for auto-accept (see :func:`contact_choices`).

    Roles: ``Qt.DisplayRole``/:attr:`NameRole` → str, :attr:`KnownRole` → bool (among the
    contacts), ``Qt.ToolTipRole`` and ``Qt.AccessibleTextRole`` → str.
    """

    NameRole = Qt.ItemDataRole.UserRole + 1
    KnownRole = Qt.ItemDataRole.UserRole + 2

    def __init__(self, contacts: Iterable[str], chosen: Iterable[str] = (),
                 parent: Any = None) -> None:
        super().__init__(parent)
        contacts = list(contacts)
        self._known = {name_key(n) for n in contacts}
        self._names = contact_choices(contacts, chosen)

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._names)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._names):
            return None
        name = self._names[index.row()]
        known = name_key(name) in self._known
        if role in (Qt.ItemDataRole.DisplayRole, self.NameRole):
            return name
        if role == self.KnownRole:
            return known
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return name if known else f"{name} (not among your contacts now)"
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names[self.NameRole] = QByteArray(b"name")
        names[self.KnownRole] = QByteArray(b"known")
        return names

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren

    def names(self) -> list[str]:
        return list(self._names)


# ------------------------------------------------------------------------- dialog


class PreferencesDialog(QDialog, Ui_PreferencesDialog):
    """Edit the notification and transfer settings. OK checks the form and shows a problem in
    :attr:`errorLabel` (the dialog stays open); :meth:`prefs` and :meth:`notification_prefs`
    are the result.

    Args:
        prefs: the transfer settings to start from.
        contacts: the names offered in "Accept files automatically from".
        notifications: the notification settings to start from (default: the defaults).
        read_receipts: whether "Send read receipts" starts checked (:meth:`read_receipts`).
        typing_indicators: whether "Send and show typing indicators" starts checked
            (:meth:`typing_indicators`).

    Attributes:
        choices: the :class:`ContactChoiceModel`; ``checks`` holds the check marks and
            ``filter`` the filter box's proxy (the view's model).
    """

    def __init__(self, prefs: TransferPrefs, contacts: Iterable[str],
                 parent: QWidget | None = None, *,
                 notifications: NotificationPrefs | None = None,
                 read_receipts: bool = True, typing_indicators: bool = True) -> None:
        super().__init__(parent)
        self.setupUi(self)
        theme.secondary_text(self.sizeNote)  # (over the .ui's placeholder colour)
        self.readReceiptsCheck.setChecked(read_receipts)
        self.typingCheck.setChecked(typing_indicators)
        self._initial = prefs
        self._notifications = notifications or NotificationPrefs()
        self.notifyCheck.setChecked(self._notifications.enabled)
        self.showTextCheck.setChecked(self._notifications.show_text)
        self.showTextCheck.setEnabled(self._notifications.enabled)
        self.notifyCheck.toggled.connect(self.showTextCheck.setEnabled)
        self._size_limit = clamp_size_limit(prefs.size_limit)  # (what the box shows)

        self.folderEdit.setText(str(prefs.download_dir))
        self.folderEdit.textEdited.connect(lambda _text: self._set_error(""))
        self.chooseButton.clicked.connect(self.choose_folder)

        value, unit = split_size(self._size_limit)
        self.unitCombo.addItems(list(UNITS))
        self.unitCombo.setCurrentText(unit)
        self._show_size(unit)
        self.sizeSpin.setValue(value)
        self.sizeSpin.valueChanged.connect(self._on_size_edited)
        self.unitCombo.currentTextChanged.connect(self._on_unit_changed)

        self.choices = ContactChoiceModel(contacts, prefs.auto_accept, self)
        self.checks = CheckableProxyModel(self.choices, ContactChoiceModel.NameRole, self)
        self.checks.set_checked(sorted(prefs.auto_accept))
        self.filter = QSortFilterProxyModel(self)
        self.filter.setSourceModel(self.checks)
        self.filter.setFilterRole(ContactChoiceModel.NameRole)
        self.filter.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter.setSortRole(ContactChoiceModel.NameRole)  # by name, as a pick list reads
        self.filter.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter.sort(0)
        self.contactsView.setModel(self.filter)
        self.contactsView.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Space (or a click on the box) toggles; Enter is left to the OK button.
        self.contactsView.doubleClicked.connect(self.toggle)
        self.filterEdit.textChanged.connect(self.filter.setFilterFixedString)
        self.checks.checked_changed.connect(self._update_chosen)
        self._update_chosen()

        self.ok_button = self.buttonBox.button(QDialogButtonBox.StandardButton.Ok)
        tab_in_drawn_order(self.buttonBox)
        self.ok_button.setAccessibleName("OK, save the preferences")
        self.buttonBox.accepted.connect(self.submit)
        theme.follow_palette(self.errorLabel, lambda: self.errorLabel.setStyleSheet(
            theme.error_style(bold=True)))
        self.errorLabel.hide()
        # The first control of the .ui's tab order, at the top: focused on "Download folder"
        # half-way down, Tab led on to OK, the controls above came only after Cancel, and a
        # screen reader began there (and one key typed by mistake replaced the path).
        self.notifyCheck.setFocus()

    # -- queries

    def error_text(self) -> str:
        return self.errorLabel.text() if not self.errorLabel.isHidden() else ""

    def size_limit(self) -> int:
        """The limit in bytes (unchanged to the byte unless the value was edited, or was out
        of the range the box shows: then the nearest one it shows, see
        :func:`clamp_size_limit`)."""
        return self._size_limit

    def auto_accept(self) -> list[str]:
        return self.checks.checked()

    def visible_names(self) -> list[str]:
        return [self.filter.index(r, 0).data(ContactChoiceModel.NameRole)
                for r in range(self.filter.rowCount())]

    def prefs(self) -> TransferPrefs:
        """The settings as the form holds them (checked by :meth:`submit` before OK)."""
        return replace(self._initial, size_limit=self.size_limit(),
                       auto_accept=frozenset(self.auto_accept()),
                       download_dir=parse_folder(self.folderEdit.text()))

    def read_receipts(self) -> bool:
        """Privacy → Send read receipts."""
        return self.readReceiptsCheck.isChecked()

    def typing_indicators(self) -> bool:
        """Privacy → Send and show typing indicators."""
        return self.typingCheck.isChecked()

    def notification_prefs(self) -> NotificationPrefs:
        """The notification settings as the form holds them (muted conversations unchanged)."""
        return replace(self._notifications, enabled=self.notifyCheck.isChecked(),
                       show_text=self.showTextCheck.isChecked())

    # -- actions

    def choose_folder(self) -> None:
        """"Choose…": pick the download folder with the platform's folder dialog."""
        start = parse_folder(self.folderEdit.text())
        while not start.is_dir() and start != start.parent:
            start = start.parent
        chosen = QFileDialog.getExistingDirectory(self, "Download folder", str(start))
        if chosen:
            self.folderEdit.setText(chosen)
            self._set_error("")

    def toggle(self, index: QModelIndex) -> None:
        """Flip the check box of the row at ``index`` (a view index)."""
        state = index.data(Qt.ItemDataRole.CheckStateRole)
        new = Qt.CheckState.Unchecked if state == Qt.CheckState.Checked \
            else Qt.CheckState.Checked
        self.filter.setData(index, new, Qt.ItemDataRole.CheckStateRole)

    def submit(self) -> None:
        """OK: accept when the form is usable, else say why and stay open."""
        problem = folder_problem(self.folderEdit.text())
        if problem:
            self._set_error(problem)
            self.folderEdit.setFocus()
            self.folderEdit.selectAll()
            return
        problem = size_limit_problem(self.size_limit())
        if problem:
            self._set_error(problem)
            self.sizeSpin.setFocus()
            return
        self._set_error("")
        self.accept()

    # -- internals

    def _set_error(self, text: str) -> None:
        self.errorLabel.setText(text)
        self.errorLabel.setVisible(bool(text))

    def _show_size(self, unit: str) -> None:
        low, high = size_range(unit)
        self.sizeSpin.setDecimals(unit_decimals(unit))
        self.sizeSpin.setRange(low, high)
        self.sizeSpin.setSingleStep(1.0 if unit == "MB" else 0.5)
        self.sizeSpin.setAccessibleDescription(f"in {unit}")

    def _on_size_edited(self, value: float) -> None:
        self._size_limit = join_size(value, self.unitCombo.currentText())
        self._set_error("")

    def _on_unit_changed(self, unit: str) -> None:
        """Another unit shows the same limit in it (4 GB → 4096 MB)."""
        self.sizeSpin.blockSignals(True)
        try:
            self._show_size(unit)
            self.sizeSpin.setValue(size_in_unit(self._size_limit, unit))
        finally:
            self.sizeSpin.blockSignals(False)
        # The shown value may have been rounded or clamped: the limit is what is shown.
        if size_in_unit(self._size_limit, unit) != round(self._size_limit / UNITS[unit],
                                                         unit_decimals(unit)):
            self._size_limit = join_size(self.sizeSpin.value(), unit)

    def _update_chosen(self) -> None:
        self.chosenLabel.setText(auto_accept_summary(self.auto_accept()))
