"""Errors a user can cause: the CLI prints them without a traceback and exits non-zero."""

from __future__ import annotations


class SpladeforgeError(Exception):
    """A problem with the user's input, configuration or environment.

    The message names the file, line or config key at fault and what would be accepted.
    """


class ConfigError(SpladeforgeError):
    """Invalid `params.yaml`, preset or command-line override."""


class InputError(SpladeforgeError):
    """An input file or folder that cannot be used (missing, empty, malformed)."""
