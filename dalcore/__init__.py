"""dalcore: a data abstraction layer keeping a Python object model in key-value stores."""

from dalcore._plugins import open_persistent, open_volatile
from dalcore._url import BackendURL
from dalcore.errors import (
    AssertionFailedError,
    ConcurrencyError,
    ConfigurationError,
    CorruptDataError,
    DalcoreError,
    DefinitionError,
    DynamicError,
    InvalidURLError,
    KeyNotFoundError,
    LinkedObjectsError,
    LockTimeoutError,
    ObjectNotFoundError,
    RaceConditionError,
    StoreError,
    StoreUnavailableError,
    UnknownSchemeError,
    UnsupportedError,
    ValidationError,
)
from dalcore.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "AssertionFailedError",
    "BackendURL",
    "ConcurrencyError",
    "ConfigurationError",
    "CorruptDataError",
    "DalcoreError",
    "DefinitionError",
    "DynamicError",
    "InvalidURLError",
    "KeyNotFoundError",
    "LinkedObjectsError",
    "LockTimeoutError",
    "ObjectNotFoundError",
    "RaceConditionError",
    "StoreError",
    "StoreUnavailableError",
    "UnknownSchemeError",
    "UnsupportedError",
    "ValidationError",
    "hookimpl",
    "open_persistent",
    "open_volatile",
]
