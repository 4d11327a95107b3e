"""OpenStack Valence's DB layer (``valence/db``) on the dalcore engine.

A Valence model is a class with a ``path`` (its etcd directory) and ``fields`` mapping each field
to ``{'validate': callable}``. Here every model class is also a dalcore hybrid whose properties
are generated from ``fields``, so an object is one JSON document at ``<path>/<uuid>`` (e.g.
``/pod_managers/<uuid>``, readable with ``etcdctl get --prefix /pod_managers``) and the engine
gives caching, atomic commits and typed errors. What changes compared with Valence:

* creating is atomic: a second object with the same uuid fails with AlreadyExistsError, even
  when two processes race (the commit asserts the key is absent);
* update / delete of a missing object raise ObjectNotFoundError; no bare ``Exception`` anywhere;
* a failed validation is a ValidationError (a ``ValueError``) naming ``Model.field`` and the value;
* a field declared with ``'credentials': True`` (PodManager.authentication) never stores a secret:
  see :mod:`dalcore.compat._credentials`;
* concurrent updates of different fields of one object merge instead of losing one of them.

The seed's example runs with only its imports changed::

    import six
    from dalcore.compat.valence import ModelBase, config, etcd, singleton, types

``base.ObjectBase`` (Valence's in-memory object with validated ``fields``) is here too.
"""

from __future__ import annotations

import datetime
import posixpath
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from dalcore import _layout
from dalcore._dataobject import DataObject
from dalcore._runtime import runtime
from dalcore._structures import Property
from dalcore.compat import _credentials
from dalcore.compat import _valence_base as base
from dalcore.compat import _valence_client as etcd
from dalcore.compat import _valence_singleton as singleton
from dalcore.compat import _valence_types as types
from dalcore.compat._credentials import (
    CredentialError,
    CredentialProvider,
    EnvCredentials,
    FileCredentials,
    register_credential_provider,
    resolve_authentication,
    unregister_credential_provider,
)
from dalcore.compat._valence_client import Client, config
from dalcore.compat._valence_fields import Field, check, compile_field
from dalcore.compat._valence_types import InvalidValueError
from dalcore.errors import (
    AlreadyExistsError,
    DefinitionError,
    ObjectNotFoundError,
    UnknownFieldError,
    ValidationError,
)

__all__ = [
    "TIMESTAMP_FORMAT",
    "AlreadyExistsError",
    "Client",
    "CredentialError",
    "CredentialProvider",
    "EnvCredentials",
    "FileCredentials",
    "InvalidValueError",
    "ModelBase",
    "ModelBaseWithTimeStamp",
    "ModelBaseWithTimestamp",
    "ObjectNotFoundError",
    "ValidationError",
    "base",
    "config",
    "etcd",
    "plaintext_credentials",
    "register_credential_provider",
    "resolve_authentication",
    "singleton",
    "types",
    "unregister_credential_provider",
]

#: Valence's timestamp format (``created_at`` / ``updated_at``), kept so its readers still parse.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def _absolute(path: str) -> str:
    """Valence's etcd v2 keys were all rooted: ``example_model`` meant ``/example_model``."""
    return "/" + path.strip("/")


