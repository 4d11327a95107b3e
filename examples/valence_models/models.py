"""Valence's models, field for field, with the validators Valence declared for each."""

from __future__ import annotations

from dalcore.compat.valence import ModelBaseWithTimestamp, types


class PodManager(ModelBaseWithTimestamp):
    """A pod manager (a Redfish endpoint managing a rack's resources)."""

    path = "/pod_managers"

    fields = {
        "uuid": {"validate": types.Text.validate},
        "name": {"validate": types.Text.validate},
        "url": {"validate": types.Text.validate},
        "driver": {"validate": types.Text.validate},
        # Valence stored the BMC user and password here in plain text. With 'credentials' the
        # document keeps a reference ('password_ref': 'env:...') and never the password.
        "authentication": {"validate": types.List(types.Dict).validate, "credentials": True},
        "status": {"validate": types.Text.validate},
        "description": {"validate": types.Text.validate},
        "location": {"validate": types.Text.validate},
        "resource_uri": {"validate": types.Text.validate},
    }


class Flavor(ModelBaseWithTimestamp):
    """A node template; ``properties`` is checked key by key as Valence declared it."""

    path = "/flavors"

    fields = {
        "uuid": {"validate": types.Text.validate},
        "name": {"validate": types.Text.validate},
        "properties": {
            "memory": {
                "capacity_mib": {"validate": types.Text.validate},
                "type": {"validate": types.Text.validate},
                "validate": types.Dict.validate,
            },
            "processor": {
                "total_cores": {"validate": types.Text.validate},
                "model": {"validate": types.Text.validate},
                "validate": types.Dict.validate,
            },
            "pci_device": {
                "type": {"validate": types.List.validate},
                "validate": types.Dict.validate,
            },
            "validate": types.Dict.validate,
        },
    }


class ComposedNode(ModelBaseWithTimestamp):
    """A node composed by a pod manager."""

    path = "/nodes"

    fields = {
        "uuid": {"validate": types.Text.validate},
        "name": {"validate": types.Text.validate},
        "podm_id": {"validate": types.Text.validate},
        "index": {"validate": types.Text.validate},
        "resource_uri": {"validate": types.Text.validate},
        "managed_by": {"validate": types.Text.validate},
    }


class Device(ModelBaseWithTimestamp):
    """A pooled device (SSD, NIC, FPGA...) a pod manager can attach to a node."""

    path = "/devices"

    fields = {
        "uuid": {"validate": types.Text.validate},
        "podm_id": {"validate": types.Text.validate},
        "node_id": {"validate": types.Text.validate},
        "type": {"validate": types.Text.validate},
        "pooled_group_id": {"validate": types.Text.validate},
        "state": {"validate": types.Text.validate},
        "properties": {"validate": types.Dict.validate},
        "extra": {"validate": types.Dict.validate},
        "resource_uri": {"validate": types.Text.validate},
    }
