"""What a dynamic reads from a BMC: declared as ``Dynamic(..., source=<one of these>)``.

A source locates its resource from the object's own properties: ``address`` names the
attribute holding the BMC URL and ``system_id`` the one holding the ComputerSystem id (or its
full ``/redfish/v1/Systems/...`` path). Either may be a dotted path through a relation, so a
system behind a pod manager can say ``address="pod_manager.url"``.

Sources are frozen dataclasses: the hybrid declaration is their only configuration, and they
never hold a client or a credential. This module does not import sushy; the client layer loads
on the first read, so merely having the plugin installed costs other dalcore users nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dalcore_redfish.errors import (
    BMCAuthenticationError,
    BMCCertificateError,
    BMCUnreachableError,
    MalformedResponseError,
    RedfishConfigurationError,
    RedfishError,
)

if TYPE_CHECKING:
    from dalcore_redfish.client import BMCClient

__all__ = [
    "RedfishSource",
    "ServiceRootAttribute",
    "ServiceRootStatus",
    "SystemAttribute",
    "SystemNICs",
    "attribute_path",
    "bound_sources",
    "service_root_attribute",
    "service_root_status",
    "system_attribute",
    "system_nics",
    "system_path",
]

SYSTEMS = "/redfish/v1/Systems/"
ROOT = "/redfish/v1/"
_MISSING = object()


def attribute_path(obj: Any, path: str) -> Any:
    """``obj.a.b`` for ``path == "a.b"`` (relations load on the way)."""
    value = obj
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _who(obj: Any) -> tuple[str, str]:
    return type(obj).__name__, str(getattr(obj, "guid", "?"))


def _property(obj: Any, path: str, meaning: str) -> str:
    owner, guid = _who(obj)
    try:
        value = attribute_path(obj, path)
    except AttributeError:
        raise RedfishConfigurationError(
            f"{owner} {guid!r}: has no {path!r}, which should hold the {meaning}"
        ) from None
    if not isinstance(value, str) or not value:
        raise RedfishConfigurationError(f"{owner} {guid!r}: {path!r} ({meaning}) is not set")
    return value


def system_path(system_id: str) -> str:
    """The resource path of a ComputerSystem given its id or its full path."""
    if system_id.startswith("/"):
        return system_id
    return SYSTEMS + quote(system_id, safe="")


def _dig(document: dict[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = document
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


# Which dynamics of which hybrid read a system through which source; reset() uses it to find
# the BMC and to know what to invalidate.
_bound_lock = threading.Lock()
_bound: dict[type, dict[str, RedfishSource]] = {}


def bound_sources(hybrid: type) -> dict[str, RedfishSource]:
    """Dynamic name -> source for every Redfish dynamic of ``hybrid`` and its bases."""
    found: dict[str, RedfishSource] = {}
    with _bound_lock:
        for klass in reversed(hybrid.__mro__):
            found.update(_bound.get(klass, {}))
    return found


@dataclass(frozen=True)
class RedfishSource:
    """Base of every source: where the BMC address is, and how to turn a read into a loader."""

    address: str

    def resource(self, obj: Any) -> str:
        raise NotImplementedError

    def read(self, client: BMCClient, obj: Any) -> Any:
        raise NotImplementedError

    def bind(self, hybrid: type, name: str) -> Callable[[Any], Any]:
        """The loader the engine calls as ``loader(obj)``; errors come out typed and named."""
        with _bound_lock:
            _bound.setdefault(hybrid, {})[name] = self

        def load(obj: Any) -> Any:
            from dalcore_redfish.client import client_for, discard

            client = client_for(_property(obj, self.address, "BMC address"))
            try:
                return self.read(client, obj)
            except BMCAuthenticationError as exc:
                # Maybe the password was rotated: the next read asks the providers again.
                discard(client)
                raise exc.about(*_who(obj)) from None
            except RedfishError as exc:
                raise exc.about(*_who(obj)) from None

        load.__name__ = f"redfish_{name}"
        load.__qualname__ = f"{hybrid.__name__}.{load.__name__}"
        return load


@dataclass(frozen=True)
class SystemAttribute(RedfishSource):
    """One attribute (a key path such as ``("Status", "Health")``) of a ComputerSystem.

    An attribute the BMC does not report reads as ``default`` unless ``required``, in which
    case it is a :class:`MalformedResponseError`.
    """

    keys: tuple[str, ...] = ()
    system_id: str = "system_id"
    required: bool = False
    default: Any = None

    def resource(self, obj: Any) -> str:
        return system_path(_property(obj, self.system_id, "system id"))

    def read(self, client: BMCClient, obj: Any) -> Any:
        path = self.resource(obj)
        value = _dig(client.get_json(path), self.keys)
        if value is _MISSING:
            if self.required:
                raise MalformedResponseError(
                    client.bmc, path, f"attribute {'.'.join(self.keys)} is missing"
                )
            return self.default
        return value


@dataclass(frozen=True)
class SystemNICs(RedfishSource):
    """The MAC addresses of a system's EthernetInterfaces, sorted (1 + 1 + n requests)."""

    system_id: str = "system_id"

    def resource(self, obj: Any) -> str:
        return system_path(_property(obj, self.system_id, "system id"))

    def read(self, client: BMCClient, obj: Any) -> Any:
        path = self.resource(obj)
        collection = _dig(client.get_json(path), ("EthernetInterfaces", "@odata.id"))
        if collection is _MISSING:
            return []
        if not isinstance(collection, str):
            raise MalformedResponseError(client.bmc, path, "EthernetInterfaces link is not a path")
        members = _dig(client.get_json(collection), ("Members",))
        if not isinstance(members, list):
            raise MalformedResponseError(client.bmc, collection, "Members is not a list")
        macs: list[str] = []
        for member in members:
            link = member.get("@odata.id") if isinstance(member, dict) else None
            if not isinstance(link, str):
                raise MalformedResponseError(client.bmc, collection, "member without @odata.id")
            mac = client.get_json(link).get("MACAddress")
            if isinstance(mac, str):
                macs.append(mac.lower())
        return sorted(macs)


