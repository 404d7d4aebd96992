"""One error family for the library: callers (API, CLI) map each kind to a status or exit code."""

from __future__ import annotations


class RagError(Exception):
    """Base of every error the library raises on purpose."""


class BadInputError(RagError, ValueError):
    """The request itself is unusable (bad filter, unknown mode, unreadable file)."""


class NotFoundError(RagError, LookupError):
    """The named document or chunk does not exist."""


class ConflictError(RagError, ValueError):
    """The request contradicts the index's state (e.g. a doc_id given twice)."""


class UnavailableError(RagError):
    """The service cannot take the request now (queue full, index busy); retrying later may work."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TimedOutError(UnavailableError):
    """The work did not finish within the request's time bound."""


class StorageFullError(RagError):
    """The disk holding the index has no room for a write (or a file size limit was reached); the write was
    not kept, what was committed before it stays, and reads go on."""
