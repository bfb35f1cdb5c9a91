"""Errors of the example API that end the process with a clear message."""

from __future__ import annotations


class SettingsError(ValueError):
    """A missing or malformed environment variable; the message names it and says how to fix it."""
