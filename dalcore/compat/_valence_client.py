"""``etcd.Client`` and ``config``: what Valence's drivers were built on, backed by dalcore.

Valence's driver did ``self.client = etcd.Client(host=config.etcd_host, port=config.etcd_port)``
and then read and wrote JSON documents. Here ``Client`` is that same one-liner, and it offers
create / get / update / delete / list for any model, on whatever store dalcore is configured
with. Valence had one etcd per process; dalcore has one configuration per process, so:

* ``Client()`` (host None) uses dalcore's configuration as it is (``dalcore.configure(...)``,
  ``DALCORE_PERSISTENT`` or ``dalcore.toml``): memory, SQLite, etcd, ...
* ``Client(host=h, port=p)`` makes sure the persistent store is ``etcd://h:p``, reconfiguring
  dalcore when it uses anything else (the volatile cache then comes from the settings).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from dalcore import _layout, _runtime
from dalcore._lists import DataObjectList
from dalcore.compat._valence_fields import check
from dalcore.errors import UnknownFieldError

if TYPE_CHECKING:
    from dalcore.compat.valence import ModelBase

__all__ = ["Client", "Config", "config"]

M = TypeVar("M", bound="ModelBase")

DEFAULT_ETCD_PORT = 2379


@dataclasses.dataclass
class Config:
    """Valence's ``config.etcd_host`` / ``config.etcd_port``.

    None (the default) means "dalcore's configured store". Drivers read these as default
    arguments, i.e. when their module is imported: set them before that, or pass host/port.
    """

    etcd_host: str | None = None
    etcd_port: int | None = None


config = Config()


def _serves(host: str, port: int) -> bool:
    """Whether dalcore already uses this etcd member with keys at the root, as Valence had them.

    A store with a key prefix on the same member is not Valence's layout: its documents would
    land under the prefix, not at ``/pod_managers/<uuid>``.
    """
    current = _runtime.current_or_none()
    if current is None:
        return False
    config = getattr(current.store, "config", None)
    members = getattr(config, "members", ())
    return f"{host}:{port}" in members and not getattr(config, "prefix", "")


class Client:
    """A handle on the models' store, with Valence-style CRUD for any model class."""

    def __init__(self, host: str | None = None, port: int | None = None) -> None:
        self.host = host
        self.port = port
        if host is not None:
            port = DEFAULT_ETCD_PORT if port is None else int(port)
            if not _serves(host, port):
                bracketed = f"[{host}]" if ":" in host else host
                _runtime.configure(persistent=f"etcd://{bracketed}:{port}")

    def create(self, model: type[M], values: Mapping[str, Any]) -> M:
        """Store a new object; AlreadyExistsError if its uuid is taken (atomic, across processes).

        Without a ``uuid`` in ``values`` a new one is generated, as Valence's drivers did.
        """
        obj = model(**dict(values))
        obj.save()
        return obj

    def get(self, model: type[M], uuid: str) -> M:
        """The stored object; ObjectNotFoundError if there is none."""
        return model(uuid)

    def update(self, model: type[M], uuid: str, values: Mapping[str, Any]) -> M:
        """Change some fields of a stored object; ObjectNotFoundError if there is none."""
        obj = model(uuid)
        obj.update(values)
        return obj

    def delete(self, model: type[M], uuid: str) -> None:
        """Remove a stored object; ObjectNotFoundError if there is none."""
        model(uuid).delete()

    def list(
        self, model: type[M], filters: Mapping[str, Any] | None = None, **equal: Any
    ) -> list[M]:
        """Every stored object of ``model`` whose fields equal the filters, in key order.

        Filter values go through the field's validator first, so ``{'index': '3'}`` finds an
        Integer field holding 3. An unknown field is an UnknownFieldError, not an empty list.
        """
        wanted = {**(filters or {}), **equal}
        owner = model.__name__
        fields = model._valence_fields
        normalised: dict[str, Any] = {}
        for name, value in wanted.items():
            field = fields.get(name)
            if field is None:
                raise UnknownFieldError(
                    owner, name, f"is not a field to filter on; fields: {', '.join(fields)}"
                )
            normalised[name] = value if value is None else check(owner, name, field, value)
        rt = _runtime.runtime()
        prefix = _layout.prefix(rt, model._meta)
        cut = len(prefix)
        # Only direct children are objects; anything deeper is not ours (Valence never nested).
        guids = [key[cut:] for key in rt.store.keys(prefix) if "/" not in key[cut:]]
        found: list[M] = []
        for obj in DataObjectList(model, guids):
            state = obj.__dict__
            if all(state[name] == value for name, value in normalised.items()):
                found.append(obj)
        return found
