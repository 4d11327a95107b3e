"""dalcore: a data abstraction layer keeping a Python object model in key-value stores."""

from dalcore._datalist import DataList
from dalcore._dataobject import DataObject
from dalcore._lists import DataObjectList
from dalcore._mutex import PersistentMutex, VolatileMutex
from dalcore._plugins import open_persistent, open_volatile, register_plugin, unregister_plugin
from dalcore._query import Operator, WhereOperator
from dalcore._reindex import ReindexReport, reindex
from dalcore._runtime import Runtime, configure, open_runtime, runtime, unconfigure, using
from dalcore._schema import hybrid, register_hybrid, unregister_hybrid
from dalcore._secrets import install as _install_log_scrubbing
from dalcore._secrets import register as register_secret
from dalcore._secrets import scrub as scrub_secrets
from dalcore._structures import Dynamic, Property, Relation
from dalcore._transaction import transaction
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
    PluginConflictError,
    QueryError,
    RaceConditionError,
    StoreError,
    StoreUnavailableError,
    TransactionConflictError,
    UniqueConstraintError,
    UnknownFieldError,
    UnknownSchemeError,
    UnsupportedError,
    ValidationError,
)
from dalcore.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "AssertionFailedError",
    "BackendURL",
    "ConcurrencyError",
    "ConfigurationError",
    "CorruptDataError",
    "DalcoreError",
    "DataList",
    "DataObject",
    "DataObjectList",
    "DefinitionError",
    "Dynamic",
    "DynamicError",
    "InvalidURLError",
    "KeyNotFoundError",
    "LinkedObjectsError",
    "LockTimeoutError",
    "ObjectNotFoundError",
    "Operator",
    "PersistentMutex",
    "PluginConflictError",
    "Property",
    "QueryError",
    "RaceConditionError",
    "ReindexReport",
    "Relation",
    "Runtime",
    "StoreError",
    "StoreUnavailableError",
    "TransactionConflictError",
    "UniqueConstraintError",
    "UnknownFieldError",
    "UnknownSchemeError",
    "UnsupportedError",
    "ValidationError",
    "VolatileMutex",
    "WhereOperator",
    "configure",
    "hookimpl",
    "hybrid",
    "open_persistent",
    "open_runtime",
    "open_volatile",
    "register_hybrid",
    "register_plugin",
    "register_secret",
    "reindex",
    "runtime",
    "scrub_secrets",
    "transaction",
    "unconfigure",
    "unregister_hybrid",
    "unregister_plugin",
    "using",
]

# Secrets (URL passwords, credentials, auth headers) are masked in every log record, whichever
# library writes it: see dalcore/_secrets.py.
_install_log_scrubbing()
