"""Valence's ``valence/db/api.py``: ``Connection``, the class its controllers call
(``db_api.Connection.create_podmanager(values)``), each method one call of the driver.

Valence built the driver when this module was imported; here it is looked up on each call, so
dalcore can be configured after the import and a test can start from a fresh driver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .driver import get_driver

__all__ = ["Connection"]


def _forward(name: str) -> classmethod[Any, ..., Any]:
    def method(cls: type, *args: Any, **kwargs: Any) -> Any:
        call: Callable[..., Any] = getattr(get_driver(), name)
        return call(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``get_driver().{name}(...)``"
    return classmethod(method)


class Connection:
    """Valence's DB entry point; every method is a classmethod, as in Valence."""

    create_podmanager = _forward("create_podmanager")
    get_podmanager_by_uuid = _forward("get_podmanager_by_uuid")
    delete_podmanager = _forward("delete_podmanager")
    update_podmanager = _forward("update_podmanager")
    list_podmanager = _forward("list_podmanager")
    create_flavor = _forward("create_flavor")
    get_flavor_by_uuid = _forward("get_flavor_by_uuid")
    delete_flavor = _forward("delete_flavor")
    update_flavor = _forward("update_flavor")
    list_flavors = _forward("list_flavors")
    create_composed_node = _forward("create_composed_node")
    get_composed_node_by_uuid = _forward("get_composed_node_by_uuid")
    delete_composed_node = _forward("delete_composed_node")
    update_composed_node = _forward("update_composed_node")
    list_composed_nodes = _forward("list_composed_nodes")
    get_podmanager_by_node_uuid = _forward("get_podmanager_by_node_uuid")
    add_device = _forward("add_device")
    get_device_by_uuid = _forward("get_device_by_uuid")
    delete_device = _forward("delete_device")
    update_device = _forward("update_device")
    list_devices = _forward("list_devices")
