"""Valence's ``valence/db/etcd_db.py``: ``init_etcd_db()``, run once when Valence is installed.

Valence (etcd's v2 API) made one directory per model and, when a plain key had a directory's
name, deleted that key first. etcd v3 and dalcore's stores have no directories: a model's
objects are the keys under ``<path>/``, which need no creating. What is kept is the clean-up:
a plain key named like a model's directory (``/pod_managers``) is removed, as Valence did;
objects under the directory are never touched, so running it again is harmless.
"""

from __future__ import annotations

import dalcore

from .models import ComposedNode, Device, Flavor, PodManager

__all__ = ["etcd_directories", "init_etcd_db"]

etcd_directories = [PodManager.path, Flavor.path, ComposedNode.path, Device.path]


def init_etcd_db() -> list[str]:
    """Remove plain keys named like a model directory; returns the keys it removed."""
    store = dalcore.runtime().store
    removed = []
    for directory in etcd_directories:
        if store.exists(directory):
            store.delete(directory)
            removed.append(directory)
    return removed
