"""One exception root for the whole package.

    SafeReportError
    ├── ConfigError          configuration missing, invalid, or unsafe (a key file others read)
    ├── InstanceError        the data directory: exists already, missing, read-only, corrupt
    ├── StorageError         the database cannot be reached or used
    ├── InvalidInput         input from a person or a file that we refuse, with a clear reason
    │   └── NotFound         what it names does not exist, or is not held by the one asking
    ├── PolicyError          a policy set or custom regime that does not validate
    ├── AccessDenied         the guard said no (the denial is already in the ledger)
    ├── VaultError           one opaque error for every failure to open or seal
    └── LedgerError          the log is inconsistent, a proof does not verify, a signature fails

Third-party exceptions are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "ConfigError",
    "InstanceError",
    "InvalidInput",
    "LedgerError",
    "NotFound",
    "PolicyError",
    "SafeReportError",
    "StorageError",
    "VaultError",
]


class SafeReportError(Exception):
    """Root of every error safereport raises on purpose."""


class ConfigError(SafeReportError):
    """Configuration is missing, invalid, or unsafe."""


class InstanceError(SafeReportError):
    """The instance's data directory cannot be used as asked."""


class StorageError(SafeReportError):
    """The database cannot be reached or used."""


class InvalidInput(SafeReportError):
    """Input we refuse, with a reason a person can act on."""


class NotFound(InvalidInput):
    """What the input names (a case, a package, an ask) does not exist for the one asking.

    Another organisation's thing reads the same as a missing one (no probing across
    organisations); a page shows it as "not found" (HTTP 404), other refused input as 400.
    """


class PolicyError(SafeReportError):
    """A policy set or custom regime is invalid."""


class AccessDenied(SafeReportError):
    """The guard denied an access; the denial has been recorded."""

    def __init__(self, message: str, *, rules: tuple[str, ...] = (), reasons: tuple[str, ...] = ()):
        super().__init__(message)
        self.rules = rules
        self.reasons = reasons


class VaultError(SafeReportError):
    """Opaque: a field could not be opened or sealed. Never says why."""

    def __init__(self, message: str = "the protected data could not be opened") -> None:
        super().__init__(message)


class LedgerError(SafeReportError):
    """The log is inconsistent, a proof fails, or a signature does not verify."""
