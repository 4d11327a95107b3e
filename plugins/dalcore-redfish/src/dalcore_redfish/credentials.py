"""Where BMC credentials come from: an ordered registry of providers.

A provider is any callable ``provider(bmc) -> Credentials | None`` where ``bmc`` is the
normalised base URL (``https://10.0.0.5:443``). The first provider that answers wins. Built in:

* :class:`EnvironmentProvider` -- ``DALCORE_REDFISH_USERNAME`` / ``DALCORE_REDFISH_PASSWORD``;
* :class:`FileProvider` -- a JSON file mapping base URLs (or ``"*"``) to
  ``{"username": ..., "password": ...}``; it refuses files that others can read;
* any function you register with :func:`add_provider`.

When no provider is registered, the default chain is: the file named by
``DALCORE_REDFISH_CREDENTIALS_FILE`` (if set), then the environment variables.

Credentials live only in this process's memory: they are never written to the persistent store
or the volatile cache (dynamics cache values, not clients), and the password is a
:class:`Secret` whose ``repr``/``str`` is masked so it cannot slip into a log line or an
exception message by formatting.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

from dalcore import register_secret
from dalcore_redfish.errors import RedfishConfigurationError

__all__ = [
    "CredentialProvider",
    "Credentials",
    "EnvironmentProvider",
    "FileProvider",
    "Secret",
    "add_provider",
    "clear_providers",
    "lookup",
    "scrub",
]


class Secret:
    """A string that will not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        # Masked in every log record from now on, sushy's and urllib3's included.
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would be the one way to put it into a cache or a file without noticing.
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: Secret

    @classmethod
    def of(cls, username: str, password: str) -> Credentials:
        return cls(username, Secret(password))


CredentialProvider = Callable[[str], "Credentials | None"]

_INVALID = object()
_lock = threading.Lock()
_providers: list[CredentialProvider] = []
_known_secrets: set[str] = set()


def add_provider(provider: CredentialProvider, first: bool = False) -> None:
    """Register ``provider`` (asked after the ones already there, or before them if ``first``)."""
    with _lock:
        if first:
            _providers.insert(0, provider)
        else:
            _providers.append(provider)


def clear_providers() -> None:
    """Forget every registered provider (the default chain applies again)."""
    with _lock:
        _providers.clear()


def _default_chain() -> list[CredentialProvider]:
    chain: list[CredentialProvider] = []
    path = os.environ.get("DALCORE_REDFISH_CREDENTIALS_FILE")
    if path:
        chain.append(FileProvider(path))
    chain.append(EnvironmentProvider())
    return chain


def lookup(bmc: str) -> Credentials | None:
    """The credentials for ``bmc`` from the first provider that has some, or None (anonymous)."""
    with _lock:
        chain = list(_providers) or _default_chain()
    for provider in chain:
        found = provider(bmc)
        if found is not None:
            with _lock:
                _known_secrets.add(found.password.reveal())
            return found
    return None


def scrub(text: str) -> str:
    """``text`` with every password handed out so far replaced by ``***``.

    Error reasons are built from status codes and class names, not from server bodies, so this
    is a second line of defence: a BMC that echoes a password back cannot make it into a message.
    """
    with _lock:
        secrets = [secret for secret in _known_secrets if secret]
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class EnvironmentProvider:
    """Credentials from ``<PREFIX>_USERNAME`` and ``<PREFIX>_PASSWORD`` (same for every BMC)."""

    def __init__(self, prefix: str = "DALCORE_REDFISH") -> None:
        self.prefix = prefix

    def __call__(self, bmc: str) -> Credentials | None:
        username = os.environ.get(f"{self.prefix}_USERNAME")
        password = os.environ.get(f"{self.prefix}_PASSWORD")
        if username is None or password is None:
            return None
        return Credentials.of(username, password)

    def __repr__(self) -> str:
        return f"EnvironmentProvider({self.prefix!r})"


class FileProvider:
    """Credentials from a JSON file: ``{"https://host:port": {"username":..,"password":..}}``.

    The key ``"*"`` applies to every BMC not listed. The file is read on every lookup (lookups
    happen once per BMC connection, so rotating the file takes effect on reconnect). A file that
    group or others may read is refused: it would defeat keeping passwords out of the store.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, bmc: str) -> Credentials | None:
        try:
            mode = os.stat(self.path).st_mode
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise RedfishConfigurationError(
                f"cannot read credentials file {self.path}: {exc.strerror}"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise RedfishConfigurationError(
                f"credentials file {self.path} is accessible by group/others "
                f"(mode {stat.S_IMODE(mode):o}); chmod 600 it"
            )
        try:
            table = json.loads(text)
        except ValueError:
            # The decoder's error keeps the whole text (``.doc``): raising outside this block
            # keeps it from riding along as ``__context__``.
            table = _INVALID
        if table is _INVALID:
            raise RedfishConfigurationError(f"credentials file {self.path} is not valid JSON")
        if not isinstance(table, dict):
            raise RedfishConfigurationError(f"credentials file {self.path} is not a JSON object")
        entry = table.get(bmc.rstrip("/"), table.get("*"))
        if entry is None:
            return None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("username"), str)
            or not isinstance(entry.get("password"), str)
        ):
            raise RedfishConfigurationError(
                f"credentials file {self.path}: entry for {bmc} needs string username and password"
            )
        return Credentials.of(entry["username"], entry["password"])

    def __repr__(self) -> str:
        return f"FileProvider({self.path!r})"