@dataclass(frozen=True)
class ServiceRootStatus(RedfishSource):
    """``"Online"`` when the service root answers as a Redfish root, ``"Offline"`` when the BMC
    cannot be reached (Valence's pod manager statuses). A certificate that does not verify, or an
    answer that is not a service root, is an error rather than a status."""

    def resource(self, obj: Any) -> str:
        return ROOT

    def read(self, client: BMCClient, obj: Any) -> Any:
        try:
            document = client.get_json(ROOT)
        except BMCCertificateError:
            raise
        except BMCUnreachableError:
            return "Offline"
        if "RedfishVersion" not in document and "@odata.id" not in document:
            raise MalformedResponseError(client.bmc, ROOT, "not a Redfish service root")
        return "Online"


@dataclass(frozen=True)
class ServiceRootAttribute(RedfishSource):
    """One attribute of the service root (``RedfishVersion``, ``UUID``, ``Product``...)."""

    keys: tuple[str, ...] = ()

    def resource(self, obj: Any) -> str:
        return ROOT

    def read(self, client: BMCClient, obj: Any) -> Any:
        value = _dig(client.get_json(ROOT), self.keys)
        return None if value is _MISSING else value


def _keys(attribute: str) -> tuple[str, ...]:
    keys = tuple(attribute.split("."))
    if not all(keys):
        raise RedfishConfigurationError(f"bad Redfish attribute path {attribute!r}")
    return keys


def system_attribute(
    attribute: str,
    *,
    address: str = "bmc_address",
    system_id: str = "system_id",
    required: bool = False,
    default: Any = None,
) -> SystemAttribute:
    """Read ``attribute`` (dotted: ``"MemorySummary.TotalSystemMemoryGiB"``) of the system."""
    return SystemAttribute(address, _keys(attribute), system_id, required, default)


def system_nics(*, address: str = "bmc_address", system_id: str = "system_id") -> SystemNICs:
    return SystemNICs(address, system_id)


def service_root_status(*, address: str = "url") -> ServiceRootStatus:
    return ServiceRootStatus(address)


def service_root_attribute(attribute: str, *, address: str = "url") -> ServiceRootAttribute:
    return ServiceRootAttribute(address, _keys(attribute))
