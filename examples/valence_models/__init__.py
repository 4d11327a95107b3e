"""Valence's four models (PodManager, Flavor, ComposedNode, Device) and its driver, on dalcore.

``models`` is Valence's ``valence/db/models.py`` with the imports changed and the pod manager's
``authentication`` marked as credentials; ``driver`` is its ``etcd_driver.py`` reduced to calls
of the generic client. Demo: ``cd examples && python -m valence_models``.
"""

from .driver import EtcdDriver, get_driver
from .models import ComposedNode, Device, Flavor, PodManager

__all__ = ["ComposedNode", "Device", "EtcdDriver", "Flavor", "PodManager", "get_driver"]
