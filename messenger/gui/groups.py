"""Group windows: the group-creation dialog (layout in ``ui/group_dialog.ui``), "Join a group…",
the invite picker, the invitation bar and a group's tab with its member panel.

Every list here is a view on an engine model (roster, groups, directory, members) through
proxy models; the dialogs ask the engine to act and wait for its answer signals, so a refusal
from the server (such as a taken name) is shown inside the dialog.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Sequence

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSignalBlocker,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..client.conversations import group_key
from ..client.engine import ClientEngine
from ..client.models import (
    CheckableProxyModel,
    ConversationModel,
    GroupModel,
    GroupRow,
    MembersModel,
    RosterModel,
    RosterNamesModel,
)
from ..protocol import MAX_TEXT_LENGTH, ErrorCode, is_valid_name, name_key
from . import theme
from .conversation import ConversationWidget, too_long_text
from .delegates import GroupDelegate, MemberDelegate
from .ui_group_dialog import Ui_GroupDialog
from .widgets import (
    EmptyHintListView,
    ErrorLabel,
    MessageTextEdit,
    plain_tooltip,
    tab_in_drawn_order,
)

log = logging.getLogger("messenger.gui.groups")

_AFTER_SEPARATOR = re.compile(r"(?<=[_.\-])(?=.)")
_LONG_PART = re.compile(r"[^_.\-\u200b]{13,}")


def breakable_name(name: str) -> str:
    """``name`` with a zero-width space after each ``_``, ``-`` and ``.`` and every 10
    characters of a part of 13 or more without one, where a word-wrapping label may break
    it: names have no spaces, and "Engineering_Department_Meetings" was cut mid-letter at
    the invitation bar's edge with a large font (a hunt)."""
    return _LONG_PART.sub(
        lambda m: "\u200b".join(m[0][i:i + 10] for i in range(0, len(m[0]), 10)),
        _AFTER_SEPARATOR.sub("\u200b", name))

_Index = QModelIndex | QPersistentModelIndex

NAME_RULE = "A group name has 1–32 letters, digits, “_”, “.” or “-”."

LEFT_GROUP = "You left this group — join it again to write here."
LEFT_PRIVATE_GROUP = "You left this group — its leader can invite you again."
"""(An invite-only group, or one no longer listed: it cannot be joined.)"""
NOT_MEMBER = "You are not a member of this group."
ENDED_GROUP = "This group ended: its last member left."
NO_LIST_OFFLINE = ("Not connected to the server: the public groups show here once the app "
                   "is back online.")
INVITED_GROUP = "You are invited to this group — accept the invitation to write here."
"""(A group you left or were removed from, invited to again.)"""


def ask(box: QMessageBox) -> QMessageBox.StandardButton:
    """Show the question ``box`` (modal) and return the button chosen (replaced in tests)."""
    return QMessageBox.StandardButton(box.exec())


def _question(parent: QWidget | None, title: str, text: str, informative: str,
              yes: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                      parent)
    box.setInformativeText(informative)
    box.button(QMessageBox.StandardButton.Yes).setText(yes)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return box


def leave_consequences(row: GroupRow | None, me: str) -> str:
    """What leaving group ``row`` means for ``me``, for the question before it: the next
    leader when ``me`` leads it (the longest-standing other member, as the server picks),
    or the group's end when ``me`` is its last member."""
    text = "You will no longer get its messages or be able to write in it."
    if row is None:
        return text + " To come back, join it again (an invite-only group needs a new invitation)."
    others = [m for m in row.members if name_key(m) != name_key(me)]
    if not others:
        pending = (f" The invitation{'s' if len(row.invited) != 1 else ''} to "
                   f"{', '.join(row.invited)} {'are' if len(row.invited) != 1 else 'is'} "
                   "withdrawn." if row.invited else "")
        return (f"You are its last member: the group ends, and its name is free for a new "
                f"group.{pending}")
    if name_key(row.leader) == name_key(me):
        text += f" {others[0]} becomes its leader (the longest-standing member)."
    return text + (" To come back, join it again." if row.public else
                   " To come back, you need an invitation from its leader.")


def confirm_leave(parent: QWidget | None, group: str, row: GroupRow | None = None,
                  me: str = "") -> bool:
    """Ask before leaving ``group`` (its row, when known, and this user ``me``: the question
    says who leads it next, or that it ends); True when the user chose Leave."""
    box = _question(parent, "Leave group", f"Leave the group “{group}”?",
                    leave_consequences(row, me), "Leave")
    return ask(box) == QMessageBox.StandardButton.Yes


