"""dalcore: a data abstraction layer keeping a Python object model in key-value stores."""

from dalcore._dataobject import DataObject, hybrid, register_hybrid
from dalcore._lists import DataObjectList
from dalcore._mutex import VolatileMutex
from dalcore._plugins import open_persistent, open_volatile
from dalcore._runtime import configure, runtime
from dalcore._structures import Dynamic, Property, Relation
from dalcore._url import BackendURL
from dalcore.errors import (
    AlreadyExistsError,
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
    UnknownFieldError,
    UnsupportedError,
    ValidationError,
)
from dalcore.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "DataObject",
    "DataObjectList",
    "Dynamic",
    "Property",
    "Relation",
    "UnknownFieldError",
    "VolatileMutex",
    "configure",
    "hybrid",
    "register_hybrid",
    "runtime",
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
