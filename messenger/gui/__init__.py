"""The desktop app's widgets: login dialog, main window, conversation views and delegates.

Widgets never touch sockets: they call :class:`messenger.client.engine.ClientEngine` and listen
to its signals.
"""