class ModelBase(DataObject):
    """Base of Valence models: declare ``path`` and ``fields``; see the module docstring."""

    fields: ClassVar[dict[str, Any]] = {}
    _valence_fields: ClassVar[dict[str, Field]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        merged: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            own = klass.__dict__.get("fields")
            if isinstance(own, dict):
                merged.update(own)
        reserved = set(dir(ModelBase))
        compiled: dict[str, Field] = {}
        for name, spec in merged.items():
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                raise DefinitionError(f"{cls.__name__}: field name must be an identifier: {name!r}")
            if name in reserved:
                raise DefinitionError(f"{cls.__name__}.{name}: name is used by ModelBase")
            compiled[name] = compile_field(cls.__name__, name, spec)
        path = cls.__dict__.get("path")
        if isinstance(path, str) and path.strip("/"):
            cls.path = _absolute(path)
        elif "path" in cls.__dict__:
            raise DefinitionError(f"{cls.__name__}.path must be a non-empty string: {path!r}")
        cls.fields = merged
        cls._valence_fields = compiled
        properties = [
            Property(name, field.python_type, mandatory=False, doc=field.doc or field.type_name)
            for name, field in compiled.items()
        ]
        # The engine reads a hybrid's properties from its class-private ``__properties``.
        setattr(cls, f"_{cls.__name__.lstrip('_')}__properties", properties)
        super().__init_subclass__(**kwargs)

    # -- fields -------------------------------------------------------------------------------

    if TYPE_CHECKING:
        # Fields are declared in a dict, so a type checker cannot see them; at run time they
        # are plain instance attributes and this is never called.
        def __getattr__(self, name: str) -> Any: ...

    def __setattr__(self, name: str, value: Any) -> None:
        field = self._valence_fields.get(name)
        if field is not None:
            value = check(type(self).__name__, name, field, value)
            if name == "uuid":
                self._adopt_uuid(value)
        super().__setattr__(name, value)

    def _adopt_uuid(self, value: Any) -> None:
        """The uuid is the object's key (its guid): it must be a usable key segment."""
        state = self.__dict__
        owner = type(self).__name__
        if state["_rev"] is not None:
            if value != state["guid"]:
                raise ValidationError(owner, "uuid", "cannot change once stored", value)
            return
        if value is None:
            return  # a new uuid is given at save time
        if not isinstance(value, str) or not value or "/" in value:
            message = f"must be a non-empty string without '/': {value!r}"
            raise ValidationError(owner, "uuid", message, value)
        state["guid"] = value

    def __getitem__(self, key: str) -> Any:
        if key not in self._valence_fields:
            raise KeyError(key)
        return self.__dict__[key]

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set (not None), as an independent JSON-ready dict (as Valence)."""
        state = self.__dict__
        data = {name: state[name] for name in self._valence_fields if state[name] is not None}
        copied: dict[str, Any] = orjson.loads(orjson.dumps(data))
        return copied

    @classmethod
    def etcd_path(cls, sub_path: str) -> str:
        """The key of the object ``sub_path`` (Valence's spelling)."""
        return posixpath.normpath("/".join([cls.path, sub_path]))

    def _key(self) -> str:
        return _layout.prefix(runtime(), self._meta) + self.guid

    # -- writes ---------------------------------------------------------------------------------

    def _stamp(self, creating: bool) -> None:
        """Timestamps to set before a write (ModelBaseWithTimestamp)."""

    def _secret_hint(self) -> str:
        return f"{self._meta.keyspace.replace('/', '_')}-{self.guid}"

    def _credential_refs(self, doc: Mapping[str, Any] | None) -> set[str]:
        refs: set[str] = set()
        if doc is not None:
            for name, field in self._valence_fields.items():
                if field.credentials:
                    refs |= _credentials.references(doc.get(name))
        return refs

    def save(
        self,
        datastore_wins: Any = False,
        recursive: bool = False,
        skip: Iterable[str] | str | None = None,
    ) -> None:
        """Create the object, or write its changes; a new object with a taken uuid raises
        AlreadyExistsError, a stored one deleted meanwhile ObjectNotFoundError."""
        state = self.__dict__
        creating = state["_rev"] is None
        if "uuid" in self._valence_fields and state["uuid"] is None:
            state["uuid"] = state["guid"]
        self._stamp(creating)
        before = self._credential_refs(state["_orig"])
        owner, hint = type(self).__name__, self._secret_hint()
        plaintext: dict[str, Any] = {}
        created: list[str] = []
        try:
            for name, field in self._valence_fields.items():
                if field.credentials:
                    stored = (state["_orig"] or {}).get(name)
                    sealed, new = _credentials.seal(owner, name, state[name], hint, stored)
                    created += new
                    if new:
                        plaintext[name] = state[name]
                        state[name] = sealed
            super().save(datastore_wins)
        except BaseException:
            # Nothing was stored: drop the secrets kept for it, keep what the caller gave.
            _credentials.forget(created)
            state.update(plaintext)
            raise
        # A merge with a concurrent save may have kept the stored credentials over ours.
        dropped = (before | set(created)) - self._credential_refs(state)
        _credentials.forget(_credentials.owned(dropped, hint))

    def update(self, values: Mapping[str, Any]) -> None:
        """Set the given fields and write them (Valence's ``update``); all are validated first."""
        owner = type(self).__name__
        if self.__dict__["_rev"] is None:
            raise ObjectNotFoundError(owner, self.guid, self._key())
        for name, value in values.items():
            field = self._valence_fields.get(name)
            if field is None:
                raise UnknownFieldError(
                    owner, name, f"is not a field; fields: {', '.join(self._valence_fields)}"
                )
            check(owner, name, field, value)
        for name, value in values.items():
            setattr(self, name, value)
        self.save()

    def delete(
        self, abandon: Iterable[str] | None = None, cascade: Iterable[str] | None = None
    ) -> None:
        """Remove the stored object (ObjectNotFoundError if there is none) and its kept secrets."""
        stored = self.__dict__["_orig"]
        super().delete(abandon=abandon, cascade=cascade)
        hint = self._secret_hint()
        _credentials.forget(_credentials.owned(self._credential_refs(stored), hint))


def plaintext_credentials(*models: type[ModelBase]) -> list[tuple[str, str, str]]:
    """(model, uuid, field path) of every stored secret still in plaintext, as Valence wrote
    them: what registering a credential provider and saving each object again moves out."""
    found: list[tuple[str, str, str]] = []
    for model in models:
        credential_fields = [n for n, f in model._valence_fields.items() if f.credentials]
        if not credential_fields:
            continue
        for obj in model.all():
            for name in credential_fields:
                for path in _credentials.plaintext_paths(obj.__dict__[name]):
                    found.append((model.__name__, obj.guid, name + path))
    return found


def _utcnow() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime(TIMESTAMP_FORMAT)


class ModelBaseWithTimestamp(ModelBase):
    """A model with ``created_at`` (set when first stored) and ``updated_at`` (every change).

    Both are Text in Valence's format, ``2016-11-05 14:03:27 UTC``. A ``created_at`` given
    before the first save is kept (importing objects from an old Valence keeps their age).
    """

    fields = {
        "created_at": {"validate": types.Text.validate},
        "updated_at": {"validate": types.Text.validate},
    }

    def _stamp(self, creating: bool) -> None:
        state = self.__dict__
        if creating:
            now = _utcnow()
            if state["created_at"] is None:
                state["created_at"] = now
            state["updated_at"] = now
        elif self.dirty:
            state["updated_at"] = _utcnow()


#: Valence's own spelling of the class name.
ModelBaseWithTimeStamp = ModelBaseWithTimestamp
