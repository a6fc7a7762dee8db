"""Exceptions that carry enough context (file, row, config key) for a user to act on."""


class WeaklesionError(Exception):
    """Base class: a problem with the user's data or configuration, not a bug."""


class MissingFilesError(WeaklesionError):
    """Expected input files are absent; the message lists them and where they belong."""


class ChecksumError(WeaklesionError):
    """A file's size or checksum differs from its manifest entry."""


class BadImageError(WeaklesionError):
    """One source image or lesion cannot be used; recorded in excluded.csv when skipping."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self):
        # Keeps the two fields when the error travels back from a worker process.
        return type(self), (self.source, self.reason)


class ConfigError(WeaklesionError):
    """A config value is invalid in a way the JSON schema cannot express."""
