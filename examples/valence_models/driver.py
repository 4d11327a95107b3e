"""Valence's ``EtcdDriver``: the same method names, each one call of the generic client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dalcore.compat.valence import config, etcd, singleton

from .models import ComposedNode, Device, Flavor, PodManager


class EtcdDriver(metaclass=singleton.Singleton):
    """One per process, like Valence's (``get_driver()`` returns it)."""

    def __init__(self, host: str | None = config.etcd_host, port: int | None = config.etcd_port):
        self.client = etcd.Client(host=host, port=port)

    # pod managers
    def create_podmanager(self, values: Mapping[str, Any]) -> PodManager:
        return self.client.create(PodManager, values)

    def get_podmanager_by_uuid(self, podmanager_uuid: str) -> PodManager:
        return self.client.get(PodManager, podmanager_uuid)

    def update_podmanager(self, podmanager_uuid: str, values: Mapping[str, Any]) -> PodManager:
        return self.client.update(PodManager, podmanager_uuid, values)

    def delete_podmanager(self, podmanager_uuid: str) -> None:
        self.client.delete(PodManager, podmanager_uuid)

    def list_podmanager(self, filters: Mapping[str, Any] | None = None) -> list[PodManager]:
        return self.client.list(PodManager, filters)

    # flavors
    def create_flavor(self, values: Mapping[str, Any]) -> Flavor:
        return self.client.create(Flavor, values)

    def get_flavor_by_uuid(self, flavor_uuid: str) -> Flavor:
        return self.client.get(Flavor, flavor_uuid)

    def update_flavor(self, flavor_uuid: str, values: Mapping[str, Any]) -> Flavor:
        return self.client.update(Flavor, flavor_uuid, values)

    def delete_flavor(self, flavor_uuid: str) -> None:
        self.client.delete(Flavor, flavor_uuid)

    def list_flavors(self, filters: Mapping[str, Any] | None = None) -> list[Flavor]:
        return self.client.list(Flavor, filters)

    # composed nodes
    def create_composed_node(self, values: Mapping[str, Any]) -> ComposedNode:
        return self.client.create(ComposedNode, values)

    def get_composed_node_by_uuid(self, node_uuid: str) -> ComposedNode:
        return self.client.get(ComposedNode, node_uuid)

    def update_composed_node(self, node_uuid: str, values: Mapping[str, Any]) -> ComposedNode:
        return self.client.update(ComposedNode, node_uuid, values)

    def delete_composed_node(self, node_uuid: str) -> None:
        self.client.delete(ComposedNode, node_uuid)

    def list_composed_nodes(self, filters: Mapping[str, Any] | None = None) -> list[ComposedNode]:
        return self.client.list(ComposedNode, filters)

    def get_podmanager_by_node_uuid(self, node_uuid: str) -> PodManager:
        # Valence's version read node[''] (a typo) and always failed.
        node = self.get_composed_node_by_uuid(node_uuid)
        return self.get_podmanager_by_uuid(node["podm_id"])

    # devices
    def create_device(self, values: Mapping[str, Any]) -> Device:
        return self.client.create(Device, values)

    def add_device(self, values: Mapping[str, Any]) -> Device:
        """Valence's name for it (its pooled-devices controller calls ``add_device``)."""
        return self.create_device(values)

    def get_device_by_uuid(self, device_uuid: str) -> Device:
        return self.client.get(Device, device_uuid)

    def update_device(self, device_uuid: str, values: Mapping[str, Any]) -> Device:
        return self.client.update(Device, device_uuid, values)

    def delete_device(self, device_uuid: str) -> None:
        self.client.delete(Device, device_uuid)

    def list_devices(self, filters: Mapping[str, Any] | None = None) -> list[Device]:
        return self.client.list(Device, filters)


def get_driver() -> EtcdDriver:
    """The process's driver (Valence's ``db.etcd_driver.get_driver``)."""
    driver: EtcdDriver = EtcdDriver()
    return driver
