"""Credentials of a Valence pod manager, kept out of the stored document.

Valence stored ``authentication`` as given::

    [{"type": "basic", "auth_items": {"username": "admin", "password": "s3cret"}}]

so anyone able to read etcd (``etcdctl get --prefix /pod_managers``) read every BMC password.
Here the stored document holds a *reference* in place of each secret item (``password``,
``token``, ``secret``)::

    [{"type": "basic", "auth_items": {"username": "admin", "password_ref": "env:PODM_1_PASSWORD"}}]

A reference is ``<scheme>:<name>``; the provider registered for the scheme turns it back into the
secret (:func:`resolve_authentication`). A caller may give references directly. A plaintext
secret is handed, at save time, to the *default* provider, which keeps it and returns the
reference; with no default provider, saving a plaintext secret is refused. Built-in providers:
``env`` (read-only: the secret is the environment variable ``name``) and :class:`FileCredentials`
(one 0600 file per secret in a directory). Anything else (a keyring, Vault) is a small class with
``scheme``, ``resolve``, ``store`` and ``forget``.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import secrets
import threading
from typing import Any, Protocol

from dalcore import _secrets
from dalcore.errors import ValidationError

SECRET_ITEMS = ("password", "token", "secret")
_log = logging.getLogger("dalcore.valence")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


class CredentialError(ValidationError):
    """A credential could not be stored or resolved; never shows the secret itself."""

    def __init__(self, owner: str, field: str, message: str) -> None:
        super().__init__(owner, field, message, None)


class CredentialProvider(Protocol):
    """Where secrets live. ``store`` may refuse (read-only providers) with CredentialError."""

    scheme: str

    def resolve(self, name: str) -> str: ...

    def store(self, name: str, secret: str) -> str: ...

    def forget(self, name: str) -> None: ...


class EnvCredentials:
    """``env:NAME``: the secret is the environment variable NAME (read-only)."""

    scheme = "env"

    def resolve(self, name: str) -> str:
        value = os.environ.get(name)
        if value is None:
            raise CredentialError("credentials", f"env:{name}", "environment variable is not set")
        return value

    def store(self, name: str, secret: str) -> str:
        raise CredentialError(
            "credentials",
            "env",
            "environment variables are read-only: set one and pass its reference "
            "('password_ref': 'env:NAME')",
        )

    def forget(self, name: str) -> None:
        """Nothing to do: the environment is not ours to change."""


class FileCredentials:
    """``file:NAME``: the secret is the content of ``<directory>/NAME`` (mode 0600)."""

    scheme = "file"

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, name: str) -> str:
        if not _NAME.match(name):
            raise CredentialError("credentials", f"file:{name}", "not a valid secret file name")
        return os.path.join(self.directory, name)

    def resolve(self, name: str) -> str:
        try:
            with open(self._path(name), encoding="utf-8") as handle:
                return handle.read()
        except OSError as exc:
            raise CredentialError(
                "credentials", f"file:{name}", f"cannot read secret file: {exc.strerror}"
            ) from None

    def store(self, name: str, secret: str) -> str:
        path = self._path(name)
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            # O_EXCL: never overwrite a secret someone else stored under the same name.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secret)
        except OSError as exc:
            raise CredentialError(
                "credentials", f"file:{name}", f"cannot write secret file: {exc.strerror}"
            ) from None
        return name

    def forget(self, name: str) -> None:
        try:
            os.unlink(self._path(name))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CredentialError(
                "credentials", f"file:{name}", f"cannot remove secret file: {exc.strerror}"
            ) from None


_lock = threading.Lock()
_providers: dict[str, CredentialProvider] = {"env": EnvCredentials()}
_default: list[str | None] = [None]


def register_credential_provider(provider: CredentialProvider, default: bool = False) -> None:
    """Serve references ``<provider.scheme>:...``; ``default`` also makes it keep new secrets."""
    scheme = getattr(provider, "scheme", None)
    if not isinstance(scheme, str) or not scheme.isidentifier():
        raise CredentialError(
            "credentials", "scheme", f"provider scheme must be a word: {scheme!r}"
        )
    with _lock:
        _providers[scheme] = provider
        if default:
            _default[0] = scheme


def unregister_credential_provider(scheme: str) -> None:
    """Stop serving ``scheme`` (``env`` comes back as the built-in one)."""
    with _lock:
        _providers.pop(scheme, None)
        if _default[0] == scheme:
            _default[0] = None
        _providers.setdefault("env", EnvCredentials())


def _provider(ref: str, owner: str, field: str) -> tuple[CredentialProvider, str]:
    scheme, sep, name = ref.partition(":")
    with _lock:
        provider = _providers.get(scheme)
    if not sep or not name or provider is None:
        with _lock:
            known = ", ".join(sorted(_providers))
        raise CredentialError(
            owner, field, f"reference {ref!r} is not '<scheme>:<name>' of a known scheme ({known})"
        )
    return provider, name


def _secret_items(item: dict[str, Any]) -> dict[str, Any]:
    auth_items = item.get("auth_items")
    return auth_items if isinstance(auth_items, dict) else {}


def check_authentication(owner: str, field: str, items: Any) -> None:
    """Refuse malformed items and unknown reference schemes when the field is assigned."""
    if items is None:
        return
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            raise CredentialError(owner, where, f"expected a dict, got {type(item).__name__}")
        if "auth_items" in item and not isinstance(item["auth_items"], dict):
            raise CredentialError(owner, where + ".auth_items", "expected a dict")
        for key, value in _secret_items(item).items():
            if key.endswith("_ref") and key[:-4] in SECRET_ITEMS:
                if not isinstance(value, str):
                    raise CredentialError(owner, f"{where}.auth_items.{key}", "expected a string")
                _provider(value, owner, f"{where}.auth_items.{key}")
            elif key in SECRET_ITEMS and not isinstance(value, str):
                raise CredentialError(owner, f"{where}.auth_items.{key}", "expected a string")


_warned_plaintext = False


def _already_stored(stored: Any, index: int, key: str, value: Any) -> bool:
    """Whether ``stored`` (the document as read) holds this very plaintext secret already."""
    try:
        return bool(stored[index]["auth_items"].get(key) == value)
    except (IndexError, KeyError, TypeError, AttributeError):
        return False


def seal(
    owner: str, field: str, items: Any, hint: str, stored: Any = None
) -> tuple[Any, list[str]]:
    """``items`` with every plaintext secret replaced by a reference from the default provider.

    Returns the sealed copy and the references created (to forget if the save then fails).
    ``hint`` starts every created name, which is how :func:`owned` recognises them later.
    With no default provider, a plaintext secret that ``stored`` already holds (a document
    Valence wrote) is kept as it is, with a warning once per process, so that migrating data
    needs no provider; a new plaintext secret is still refused.
    """
    global _warned_plaintext
    if items is None:
        return None, []
    sealed = copy.deepcopy(items)
    created: list[str] = []
    try:
        for index, item in enumerate(sealed):
            auth_items = _secret_items(item)
            for key in SECRET_ITEMS:
                if key not in auth_items:
                    continue
                with _lock:
                    scheme = _default[0]
                    provider = None if scheme is None else _providers.get(scheme)
                where = f"{field}[{index}].auth_items.{key}"
                if provider is None and _already_stored(stored, index, key, auth_items[key]):
                    if not _warned_plaintext:
                        _warned_plaintext = True
                        _log.warning(
                            "%s.%s holds a plaintext secret, as Valence stored it; kept until a "
                            "credential provider is registered (dalcore.compat.valence."
                            "plaintext_credentials lists them)",
                            owner,
                            where,
                        )
                    continue
                if provider is None:
                    raise CredentialError(
                        owner,
                        where,
                        "refusing to store a plaintext secret; give "
                        f"'{key}_ref': 'env:NAME' or register a provider that keeps secrets "
                        "(register_credential_provider(FileCredentials(dir), default=True))",
                    )
                name = f"{hint}-{index}-{key}-{secrets.token_hex(4)}"
                stored = provider.store(name, auth_items.pop(key))
                ref = f"{provider.scheme}:{stored}"
                created.append(ref)
                auth_items[key + "_ref"] = ref
    except BaseException:
        forget(created)
        raise
    return sealed, created


def references(items: Any) -> set[str]:
    """Every reference in ``items``."""
    found: set[str] = set()
    for item in items or ():
        if isinstance(item, dict):
            for key, value in _secret_items(item).items():
                if key.endswith("_ref") and isinstance(value, str):
                    found.add(value)
    return found


def owned(refs: set[str], hint: str) -> list[str]:
    """The references among ``refs`` that :func:`seal` created for ``hint``'s object."""
    return sorted(ref for ref in refs if ref.partition(":")[2].startswith(hint + "-"))


def forget(refs: list[str]) -> None:
    for ref in refs:
        provider, name = _provider(ref, "credentials", ref)
        provider.forget(name)


def resolve_authentication(items: Any) -> list[dict[str, Any]]:
    """``authentication`` as Valence had it, secrets resolved: for the code that logs in."""
    resolved: list[dict[str, Any]] = copy.deepcopy(items or [])
    for index, item in enumerate(resolved):
        auth_items = _secret_items(item)
        for key in list(auth_items):
            if key.endswith("_ref") and key[:-4] in SECRET_ITEMS:
                where = f"authentication[{index}].auth_items.{key}"
                provider, name = _provider(auth_items[key], "credentials", where)
                auth_items[key[:-4]] = secret = provider.resolve(name)
                _secrets.register(secret)
                del auth_items[key]
    return resolved


def plaintext_paths(items: Any) -> list[str]:
    """Where ``items`` (an authentication list) holds a plaintext secret."""
    found = []
    for index, item in enumerate(items or ()):
        auth_items = item.get("auth_items") if isinstance(item, dict) else None
        if isinstance(auth_items, dict):
            found += [f"[{index}].auth_items.{key}" for key in SECRET_ITEMS if key in auth_items]
    return found
