"""Every error dalcore raises. All derive from :class:`DalcoreError`; none is a bare Exception."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dalcore import _secrets


class DalcoreError(Exception):
    """Base class of every dalcore error."""


# -- stores and caches --------------------------------------------------------------------


class StoreError(DalcoreError):
    """A persistent store or volatile cache could not do what was asked."""


class KeyNotFoundError(StoreError, LookupError):
    """The key is not in the store."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key!r}")
        self.key = key


class AssertionFailedError(StoreError):
    """A transaction was not applied because one of its checks did not hold.

    ``failed`` lists the checks that failed (as far as the backend can tell; some backends only
    know that at least one failed, and then list all of them).
    """

    def __init__(self, failed: Sequence[Any]) -> None:
        shown = ", ".join(repr(check) for check in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        super().__init__(f"transaction not applied, check failed: {shown}{more}")
        self.failed = list(failed)


class StoreUnavailableError(StoreError, ConnectionError):
    """The backend at ``endpoint`` could not be reached; ``cause`` is what the client said."""

    def __init__(self, endpoint: str, cause: BaseException | str) -> None:
        super().__init__(f"store unavailable at {endpoint}: {cause}")
        self.endpoint = endpoint
        self.cause = cause


class CorruptDataError(StoreError):
    """Stored data under ``key`` cannot be understood (``field`` names the part, if known)."""

    def __init__(self, key: str, reason: str, field: str | None = None) -> None:
        where = f"{key!r}" if field is None else f"{key!r}, field {field!r}"
        super().__init__(f"corrupt data at {where}: {reason}")
        self.key = key
        self.field = field
        self.reason = reason


class UnsupportedError(StoreError, NotImplementedError):
    """The backend does not offer an optional capability (``watch``, ``lock``)."""

    def __init__(self, backend: str, capability: str) -> None:
        super().__init__(f"{backend} does not support {capability!r}")
        self.backend = backend
        self.capability = capability


# -- configuration ------------------------------------------------------------------------


class ConfigurationError(DalcoreError, ValueError):
    """dalcore was configured with something it cannot use."""


class InvalidURLError(ConfigurationError):
    """A backend URL is malformed."""

    def __init__(self, url: str, reason: str) -> None:
        # The URL as written may carry a password (user:pw@host): never show it.
        url = _secrets.scrub(url)
        super().__init__(f"invalid backend URL {url!r}: {reason}")
        self.url = url
        self.reason = reason


class UnknownSchemeError(ConfigurationError):
    """No installed plugin serves the URL's scheme."""

    def __init__(self, kind: str, scheme: str, installed: Iterable[str], hint: str | None) -> None:
        self.kind = kind
        self.scheme = scheme
        self.installed = sorted(installed)
        self.hint = hint
        message = (
            f"no {kind} backend for scheme {scheme!r}; installed: "
            f"{', '.join(self.installed) or 'none'}"
        )
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class PluginConflictError(ConfigurationError):
    """Two plugins serve one URL scheme; neither is chosen silently."""

    def __init__(self, kind: str, scheme: str, plugins: Sequence[str]) -> None:
        self.kind = kind
        self.scheme = scheme
        self.plugins = list(plugins)
        super().__init__(
            f"{kind} scheme {scheme!r} is served by several plugins: "
            f"{', '.join(repr(p) for p in self.plugins)}; uninstall one, or choose with "
            f"dalcore.register_plugin(<module>, replace=[<the other>])"
        )


# -- the object model ---------------------------------------------------------------------


class DefinitionError(DalcoreError, TypeError):
    """A hybrid class is declared wrongly (raised when the class is created)."""


class ValidationError(DalcoreError, ValueError, TypeError):
    """A value does not fit the declared type of ``Class.field``.

    Both a ValueError and a TypeError: the original DAL raised TypeError for a refused value,
    and code written for it catches that."""

    def __init__(self, owner: str, field: str, message: str, value: Any = None) -> None:
        super().__init__(f"{owner}.{field}: {message}")
        self.owner = owner
        self.field = field
        self.value = value


class UnknownFieldError(DalcoreError, AttributeError):
    """An attribute that is not a settable field of the hybrid was assigned."""

    def __init__(self, owner: str, field: str, message: str) -> None:
        super().__init__(f"{owner}.{field}: {message}")
        self.owner = owner
        self.field = field


class AlreadyExistsError(DalcoreError):
    """A new object was saved under a guid (or unique value) that is already stored."""

    def __init__(self, owner: str, guid: str, key: str) -> None:
        super().__init__(f"{owner} {guid!r} already exists (key {key!r})")
        self.owner = owner
        self.guid = guid
        self.key = key


class UniqueConstraintError(AlreadyExistsError):
    """Another object already has this value of a ``unique`` property."""

    def __init__(self, owner: str, field: str, value: Any, holder: str) -> None:
        DalcoreError.__init__(
            self, f"{owner}.{field} must be unique: {value!r} is already used by {holder!r}"
        )
        self.owner = owner
        self.field = field
        self.value = value
        self.guid = holder
        self.key = ""


class QueryError(DalcoreError, ValueError):
    """A query is malformed: unknown field, wrong operator or a value of the wrong type."""


class ObjectNotFoundError(KeyNotFoundError):
    """No stored object of this class has this guid."""

    def __init__(self, owner: str, guid: str, key: str) -> None:
        StoreError.__init__(self, f"{owner} {guid!r} not found (key {key!r})")
        self.key = key
        self.owner = owner
        self.guid = guid


class ConcurrencyError(DalcoreError):
    """A field was changed both here and in the store since this object was loaded.

    Raised by ``save()`` when ``datastore_wins`` is None; ``conflicts`` maps each field to
    ``(local value, stored value)``.
    """

    def __init__(self, owner: str, guid: str, conflicts: dict[str, tuple[Any, Any]]) -> None:
        fields = ", ".join(sorted(conflicts))
        super().__init__(f"{owner} {guid!r}: changed locally and in the store: {fields}")
        self.owner = owner
        self.guid = guid
        self.conflicts = conflicts


class TransactionConflictError(ConcurrencyError):
    """A transaction was not applied because ``obj`` changed (or a check on it failed)."""

    def __init__(self, owner: str, guid: str, reason: str) -> None:
        DalcoreError.__init__(self, f"transaction aborted: {owner} {guid!r}: {reason}")
        self.owner = owner
        self.guid = guid
        self.conflicts = {}
        self.reason = reason


class RaceConditionError(DalcoreError):
    """A save kept losing to concurrent writers and gave up after its retries."""

    def __init__(self, owner: str, guid: str, attempts: int) -> None:
        super().__init__(f"{owner} {guid!r}: save lost {attempts} races in a row; not saved")
        self.owner = owner
        self.guid = guid
        self.attempts = attempts


class LinkedObjectsError(DalcoreError):
    """An object cannot be deleted while other objects still point at it."""

    def __init__(self, owner: str, guid: str, relations: dict[str, int]) -> None:
        shown = ", ".join(f"{name} ({count})" for name, count in sorted(relations.items()))
        super().__init__(
            f"{owner} {guid!r} still has linked objects in {shown}; "
            "pass abandon=[...] or cascade=[...] to delete it"
        )
        self.owner = owner
        self.guid = guid
        self.relations = relations


class DynamicError(DalcoreError):
    """Computing the dynamic ``Class.name`` of one object failed; ``__cause__`` says why."""

    def __init__(self, owner: str, guid: str, name: str, reason: str) -> None:
        super().__init__(f"{owner}.{name} of {guid!r}: {reason}")
        self.owner = owner
        self.guid = guid
        self.name = name
        self.reason = reason


class LockTimeoutError(DalcoreError, TimeoutError):
    """A mutex could not be acquired within the allowed wait."""

    def __init__(self, name: str, waited: float) -> None:
        super().__init__(f"could not acquire lock {name!r} within {waited:.3g}s")
        self.name = name
        self.waited = waited


class MissingToolError(DalcoreError):
    """An external program a command needs is not installed (e.g. Graphviz ``dot``)."""

    def __init__(self, program: str, package: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the program {program!r}, which is not installed "
            f"(Debian/Ubuntu package {package!r}: apt-get install {package})"
        )
        self.program = program
        self.package = package
