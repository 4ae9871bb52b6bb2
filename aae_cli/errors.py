"""User-facing errors: each one is printed as a single line by the CLI, with a non-zero exit."""

from __future__ import annotations


class AAEError(Exception):
    """Something the user can fix: the message says what is wrong and what to do."""


class DataError(AAEError):
    """A dataset is missing, corrupt, of the wrong shape, or unknown."""


class ConfigError(AAEError):
    """An impossible or unknown setting."""


class CheckpointError(AAEError):
    """A checkpoint file is missing, truncated, foreign or of an unsupported version."""
