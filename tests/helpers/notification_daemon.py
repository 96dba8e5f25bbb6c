"""A stand-in for the desktop's notification daemon (freedesktop Desktop Notifications,
``org.freedesktop.Notifications``), run as its own process on a private bus:
``python notification_daemon.py ADDRESS [DELAY]``: with DELAY (seconds), each ``Notify``
answers only that long after it came, as a hung daemon does.

It records each ``Notify`` and ``CloseNotification`` call and answers with a new id. Tests
drive it through ``/control`` (interface ``test.NotificationDaemon``): ``Calls()`` returns
the calls so far as JSON (``{"method": "Notify", "app_name": …}`` and ``{"method":
"CloseNotification", "id": …}``); ``Click(id)`` emits ``ActionInvoked(id, "default")``, as
a click on the pop-up does, then ``NotificationClosed(id, 2)``.
"""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import ClassInfo, QCoreApplication, QObject, Signal, Slot
from PySide6.QtDBus import QDBusConnection

SERVICE = "org.freedesktop.Notifications"


@ClassInfo({"D-Bus Interface": "org.freedesktop.Notifications"})
class Daemon(QObject):
    """The service's methods and signals, as the specification names them."""

    ActionInvoked = Signal("uint", str)
    NotificationClosed = Signal("uint", "uint")

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.calls: list[dict] = []
        self.next_id = 0
        self.delay = delay

    @Slot(str, "uint", str, str, str, "QStringList", "QVariantMap", int, result="uint")
    def Notify(self, app_name, replaces_id, app_icon, summary, body, actions, hints,
               expire_timeout):
        if self.delay:
            time.sleep(self.delay)  # (hung: nothing else is answered meanwhile either)
        self.calls.append({"method": "Notify", "app_name": app_name,
                           "replaces_id": int(replaces_id), "app_icon": app_icon,
                           "summary": summary, "body": body, "actions": list(actions),
                           "hints": {k: str(v) for k, v in dict(hints).items()},
                           "expire_timeout": expire_timeout})
        if replaces_id:
            return replaces_id
        self.next_id += 1
        return self.next_id

    @Slot("uint")
    def CloseNotification(self, nid):
        self.calls.append({"method": "CloseNotification", "id": int(nid)})
        self.NotificationClosed.emit(nid, 3)

    @Slot(result="QStringList")
    def GetCapabilities(self):
        return ["actions", "body", "body-markup"]

    @Slot(result="QStringList")
    def GetServerInformation(self):  # (a list here: enough for the app)
        return ["stand-in", "tests", "0", "1.2"]


@ClassInfo({"D-Bus Interface": "test.NotificationDaemon"})
class Control(QObject):
    """What the tests call."""

    def __init__(self, daemon: Daemon) -> None:
        super().__init__()
        self.daemon = daemon

    @Slot(result=str)
    def Calls(self):
        return json.dumps(self.daemon.calls)

    @Slot(int)
    def Click(self, nid):
        self.daemon.ActionInvoked.emit(nid, "default")
        self.daemon.NotificationClosed.emit(nid, 2)


def main() -> None:
    app = QCoreApplication(sys.argv[:1])
    bus = QDBusConnection.connectToBus(sys.argv[1], "daemon")
    daemon = Daemon(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
    control = Control(daemon)
    export = QDBusConnection.RegisterOption.ExportAllSlots \
        | QDBusConnection.RegisterOption.ExportAllSignals
    if not (bus.registerObject("/org/freedesktop/Notifications", daemon, export)
            and bus.registerObject("/control", control, export)
            and bus.registerService(SERVICE)):
        sys.exit(f"cannot register on {sys.argv[1]}: {bus.lastError().message()}")
    sys.exit(app.exec())


if __name__ == "__main__":
    main()
