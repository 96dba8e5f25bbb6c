"""The app's engine without widgets: connection, pins, conversations and models.

QtCore + QtNetwork only; never imports QtWidgets or QtGui (the GUI talks to it through
signals and slots).
"""
