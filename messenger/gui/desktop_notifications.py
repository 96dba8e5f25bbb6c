"""The desktop's notification service (freedesktop Desktop Notifications,
``org.freedesktop.Notifications`` on the session bus), wired thinly with QtDBus.

https://specifications.freedesktop.org/notification-spec/latest/ — ``Notify`` shows a pop-up
and returns its id (``replaces_id`` replaces an earlier one in place), ``CloseNotification``
takes one away; the service's ``ActionInvoked(id, action)`` says which pop-up was clicked
(action ``"default"``) and ``NotificationClosed(id, reason)`` that one is gone. Which pop-up
is about what, and where a notice goes, is decided in
:class:`messenger.client.notify.DesktopNotices`.

The calls are blocking (PySide6 can send the protocol's ``uint32`` arguments only through
an introspected :class:`QDBusInterface`, whose methods block), with a short timeout: a
desktop's service answers in a millisecond or two.
"""

from __future__ import annotations

import html
import logging
import os

from PySide6.QtCore import Q_ARG, Q_RETURN_ARG, SLOT, QMetaObject, QObject, Qt, Signal, Slot
from PySide6.QtDBus import QDBusConnection, QDBusInterface

from ..client.notify import DEFAULT_ACTION

log = logging.getLogger("messenger.gui.desktop_notifications")

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
APP_NAME = "Messenger"
ICON_NAME = "messenger"
"""The themed icon name (resources/icons/messenger.svg installed as "messenger", README)."""
DESKTOP_ENTRY = "messenger"
"""The desktop entry (resources/messenger.desktop) the desktop groups our pop-ups under."""
CALL_TIMEOUT_MS = 2000


def session_bus() -> QDBusConnection | None:
    """The user's session bus, when the environment names one (a Linux or BSD desktop
    session); None elsewhere (Windows, macOS, a console), where the tray icon pops up."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return None
    bus = QDBusConnection.sessionBus()
    return bus if bus.isConnected() else None


def service_body(text: str, markup: bool) -> str:
    """A pop-up's body as the service must get it: escaped where it reads markup
    (capability ``body-markup``: "Tom & Jerry" showed nothing, "<b>" turned text bold),
    as it is where it does not (it would show "&amp;")."""
    return html.escape(text, quote=False) if markup else text


class DesktopNotifications(QObject):
    """The notification service on ``bus`` (None: no bus, never available).

    Signals:
        action_invoked(int, str): ``(id, action)``, a pop-up's action was invoked
            (``"default"``: the pop-up was clicked). Any app's pop-up: check the id.
        closed(int): pop-up ``id`` is gone.
    """

    action_invoked = Signal(int, str)
    closed = Signal(int)

    def __init__(self, bus: QDBusConnection | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        self._iface: QDBusInterface | None = None
        self._markup = False
        if bus is not None:
            bus.connect(SERVICE, PATH, INTERFACE, "ActionInvoked", self,
                        SLOT("_on_action_invoked(uint,QString)"))
            bus.connect(SERVICE, PATH, INTERFACE, "NotificationClosed", self,
                        SLOT("_on_closed(uint,uint)"))

    def available(self) -> bool:
        """Whether the bus has the service (running, or started on the first call)."""
        if self._bus is None or not self._bus.isConnected():
            return False
        bus = self._bus.interface()
        registered = bus.isServiceRegistered(SERVICE)
        if registered.isValid() and registered.value():
            return True
        names = bus.activatableServiceNames()
        return names.isValid() and SERVICE in (names.value() or [])

    def notify(self, summary: str, body: str, *, replaces: int = 0) -> int:
        """Show a pop-up (replacing pop-up ``replaces``, if not 0); its id, or 0 when the
        service refused or did not answer."""
        iface = self._interface()
        if iface is None:
            return 0
        hints = {"desktop-entry": DESKTOP_ENTRY, "category": "im.received"}
        try:
            nid = QMetaObject.invokeMethod(
                iface, "Notify", Qt.ConnectionType.DirectConnection, Q_RETURN_ARG("uint"),
                Q_ARG(str, APP_NAME), Q_ARG("uint", replaces), Q_ARG(str, ICON_NAME),
                Q_ARG(str, summary), Q_ARG(str, service_body(body, self._markup)),
                Q_ARG("QStringList", [DEFAULT_ACTION, "Open"]), Q_ARG("QVariantMap", hints),
                Q_ARG(int, -1))
        except RuntimeError:
            nid = 0
        if not nid:
            log.warning("the notification service did not show a pop-up: %s",
                        iface.lastError().message())
            self._iface = None  # (introspected again next time: it may have restarted)
            return 0
        return int(nid)

    def close(self, nid: int) -> None:
        """Take pop-up ``nid`` away (it was read)."""
        iface = self._interface()
        if iface is None:
            return
        try:
            QMetaObject.invokeMethod(iface, "CloseNotification",
                                     Qt.ConnectionType.DirectConnection, Q_ARG("uint", nid))
        except RuntimeError:
            log.debug("could not close pop-up %d: %s", nid, iface.lastError().message())

    def _interface(self) -> QDBusInterface | None:
        if self._iface is not None:
            return self._iface
        if self._bus is None:
            return None
        iface = QDBusInterface(SERVICE, PATH, INTERFACE, self._bus)
        iface.setTimeout(CALL_TIMEOUT_MS)
        meta = iface.metaObject()
        if not iface.isValid() or meta.indexOfMethod(
                "Notify(QString,uint,QString,QString,QString,QStringList,QVariantMap,int)") < 0:
            log.warning("no usable notification service: %s", iface.lastError().message())
            return None
        caps = iface.call("GetCapabilities")
        args = caps.arguments()
        self._markup = bool(args) and "body-markup" in (args[0] or [])
        self._iface = iface
        return iface

    @Slot("uint", str)
    def _on_action_invoked(self, nid: int, action: str) -> None:
        self.action_invoked.emit(int(nid), action)

    @Slot("uint", "uint")
    def _on_closed(self, nid: int, _reason: int) -> None:
        self.closed.emit(int(nid))
