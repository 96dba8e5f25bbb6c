"""The headless Messenger server (QtCore + QtNetwork only; never QtWidgets or QtGui)."""
