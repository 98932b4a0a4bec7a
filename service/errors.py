"""Errors a user can meet; each message says what went wrong and what to do."""


class IcewatchError(Exception):
    """Base class for errors icewatch reports to the user."""


class UsageError(IcewatchError):
    """A command-line argument is malformed."""


class TableNotFoundError(IcewatchError):
    """The catalog has no such table."""


class NotAnIcebergTableError(IcewatchError):
    """The table exists but is not an Iceberg table."""


class CatalogUnavailableError(IcewatchError):
    """The catalog could not be reached or refused the request."""


class MetadataError(IcewatchError):
    """An Iceberg metadata file (manifest list or manifest) is missing or unreadable."""


class SettingsError(IcewatchError):
    """A setting has an invalid value."""