def confirm_remove(parent: QWidget | None, group: str, user: str) -> bool:
    """Ask before removing ``user`` from ``group``; True when the user chose Remove."""
    box = _question(parent, "Remove member", f"Remove {user} from “{group}”?",
                    f"{user} will no longer get the group's messages or be able to write in "
                    "it, and is told so.", "Remove")
    return ask(box) == QMessageBox.StandardButton.Yes



INVITE_NAMES_SHOWN = 5
"""How many chosen names the group dialog spells out before "and N more"."""


def invite_summary(chosen: list[str]) -> str:
    """"Invite: bob, charlie" — and past :data:`INVITE_NAMES_SHOWN` names, "Invite 33: a,
    b, c, d, e and 28 more" (the dialog grew as wide as the whole list)."""
    if len(chosen) <= INVITE_NAMES_SHOWN:
        return "Invite: " + ", ".join(chosen)
    shown = ", ".join(chosen[:INVITE_NAMES_SHOWN])
    return f"Invite {len(chosen)}: {shown} and {len(chosen) - INVITE_NAMES_SHOWN} more"

class _PickFilter(QSortFilterProxyModel):
    """Filters a name list by a case-insensitive substring, hiding ``excluded`` names, and
    sorts it by name (the roster's presence order looked random in a list that shows no
    presence)."""

    def __init__(self, name_role: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name_role = name_role
        self._excluded: set[str] = set()
        self.setFilterRole(name_role)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setSortRole(name_role)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.sort(0)

    def set_excluded(self, names: Iterable[str]) -> None:
        self.beginFilterChange()
        self._excluded = {name_key(n) for n in names}
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        index = self.sourceModel().index(source_row, 0, source_parent)
        if name_key(index.data(self._name_role) or "") in self._excluded:
            return False
        return super().filterAcceptsRow(source_row, source_parent)


class _JoinableFilter(QSortFilterProxyModel):
    """The groups of a :class:`GroupModel` you could join (public, or invited, not joined)."""

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        index = self.sourceModel().index(source_row, 0, source_parent)
        return bool(index.data(GroupModel.JoinableRole))


class PickList(QObject):
    """Wires a filter box and a list view to pick people from the roster with check boxes.

    The roster stays the engine's, seen through a :class:`RosterNamesModel` (its names by
    name: no row moves at each presence change); the check marks live in a
    :class:`CheckableProxyModel` and the filter in a :class:`QSortFilterProxyModel` on top.

    Signals:
        changed(): the set of checked names changed.
    """

    changed = Signal()

    def __init__(self, roster: RosterModel, filter_edit: QLineEdit, view: QListView,
                 parent: QObject | None = None, *, exclude: Iterable[str] = ()) -> None:
        super().__init__(parent)
        self.names = RosterNamesModel(roster, self)
        self.checks = CheckableProxyModel(self.names, RosterModel.NameRole, self)
        self.filter = _PickFilter(RosterModel.NameRole, self)
        self.filter.setSourceModel(self.checks)
        self.filter.set_excluded(exclude)
        self.view = view
        view.setModel(self.filter)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Space (or a click on the box) toggles; Enter is left to the dialog's default button.
        view.doubleClicked.connect(self.toggle)
        filter_edit.textChanged.connect(self.filter.setFilterFixedString)
        self.checks.checked_changed.connect(self.changed)
        self._filter_edit = filter_edit
        if isinstance(view, EmptyHintListView):
            view.hint = self.empty_hint
            filter_edit.textChanged.connect(view.viewport().update)

    def empty_hint(self) -> str:
        """What the list says while it shows nobody."""
        text = self._filter_edit.text().strip()
        if text:
            return f"Nobody matches “{text}”."
        return "Nobody else to choose: everyone is in it or invited already." \
            if self.checks.rowCount() else "There are no other accounts on this server yet."

    def toggle(self, index: QModelIndex) -> None:
        """Flip the check box of the row at ``index`` (a view index)."""
        state = index.data(Qt.ItemDataRole.CheckStateRole)
        new = Qt.CheckState.Unchecked if state == Qt.CheckState.Checked \
            else Qt.CheckState.Checked
        self.filter.setData(index, new, Qt.ItemDataRole.CheckStateRole)

    def checked(self) -> list[str]:
        return self.checks.checked()

    def set_checked(self, names: Iterable[str]) -> None:
        self.checks.set_checked(list(names))

    def visible_names(self) -> list[str]:
        return [self.filter.index(r, 0).data(RosterModel.NameRole)
                for r in range(self.filter.rowCount())]


def friendly_group_error(op: str, group: str, code: str, message: str) -> str:
    """What a dialog shows for a refused group request."""
    if code == ErrorCode.NAME_TAKEN and "looks too much like" not in message:
        return f"A group named “{group}” exists already — choose another name."
    if code == ErrorCode.INVALID_NAME:
        return NAME_RULE
    if code == ErrorCode.UNKNOWN_GROUP:
        return f"There is no group named “{group}”."
    if code == ErrorCode.NOT_INVITED:
        return f"“{group}” is invite-only: ask its leader for an invitation."
    if code == ErrorCode.ALREADY_MEMBER:
        return f"You are in “{group}” already." if op == "join" else message
    if code == ErrorCode.UNKNOWN_USER:
        return f"Unknown user: {message.removeprefix('no such user: ')}."
    if code == ErrorCode.LIMIT_REACHED:  # (it may begin with a user's name: kept as spelt)
        return message.rstrip(".") + "."
    return message[:1].upper() + message[1:] if message else code


class GroupDialog(QDialog, Ui_GroupDialog):
    """Create a group: name, invite-only or public, and people to invite (picked from the
    contact list with a filter box and check boxes). Stays open until the server has created
    the group (then it is accepted) and shows every refusal in :attr:`errorLabel`.

    Args:
        engine: the logged-in session.
        invite: names to check at the start (such as the contacts selected in the list).
    """

    def __init__(self, engine: ClientEngine, parent: QWidget | None = None, *,
                 invite: Iterable[str] = ()) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.engine = engine
        self.created_name = ""
        self._waiting_for = ""
        self.picker = PickList(engine.roster, self.filterEdit, self.membersView, self)
        self.picker.set_checked(invite)
        self.ok_button = self.buttonBox.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Create")
        self.ok_button.setAccessibleName("Create the group")
        tab_in_drawn_order(self.buttonBox)
        theme.follow_palette(self.errorLabel, lambda: self.errorLabel.setStyleSheet(
            theme.error_style(bold=True)))
        self.errorLabel.hide()
        self.buttonBox.accepted.connect(self.submit)
        self.picker.changed.connect(self._update_chosen)
        self.publicRadio.toggled.connect(self._update_chosen)
        self.nameEdit.textEdited.connect(lambda _text: self._set_error(""))
        engine.group_joined.connect(self._on_joined)
        engine.group_failed.connect(self._on_failed)
        self._update_chosen()
        self.nameEdit.setFocus()

    def error_text(self) -> str:
        return self.errorLabel.text() if not self.errorLabel.isHidden() else ""

    def _set_error(self, text: str) -> None:
        self.errorLabel.setText(text)
        self.errorLabel.setVisible(bool(text))

    def _update_chosen(self, *args: object) -> None:
        chosen = self.picker.checked()
        if chosen:
            self.chosenLabel.setText(invite_summary(chosen))
        elif self.publicRadio.isChecked():
            self.chosenLabel.setText("Nobody chosen — others can join by name.")
        else:
            self.chosenLabel.setText("Nobody chosen yet — pick at least one person.")
        if chosen and "pick at least one" in self.error_text():
            self._set_error("")

    def submit(self) -> None:
        """Check the form, then ask the server to create the group."""
        if self._waiting_for:
            return
        name = self.nameEdit.text().strip()
        chosen = self.picker.checked()
        public = self.publicRadio.isChecked()
        if not name:
            self._set_error("Enter a name for the group.")
            self.nameEdit.setFocus()
            return
        if not is_valid_name(name):
            self._set_error(NAME_RULE)
            self.nameEdit.setFocus()
            return
        if not public and not chosen:
            self._set_error("An invite-only group needs people: pick at least one person "
                            "to invite, or make the group public.")
            self.filterEdit.setFocus()
            return
        self._set_error("")
        self._waiting_for = name
        self.ok_button.setEnabled(False)
        self.ok_button.setText("Creating…")
        if not self.engine.create_group(name, chosen, public):
            self._done_waiting()

    def _done_waiting(self) -> None:
        self._waiting_for = ""
        self.ok_button.setEnabled(True)
        self.ok_button.setText("Create")

    def _on_joined(self, name: str) -> None:
        if self._waiting_for and name_key(name) == name_key(self._waiting_for):
            self.created_name = name
            self._done_waiting()
            self.accept()

    def _on_failed(self, op: str, group: str, code: str, message: str) -> None:
        if op != "create" or not self._waiting_for or name_key(group) != name_key(
                self._waiting_for):
            return
        self._done_waiting()
        self._set_error(friendly_group_error(op, group, code, message))
        self.nameEdit.setFocus()
        self.nameEdit.selectAll()


class JoinGroupDialog(QDialog):
    """"Join a group…": lists the public groups you are not in (asked from the server when the
    dialog opens) and joins the one picked or typed by name."""

    def __init__(self, engine: ClientEngine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Join a group")
        self.engine = engine
        self._waiting_for = ""
        self.joined_name = ""
        self.proxy = _JoinableFilter(self)
        self.proxy.setSourceModel(engine.directory)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setAccessibleName("Groups you can join")
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setItemDelegate(GroupDelegate(self.view))
        self.view.clicked.connect(self._on_picked)
        self.view.activated.connect(self._on_activated)
        self.empty_label = QLabel("Looking for groups…")
        theme.secondary_text(self.empty_label)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Group name")
        self.name_edit.setAccessibleName("Group name")
        self.name_edit.textEdited.connect(lambda _t: self._set_error(""))
        self.error_label = ErrorLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.join_button = buttons.addButton("Join", QDialogButtonBox.ButtonRole.AcceptRole)
        tab_in_drawn_order(buttons)
        self.join_button.setAccessibleName("Join the group")
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Public groups:"))
        layout.addWidget(self.view)
        layout.addWidget(self.empty_label)
        layout.addWidget(QLabel("Join by name:"))
        layout.addWidget(self.name_edit)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.resize(360, 420)
        engine.groups_listed.connect(self._on_listed)
        engine.group_joined.connect(self._on_joined)
        engine.group_failed.connect(self._on_failed)
        # Asked again at each login: opened while the link was down, it waited "Looking
        # for groups…" for good, and one open across a reconnect kept the list of before.
        engine.login_succeeded.connect(self._ask_list)
        self._ask_list()

    def error_text(self) -> str:
        return self.error_label.shown_text()

    def names(self) -> list[str]:
        return [self.proxy.index(r, 0).data(GroupModel.NameRole)
                for r in range(self.proxy.rowCount())]

    def _set_error(self, text: str) -> None:
        self.error_label.set_error(text, fit_window=False)

    def _ask_list(self, *_args: object) -> None:
        """Ask the server for the public groups (again); while the link is down, say that
        the list comes once the app is back online."""
        if self.engine.list_groups():
            if not self.proxy.rowCount():
                self.empty_label.setText("Looking for groups…")
        else:
            self.empty_label.setText(NO_LIST_OFFLINE)
            self.empty_label.show()

    def _on_listed(self) -> None:
        if self.proxy.rowCount():
            self.empty_label.hide()
        else:
            self.empty_label.setText("No public groups to join yet. Create one with "
                                     "Groups → New group….")
            self.empty_label.show()

    def _on_picked(self, index: QModelIndex) -> None:
        self.name_edit.setText(index.data(GroupModel.NameRole) or "")
        self._set_error("")

    def _on_activated(self, index: QModelIndex) -> None:
        self._on_picked(index)
        self.submit()

    def submit(self) -> None:
        name = self.name_edit.text().strip()
        if not name:
            self._set_error("Pick a group or type its name.")
            return
        if not is_valid_name(name):
            self._set_error(NAME_RULE)
            return
        self._waiting_for = name
        self.join_button.setEnabled(False)
        if not self.engine.join_group(name):
            self._waiting_for = ""
            self.join_button.setEnabled(True)

    def _on_joined(self, name: str) -> None:
        if self._waiting_for and name_key(name) == name_key(self._waiting_for):
            self._waiting_for = ""
            self.joined_name = name
            self.accept()

    def _on_failed(self, op: str, group: str, code: str, message: str) -> None:
        if op != "join" or name_key(group) != name_key(self._waiting_for):
            return
        self._waiting_for = ""
        self.join_button.setEnabled(True)
        self._set_error(friendly_group_error(op, group, code, message))
        if code == ErrorCode.UNKNOWN_GROUP:  # (it ended: others listed may have too)
            self._ask_list()


class InviteDialog(QDialog):
    """Invite people to ``group``: contacts not in it yet, with a filter box and check boxes."""

    def __init__(self, engine: ClientEngine, group: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Invite to {group}")
        self.engine = engine
        self.group = group
        row = engine.groups.group(group)
        exclude = [*row.members, *row.invited] if row is not None else []
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter contacts…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Filter contacts")
        self.view = EmptyHintListView()
        self.view.setAccessibleName("Contacts to invite")
        self.picker = PickList(engine.roster, self.filter_edit, self.view, self,
                               exclude=exclude)
        self.error_label = ErrorLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.invite_button = buttons.addButton("Invite", QDialogButtonBox.ButtonRole.AcceptRole)
        tab_in_drawn_order(buttons)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Invite to {group}:"))
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.view)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.resize(320, 380)

    def submit(self) -> None:
        users = self.picker.checked()
        if not users:
            self.error_label.set_error("Pick at least one person.", fit_window=False)
            return
        self.engine.invite_to_group(self.group, users, key=group_key(self.group))
        self.accept()


class MulticastDialog(QDialog):
    """Write one message to several people (picked with check boxes; the contacts selected in
    the contact list come pre-checked)."""

    def __init__(self, engine: ClientEngine, parent: QWidget | None = None, *,
                 recipients: Iterable[str] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("Message several people")
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter contacts…")
        self.filter_edit.setAccessibleName("Filter contacts")
        self.list = QListView()
        self.list.setAccessibleName("Recipients")
        self.picker = PickList(engine.roster, self.filter_edit, self.list, self)
        self.picker.set_checked(recipients)
        self.text = MessageTextEdit("Message")
        self.text.setPlaceholderText("One message, sent to each person checked above")
        self.text.submitted.connect(self.submit)
        self.error_label = ErrorLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        tab_in_drawn_order(buttons)
        self.send_button.setAccessibleName("Send to the chosen people")
        self.send_button.setToolTip("Ctrl+Enter")
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Send to (choose two or more):"))
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.list)
        layout.addWidget(self.text)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def recipients(self) -> list[str]:
        return self.picker.checked()

    def submit(self) -> None:
        if len(self.recipients()) < 2 or not self.text.toPlainText().strip():
            self.error_label.set_error("Choose two or more people and write a message.",
                                       fit_window=False)
            return
        if (n := len(self.text.toPlainText().strip())) > MAX_TEXT_LENGTH:
            # (refused after the dialog closed, the text went with it: a hunt)
            self.error_label.set_error(too_long_text(n), fit_window=False)
            return
        self.accept()


class InvitationBar(QFrame):
    """A yellow bar above the tabs with one line per invitation waiting for an answer:
    who invited you to which group, with Accept and Decline. Rebuilt from the engine's
    :class:`GroupModel` whenever its pending invitations change."""

    def __init__(self, engine: ClientEngine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.setObjectName("invitationBar")
        theme.follow_palette(self, self._apply_colors)
        self.setAccessibleName("Invitations")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(10, 6, 10, 6)
        self._layout.setSpacing(4)
        self._rows: dict[str, tuple[QWidget, QPushButton, QPushButton, QLabel]] = {}
        self._more: QLabel | None = None  # "… and N more invitations"
        self._parked: dict[str, int] = {}
        """Rows answered with the keyboard that hold the focus while their buttons are
        grey: which button had it (0 Accept, 1 Decline)."""
        engine.groups.pending_changed.connect(self.rebuild)
        engine.groups.modelReset.connect(self.rebuild)
        # An invited group's details change (someone accepted: its member count): the lines
        # say so, buttons kept (the count stayed at "1 member" beside the Groups list's
        # "20 members": a hunt).
        engine.groups.dataChanged.connect(self._refresh_texts)
        engine.group_failed.connect(self._on_failed)
        self.rebuild()

    def buttons(self, group: str) -> tuple[QPushButton, QPushButton] | None:
        """The (Accept, Decline) buttons of the invitation to ``group``, or None."""
        row = self._rows.get(name_key(group))
        return None if row is None else (row[1], row[2])

    def _apply_colors(self) -> None:
        c = theme.colors()
        self.setStyleSheet(f"#invitationBar {{ background: {c.warning_background.name()}; "
                           f"border-bottom: 1px solid {c.warning_border.name()}; }} "
                           f"#invitationBar QLabel {{ color: {c.warning_text.name()}; }}")

    MAX_ROWS = 2
    """Invitations shown with their buttons; more are summed up in one line (six took a third
    of the window), answered from the Groups list or here once the first are answered."""

    def rebuild(self) -> None:
        """Show the invitations waiting now. Rows of invitations still shown are kept as
        they are, buttons and all: a new invitation deleted every row, the focused button
        with it, and the keyboard focus went nowhere (a hunt). A row that goes while it
        holds the focus hands it to the same button of the first row left."""
        pending = self.engine.groups.pending()
        shown = pending[:self.MAX_ROWS]
        keep = {name_key(g.name) for g in shown}
        focus = QApplication.focusWidget()
        lost_focus: int | None = None  # 0 Accept, 1 Decline
        for key in [k for k in self._rows if k not in keep]:
            widget, _accept, decline, _label = self._rows.pop(key)
            parked = self._parked.pop(key, None)
            if focus is not None and (focus is widget or widget.isAncestorOf(focus)):
                lost_focus = parked if parked is not None else 1 if focus is decline else 0
            self._layout.removeWidget(widget)
            widget.hide()
            widget.deleteLater()
        if self._more is not None:
            self._layout.removeWidget(self._more)
            self._more.deleteLater()
            self._more = None
        if len(pending) > self.MAX_ROWS:
            rest = len(pending) - self.MAX_ROWS
            self._more = QLabel(f"… and {rest} more invitation{'s' if rest != 1 else ''}: "
                                "see the Groups list.", self)
            self._more.setAccessibleDescription("Invitation")
        for g in shown:
            key = name_key(g.name)
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = self._make_row(g)
            else:
                self._set_text(row[3], g)
                self._layout.removeWidget(row[0])  # (added again below, in today's order)
            self._layout.addWidget(row[0])
        if self._more is not None:
            self._layout.addWidget(self._more)
        self.setVisible(bool(pending))
        if lost_focus is not None and self._rows:
            next(iter(self._rows.values()))[1 + lost_focus].setFocus(
                Qt.FocusReason.OtherFocusReason)

    def _make_row(self, g: GroupRow) -> tuple[QWidget, QPushButton, QPushButton, QLabel]:
        """A line for the invitation to ``g``: its text, Accept and Decline."""
        row = QWidget(self)
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        label = QLabel(row)
        self._set_text(label, g)
        # Long names wrap inside the bar instead of widening the window.
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        label.setSizePolicy(policy)
        label.setWordWrap(True)
        label.setMinimumWidth(80)
        label.setAccessibleDescription("Invitation")
        accept = QPushButton("Accept", row)
        accept.setAccessibleName(f"Accept the invitation to {g.name}")
        decline = QPushButton("Decline", row)
        decline.setAccessibleName(f"Decline the invitation to {g.name}")
        accept.clicked.connect(lambda _c=False, n=g.name: self._answer(n, accept=True))
        decline.clicked.connect(lambda _c=False, n=g.name: self._answer(n, accept=False))
        h.addWidget(label, 1)
        h.addWidget(accept)
        h.addWidget(decline)
        return row, accept, decline, label

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize):
            self._fit_height()
        return handled

    def _fit_height(self) -> None:
        """Ask for the height the lines need at the bar's width: a line that wraps counted
        as one in the window's minimum size, so at that size the message box ran under the
        status bar and Attach / Send were squeezed (a hunt)."""
        layout = self.layout()
        if layout is None or not layout.hasHeightForWidth():
            needed = 0
        else:
            needed = layout.totalHeightForWidth(self.width())
        if needed != self.minimumHeight():
            self.setMinimumHeight(needed)

    def _answer(self, group: str, *, accept: bool) -> None:
        """Accept or decline the invitation to ``group``: its buttons go grey until the
        server answers (a double-click sent two answers, and the second was refused)."""
        self._set_enabled(group, False)
        sent = (self.engine.accept_invitation(group) if accept
                else self.engine.decline_invitation(group))
        if not sent:
            self._set_enabled(group, True)

    def _set_enabled(self, group: str, enabled: bool) -> None:
        """Grey out (or bring back) the buttons of the invitation to ``group``. A button
        answered with the keyboard leaves the focus on its row while it is grey (Qt passed
        it on to the next widget of the window, the contacts filter) and gets it back."""
        key = name_key(group)
        row = self._rows.get(key)
        if row is None:
            return
        focus = QApplication.focusWidget()
        if not enabled and focus in (row[1], row[2]):
            self._parked[key] = 1 if focus is row[2] else 0
            row[0].setFocus(Qt.FocusReason.OtherFocusReason)
        row[1].setEnabled(enabled)
        row[2].setEnabled(enabled)
        parked = self._parked.pop(key, None) if enabled else None
        if parked is not None and QApplication.focusWidget() is row[0]:
            row[1 + parked].setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_failed(self, op: str, group: str, _code: str, _message: str) -> None:
        """A refused (or unsent) answer: the invitation's buttons work again."""
        if op in ("accept", "decline"):
            self._set_enabled(group, True)

    @staticmethod
    def _set_text(label: QLabel, g: GroupRow) -> None:
        who = g.invited_by or "Someone"
        n = len(g.members)
        kind = "public" if g.public else "invite-only"
        members = f"{n} member{'s' if n != 1 else ''}"
        # (Names have no spaces: a long one could not wrap and was cut mid-letter.)
        label.setText(f"✉  <b>{html.escape(breakable_name(who))}</b> invited you to "
                      f"<b>{html.escape(breakable_name(g.name))}</b> ({kind}, {members})")
        label.setToolTip(plain_tooltip(f"{who} invited you to {g.name} ({kind}, {members})"))

    def _refresh_texts(self, *_args: object) -> None:
        for g in self.engine.groups.pending():
            row = self._rows.get(name_key(g.name))
            if row is not None:
                self._set_text(row[3], g)


class GroupConversationWidget(ConversationWidget):
    """A group's tab: the conversation, and on the right its members (leader marked, online
    state from the roster) with Invite…, Leave and — for the leader — Remove.

    Signals:
        invite_requested(str): the group's name (the window opens :class:`InviteDialog`).
    """

    invite_requested = Signal(str)

    def __init__(self, model: ConversationModel, engine: ClientEngine,
                 parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.engine = engine
        self.group = model.title
        self.left_here = False
        """This window asked to leave (not removed by the leader, nor never joined)."""
        self._member = False
        self.members = MembersModel(engine.groups, engine.roster, self.group, engine.user, self)
        panel = QWidget(self)
        panel.setObjectName("memberPanel")
        # 190 px when there is room; narrower (to 150) rather than hold the window wide.
        panel.setMinimumWidth(150)
        panel.setMaximumWidth(190)
        panel.setStyleSheet("#memberPanel { border-left: 1px solid palette(midlight); }")
        self.members_label = QLabel(panel)
        self.members_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        self.members_label.setStyleSheet("font-weight: bold; padding: 6px 4px 2px 4px;")
        self.info_label = QLabel(panel)
        self.info_label.setTextFormat(Qt.TextFormat.PlainText)  # (others' text: never rich)
        theme.secondary_text(self.info_label, "padding: 0 4px 4px 4px;")
        self.info_label.setWordWrap(True)
        self.members_view = QListView(panel)
        self.members_view.setModel(self.members)
        self.members_view.setItemDelegate(MemberDelegate(self.members_view))
        self.members_view.setAccessibleName(f"Members of {self.group}")
        self.members_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.members_view.setFrameShape(QFrame.Shape.NoFrame)
        # Every row is as high as the next (one line at the list's font): a presence change
        # (a row's dataChanged) made the list measure all of its rows again, one
        # MemberDelegate.sizeHint per member at each login of any of them (a hunt).
        self.members_view.setUniformItemSizes(True)
        self.invite_button = QPushButton("Invite…", panel)
        self.invite_button.setAccessibleName(f"Invite people to {self.group}")
        self.leave_button = QPushButton("Leave", panel)
        self.leave_button.setAccessibleName(f"Leave {self.group}")
        self.remove_button = QPushButton("Remove", panel)
        self.remove_button.setAccessibleName(f"Remove the selected member from {self.group}")
        self.remove_button.setToolTip("Leader only: remove the selected member")
        self.invite_button.clicked.connect(lambda: self.invite_requested.emit(self.group))
        self.leave_button.clicked.connect(self.leave)
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(4, 4, 4, 8)
        buttons.addWidget(self.invite_button)
        buttons.addWidget(self.leave_button)
        column = QVBoxLayout(panel)
        column.setContentsMargins(4, 0, 4, 0)
        column.setSpacing(2)
        column.addWidget(self.members_label)
        column.addWidget(self.info_label)
        column.addWidget(self.members_view, 1)
        column.addWidget(self.remove_button)
        column.addLayout(buttons)
        self.body.addWidget(panel)
        self.member_panel = panel
        # The header's "Members" button shows and hides the panel (it steps aside by itself
        # in a narrow tab: NARROW); the user's choice then holds.
        self.members_button = QToolButton(self.header)
        self.members_button.setText("Members")
        self.members_button.setCheckable(True)
        self.members_button.setAutoRaise(True)
        self.members_button.setToolTip("Show or hide the member list")
        self.members_button.setAccessibleName(f"Show the members of {self.group}")
        self.header.layout().addWidget(self.members_button)
        self._panel_choice: bool | None = None
        self.members_button.toggled.connect(self._on_members_toggled)
        self.members_view.selectionModel().selectionChanged.connect(self._update)
        self.members.modelReset.connect(self._update)
        self.members.dataChanged.connect(self._update)
        # Only its own group's row changing changes the panel: every group's unread count
        # redid every open group tab's panel (three look-ups in the whole group list each;
        # a hunt).
        engine.groups.dataChanged.connect(self._on_groups_changed)
        engine.groups.rowsInserted.connect(self._update)
        engine.groups.rowsRemoved.connect(self._update)
        engine.groups.modelReset.connect(self._update)
        self._update()

    NARROW = 520
    """Below this width (px) the member panel steps aside: it left about 160 px for the
    conversation in a narrow window (the header still says how many are in and online)."""

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_panel()

    def _on_members_toggled(self, on: bool) -> None:
        self._panel_choice = on
        self._place_panel()

    def _place_panel(self) -> None:
        show = self.width() >= self.NARROW if self._panel_choice is None \
            else self._panel_choice
        # Not a member (left, removed): no member list to show, no Invite or Leave.
        show = show and self._member
        self.members_button.setVisible(self._member)
        self.member_panel.setVisible(show)
        blocker = QSignalBlocker(self.members_button)
        self.members_button.setChecked(show)
        del blocker

    def is_leader(self) -> bool:
        row = self.engine.groups.group(self.group)
        return row is not None and row.member and \
            name_key(row.leader) == name_key(self.engine.user)

    def selected_member(self) -> str:
        rows = self.members_view.selectionModel().selectedRows()
        if not rows:
            return ""
        m = self.members.member(rows[0].row())
        return "" if m.me or m.invited else m.name

    def leave(self) -> bool:
        """Leave: ask first, then ask the server. True when the request went out."""
        if not confirm_leave(self, self.group, self.engine.groups.group(self.group),
                             self.engine.user):
            return False
        self.left_here = True
        return self.engine.leave_group(self.group, key=self.key)

    def remove_selected(self) -> bool:
        """Remove (leader only): ask first, then ask the server to remove the selected
        member. True when the request went out."""
        who = self.selected_member()
        if not who or not self.is_leader() or not confirm_remove(self, self.group, who):
            return False
        return self.engine.remove_from_group(self.group, who, key=self.key)

    _QUIET_GROUP_ROLES = frozenset({GroupModel.UnreadRole, Qt.ItemDataRole.ToolTipRole,
                                    Qt.ItemDataRole.AccessibleTextRole})

    def _on_groups_changed(self, top: QModelIndex, bottom: QModelIndex,
                           roles: Sequence[int] = ()) -> None:
        """Group rows ``top``…``bottom`` changed: the panel is redone when this group's row
        is among them, and more than its unread count changed."""
        if roles and self._QUIET_GROUP_ROLES.issuperset(roles):
            return
        row = self.engine.groups.row_of(self.group)
        if row is not None and top.row() <= row <= bottom.row():
            self._update()

    def _update(self, *args: object) -> None:
        row = self.engine.groups.group(self.group)
        member = row is not None and row.member
        count = len(row.members) if row is not None else 0
        self.members_label.setText(f"Members ({count})" if member else "Members")
        if row is None or not member:
            self.info_label.setText(NOT_MEMBER)
            self.info_label.setToolTip("")
        else:
            kind = "Public" if row.public else "Invite-only"
            # The panel is narrow: a long leader name is elided (…), whole in the tooltip.
            fm = self.info_label.fontMetrics()
            room = self.info_label.parentWidget().width() - 24
            whole = "you" if name_key(row.leader) == name_key(self.engine.user) \
                else row.leader
            leader = fm.elidedText(whole, Qt.TextElideMode.ElideRight,
                                   max(40, room - fm.horizontalAdvance("led by ")))
            self.info_label.setText(f"{kind} · led by {leader}")
            self.info_label.setToolTip(plain_tooltip(f"{kind} · led by {whole}"))
        if member and not self._member:
            self.left_here = False  # joined (again)
        changed = member != self._member
        self._member = member
        if changed and self.isVisible():  # (else at the first resize)
            self._place_panel()
        if member:
            self.set_writable(True)
            self.set_retry_blocked("")
        else:
            listed = row if row is not None else self.engine.directory.group(self.group)
            left = LEFT_GROUP if listed is not None and listed.public else LEFT_PRIVATE_GROUP
            former = self.engine.groups.former_row(self.group)
            if former is not None and former.ended:
                closed = ENDED_GROUP  # (nothing to join again)
            elif row is not None and row.pending:
                closed = INVITED_GROUP  # (not "its leader can invite you again")
            else:
                closed = left if self.left_here else NOT_MEMBER
            # (the reason over the closed box last: set_retry_blocked writes its own there
            # when it changes, and a single pass showed that one)
            self.set_retry_blocked("You are not a member of this group any more."
                                   if self.left_here else NOT_MEMBER)
            self.set_writable(False, closed)
        self.invite_button.setEnabled(self.engine.may_invite(self.group))
        self.leave_button.setEnabled(member)
        self.remove_button.setVisible(self.is_leader())
        self.remove_button.setEnabled(bool(self.selected_member()))
