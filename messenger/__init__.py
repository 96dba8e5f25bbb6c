"""Messenger: a desktop messenger for LANs (Qt 6 app) and its headless server."""

__version__ = "0.1.0"
APP_NAME = "messenger"
